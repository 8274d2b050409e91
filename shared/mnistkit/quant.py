"""Symmetric per-tensor int8 weights for a ReLU MLP: export to .npz, load with checks, infer with NumPy only.

File layout (`weights_int8.npz`), for layers i = 1, 2, ...:
    w{i}        int8    (out, in)   weight ~= w{i} * w{i}_scale
    w{i}_scale  float32 scalar
    b{i}        float32 (out,)
    input_mean, input_std  float32 scalars: the input is pixels / 255, normalised with them, flattened.
`weights_float32.npz` has the same names with float32 `w{i}` and no scales.

Inference needs nothing but NumPy and the file: `predict_dequantized` (weights back to float,
as the seed does) and `predict_integer` (int8 inputs and activations, int8 x int8 products
summed in int32, then rescaled).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .paths import atomic_path

QMAX = 127  # symmetric: int8 values in [-127, 127], zero maps to zero exactly


class WeightFileError(ValueError):
    """A weights .npz file is unreadable or does not have the expected keys, shapes or dtypes."""


def quantize_symmetric(w: np.ndarray, bits: int = 8) -> tuple[np.ndarray, np.float32]:
    """Integer codes (stored as int8) and the float32 scale with w ~= codes * scale: scale = max|w| / qmax, codes in
    [-qmax, qmax], qmax = 2**(bits - 1) - 1 (127 for the course's int8; 7 for int4)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise ValueError(f"bits={bits!r} is not allowed: expected an integer in [2, 8]")
    qmax = 2 ** (bits - 1) - 1
    w = np.asarray(w, dtype=np.float32)
    scale = np.float32(np.abs(w).max() / qmax) if np.abs(w).max() > 0 else np.float32(1.0)
    codes = np.clip(np.round(w / scale), -qmax, qmax).astype(np.int8)
    return codes, scale


def _save_npz(path: str | Path, arrays: dict) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object keeps numpy from appending another .npz
            np.savez(f, **arrays)
    return path


def export_int8(path, layers: list[tuple[np.ndarray, np.ndarray]], input_mean: float, input_std: float) -> Path:
    """Quantize each (weight (out, in), bias (out,)) and write the int8 file atomically."""
    arrays = {"input_mean": np.float32(input_mean), "input_std": np.float32(input_std)}
    for i, (w, b) in enumerate(layers, start=1):
        arrays[f"w{i}"], arrays[f"w{i}_scale"] = quantize_symmetric(w)
        arrays[f"b{i}"] = np.asarray(b, dtype=np.float32)
    return _save_npz(path, arrays)


def export_float32(path, layers: list[tuple[np.ndarray, np.ndarray]], input_mean: float, input_std: float) -> Path:
    arrays = {"input_mean": np.float32(input_mean), "input_std": np.float32(input_std)}
    for i, (w, b) in enumerate(layers, start=1):
        arrays[f"w{i}"] = np.asarray(w, dtype=np.float32)
        arrays[f"b{i}"] = np.asarray(b, dtype=np.float32)
    return _save_npz(path, arrays)


def _require(path, arrays, key, dtype, shape=None):
    if key not in arrays:
        raise WeightFileError(f"{path}: key {key!r} is missing (keys present: {', '.join(sorted(arrays))})")
    a = arrays[key]
    if a.dtype != dtype:
        raise WeightFileError(f"{path}: {key!r} has dtype {a.dtype}, expected {np.dtype(dtype)}")
    if shape is not None and a.shape != shape:
        raise WeightFileError(f"{path}: {key!r} has shape {a.shape}, expected {shape}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise WeightFileError(f"{path}: {key!r} holds NaN or infinite values")
    return a


def load_weights(path: str | Path, quantized: bool = True, input_size: int = 784) -> dict:
    """Read and check a weights file; returns {'layers': [(w, scale or None, b)], 'input_mean', 'input_std'}.

    Every problem (not an npz, missing key, wrong dtype, shapes that do not chain
    from `input_size`) raises WeightFileError naming the file, the key and what was expected.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise WeightFileError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise WeightFileError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    mean = float(_require(path, arrays, "input_mean", np.float32, ()))
    std = float(_require(path, arrays, "input_std", np.float32, ()))
    if std <= 0:
        raise WeightFileError(f"{path}: 'input_std' must be positive, got {std}")
    count = len([k for k in arrays if k.startswith("w") and k[1:].isdigit()])
    if count == 0:
        raise WeightFileError(f"{path}: no weight keys 'w1', 'w2', ... found (keys present: {', '.join(sorted(arrays))})")
    layers, fan_in = [], input_size
    for i in range(1, count + 1):
        w = _require(path, arrays, f"w{i}", np.int8 if quantized else np.float32)
        if w.ndim != 2 or w.shape[1] != fan_in:
            raise WeightFileError(f"{path}: 'w{i}' has shape {w.shape}, expected (out, {fan_in}) to follow the previous layer")
        scale = float(_require(path, arrays, f"w{i}_scale", np.float32, ())) if quantized else None
        if scale is not None and scale <= 0:
            raise WeightFileError(f"{path}: 'w{i}_scale' must be positive, got {scale}")
        b = _require(path, arrays, f"b{i}", np.float32, (w.shape[0],))
        layers.append((w, scale, b))
        fan_in = w.shape[0]
    return {"layers": layers, "input_mean": mean, "input_std": std}


def _inputs(model: dict, pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (N, 28, 28) or floats in [0, 1] -> normalised float32 (N, 784)."""
    x = np.asarray(pixels)
    x = x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32)
    return ((x.reshape(len(x), -1) - model["input_mean"]) / model["input_std"]).astype(np.float32)


def predict_dequantized(model: dict, pixels: np.ndarray) -> np.ndarray:
    """Logits with every weight turned back into float (w * scale): path (a)."""
    x = _inputs(model, pixels)
    for i, (w, scale, b) in enumerate(model["layers"]):
        weight = w.astype(np.float32) * scale if scale is not None else w
        x = x @ weight.T + b
        if i < len(model["layers"]) - 1:
            x = np.maximum(x, 0)
    return x


def predict_integer(model: dict, pixels: np.ndarray) -> np.ndarray:
    """Logits computed in integers: path (b).

    Each layer's input is quantized to int8 with its own symmetric scale (max |x| / 127 over
    the batch, as dynamic quantization does), multiplied with the int8 weights and summed in
    int32, then rescaled by input_scale * weight_scale and the float bias added.
    """
    x = _inputs(model, pixels)
    for i, (w, scale, b) in enumerate(model["layers"]):
        if scale is None:
            raise WeightFileError("predict_integer needs an int8 weights file (with w1_scale, w2_scale, ... keys)")
        x_scale = np.float32(max(np.abs(x).max(), 1e-12) / QMAX)
        xq = np.clip(np.round(x / x_scale), -QMAX, QMAX).astype(np.int8)
        acc = xq.astype(np.int32) @ w.astype(np.int32).T  # exact: |sum| <= 784 * 127 * 127 < 2**31
        x = acc.astype(np.float32) * (x_scale * np.float32(scale)) + b
        if i < len(model["layers"]) - 1:
            x = np.maximum(x, 0)
    return x
