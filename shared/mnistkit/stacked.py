"""Stacked MNIST: 56x56 images made of four digits in a 2x2 grid, labelled in reading order (chapter 10).

Training grids are built only from MNIST's training split and test grids only from its test split, so no
digit image is on both sides. Everything is drawn from a seed and built with tensor indexing on the device
the digits live on.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch

from .data import TensorData

QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")  # reading order = label order


def draw_sources(count: int, pool: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 4) indices into a pool of `pool` digits. Indices come from back-to-back random permutations, so
    every digit is used as evenly as possible (each once before any is used twice, when count * 4 <= pool)."""
    need = 4 * count
    order = torch.cat([torch.randperm(pool, generator=generator) for _ in range(math.ceil(need / pool))])
    return order[:need].view(count, 4)


def tile(quadrants: torch.Tensor) -> torch.Tensor:
    """(n, 4, 1, h, w) digits in reading order -> (n, 1, 2h, 2w) grids."""
    n, four, _, h, w = quadrants.shape
    if four != 4:
        raise ValueError(f"tile needs 4 digits per grid, got {four}")
    return quadrants.view(n, 2, 2, h, w).permute(0, 1, 3, 2, 4).reshape(n, 1, 2 * h, 2 * w)


def untile(grids: torch.Tensor) -> torch.Tensor:
    """(n, 1, 2h, 2w) grids -> (n, 4, 1, h, w) digits in reading order (the inverse of `tile`)."""
    n, _, height, width = grids.shape
    h, w = height // 2, width // 2
    return grids.view(n, 2, h, 2, w).permute(0, 1, 3, 2, 4).reshape(n, 4, 1, h, w)


def make_grids(images: torch.Tensor, labels: torch.Tensor, count: int, seed: int):
    """`count` grids from `images` (n, 1, 28, 28): returns grids (count, 1, 56, 56), digits (count, 4) and the
    source index of each quadrant (count, 4). The same seed gives the same grids on any device."""
    if count < 1:
        raise ValueError(f"count={count}: need at least one grid")
    sources = draw_sources(count, len(images), torch.Generator().manual_seed(seed)).to(images.device)
    return tile(images[sources]), labels[sources], sources


@dataclass(repr=False)  # keep TensorData's short repr
class StackedDigits(TensorData):
    """A TensorData of grids (x: (n, 1, 56, 56), y: (n, 4)) that remembers which MNIST images it used."""
    train_sources: torch.Tensor | None = None
    test_sources: torch.Tensor | None = None


def stacked_mnist(mnist: TensorData, train_count: int = 30_000, test_count: int = 5_000,
                  seed: int = 0) -> StackedDigits:
    """Training grids from `mnist.train_*` only, test grids from `mnist.test_*` only (different seeds for the two
    sides). Pixel statistics stay MNIST's, so `normalize` is the usual one."""
    train_x, train_y, train_sources = make_grids(mnist.train_x, mnist.train_y, train_count, seed)
    test_x, test_y, test_sources = make_grids(mnist.test_x, mnist.test_y, test_count, seed + 1)
    return StackedDigits(train_x, train_y, test_x, test_y, mnist.mean, mnist.std,
                         train_sources=train_sources, test_sources=test_sources)


def image_fingerprints(images: torch.Tensor) -> list[str]:
    """SHA-1 of each image's bytes at 8-bit precision, one per image: equal fingerprints mean pixel-identical
    images."""
    as_bytes = (images.detach().cpu() * 255).round().to(torch.uint8).flatten(1).numpy()
    return [hashlib.sha1(row.tobytes()).hexdigest() for row in as_bytes]


def shared_digit_images(train_images: torch.Tensor, grids: torch.Tensor) -> int:
    """How many quadrants of `grids` hold a digit pixel-identical to one of `train_images` (a digit used in
    several grids counts once per grid, so the count reads against 4 x the number of grids)."""
    quadrants = untile(grids).flatten(0, 1)
    train = set(image_fingerprints(train_images))
    return sum(1 for f in image_fingerprints(quadrants) if f in train)


class PerQuadrant:
    """Apply a digit-sized augmentation (e.g. `RandomAffine`) to each quadrant on its own, so a shifted or rotated
    digit never spills into its neighbour's quadrant."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, grids: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n = len(grids)
        digits = self.transform(untile(grids).flatten(0, 1), generator)
        return tile(digits.view(n, 4, *digits.shape[1:]))

    def __repr__(self) -> str:
        return f"PerQuadrant({self.transform!r})"


def sequences_correct(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of samples whose whole sequence is right: output (n, steps, classes), y (n, steps)."""
    return (output.argmax(dim=-1) == y).all(dim=1).sum()


def digits_correct(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Right digits per sample, as a fraction of the sequence length, summed over samples (so / n is the
    per-digit accuracy)."""
    return (output.argmax(dim=-1) == y).float().mean(dim=1).sum()


def sequence_loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over every step of every sample."""
    return torch.nn.functional.cross_entropy(output.flatten(0, 1), y.flatten())
