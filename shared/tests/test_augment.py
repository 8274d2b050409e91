"""Augmentation geometry: pixels land where they should, and we match torchvision's F.affine."""
import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from mnistkit.augment import RandomAffine, affine


def dot(row, col, size=28):
    img = torch.zeros(1, 1, size, size)
    img[0, 0, row, col] = 1.0
    return img


def where(img):
    return tuple((img[0, 0] > 0.5).nonzero()[0].tolist())


def test_translation_moves_a_pixel_by_whole_pixels():
    out = affine(dot(10, 12), 0.0, [3.0, -2.0])  # dx = +3 (right), dy = -2 (up)
    assert where(out) == (8, 15)
    assert out.sum().item() == pytest.approx(1.0)


def test_rotation_by_90_degrees_turns_about_the_centre():
    # torchvision's F.affine angle is clockwise on screen. The centre of a 28x28 image is (13.5, 13.5);
    # the pixel 3 rows above the centre-left pixel ends up 3 columns right of it.
    out = affine(dot(10, 13), 90.0, [0.0, 0.0])
    assert where(out) == (13, 17)
    back = affine(out, -90.0, [0.0, 0.0])
    assert where(back) == (10, 13)


@pytest.mark.parametrize("mode,interp", [("bilinear", InterpolationMode.BILINEAR),
                                         ("nearest", InterpolationMode.NEAREST)])
def test_matches_torchvision_affine(mode, interp):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 1, 28, 28, generator=g)
    params = [(-10.0, (2, -3)), (7.5, (0, 0)), (0.0, (-2, 2)), (3.3, (1, 1)), (-4.2, (-3, 0)), (10.0, (3, 3))]
    ours = affine(images, torch.tensor([a for a, _ in params]), torch.tensor([t for _, t in params]), mode=mode)
    theirs = torch.stack([TF.affine(img, angle=a, translate=list(t), scale=1.0, shear=[0.0], interpolation=interp)
                          for img, (a, t) in zip(images, params)])
    diff = (ours - theirs).abs()
    if mode == "bilinear":
        assert diff.max().item() < 1e-4
    else:  # nearest can round a sample that lies exactly between pixels the other way
        assert (diff > 1e-4).float().mean().item() < 0.005


def test_random_affine_is_seeded_and_within_range():
    aug = RandomAffine(degrees=10, translate=0.1)
    angle, shift = aug.sample(10000, 28, 28, torch.Generator().manual_seed(1))
    assert angle.abs().max() <= 10 and angle.min() < -9.9 and angle.max() > 9.9
    assert shift.abs().max() <= round(2.8) and torch.equal(shift, shift.round())
    x = torch.rand(4, 1, 28, 28)
    a = aug(x, torch.Generator().manual_seed(5))
    b = aug(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="translate"):
        RandomAffine(10, 1.5)


def test_sampling_grid_equals_affine_grid():
    import torch.nn.functional as F

    from mnistkit.augment import affine_theta, sampling_grid
    g = torch.Generator().manual_seed(2)
    theta = affine_theta(torch.rand(5, generator=g) * 40 - 20, torch.randint(-4, 5, (5, 2), generator=g), 28, 32)
    expected = F.affine_grid(theta, [5, 1, 28, 32], align_corners=False)
    assert torch.allclose(sampling_grid(theta, 28, 32), expected, atol=1e-6)


def _stacked_grid(theta):
    """The grid as the committed runs computed it: the x and y planes one by one, then stacked."""
    xs = ((torch.arange(28, dtype=theta.dtype) * 2 + 1) / 28 - 1).view(1, 1, 28)
    ys = ((torch.arange(28, dtype=theta.dtype) * 2 + 1) / 28 - 1).view(1, 28, 1)
    t = theta.view(-1, 6, 1, 1)
    return torch.stack([t[:, 0] * xs + t[:, 1] * ys + t[:, 2], t[:, 3] * xs + t[:, 4] * ys + t[:, 5]], dim=-1)


def test_sampling_grid_keeps_the_committed_runs_augmentation():
    """Bit for bit the grid and the warped images the committed runs were trained with: the strided view changes
    no augmented pixel, so no history."""
    import torch.nn.functional as F

    from mnistkit.augment import RandomAffine, affine_theta, sampling_grid
    g = torch.Generator().manual_seed(3)
    theta = affine_theta(torch.rand(64, generator=g) * 20 - 10, torch.randint(-3, 4, (64, 2), generator=g), 28, 28)
    assert torch.equal(sampling_grid(theta, 28, 28), _stacked_grid(theta))
    images = torch.rand(64, 1, 28, 28, generator=g)
    angle, shift = RandomAffine(10, 0.1).sample(64, 28, 28, torch.Generator().manual_seed(0))
    expected = F.grid_sample(images, _stacked_grid(affine_theta(angle, shift, 28, 28)), mode="nearest",
                             padding_mode="zeros", align_corners=False)
    assert torch.equal(RandomAffine(10, 0.1)(images, torch.Generator().manual_seed(0)), expected)


def test_shuffle_patches_moves_whole_tiles():
    from mnistkit.augment import shuffle_patches

    x = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16)
    shuffled = shuffle_patches(x, patch=4, seed=3)
    assert not torch.equal(shuffled, x)

    def tiles(t):  # the first image's 16 tiles of 4x4, as sorted tuples
        return sorted(map(tuple, t.reshape(2, 4, 4, 4, 4).permute(0, 1, 3, 2, 4).reshape(2, 16, 16)[0].tolist()))

    assert tiles(shuffled) == tiles(x)  # the same tiles, each intact, in another order
    assert torch.equal(shuffle_patches(x, patch=16), x)  # one tile: nothing to shuffle
    with pytest.raises(ValueError, match="patch=5 does not divide the image size 16x16"):
        shuffle_patches(x, patch=5)
