"""Chapter 00's generated sentences, fed fabricated measurements: a mismatch or a failed check is never reported as
agreement, and the numbers said are the numbers given."""
import pytest
import torch

from mnistkit import ch00
from mnistkit.data import MNIST_MEAN, MNIST_STD

OK = "train-images-idx3-ubyte    abc  OK\ntrain-labels-idx1-ubyte    def  OK"


def test_checksums():
    assert "all 2 match" in ch00.checksums(OK)
    text = ch00.checksums(OK + "\nt10k-images-idx3-ubyte     ghi  MISMATCH, expected jkl")
    assert "only 2 of 3 match" in text and "all" not in text
    with pytest.raises(ValueError, match="report=''"):
        ch00.checksums("")


def test_balance_states_the_shares_and_the_constant_guess():
    train = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    text = ch00.balance(torch.tensor(train), torch.tensor(test))
    assert "training from 9.04% (digit 5) to 11.24% (digit 1)" in text and "test from 8.92% (digit 5)" in text
    assert "no digit counts for less than 8.92% or more than 11.35% of it" in text
    assert "training digit (1) would score 11.35%" in text
    skewed = ch00.balance([100] * 9 + [900], [10] * 9 + [90])
    assert "(9) would score 50.00%" in skewed
    with pytest.raises(ValueError, match="expected 10 counts"):
        ch00.balance([1, 2], test)


def test_normalisation_agrees_only_within_the_tolerance():
    assert "agree within 5e-5" in ch00.normalisation(MNIST_MEAN + 1e-5, MNIST_STD)
    text = ch00.normalisation(MNIST_MEAN + 1e-3, MNIST_STD)
    assert "do NOT agree" in text and f"{MNIST_MEAN + 1e-3:.4f}" in text


def test_warp_reports_each_mode_and_fails_loudly():
    same = torch.zeros(8, 1, 28, 28)
    tiny = torch.full((8, 1, 28, 28), 2e-6)
    text = ch00.warp([("nearest", None, None, same), ("bilinear", None, None, tiny)])
    assert "nearest: largest difference 0.00e+00, 0.000%" in text and "bilinear: largest difference 2.00e-06" in text
    assert "reproduces torchvision's affine transform" in text
    off = same.clone()
    off[0, 0, :3] = 1.0  # 84 of 6272 pixels: 1.3%, more than nearest may round differently
    assert "does NOT reproduce" in ch00.warp([("nearest", None, None, off), ("bilinear", None, None, tiny)])
    assert "does NOT reproduce" in ch00.warp([("nearest", None, None, same), ("bilinear", None, None, tiny * 100)])


def test_balance_gives_its_verdict_with_the_ratio_of_largest_to_smallest_class():
    train = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    text = ch00.balance(train, test)
    assert "1.24× the smallest's images in training and 1.27× the smallest's images in test" in text
    assert "buys 1.35 pp over equal classes' 10%" in text
