"""int8 export / load / inference: round trip, agreement between paths, clear errors on bad files."""
import numpy as np
import pytest

from mnistkit.quant import (
    WeightFileError,
    export_float32,
    export_int8,
    load_weights,
    predict_dequantized,
    predict_integer,
    quantize_symmetric,
)


def random_mlp(seed=0, sizes=(784, 32, 16, 10)):
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, (2 / i) ** 0.5, (o, i)).astype(np.float32), rng.normal(0, 0.1, o).astype(np.float32))
            for i, o in zip(sizes[:-1], sizes[1:])]


def test_quantize_round_trip_error_is_at_most_half_a_step():
    w = np.random.default_rng(1).normal(size=(64, 64)).astype(np.float32)
    codes, scale = quantize_symmetric(w)
    assert codes.dtype == np.int8 and codes.min() >= -127 and np.abs(codes).max() == 127
    assert np.abs(codes * scale - w).max() <= scale / 2 + 1e-7
    assert quantize_symmetric(np.zeros(3))[0].tolist() == [0, 0, 0]


def test_int8_file_layout_and_paths_agree(tmp_path):
    layers = random_mlp()
    path = export_int8(tmp_path / "weights_int8.npz", layers, 0.1307, 0.3081)
    export_float32(tmp_path / "weights_float32.npz", layers, 0.1307, 0.3081)
    with np.load(path) as f:
        assert sorted(f.files) == sorted(["input_mean", "input_std"] + [f"{k}{i}" for i in (1, 2, 3) for k in ("w", "b")]
                                         + [f"w{i}_scale" for i in (1, 2, 3)])
        assert f["w1"].dtype == np.int8 and f["w1"].shape == (32, 784) and f["w1_scale"].shape == ()
    pixels = np.random.default_rng(2).integers(0, 256, (200, 28, 28), dtype=np.uint8)
    q, fl = load_weights(path), load_weights(tmp_path / "weights_float32.npz", quantized=False)
    a, b, ref = predict_dequantized(q, pixels), predict_integer(q, pixels), predict_dequantized(fl, pixels)
    assert (a.argmax(1) == ref.argmax(1)).mean() > 0.95
    assert (b.argmax(1) == a.argmax(1)).mean() > 0.95
    assert (tmp_path / "weights_float32.npz").stat().st_size / path.stat().st_size > 3.5


def corrupt(tmp_path, **changes):
    layers = random_mlp()
    path = export_int8(tmp_path / "w.npz", layers, 0.1307, 0.3081)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("changes,message", [
    ({"w2": None}, "key 'w2' is missing"),
    ({"w1": np.zeros((32, 784), np.float32)}, "'w1' has dtype float32, expected int8"),
    ({"w2": np.zeros((16, 31), np.int8)}, "'w2' has shape (16, 31), expected (out, 32)"),
    ({"b3": np.zeros(9, np.float32)}, "'b3' has shape (9,), expected (10,)"),
    ({"w1_scale": np.float32(-1)}, "'w1_scale' must be positive"),
    ({"input_std": np.float64(0.3)}, "'input_std' has dtype float64, expected float32"),
])
def test_mismatched_file_gives_a_clear_error(tmp_path, changes, message):
    with pytest.raises(WeightFileError) as info:
        load_weights(corrupt(tmp_path, **changes))
    assert message in str(info.value) and "w.npz" in str(info.value)


def test_unreadable_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(WeightFileError, match="not a readable .npz"):
        load_weights(path)
    with pytest.raises(WeightFileError, match="no such file"):
        load_weights(tmp_path / "absent.npz")


def test_fewer_bits_give_coarser_codes_in_a_narrower_range():
    w = np.linspace(-1, 1, 101, dtype=np.float32)
    codes4, scale4 = quantize_symmetric(w, bits=4)
    assert codes4.min() == -7 and codes4.max() == 7 and np.isclose(scale4, 1 / 7)
    assert len(np.unique(codes4)) == 15
    error8 = np.abs(quantize_symmetric(w)[0] * quantize_symmetric(w)[1] - w).max()
    assert np.abs(codes4 * scale4 - w).max() > error8
    with pytest.raises(ValueError, match="bits=16 is not allowed: expected an integer in \\[2, 8\\]"):
        quantize_symmetric(w, bits=16)
