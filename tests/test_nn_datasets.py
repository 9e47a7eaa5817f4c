"""Data sets: IDX parsing, the file loaders' search and errors, synthetic sets."""

import gzip
import pickle
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modcore.nn import datasets, load_dataset, read_idx

IDX_TYPE = {np.dtype("u1"): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}


def write_idx(path, array, compress=False):
    array = np.asarray(array)
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, IDX_TYPE[big_endian.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + big_endian.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_mnist_dir(directory, n_train=12, n_test=5, compress=True, seed=0):
    """Four small IDX files with MNIST's names; returns the arrays written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
        arrays[prefix] = images, labels
    return arrays


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["u1", ">i4", ">f4"])
def test_read_idx_round_trip(tmp_path, compress, dtype):
    values = np.arange(24).reshape(2, 3, 4)
    array = (values if dtype == "u1" else values - 5).astype(dtype)
    got = read_idx(write_idx(tmp_path / "a.idx", array, compress))
    assert got.shape == (2, 3, 4)
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    path = write_idx(tmp_path / "labels-no-gz-suffix", np.arange(7, dtype=np.uint8), compress=True)
    np.testing.assert_array_equal(read_idx(path), np.arange(7))


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda raw: raw[:-3], "truncated"),
        (lambda raw: raw + b"\x00", "trailing bytes"),
        (lambda raw: b"\x01" + raw[1:], "not an IDX file"),
        (lambda raw: raw[:2] + b"\x07" + raw[3:], "unknown IDX element type"),
        (lambda raw: raw[:6], "truncated IDX header"),
        (lambda raw: gzip.compress(raw)[:-10], "corrupt gzip"),
    ],
)
def test_read_idx_rejects_malformed_files(tmp_path, mangle, message):
    raw = write_idx(tmp_path / "ok", np.zeros((3, 2, 2), np.uint8)).read_bytes()
    bad = tmp_path / "bad-images-idx3-ubyte"
    bad.write_bytes(mangle(raw))
    with pytest.raises(ValueError, match=message) as info:
        read_idx(bad)
    assert str(bad) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_from_data_dir_scaled_and_flattened(tmp_path, compress):
    arrays = write_mnist_dir(tmp_path, compress=compress)
    ds = load_dataset("mnist", data_dir=tmp_path)
    images, labels = arrays["train"]
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert tuple(ds.x_train.shape) == (12, 784) and tuple(ds.x_test.shape) == (5, 784)
    np.testing.assert_allclose(ds.x_train.numpy(), images.reshape(12, 784) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train.numpy(), labels)
    assert ds.n_classes == 10 and str(tmp_path) in ds.source


def test_mnist_from_env_subdirectory(tmp_path, monkeypatch):
    write_mnist_dir(tmp_path / "mnist")
    monkeypatch.setenv("MODCORE_DATA", str(tmp_path))
    assert len(load_dataset("mnist").y_train) == 12


def test_mnist_missing_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("MODCORE_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="no data_dir given"):
        load_dataset("mnist")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "missing train-labels-idx1-ubyte" in message
    assert "data_dir" in message and "MODCORE_DATA" in message


def test_fashion_search_order_and_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_SYSTEM_DIR", tmp_path / "not-installed")
    monkeypatch.setenv("MODCORE_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as info:
        load_dataset("fashion")
    assert str(tmp_path / "not-installed") in str(info.value)
    write_mnist_dir(tmp_path / "data" / "fashion-mnist", n_train=3)
    assert len(load_dataset("fashion").y_train) == 3
    write_mnist_dir(tmp_path / "mine", n_train=4)
    assert len(load_dataset("fashion", data_dir=tmp_path / "mine").y_train) == 4


def test_idx_loader_checks_label_count(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8), compress=True)
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", data_dir=tmp_path)


def test_subsets_are_seeded_and_bounded(tmp_path):
    write_mnist_dir(tmp_path)
    a = load_dataset("mnist", data_dir=tmp_path, n_train=6, n_test=2, seed=1)
    b = load_dataset("mnist", data_dir=tmp_path, n_train=6, n_test=2, seed=1)
    c = load_dataset("mnist", data_dir=tmp_path, n_train=6, n_test=2, seed=2)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)
    with pytest.raises(ValueError, match="n_train=13 exceeds the 12"):
        load_dataset("mnist", data_dir=tmp_path, n_train=13)
    with pytest.raises(ValueError, match="n_test must be >= 1"):
        load_dataset("mnist", data_dir=tmp_path, n_test=0)
    with pytest.raises(TypeError, match="n_train must be an int"):
        load_dataset("line", n_train=10.0)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        load_dataset("line", seed=-1)


@pytest.fixture(scope="module")
def fashion():
    if not all(
        (datasets.FASHION_SYSTEM_DIR / f"{name}.gz").is_file() for name in datasets._IDX_FILES
    ):
        pytest.skip(
            f"Fashion-MNIST not installed in {datasets.FASHION_SYSTEM_DIR} "
            "(apt-get install dataset-fashion-mnist)"
        )
    return load_dataset("fashion")


def test_fashion_real_files(fashion):
    assert tuple(fashion.x_train.shape) == (60000, 784) and tuple(fashion.x_test.shape) == (
        10000,
        784,
    )
    assert float(fashion.x_train.min()) == 0.0 and float(fashion.x_train.max()) == 1.0
    assert fashion.y_train.bincount().tolist() == [6000] * 10
    assert fashion.y_test.bincount().tolist() == [1000] * 10
    assert str(datasets.FASHION_SYSTEM_DIR) in fashion.source


def write_cifar_batch(path, data, labels, legacy_numpy_name=True):
    raw = pickle.dumps({b"data": data, b"labels": list(labels), b"batch_label": b"x"}, protocol=2)
    if legacy_numpy_name:
        # What the real files (pickled by numpy 1.x) reference.
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(raw)


def write_cifar_dir(directory, n=3, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    batches = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n)
        write_cifar_batch(directory / name, data, labels)
        batches.append((data, labels))
    return batches


def test_cifar10_grayscale_and_rgb(tmp_path):
    batches = write_cifar_dir(tmp_path / "cifar-10-batches-py")
    gray = load_dataset("cifar10", data_dir=tmp_path)
    rgb = load_dataset("cifar10-rgb", data_dir=tmp_path)
    assert tuple(gray.x_train.shape) == (15, 1024) and tuple(rgb.x_train.shape) == (15, 3072)
    data, labels = batches[5]
    r, g, b = data.reshape(3, 3, 1024).transpose(1, 0, 2) / 255.0
    np.testing.assert_allclose(gray.x_test.numpy(), 0.299 * r + 0.587 * g + 0.114 * b, rtol=1e-5)
    np.testing.assert_allclose(rgb.x_test.numpy(), data / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(gray.y_test.numpy(), labels)


def test_cifar10_images_keep_channels_rows_and_columns(tmp_path):
    batches = write_cifar_dir(tmp_path / "cifar-10-batches-py")
    rgb = load_dataset("cifar10-rgb", data_dir=tmp_path, flatten=False)
    gray = load_dataset("cifar10", data_dir=tmp_path, flatten=False)
    assert rgb.input_shape == (3, 32, 32) and gray.input_shape == (1, 32, 32)
    assert rgb.n_features == 3072 and gray.n_features == 1024
    data = batches[5][0]
    # A batch row holds the red plane, then green, then blue, each row by row.
    for i, c, row, col in [(0, 0, 0, 1), (1, 1, 5, 31), (2, 2, 31, 0)]:
        assert float(rgb.x_test[i, c, row, col]) == pytest.approx(
            data[i, 1024 * c + 32 * row + col] / 255.0
        )
    r, g, b = (data[2, 1024 * c + 32 * 7 + 9] / 255.0 for c in range(3))
    assert float(gray.x_test[2, 0, 7, 9]) == pytest.approx(0.299 * r + 0.587 * g + 0.114 * b)


@pytest.mark.parametrize("name", ["line", "halves-line-line"])
def test_images_flatten_to_the_flat_inputs(name):
    flat = load_dataset(name, n_train=40, n_test=10, seed=2)
    images = load_dataset(name, n_train=40, n_test=10, seed=2, flatten=False)
    assert images.input_shape == (1, 28, 28) and flat.input_shape == (784,)
    assert images.n_features == flat.n_features == 784
    assert torch.equal(images.x_train.reshape(40, -1), flat.x_train)
    assert torch.equal(images.x_test.reshape(10, -1), flat.x_test)
    assert torch.equal(images.y_train, flat.y_train)
    if name == "line":  # full-height lines: every row of an image is the same
        assert torch.equal(images.x_train[:, :, :1].expand(-1, -1, 28, -1), images.x_train)
    with pytest.raises(TypeError, match="flatten must be a bool"):
        load_dataset(name, n_train=4, n_test=4, flatten="no")


def test_cifar10_refuses_code_in_pickles(tmp_path):
    write_cifar_dir(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": print}))
    with pytest.raises(ValueError, match=r"test_batch.*refusing to load builtins\.print"):
        load_dataset("cifar10", data_dir=tmp_path)


def count_lines(images):
    """Number of lit columns per 28x28 image, checking each lit column is a full line."""
    images = images.reshape(-1, 28, 28)
    columns = images.max(axis=1)
    assert (images.min(axis=1) == columns).all()
    return (columns > 0).sum(axis=1)


def test_line_images_and_labels():
    ds = load_dataset("line", n_train=500, n_test=50, seed=3)
    x = ds.x_train.numpy()
    assert tuple(x.shape) == (500, 784) and set(np.unique(x)) == {0.0, 1.0}
    np.testing.assert_array_equal(count_lines(x) - 1, ds.y_train.numpy())
    assert set(ds.y_train.tolist()) == set(range(10))


def test_line_is_deterministic_by_seed():
    a = load_dataset("line", n_train=50, n_test=20, seed=1)
    b = load_dataset("line", n_train=80, n_test=20, seed=1)
    c = load_dataset("line", n_train=50, n_test=20, seed=2)
    assert torch.equal(a.x_train, b.x_train[:50])
    assert torch.equal(a.x_test, b.x_test), "the test set must not depend on n_train"
    assert not torch.equal(a.x_train, c.x_train)


def test_bands_images_and_labels():
    ds = load_dataset("bands", n_train=3000, n_test=50, seed=3)
    x = ds.x_train.numpy()
    assert tuple(x.shape) == (3000, 784) and set(np.unique(x)) == {0.0, 1.0}
    lines = count_lines(x)  # full-height lines, and how many
    columns = x.reshape(-1, 28, 28)[:, 0, :]
    # The bands by hand: columns 0-5, 6-11, 12-17, 18-22, 23-27.
    band_of_column = np.repeat(np.arange(5), [6, 6, 6, 5, 5])
    for image, n, label in zip(columns, lines, ds.y_train.numpy()):
        bands = set(band_of_column[image > 0])
        assert len(bands) == 1 and n in (1, 2)  # all lines in one band
        assert label == 2 * bands.pop() + n - 1
    # Each of the ten classes about equally often (binomial sd of a count is about 16).
    assert np.all(np.abs(np.bincount(ds.y_train.numpy(), minlength=10) - 300) < 80)
    a = load_dataset("bands", n_train=40, n_test=20, seed=3)
    assert torch.equal(a.x_train, ds.x_train[:40]) and torch.equal(a.x_test, ds.x_test[:20])
    assert not torch.equal(a.x_train, load_dataset("bands", n_train=40, n_test=20).x_train)


def test_halves_line_line_label_is_sum_mod_10():
    ds = load_dataset("halves-line-line", n_train=300, n_test=30, seed=0)
    x = ds.x_train.numpy().reshape(-1, 28, 28)
    # Squeezing averages column pairs, so each line adds 0.5 to a row's sum.
    left = np.rint(2 * x[:, 0, :14].sum(axis=1)).astype(int)
    right = np.rint(2 * x[:, 0, 14:].sum(axis=1)).astype(int)
    assert ((1 <= left) & (left <= 10)).all() and ((1 <= right) & (right <= 10)).all()
    np.testing.assert_array_equal((left - 1 + right - 1) % 10, ds.y_train.numpy())
    assert ds.n_features == 784 and ds.n_classes == 10


@pytest.mark.parametrize("name", ["nope", "halves-line", "halves-line-cifar10", "halves-a-b-c"])
def test_unknown_names(name):
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset(name)


def _split(n=8, width=5, classes=3):
    x = torch.rand(n, width)
    return x, torch.arange(n) % classes


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"n_classes": 2}, ValueError, r"train split: labels must be < n_classes \(2\), got 2"),
        ({"n_classes": 0}, ValueError, "n_classes"),
        ({"x_test": torch.full((8, 5), float("inf"))}, ValueError, "40 of the inputs are NaN"),
        ({"y_train": torch.arange(8) % 3 - 1}, ValueError, "labels must be >= 0"),
        ({"y_train": (torch.arange(8) % 3) + 0.25}, ValueError, "whole numbers"),
        ({"y_test": torch.zeros(7, dtype=torch.long)}, ValueError, "test split: expected inputs"),
        ({"x_test": torch.rand(8, 4)}, ValueError, r"differ in shape: \(5,\) and \(4,\)"),
        ({"x_train": torch.zeros(8, 5, dtype=torch.complex64)}, TypeError, "real numbers"),
        ({"x_train": torch.zeros(0, 5), "y_train": torch.zeros(0)}, ValueError, "n >= 1"),
    ],
)
def test_a_dataset_built_by_hand_is_checked(change, error, message):
    x, y = _split()
    fields = dict(x_train=x, y_train=y, x_test=x, y_test=y, n_classes=3, name="t", source="s")
    with pytest.raises(error, match=message):
        datasets.Dataset(**{**fields, **change})


def test_a_dataset_built_from_numpy_holds_tensors_of_the_loaded_types():
    x, y = _split()
    d = datasets.Dataset(
        x_train=x.double().numpy(),
        y_train=y.int().numpy(),
        x_test=x.numpy(),
        y_test=y.float().numpy(),
        n_classes=3,
        name="t",
        source="s",
    )
    assert d.x_train.dtype == torch.float64 and d.x_test.dtype == torch.float32
    assert d.y_train.dtype == d.y_test.dtype == torch.int64
    assert torch.equal(d.y_test, y) and torch.equal(d.x_test, x)


def test_input_shape_known_before_loading_is_the_loaded_one(tmp_path):
    from modcore.nn.datasets import dataset_input_shape

    write_mnist_dir(tmp_path / "mnist")
    write_cifar_dir(tmp_path / "cifar-10-batches-py")
    names = ["line", "bands", "halves-line-line", "mnist", "cifar10", "cifar10-rgb"]
    for name in names:
        for flatten in (True, False):
            data = load_dataset(name, data_dir=tmp_path, n_train=3, n_test=2, flatten=flatten)
            assert dataset_input_shape(name, flatten=flatten) == data.input_shape, name
    with pytest.raises(ValueError, match="unknown data set 'halves-line'"):
        dataset_input_shape("halves-line")
    # Files of another image size are refused rather than given another shape.
    other = tmp_path / "other"
    other.mkdir()
    for prefix, n in (("train", 3), ("t10k", 2)):
        write_idx(other / f"{prefix}-images-idx3-ubyte", np.zeros((n, 20, 20), np.uint8))
        write_idx(other / f"{prefix}-labels-idx1-ubyte", np.zeros(n, np.uint8))
    with pytest.raises(ValueError, match=r"holds inputs of shape \(400,\), not the \(784,\)"):
        load_dataset("mnist", data_dir=other)
