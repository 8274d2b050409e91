"""Data integrity: wrong or missing files are detected, reported, replaced; nothing unverified is used."""
import hashlib

import numpy as np
import pytest

from mnistkit import data
from mnistkit.data import MNISTUnavailable, check_files, ensure_mnist, read_idx

GOOD = {"a-idx1-ubyte": b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03",
        "b-idx1-ubyte": b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\x09"}
FILES = {name: hashlib.sha256(content).hexdigest() for name, content in GOOD.items()}


def good_source(calls):
    def fetch(folder, wanted):
        calls.append(sorted(wanted))
        for name in wanted:
            (folder / name).write_bytes(GOOD[name])
    return ("good source", fetch)


def test_verified_files_are_used_without_fetching(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, content in GOOD.items():
        (raw / name).write_bytes(content)
    calls = []
    assert ensure_mnist(tmp_path, files=FILES, sources=[good_source(calls)]) == raw
    assert calls == []


def test_corrupted_file_is_reported_and_replaced(tmp_path, capsys):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "a-idx1-ubyte").write_bytes(GOOD["a-idx1-ubyte"][:-1] + b"\xff")  # one flipped byte
    (raw / "b-idx1-ubyte").write_bytes(GOOD["b-idx1-ubyte"])
    calls = []
    ensure_mnist(tmp_path, files=FILES, sources=[good_source(calls)])
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and str(raw / "a-idx1-ubyte") in err and FILES["a-idx1-ubyte"] in err
    assert calls == [["a-idx1-ubyte"]]
    assert (raw / "a-idx1-ubyte").read_bytes() == GOOD["a-idx1-ubyte"]


def test_truncated_file_is_detected(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "a-idx1-ubyte").write_bytes(GOOD["a-idx1-ubyte"][:5])
    problems = check_files(raw, FILES)
    assert "checksum mismatch" in problems["a-idx1-ubyte"] and "missing" in problems["b-idx1-ubyte"]


def test_missing_files_are_fetched(tmp_path):
    calls = []
    raw = ensure_mnist(tmp_path, files=FILES, sources=[good_source(calls)])
    assert calls == [sorted(FILES)]
    assert check_files(raw, FILES) == {}


def test_bad_source_is_never_installed_and_error_says_where(tmp_path):
    def liar(folder, wanted):  # delivers wrong bytes through the same verified path the real sources use
        for name in wanted:
            src = tmp_path / f"download-{name}"
            src.write_bytes(b"not mnist")
            data._install_verified(src, folder / name, wanted[name])

    def broken(folder, wanted):
        raise ConnectionError("no network")

    with pytest.raises(MNISTUnavailable) as info:
        ensure_mnist(tmp_path, files=FILES, sources=[("liar", liar), ("broken", broken)], verbose=False)
    message = str(info.value)
    raw = tmp_path / "MNIST" / "raw"
    for name, digest in FILES.items():
        assert str(raw / name) in message and digest in message
        assert not (raw / name).exists()
    assert not list(raw.glob(".*tmp"))  # no half-written temporaries left behind


def test_read_idx_parses_and_rejects_inconsistent_files(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03" + bytes(range(6)))
    np.testing.assert_array_equal(read_idx(path), np.arange(6, dtype=np.uint8).reshape(2, 3))
    path.write_bytes(b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03" + bytes(range(5)))
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(path)


def test_real_mnist_loads_with_expected_shapes_and_statistics():
    """Uses the verified files under data/ (`make data` fetches them)."""
    loaded = data.load_mnist()
    assert loaded.train_x.shape == (60000, 1, 28, 28) and loaded.test_x.shape == (10000, 1, 28, 28)
    assert loaded.train_y.bincount().tolist()[:3] == [5923, 6742, 5958]
    assert abs(loaded.train_x.mean().item() - data.MNIST_MEAN) < 1e-4
    assert abs(loaded.train_x.std().item() - data.MNIST_STD) < 1e-4
    small = loaded.subset(0.01, 0.1, seed=3)
    assert len(small.train_x) == 600 and len(small.test_x) == 1000
