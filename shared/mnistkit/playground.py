"""Chapter 12 (`notebooks/12_playground.ipynb`): draw a digit and watch the course's saved models read it.

MNIST's digits were prepared in a fixed way (LeCun et al.): each digit's bounding box scaled, keeping its aspect
ratio, so the longer side is 20 pixels (antialiased, hence grey edges), then placed in a 28×28 field so that its
centre of mass sits at the centre. A drawing that skips those steps (a digit in a corner, or thin strokes) is
out of the distribution the models were trained on; `mnist_style` applies the steps to any drawing.

Every function takes arrays, so the chapter runs the same code on test digits and synthetic drawings under
papermill, and on the student's drawing in JupyterLab (`Sketchpad`). The models are the chapters' saved ones,
loaded from `outputs/` (`saved_readers`); each answer is a probability per digit.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .paths import outputs_root

SIDE, BOX = 28, 20  # MNIST's field and the box its digits are scaled into
INK = 0.05  # a pixel brighter than this (in [0, 1]) is ink
GRID = 2 * SIDE  # chapter 10's 2x2 grid of digits


def as_image(drawing) -> torch.Tensor:
    """A drawing as a float32 (H, W) tensor in [0, 1]: uint8 arrays are divided by 255; a single leading channel is
    dropped. Anything else that is not 2-D is refused with its shape."""
    x = torch.as_tensor(np.asarray(drawing))
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2 or min(x.shape) < 1:
        raise ValueError(f"drawing of shape {tuple(x.shape)} is not allowed: expected one image (H, W)")
    return x.clamp(0, 1)


def place_by_mass(digit: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """`digit` (h, w) pasted into a side×side field so that its centre of mass is as near the centre as whole
    pixels allow (and the digit stays inside the field)."""
    h, w = digit.shape
    total = digit.sum()
    cy = float((digit.sum(1) * torch.arange(h)).sum() / total)
    cx = float((digit.sum(0) * torch.arange(w)).sum() / total)
    centre = (side - 1) / 2
    top = min(max(0, round(centre - cy)), side - h)
    left = min(max(0, round(centre - cx)), side - w)
    field = torch.zeros(side, side)
    field[top:top + h, left:left + w] = digit
    return field


def mnist_style(drawing) -> dict[str, torch.Tensor]:
    """MNIST's preprocessing, step by step: "raw" (the drawing), "cropped" (its bounding box of ink), "scaled" (the
    longer side 20 pixels, antialiased) and "centred" (28×28, centre of mass at the centre), each in [0, 1]."""
    raw = as_image(drawing)
    rows, cols = (raw > INK).any(1).nonzero().flatten(), (raw > INK).any(0).nonzero().flatten()
    if not len(rows):
        raise ValueError(f"the drawing is blank: no pixel above {INK} (draw a digit first)")
    cropped = raw[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = BOX / max(cropped.shape)
    size = tuple(max(1, round(n * scale)) for n in cropped.shape)
    scaled = F.interpolate(cropped[None, None], size=size, mode="bilinear", antialias=scale < 1,
                           align_corners=False)[0, 0].clamp(0, 1)
    return {"raw": raw, "cropped": cropped, "scaled": scaled, "centred": place_by_mass(scaled)}


def as_is(drawing, side: int = SIDE) -> torch.Tensor:
    """The whole drawing shrunk to side×side, nothing cropped or centred: what a model sees without `mnist_style`."""
    raw = as_image(drawing)
    return F.interpolate(raw[None, None], size=(side, side), mode="bilinear", antialias=True,
                         align_corners=False)[0, 0].clamp(0, 1)


def prepare(drawing, preprocess: bool = True) -> torch.Tensor:
    """(1, 1, 28, 28) in [0, 1], ready for `Reader.read`: MNIST's steps, or the drawing as it is."""
    return (mnist_style(drawing)["centred"] if preprocess else as_is(drawing))[None, None]


def prepare_grid(quadrants: list, preprocess: bool = True) -> torch.Tensor:
    """Four drawings (reading order) -> one (1, 1, 56, 56) grid for chapter 10's reader; a blank quadrant stays
    blank (the reader then guesses)."""
    cells = []
    for drawing in quadrants:
        try:
            cells.append(prepare(drawing, preprocess)[0, 0])
        except ValueError:
            cells.append(torch.zeros(SIDE, SIDE))
    if len(cells) != 4:
        raise ValueError(f"{len(cells)} quadrants are not allowed: expected 4 (top-left, top-right, bottom-left, "
                         "bottom-right)")
    return torch.cat([torch.cat(cells[:2], 1), torch.cat(cells[2:], 1)], 0)[None, None]


def split_quadrants(drawing) -> list[torch.Tensor]:
    """A square drawing cut into its four quadrants, in reading order."""
    raw = as_image(drawing)
    h, w = raw.shape[0] // 2, raw.shape[1] // 2
    return [raw[:h, :w], raw[:h, w:], raw[h:, :w], raw[h:, w:]]


# ---- the measured lesson: digits moved off-centre or thinned, and what the preprocessing recovers

def shift(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """(n, 1, H, W) moved down by `dy` and right by `dx` pixels, black filling in (no wrap-around)."""
    out = torch.zeros_like(images)
    h, w = images.shape[-2:]
    out[..., max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = \
        images[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out


def thin(images: torch.Tensor) -> torch.Tensor:
    """Strokes thinned by one pixel: each pixel becomes the darkest of its 2×2 block (an erosion; the field's edge
    counts as ink, so it does not eat in from the border)."""
    return -F.max_pool2d(F.pad(-images, (0, 1, 0, 1), value=-1.0), 2, stride=1)


def recentre(images: torch.Tensor) -> torch.Tensor:
    """`mnist_style` on every image of (n, 1, 28, 28); an image with no ink stays as it is."""
    out = images.clone()
    for i, image in enumerate(images[:, 0]):
        if (image > INK).any():
            out[i, 0] = mnist_style(image)["centred"]
    return out


def clipped(images: torch.Tensor, dy: int, dx: int) -> float:
    """The share (%) of images that lose ink off the field's edge when moved by (dy, dx)."""
    before, after = images.sum(dim=(1, 2, 3)), shift(images, dy, dx).sum(dim=(1, 2, 3))
    return 100 * float((after < before - 1e-3).float().mean())


def ink_lost(images: torch.Tensor, dy: int, dx: int) -> tuple[float, float]:
    """Moved by (dy, dx): the share (%) of images that lose ink off the field's edge, and the share (%) of its ink
    an image loses on average."""
    before, after = images.sum(dim=(1, 2, 3)), shift(images, dy, dx).sum(dim=(1, 2, 3))
    return clipped(images, dy, dx), 100 * float((1 - after / before.clamp_min(1e-6)).mean())


VARIANTS = {  # name -> what it does to (n, 1, 28, 28) test images
    "as in MNIST": lambda x: x,
    "re-centred": recentre,  # the control: MNIST's steps on digits already in place
    "moved 4 px": lambda x: shift(x, 4, 4),  # down and right
    "moved 4 px, re-centred": lambda x: recentre(shift(x, 4, 4)),
    "moved 8 px": lambda x: shift(x, 8, 8),
    "moved 8 px, re-centred": lambda x: recentre(shift(x, 8, 8)),
    "thinned": thin,
}


def thicken(images: torch.Tensor) -> torch.Tensor:
    """Strokes thickened by one pixel: each pixel becomes the brightest of its 2×2 block (a dilation)."""
    return F.max_pool2d(F.pad(images, (0, 1, 0, 1)), 2, stride=1)


def moves(largest: int = 6) -> dict[str, Callable]:
    """Chapter 12's exercise 1: the digits moved by 0, 1, ..., `largest` pixels down and right."""
    return {f"{k} px": (lambda x, k=k: shift(x, k, k)) for k in range(largest + 1)}


def breaking_point_text(scores: dict[str, dict[str, float]], cost: float = 1.0) -> str:
    """For each model, the smallest move (of `moves()`) that costs more than `cost` percentage points."""
    lines = []
    for name, row in scores.items():
        base = row["0 px"]
        broken = next((move for move, accuracy in row.items() if base - accuracy > cost), None)
        lines.append(f"- **{name}**: " + (f"moved {broken}, it falls {base - row[broken]:.2f} pp below its "
                                            f"{base:.2f}% (the first move that costs more than {cost:g} pp)"
                                            if broken else f"no move up to {list(row)[-1]} costs more than {cost:g} pp"))
    return "\n".join(lines)


def strokes_text(scores: dict[str, dict[str, float]], n: int) -> str:
    """Chapter 12's exercise 2: thinner and thicker strokes against the digits as they are, in test images."""
    lines = []
    for name, row in scores.items():
        base = row["as in MNIST"]
        parts = [f"{what} {row[what] - base:+.2f} pp ({round((row[what] - base) * n / 100):+,} images)"
                 for what in ("thinned", "thickened")]
        lines.append(f"- **{name}**: {base:.2f}% as in MNIST; " + ", ".join(parts) + ".")
    return "\n".join(lines)


# ---- the saved models

@dataclass
class Reader:
    """A saved model of the course: `read(images)` takes (n, 1, 28, 28) in [0, 1] and returns probabilities (n, 10);
    `attention(images)`, where the model has one, returns where it looked (n, 28, 28)."""
    name: str
    chapter: str
    read: Callable[[torch.Tensor], torch.Tensor]
    attention: Callable[[torch.Tensor], torch.Tensor] | None = None
    run: str = ""  # which run of its chapter saved it, e.g. "seed 1, full profile"


def _vit_reader(path: Path) -> Reader:
    from .ch08 import build
    from .transformer import keep_attention
    from .viz import attention_received, upsample

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = build(checkpoint["config"]).eval()
    model.load_state_dict(checkpoint["state_dict"])
    mean, std = checkpoint["mean"], checkpoint["std"]

    @torch.no_grad()
    def read(images):
        return model((images - mean) / std).softmax(-1)

    @torch.no_grad()
    def attention(images):
        layers = keep_attention(model)
        model((images - mean) / std)
        received = attention_received(layers[0].last_attention, has_cls=True)
        keep_attention(model, False)
        return upsample(received, SIDE)

    return Reader("ViT", "08", read, attention)


def _int8_reader(path: Path) -> Reader:
    from .quant import load_weights, predict_integer

    weights = load_weights(path)

    def read(images):
        logits = predict_integer(weights, images[:, 0].numpy())  # int8 weights and activations, NumPy only
        return torch.from_numpy(np.asarray(logits, dtype=np.float32)).softmax(-1)

    return Reader("int8 MLP", "11", read)


def _separable_reader(name: str, chapter: str) -> Callable[[Path], Reader]:
    """A loader for a `SeparableNet` saved by `ch04.save_model` (chapters 04 and 06), shown as `name`."""
    def load(path: Path) -> Reader:
        from .ch04 import load_model

        model, checkpoint = load_model(path)
        mean, std = checkpoint["mean"], checkpoint["std"]

        @torch.no_grad()
        def read(images):
            return model((images - mean) / std).softmax(-1)

        return Reader(name, chapter, read, run=f"seed {checkpoint['seed']}, {checkpoint['profile']} profile")

    return load


SAVED = {  # chapter stem -> (file in its outputs folder, loader)
    "04_augmentation": ("separable.pt", _separable_reader("CNN", "04")),
    "06_capstone_small": ("capstone.pt", _separable_reader("small CNN", "06")),
    "08_vit": ("vit.pt", _vit_reader),
    "11_mlp_int8_qat": ("weights_int8.npz", _int8_reader),
}


SAVED_RUNS = {"08_vit": "vit", "11_mlp_int8_qat": "qat-int8"}  # the run of metrics.json whose model is saved


def saved_run(metrics: Path, name: str) -> str:
    """"seed 1, full profile" for run `name` of a chapter's metrics.json ("" when it is not there)."""
    import json

    try:
        run = next(r for r in json.loads(metrics.read_text())["runs"] if r["name"] == name)
    except (OSError, ValueError, KeyError, StopIteration):
        return ""
    return f"seed {run.get('seed', '?')}, {run.get('profile', '?')} profile"


def saved_readers(root: Path | None = None) -> tuple[dict[str, Reader], list[str]]:
    """The course's saved single-digit readers from the full run's outputs (committed with the course), and one
    line for each that is missing, naming the chapter whose full run writes it."""
    root = outputs_root("full") if root is None else Path(root)
    readers, missing = {}, []
    for stem, (name, load) in SAVED.items():
        path = root / stem / name
        if path.exists():
            reader = load(path)
            if stem in SAVED_RUNS:  # the CNNs' checkpoints say which run saved them
                reader.run = saved_run(root / stem / "metrics.json", SAVED_RUNS[stem])
            readers[reader.name] = reader
        else:
            missing.append(f"{stem}/{name} is not in {root}: run chapter {stem[:2]} in full to save it")
    return readers, missing


def grid_reader(root: Path | None = None):
    """Chapter 10's encoder-decoder from its checkpoint, or None when it is not saved."""
    from .seq2seq import DigitSequenceReader, GridEncoder

    path = (outputs_root("full") if root is None else Path(root)) / "10_stacked_seq2seq" / "seq2seq.pt"
    if not path.exists():
        return None
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = DigitSequenceReader(GridEncoder(**checkpoint["encoder"]), **checkpoint["decoder"]).eval()
    model.load_state_dict(checkpoint["state_dict"])
    return model


@torch.no_grad()
def read_grid(model, grid: torch.Tensor) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """Chapter 10's reader on one (1, 1, 56, 56) grid in [0, 1]: the four digits (greedy decoding), each step's
    probabilities (4, 10), and its cross-attention over the four quadrants per step, averaged over heads and
    decoder blocks (4 steps, 4 quadrants)."""
    from .data import MNIST_MEAN, MNIST_STD
    from .seq2seq import greedy_decode

    layers = [block.cross_attention for block in model.blocks]
    for layer in layers:
        layer.keep_attention = True
    digits, logits = greedy_decode(model, (grid - MNIST_MEAN) / MNIST_STD)
    cross = torch.stack([layer.last_attention.mean(dim=1)[0] for layer in layers]).mean(0)
    for layer in layers:
        layer.keep_attention, layer.last_attention = False, None
    return digits[0].tolist(), logits[0].softmax(-1), cross


@torch.no_grad()
def robustness(readers: dict[str, Reader], images: torch.Tensor, labels: torch.Tensor,
               variants: dict[str, Callable] = VARIANTS, batch: int = 1000) -> dict[str, dict[str, float]]:
    """Test accuracy (%) of each reader on every variant of the images: {reader: {variant: accuracy}}."""
    scores = {name: {} for name in readers}
    for variant, change in variants.items():
        moved = torch.cat([change(images[i:i + batch]) for i in range(0, len(images), batch)])
        for name, reader in readers.items():
            predicted = torch.cat([reader.read(moved[i:i + batch]).argmax(-1) for i in range(0, len(moved), batch)])
            scores[name][variant] = 100 * float((predicted == labels).float().mean())
    return scores


def robustness_table(scores: dict[str, dict[str, float]], n: int) -> str:
    from .metrics import markdown_table

    if not scores:
        return "_No saved model was found in outputs/ (see the models cell): nothing to measure._"
    variants = list(next(iter(scores.values())))
    return markdown_table(["model"] + [f"{v} %" for v in variants],
                          [[name] + [f"{row[v]:.2f}" for v in variants] for name, row in scores.items()]) + \
        f"\n\nOn {n:,} test digits; each column changes every image the same way (moves are down and right)."


def robustness_text(scores: dict[str, dict[str, float]], n: int, lost: dict[int, tuple[float, float]]) -> str:
    """What the table shows, per model, in test images: the fall off-centre and thinned, and what MNIST's steps
    recover (against their control, re-centring digits already in place); `lost` is `ink_lost` per move (4 and 8
    px). Saved models on the whole test set: one measurement each, not a comparison over seeds, so no verdict."""
    def images(pp: float) -> str:
        return f"{pp:+.2f} pp ({round(pp * n / 100):+,} of {n:,} images)"

    lines = []
    for name, row in scores.items():
        lines.append(
            f"- **{name}**: {row['as in MNIST']:.2f}% as in MNIST. Moved 4 px: {images(row['moved 4 px'] - row['as in MNIST'])}; "
            f"moved 8 px: {images(row['moved 8 px'] - row['as in MNIST'])}; thinned by one pixel: "
            f"{images(row['thinned'] - row['as in MNIST'])}. Re-centring the moved digits brings them to "
            f"{row['moved 4 px, re-centred']:.2f}% (4 px) and {row['moved 8 px, re-centred']:.2f}% (8 px), against "
            f"{row['re-centred']:.2f}% for the same steps on the digits in place.")
    if not lines:
        return ""
    shares = "; ".join(f"moved {px} px, {share:.1f}% of the test digits lose ink, {ink:.1f}% of their ink on average"
                       for px, (share, ink) in sorted(lost.items()))
    lines.append("- What a move pushes off the field's edge is gone for good; re-centring can only place what is left. "
                 + shares[:1].upper() + shares[1:] + ".")
    return "\n".join(lines)


def answers_table(images: torch.Tensor, labels: torch.Tensor, readers: dict[str, Reader]) -> str:
    """Each reader's answer (and its probability) for each of a few prepared digits (n, 1, 28, 28)."""
    from .metrics import markdown_table

    probabilities = {name: reader.read(images) for name, reader in readers.items()}
    rows = []
    for i, label in enumerate(labels.tolist()):
        cells = []
        for name in readers:
            p = probabilities[name][i]
            best = int(p.argmax())
            cells.append(f"{best} ({float(p[best]):.1%})" + ("" if best == label else " ✗"))
        rows.append([i, label] + cells)
    return markdown_table(["digit", "true"] + [f"{name} ({r.run}) reads" if r.run else f"{name} reads"
                                               for name, r in readers.items()], rows)


def corner_text(label: int, as_is: dict[str, int], steps: dict[str, int]) -> str:
    """What each model read in the drawing far from MNIST's layout, without and with MNIST's steps."""
    def said(digit: int) -> str:
        return f"{digit} ({'right' if digit == label else 'wrong'})"

    lines = []
    for name in as_is:
        lines.append(f"- **{name}** reads the corner drawing of a {label} as {said(as_is[name])} as it is, and as "
                     f"{said(steps[name])} after MNIST's steps.")
    return "\n".join(lines)


def variants_figure(image: torch.Tensor, title: str = ""):
    """One test digit (1, 28, 28) under every variant of the robustness table."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(VARIANTS), figsize=(1.6 * len(VARIANTS), 2.0))
    for ax, (name, change) in zip(axes, VARIANTS.items()):
        ax.imshow(change(image[None])[0, 0], cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=7)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def answers_figure(image: torch.Tensor, readers: dict[str, Reader], title: str = "", truth: int | None = None):
    """One prepared digit (1, 1, 28, 28), each reader's probabilities as bars, and the ViT's attention over it. The
    answer's bar is green when it is `truth`, red when it is not, orange when the truth is unknown (a drawing)."""
    import matplotlib.pyplot as plt

    attentive = [r for r in readers.values() if r.attention is not None]
    panels = 1 + len(attentive) + len(readers)
    fig, axes = plt.subplots(1, panels, figsize=(2.6 * panels, 2.6), squeeze=False)
    axes = axes[0]
    axes[0].imshow(image[0, 0], cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("what the models see", fontsize=9)
    for ax, reader in zip(axes[1:], attentive):
        ax.imshow(image[0, 0], cmap="gray", vmin=0, vmax=1)
        ax.imshow(reader.attention(image)[0], cmap="hot", alpha=0.5)
        ax.set_title(f"{reader.name}: attention received, block 1", fontsize=9)
    for ax in axes[:1 + len(attentive)]:
        ax.axis("off")
    for ax, reader in zip(axes[1 + len(attentive):], readers.values()):
        p = reader.read(image)[0]
        best = int(p.argmax())
        answer = "C1" if truth is None else "C2" if best == truth else "C3"
        verdict = "" if truth is None else " (right)" if best == truth else f" (wrong: it is {truth})"
        ax.bar(range(10), p, color=[answer if d == best else "C0" for d in range(10)])
        ax.set(xticks=range(10), ylim=(0, 1), title=f"{reader.name} (ch. {reader.chapter}, {reader.run or 'run unknown'})"
                                                      f"\nreads {best} ({float(p[best]):.1%}){verdict}")
        ax.title.set_fontsize(9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def steps_figure(drawing, title: str = ""):
    """MNIST's preprocessing as pictures: the drawing, cropped, scaled into 20×20, centred in 28×28."""
    import matplotlib.pyplot as plt

    steps = mnist_style(drawing)
    fig, axes = plt.subplots(1, 4, figsize=(9, 2.5))
    for ax, (name, picture) in zip(axes, steps.items()):
        ax.imshow(picture, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{name} {tuple(picture.shape)}", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def grid_figure(grid: torch.Tensor, digits: list[int], probabilities: torch.Tensor, cross: torch.Tensor,
                title: str = ""):
    """Chapter 10's reading of one grid: the grid as the model sees it, then for each output step where its
    cross-attention went (quadrant by quadrant) and how sure it was of the digit it wrote."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4))
    axes[0].imshow(grid[0, 0], cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"read as {''.join(map(str, digits))}", fontsize=10)
    axes[0].axis("off")
    axes[1].imshow(cross, cmap="viridis", vmin=0, vmax=1)
    for step in range(4):
        for quadrant in range(4):
            axes[1].text(quadrant, step, f"{float(cross[step, quadrant]):.2f}", ha="center", va="center",
                         color="black" if cross[step, quadrant] > 0.5 else "white", fontsize=8)
    axes[1].set(xticks=range(4), yticks=range(4), xlabel="quadrant (key)", title="cross-attention per step")
    axes[1].set_xticklabels(["TL", "TR", "BL", "BR"])
    axes[1].set_yticklabels([f"wrote {d} ({float(probabilities[k, d]):.0%})" for k, d in enumerate(digits)])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def decode_png(data_url: str) -> np.ndarray:
    """A canvas's `toDataURL()` PNG -> (H, W) float32 in [0, 1] (white ink on black: the red channel)."""
    from PIL import Image

    if not data_url.startswith("data:image/png;base64,"):
        raise ValueError(f"drawing {data_url[:40]!r}... is not allowed: expected a PNG data URL")
    image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("L")
    return np.asarray(image, dtype=np.float32) / 255
