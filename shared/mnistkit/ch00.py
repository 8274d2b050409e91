"""Chapter 00 (`notebooks/00_data_tour.ipynb`): the data tour's findings, said in sentences generated from what the
chapter measured (the files' checksums, the class counts, the pixel statistics, our warp against torchvision's).
"""
from __future__ import annotations

from .data import MNIST_MEAN, MNIST_STD

CONSTANTS_TOLERANCE = 5e-5  # what the chapter asserts between the measured statistics and the constants
NEAREST_SHARE_ALLOWED = 0.005  # nearest may round a point exactly between two pixels differently on this share
BILINEAR_ALLOWED = 1e-4  # bilinear must agree pixel for pixel to this much
DIFFERS = 1e-4  # a pixel "differs" between the two warps by more than this


def _small(x: float) -> str:
    """1e-4 rather than 0.0001 or 1e-04."""
    return f"{x:.0e}".replace("e-0", "e-")


def checksums(report: str) -> str:
    """`mnistkit.data.checksum_report()` (a line per file ending in OK or a mismatch) in one sentence."""
    lines = [line for line in report.splitlines() if line.strip()]
    if not lines:
        raise ValueError("report='' is not allowed: expected checksum_report()'s lines, one per file")
    good = sum(line.rstrip().endswith("  OK") for line in lines)
    if good == len(lines):
        return (f"- **The files:** all {len(lines)} match the course's SHA-256 byte for byte, whichever source "
                "delivered them.")
    return (f"- **The files:** only {good} of {len(lines)} match the course's SHA-256: the others are not the "
            "expected files, and nothing this course measures on them can be trusted.")


def balance(train_counts, test_counts) -> str:
    """The class shares of both splits, and what always answering the most common training digit scores on the
    test split (the most a model gains by favouring one class) against the 10% of equal classes."""
    splits = {"training": [int(c) for c in train_counts], "test": [int(c) for c in test_counts]}
    for name, counts in splits.items():
        if len(counts) != 10 or min(counts) < 0 or sum(counts) == 0:
            raise ValueError(f"{name} counts={counts!r} are not allowed: expected 10 counts, one per digit, not all 0")
    shares = {name: [100 * c / sum(counts) for c in counts] for name, counts in splits.items()}
    ranges = "; ".join(f"{name} from {min(s):.2f}% (digit {s.index(min(s))}) to {max(s):.2f}% (digit {s.index(max(s))})"
                       for name, s in shares.items())
    common = shares["training"].index(max(shares["training"]))
    guess = shares["test"][common]
    test = shares["test"]
    return (f"- **Class balance:** the shares of the ten digits run, in {ranges}. Test accuracy weighs each digit by "
            f"its test share, so no digit counts for less than {min(test):.2f}% or more than {max(test):.2f}% of it "
            f"(10% each were the classes equal); always answering the most common training digit ({common}) would "
            f"score {guess:.2f}%. Balanced? Mildly: the largest class has "
            + " and ".join(f"{max(c) / max(min(c), 1):.2f}× the smallest's images in {name}" for name, c in splits.items())
            + f", and favouring one class buys {guess - 10:.2f} pp over equal classes' 10%, so plain accuracy stays a "
            "fair headline; the confusion matrices of later chapters show where the errors fall.")


def normalisation(mean: float, std: float) -> str:
    """The measured pixel statistics beside the constants every chapter normalises with."""
    agree = abs(mean - MNIST_MEAN) < CONSTANTS_TOLERANCE and abs(std - MNIST_STD) < CONSTANTS_TOLERANCE
    verdict = (f"agree within {_small(CONSTANTS_TOLERANCE)}" if agree else
               f"do NOT agree within {_small(CONSTANTS_TOLERANCE)}: fix them before any chapter trains")
    return (f"- **Normalisation:** the training pixels have mean {mean:.4f} and standard deviation {std:.4f}; the "
            f"constants `mnistkit.data.MNIST_MEAN` / `MNIST_STD` ({MNIST_MEAN} / {MNIST_STD}) {verdict}.")


def warp(report: list) -> str:
    """Our batched warp against torchvision's `F.affine` on the same digits, angles and shifts: `report` holds
    (mode, ours, theirs, |difference|) per interpolation, as the chapter builds it."""
    if not report:
        raise ValueError("report=[] is not allowed: expected (mode, ours, theirs, difference) per interpolation")
    parts, holds = [], True
    for mode, _, _, diff in report:
        largest, share = float(diff.max()), float((diff > DIFFERS).float().mean())
        parts.append(f"{mode}: largest difference {largest:.2e}, {share:.3%} of pixels differ by more than "
                     f"{_small(DIFFERS)}")
        holds &= share <= NEAREST_SHARE_ALLOWED if mode == "nearest" else largest < BILINEAR_ALLOWED
    verdict = ("our batched warp reproduces torchvision's affine transform within what the check above allows "
               f"(nearest may round a point that falls exactly between two pixels differently on up to "
               f"{NEAREST_SHARE_ALLOWED:.1%} of pixels; bilinear must agree to {_small(BILINEAR_ALLOWED)})" if holds else
               "our batched warp does NOT reproduce torchvision's affine transform within what the check allows")
    return f"- **Augmentation:** on the same eight digits, angles and shifts, {'; '.join(parts)}: {verdict}."
