"""Notebook parameters: validation with clear messages, run profiles, device choice.

Each notebook has a cell tagged `parameters` (papermill overrides it) and,
right below it, calls these checks so a bad value stops the run at once with
a message naming the parameter and what is allowed.
"""
from __future__ import annotations

import os
from numbers import Integral, Real

import torch

PROFILE_ENV = "MNIST_COURSE_PROFILE"
# The quick profile: about one epoch on a small slice, for CI and for trying things. The tiny one: the chapter
# variants an exercise solution runs when it runs in the quick profile (`mnistkit.exercises.run_chapter`), so that
# `make test` stays within 10 minutes; its numbers check that the code runs and answer nothing.
PROFILES = {
    "full": {},
    "quick": {"epochs": 1, "data_fraction": 0.05, "test_fraction": 0.2},
    "tiny": {"epochs": 1, "data_fraction": 0.02, "test_fraction": 0.05},
}


class ParameterError(ValueError):
    """A notebook parameter has a value that is not allowed."""


def _fail(name, value, allowed) -> None:
    raise ParameterError(f"parameter {name}={value!r} is not allowed: {allowed}")


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in [low, high] (either bound optional)."""
    allowed = "expected an integer" + _range_text(low, high)
    if isinstance(value, bool) or not isinstance(value, Integral):
        _fail(name, value, allowed)
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(name, value, allowed)
    return int(value)


def check_float(name: str, value, *, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> float:
    """A real number in [low, high], or (low, high] with `low_open`."""
    allowed = "expected a number" + _range_text(low, high, low_open)
    if isinstance(value, bool) or not isinstance(value, Real) or value != value:
        _fail(name, value, allowed)
    if low is not None and (value < low or (low_open and value == low)):
        _fail(name, value, allowed)
    if high is not None and value > high:
        _fail(name, value, allowed)
    return float(value)


def check_choice(name: str, value, choices) -> object:
    if value not in choices:
        _fail(name, value, "expected one of " + ", ".join(map(repr, choices)))
    return value


def check_list(name: str, value, check_item, *, unique: bool = True, empty: bool = False) -> list:
    """A non-empty list (or tuple; `empty=True` also allows []) whose items each pass `check_item(item_name, item)`,
    e.g. `check_list("seeds", seeds, lambda n, v: check_int(n, v, low=0))`; duplicates are refused."""
    if not isinstance(value, (list, tuple)) or not (value or empty):
        _fail(name, value, "expected a list" if empty else "expected a non-empty list")
    items = [check_item(f"{name}[{i}]", item) for i, item in enumerate(value)]
    if unique and len(set(items)) != len(items):
        _fail(name, value, "expected each item once (no duplicates)")
    return items


# Every chapter's hyperparameters, one range per name (issue 34): `start` checks a chapter's parameters against it
# by name, so a range is written once and is the same in every chapter. A name "<prefix>_<name>" (ours_max_lr,
# finetune_lr, fixed_d_model) takes the range of its longest known suffix. (kind, low, high, low_open)
RANGES: dict[str, tuple] = {
    "epochs": ("int", 1, 500, False),
    "batch_size": ("int", 1, 60_000, False),
    "lr": ("float", 0, 10, True),  # SGD's rates reach 0.1-0.2; AdamW's stay below 0.01
    "max_lr": ("float", 0, 10, True),
    "momentum": ("float", 0, 1, False),
    "dropout": ("float", 0, 0.9, False),  # 1.0 would drop everything
    "weight_decay": ("float", 0, 1, False),
    "step_size": ("int", 1, 500, False),
    "gamma": ("float", 0, 1, True),
    "pct_start": ("float", 0, 1, True),
    "anneal_epochs": ("int", 1, 500, False),  # beyond `epochs`: the annealing never finishes
    "warmup_epochs": ("float", 0, 500, False),
    "bn_momentum": ("float", 0, 1, True),
    "ema_decay": ("float", 0, 1, True),
    "patience": ("int", 1, 500, False),
    "rotation": ("float", 0, 180, False),  # degrees, either way
    "translate": ("float", 0, 0.5, False),  # a share of the image's side
    "width": ("int", 0, 256, False),
    "stem_channels": ("int", 0, 256, False),
    "d_model": ("int", 4, 1024, False),
    "heads": ("int", 1, 64, False),
    "depth": ("int", 1, 24, False),
    "blocks": ("int", 1, 24, False),  # attention blocks, as depth
    "ff_dim": ("int", 1, 8192, False),
    "samples": ("int", 50, 10_000, False),
    "size": ("int", 1, 60_000, False),
    "threads": ("int", 0, 1024, False),  # 0: every core (chapter 13)
    "thread_count": ("int", 1, 1024, False),
    "epoch_fraction": ("float", 0, 20, True),  # chapter 13 trains a fraction of an epoch
}


def range_of(name: str) -> tuple | None:
    """The range `name` is checked against: its own, else that of its longest suffix after a '_' (None: none)."""
    parts = name.split("_")
    for i in range(len(parts)):
        key = "_".join(parts[i:])
        if key in RANGES:
            return RANGES[key]
    return None


def check_parameter(name: str, value):
    """Check `value` against the range RANGES holds for `name` (see `range_of`); ParameterError when there is none."""
    known = range_of(name)
    if known is None:
        _fail(name, value, "it has no range in mnistkit.params.RANGES: add one there, or check it in the chapter "
                           "and pass it to start() through own=")
    kind, low, high, low_open = known
    if kind == "int":
        return check_int(name, value, low=low, high=high)
    return check_float(name, value, low=low, high=high, low_open=low_open)


def _range_text(low, high, low_open=False) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def parse_value(text: str):
    """A parameter given on a command line (`-p NAME VALUE`, a sweep axis): '0.001' -> 0.001, '4' -> 4,
    '[1, 2]' -> [1, 2], 'true'/'false' -> True/False (any case), anything else stays a string."""
    import ast

    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def default_profile() -> str:
    """The profile a notebook runs in unless papermill says otherwise: $MNIST_COURSE_PROFILE or 'full'."""
    return os.environ.get(PROFILE_ENV, "full")


def apply_profile(profile: str, **values) -> dict:
    """Return `values` with the profile's overrides applied (quick caps epochs and data)."""
    check_choice("profile", profile, list(PROFILES))
    out = dict(values)
    for key, cap in PROFILES[profile].items():
        if key in out:
            out[key] = min(out[key], cap)
    return out


def pick_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else Apple silicon's GPU (MPS), else the CPU; 'cpu', 'cuda', 'cuda:N' or
    'mps' ask for one explicitly. MPS is chosen by its availability check only: no CI machine of this course has
    Apple hardware, so no chapter has been run on it (the README says so)."""
    allowed = "expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
    if not isinstance(name, str):
        _fail("device", name, allowed)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            _fail("device", name, "MPS (Apple silicon's GPU) is not available on this machine; use 'auto' or 'cpu'")
        return torch.device("mps")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            _fail("device", name, "CUDA is not available on this machine; use 'auto' or 'cpu'")
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            _fail("device", name, f"this machine has {torch.cuda.device_count()} CUDA device(s)")
        return torch.device(name)
    _fail("device", name, allowed)


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())
