"""Figures every chapter uses: training curves, misclassified digits, confusion matrix, digit grids.

Each function returns the matplotlib Figure; `save_figure` writes it atomically.
Notebooks end a plotting cell with `plt.show()`.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from .metrics import confusion_matrix
from .paths import atomic_path


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path


def plot_history(histories: dict[str, list[dict]] | list[dict], title: str = "", target: float | None = 99.4,
                 train: str = "train_acc"):
    """Accuracy (train dashed, test solid), loss and learning rate per epoch, for one or several runs. `train` names
    the train accuracy drawn: "train_acc", read while training (dropout and augmentation on), or "train_eval_acc",
    measured after each epoch in eval mode (chapters 05 and 08 record it); the legend says which."""
    if isinstance(histories, list):
        histories = {"run": histories}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for i, (name, h) in enumerate(histories.items()):
        color = f"C{i}"
        ep = [e["epoch"] for e in h]
        dot = "o" if len(ep) == 1 else None  # a dashed line of one point draws nothing
        axes[0].plot(ep, [e["test_acc"] for e in h], "-o", ms=3, color=color, label=f"{name} test")
        if train in h[0]:
            axes[0].plot(ep, [e[train] for e in h], "--", marker=dot, ms=3, color=color, alpha=0.6,
                         label=f"{name} train" + (" (eval mode)" if train == "train_eval_acc" else ""))
        # A history without a loss or a rate (a write-up's logged accuracy) gets no legend entry where it draws nothing.
        if _drawn(h, "test_loss"):
            axes[1].plot(ep, [e["test_loss"] for e in h], "-o", ms=3, color=color, label=f"{name} test")
        if _drawn(h, "train_loss"):
            axes[1].plot(ep, [e["train_loss"] for e in h], "--", marker=dot, ms=3, color=color, alpha=0.6,
                         label=f"{name} train")
        if _drawn(h, "lr"):
            axes[2].plot(ep, [e["lr"] for e in h], "-o", ms=3, color=color, label=name)
    if target is not None:
        axes[0].axhline(target, color="grey", lw=0.8, ls=":", label=f"{target}%")
    axes[0].set(title="accuracy (%)", xlabel="epoch")
    axes[1].set(title="loss", xlabel="epoch", yscale="log")
    axes[2].set(title="learning rate", xlabel="epoch", yscale="log")
    last_epoch = max((e["epoch"] for h in histories.values() for e in h), default=1)
    for ax in axes:
        # Whole epochs only, with half an epoch of margin: a one-epoch run is one point above "1", not a point
        # on a 0.96-1.04 axis.
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(0.5, last_epoch + 0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[1:]:
        _plain_log_ticks(ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _drawn(history: list[dict], key: str) -> bool:
    """Whether a history has a number to draw for `key` (not absent, not all NaN)."""
    return any(isinstance(e.get(key), (int, float)) and not math.isnan(e[key]) for e in history)


def plot_journey(histories: dict[str, list[dict]], title: str, target: float = 99.4,
                 ylim: tuple[float, float] = (97.5, 99.8)):
    """Test accuracy per epoch of one run per chapter, zoomed to where they differ (`ylim`; an epoch below it is
    marked at the bottom edge), and each run's learning rate; the legends sit beside the panels, off the curves."""
    fig, (acc, rate) = plt.subplots(1, 2, figsize=(15, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    for i, (name, h) in enumerate(histories.items()):
        ep = [e["epoch"] for e in h]
        acc.plot(ep, [max(e["test_acc"], ylim[0]) for e in h], "-o", ms=3, color=f"C{i}", label=name)
        rate.plot(ep, [e["lr"] for e in h], "-o", ms=3, color=f"C{i}", label=name)
    acc.axhline(target, color="grey", lw=0.8, ls=":", label=f"{target}%")
    acc.set(title=f"test accuracy (%), from {ylim[0]:g}%", xlabel="epoch", ylim=ylim)
    rate.set(title="learning rate", xlabel="epoch", yscale="log")
    _plain_log_ticks(rate)
    for ax in (acc, rate):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
    rate.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    acc.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _plain_log_ticks(ax) -> None:
    """Tick labels of a log axis as plain numbers (0.02, not 2×10⁻²); minor ticks are labelled only when the axis
    spans less than a decade, as for a one-epoch run, where there may be no major tick at all."""
    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    ax.yaxis.set_major_formatter(plain)
    low, high = ax.get_ylim()
    ax.yaxis.set_minor_formatter(plain if high < 10 * low else NullFormatter())


def plot_digits(images: torch.Tensor, titles: list[str] | None = None, ncols: int = 10,
                title: str = "", colors: list[str] | None = None, size: float = 1.3):
    """A grid of images (N, 1, H, W) or (N, H, W) with optional per-image titles."""
    images = images.detach().cpu()
    if images.dim() == 4:
        images = images[:, 0]
    n = len(images)
    nrows = max(1, (n + ncols - 1) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i].numpy(), cmap="gray")
            if titles:
                ax.set_title(titles[i], fontsize=8, color=(colors[i] if colors else "black"))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_misclassified(x: torch.Tensor, y: torch.Tensor, predicted: torch.Tensor, n: int = 30, ncols: int = 10,
                       run: str = ""):
    """The first `n` test digits the model gets wrong, titled 'pred p / true t'; `run` names whose mistakes."""
    wrong = (predicted != y).nonzero().flatten()[:n].cpu()
    titles = [f"pred {int(predicted[i])} / true {int(y[i])}" for i in wrong]
    head = f"{run}: " if run else ""
    return plot_digits(x[wrong.to(x.device)], titles, ncols=ncols,
                       title=f"{head}{int((predicted != y).sum())} of {len(y)} test digits misclassified "
                             f"(first {len(wrong)} shown)",
                       colors=["crimson"] * len(wrong), size=1.5)


def plot_confusion(y: torch.Tensor, predicted: torch.Tensor, classes: int = 10, title: str = "confusion matrix"):
    """Confusion matrix with counts; the diagonal is hidden from the colour scale so errors stand out."""
    cm = confusion_matrix(y, predicted, classes)
    off = cm.astype(float).copy()
    np.fill_diagonal(off, np.nan)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(off, cmap="Reds")
    dark = np.nanmax(off) * 0.6 if np.nanmax(off) > 0 else np.inf
    for t in range(classes):
        for p in range(classes):
            color = "forestgreen" if t == p else ("white" if off[t, p] > dark else "black")
            ax.text(p, t, str(cm[t, p]), ha="center", va="center", fontsize=8, color=color,
                    fontweight="bold" if t == p else None)
    ax.set(xticks=range(classes), yticks=range(classes), xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, label="errors (off-diagonal)")
    fig.tight_layout()
    return fig


def show_test_errors(model: torch.nn.Module, data, out: str | Path, title: str) -> torch.Tensor:
    """The model's test-set mistakes, shown and saved: the misclassified digits (`misclassified.png`) and the
    confusion matrix (`confusion.png`) in `out`. Returns the predicted classes."""
    from .train import predict  # train does not import plots; importing here keeps plots light

    predicted = predict(model, data.test_x, data.normalize).argmax(dim=1)
    save_figure(plot_misclassified(data.test_x, data.test_y, predicted, run=title), Path(out) / "misclassified.png")
    plt.show()
    save_figure(plot_confusion(data.test_y, predicted, title=f"{title}: confusion matrix on the test set"),
                Path(out) / "confusion.png")
    plt.show()
    return predicted


def plot_seeds(groups: dict[str, list[dict]], *, target: float = 99.4, last: int | None = None,
               ylim: tuple[float, float] | None = (98.8, 99.75)):
    """Test accuracy per epoch of every seed, one panel per recipe (`groups`: label -> run records), the target as
    a dotted line and, with `last`, the epochs the claim reads shaded: what a seeds table summarises, drawn.
    Chapters 04, 05 and 06 call it for their five seeds."""
    fig, axes = plt.subplots(1, len(groups), figsize=(7 * len(groups), 4.5), sharey=True, squeeze=False)
    for ax, (label, runs) in zip(axes[0], groups.items()):
        for run in sorted(runs, key=lambda r: r.get("seed", 0)):
            ax.plot([e["epoch"] for e in run["epochs"]], [e["test_acc"] for e in run["epochs"]], "-o", ms=3,
                    label=f"seed {run.get('seed')}")
        if last and runs:
            epochs = len(runs[0]["epochs"])
            ax.axvspan(epochs - last + 0.5, epochs + 0.5, color="grey", alpha=0.12, lw=0)
        ax.axhline(target, color="red", lw=0.8, ls=":")
        ax.set(xlabel="epoch", title=f"{label.split(':')[0]} ({len(runs)} seeds)", ylim=ylim)
        ax.grid(alpha=0.3)
        ax.legend(ncol=3, fontsize=8)
    axes[0][0].set_ylabel("test accuracy %")
    fig.tight_layout()
    return fig
