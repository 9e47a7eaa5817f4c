"""A few rounds of the results-log stress (tests/stress_logs.py): sweeps and tiny
reproductions started at one instant on one log, and killed at random points then run
again, leave each run's row exactly once with the values of the job alone. The full run
(200 rounds each) is recorded in benchmarks/README.md."""

import pytest

import stress_logs


@pytest.mark.parametrize(
    "job, processes, kills",
    [("sweep", ["2", "4"], 3), ("reproduce", ["4"], 2)],  # a reproduction trains: fewer
)
def test_concurrent_and_killed_runs_leave_each_row_once(job, processes, kills, capsys):
    if job == "reproduce":
        pytest.importorskip("torch")
    args = ["--jobs", job, "--reps", "1", "--processes", *processes, "--kills", str(kills)]
    assert stress_logs.main(args) == 0
    printed = capsys.readouterr().out
    for n in processes:
        assert f"{job}: {n} at once: 1 of 1 rounds passed" in printed
    assert f"{job}: killed, then run again: {kills} of {kills} rounds passed" in printed
