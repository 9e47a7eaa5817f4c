"""A few rounds of the results-log stress (tests/stress_logs.py): sweeps started at one
instant on one log, and sweeps killed at random points then resumed, leave each network's
row exactly once with the values of a sweep alone. The full run (200 rounds each) is
recorded in benchmarks/README.md."""

import stress_logs


def test_concurrent_and_killed_sweeps_leave_each_row_once(capsys):
    assert stress_logs.main(["--reps", "1", "--processes", "2", "4", "--kills", "4"]) == 0
    printed = capsys.readouterr().out
    assert "2 sweeps at once: 1 of 1" in printed and "4 sweeps at once: 1 of 1" in printed
    assert "killed, then resumed: 4 of 4" in printed
