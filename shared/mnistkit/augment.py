"""Batched geometric augmentation on the device: one affine warp for a whole batch.

The write-ups say what they drew (angles, shifts), not how; the usual way is torchvision's per-image
`RandomRotation` / `RandomAffine` on PIL images inside a DataLoader (`make bench` times it). Here the same
transforms are one `grid_sample` call per batch. The geometry follows `torchvision.transforms.functional.affine`
exactly (same inverse matrix, same pixel-centre grid), so for the same angle
and translation the output is the same image; chapter 00 shows it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def affine_theta(angle_deg: torch.Tensor, translate_px: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Normalised sampling matrices (N, 2, 3) for `F.affine_grid`, one per image.

    `angle_deg` (N,) is clockwise as in torchvision's `F.affine`; `translate_px`
    (N, 2) is (dx, dy) in pixels. The output pixel at p samples the input at
    R^-1 (p - t), coordinates taken from the image centre.
    """
    rad = torch.deg2rad(angle_deg.float())
    cos, sin = torch.cos(rad), torch.sin(rad)
    tx, ty = translate_px[:, 0].float(), translate_px[:, 1].float()
    # Inverse rotation in pixel units (torchvision's _get_inverse_affine_matrix, no scale or shear).
    m00, m01, m10, m11 = cos, sin, -sin, cos
    off_x = -(m00 * tx + m01 * ty)
    off_y = -(m10 * tx + m11 * ty)
    # Pixel units -> affine_grid's normalised units (align_corners=False: x_norm = x_px / (W / 2)).
    theta = torch.stack([
        torch.stack([m00, m01 * height / width, off_x * 2 / width], dim=-1),
        torch.stack([m10 * width / height, m11, off_y * 2 / height], dim=-1),
    ], dim=1)
    return theta


def sampling_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Same as `F.affine_grid(theta, (N, C, H, W), align_corners=False)`, by broadcasting.

    affine_grid runs a batched (H*W x 3) @ (3 x 2) matmul, which on a CPU costs
    20x more than the sampling itself for MNIST-sized batches; three fused
    multiply-adds on (N, 2, H, W) tensors give the same grid. It is returned as an
    (N, H, W, 2) view of those x and y planes, not copied into that layout:
    `grid_sample` reads a strided grid as it is, and the copy (a `torch.stack` on
    the last dimension) cost more than computing the planes.
    """
    xs = (torch.arange(width, device=theta.device, dtype=theta.dtype) * 2 + 1) / width - 1
    ys = (torch.arange(height, device=theta.device, dtype=theta.dtype) * 2 + 1) / height - 1
    xs, ys = xs.view(1, 1, 1, width), ys.view(1, 1, height, 1)
    t = theta.view(-1, 2, 3, 1, 1)  # rows (x, y) of each image's matrix
    return (t[:, :, 0] * xs + t[:, :, 1] * ys + t[:, :, 2]).permute(0, 2, 3, 1)


def affine(x: torch.Tensor, angle_deg, translate_px, mode: str = "nearest") -> torch.Tensor:
    """Rotate (degrees, clockwise) then shift (pixels) a batch (N, C, H, W); outside fills with 0."""
    n, _, h, w = x.shape
    angle_deg = torch.as_tensor(angle_deg, dtype=torch.float32, device=x.device).expand(n)
    translate_px = torch.as_tensor(translate_px, dtype=torch.float32, device=x.device).expand(n, 2)
    theta = affine_theta(angle_deg, translate_px, h, w).to(x.dtype)
    return F.grid_sample(x, sampling_grid(theta, h, w), mode=mode, padding_mode="zeros", align_corners=False)


class RandomAffine:
    """Random rotation in [-degrees, degrees] and shift up to `translate` x size, per image.

    Like torchvision's `RandomRotation(degrees)` followed by
    `RandomAffine(0, translate=(t, t))`: shifts are whole pixels, drawn
    uniformly in [-t*W, t*W] and rounded. Random numbers come from the
    `generator` passed in (CPU), so a seed fixes every augmented batch on any device.
    """

    def __init__(self, degrees: float = 0.0, translate: float = 0.0, mode: str = "nearest"):
        if degrees < 0 or not 0 <= translate < 1:
            raise ValueError(f"RandomAffine needs degrees >= 0 and 0 <= translate < 1, got {degrees}, {translate}")
        self.degrees, self.translate, self.mode = float(degrees), float(translate), mode

    def sample(self, n: int, height: int, width: int, generator: torch.Generator | None = None):
        angle = (torch.rand(n, generator=generator) * 2 - 1) * self.degrees
        max_shift = torch.tensor([self.translate * width, self.translate * height])
        shift = torch.round((torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift)
        return angle, shift

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.degrees == 0 and self.translate == 0:
            return x
        angle, shift = self.sample(len(x), x.shape[-2], x.shape[-1], generator)
        return affine(x, angle.to(x.device), shift.to(x.device), self.mode)

    def __repr__(self) -> str:
        return f"RandomAffine(degrees={self.degrees:g}, translate={self.translate:g}, mode={self.mode!r})"



def shuffle_patches(x: torch.Tensor, patch: int, seed: int = 0) -> torch.Tensor:
    """Images (N, 1, H, W) cut into patch x patch tiles, the tiles put back in one random order (the same for every
    image): what a model that cannot tell places apart sees no difference in (chapters 07 and 08's exercises)."""
    n, c, h, w = x.shape
    if h % patch or w % patch:
        raise ValueError(f"patch={patch} does not divide the image size {h}x{w}")
    rows, cols = h // patch, w // patch
    tiles = x.reshape(n, c, rows, patch, cols, patch).permute(0, 1, 2, 4, 3, 5).reshape(n, c, rows * cols, patch, patch)
    order = torch.randperm(rows * cols, generator=torch.Generator().manual_seed(seed)).to(x.device)
    tiles = tiles[:, :, order].reshape(n, c, rows, cols, patch, patch)
    return tiles.permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)
