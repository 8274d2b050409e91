"""Mixed precision: bf16 autocast where the hardware computes it natively, fp32 elsewhere.

A chapter's `precision` parameter is "auto", "fp32", "bf16" or "fp16"; `resolve_precision` turns "auto" into
what this machine computes fast:
- CUDA: bf16 where the GPU supports it, else fp16 (with a GradScaler, since fp16 gradients underflow);
- a CPU with native bf16 instructions (x86 AVX512-BF16 or AMX, Arm's BF16 extension): bf16. oneDNN then runs
  the matrix products in bf16; how much faster that is grows with the matrix work per step (`make bench` times
  chapter 08's ViT, 17 tokens a digit, and chapter 10's encoder-decoder, 64 tokens a grid, in both precisions and
  records them in outputs/BENCH.md);
- any other CPU: fp32. Without those instructions bf16 is emulated, and slower than fp32.
Autocast runs the matrix products in the low precision; weights, optimizer state, the loss and the metrics stay
fp32 (the training loop casts the model's output to fp32 before the loss).
"""
from __future__ import annotations

import contextlib
import platform
import subprocess
from pathlib import Path

import torch

from .params import ParameterError, check_choice

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LOW = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 in hardware: AVX512-BF16 or AMX (x86), the BF16 extension (Arm)."""
    machine = platform.machine().lower()
    if platform.system() == "Darwin":  # Apple silicon: M2 and later have FEAT_BF16
        try:
            answer = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True,
                                    timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return False
        return answer == "1"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:  # Windows and others: no cheap check, so no bf16 by default
        return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    if machine in ("x86_64", "amd64", "i686"):
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    return "bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run uses: `precision` itself, or for "auto" the fastest one this device computes natively."""
    check_choice("precision", precision, PRECISIONS)
    device = torch.device(device)
    if device.type == "mps" and precision not in ("auto", "fp32"):
        raise ParameterError(f"parameter precision={precision!r} is not allowed on mps: the course runs Apple silicon's "
                             "GPU in fp32 only (its autocast is not measured here); use 'fp32' or 'auto'")
    if precision == "fp16" and device.type != "cuda":
        raise ParameterError(f"parameter precision='fp16' is not allowed on {device}: fp16 autocast is for CUDA; "
                             "use 'bf16', 'fp32' or 'auto'")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"  # MPS: fp32


def autocast(precision: str, device: torch.device):
    """The context that runs the forward pass in `precision` (a resolved one: "fp32", "bf16" or "fp16")."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=LOW[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling for fp16 (its small gradients underflow); a no-op for fp32 and bf16 (bf16 has fp32's range)."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=precision == "fp16")
