import pytest


@pytest.fixture(scope="module")
def torch_one_thread():
    """torch on one thread for a test module: as fast for small models, and it does not
    collapse when the other core is busy (OpenMP threads spin-wait for each other)."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
