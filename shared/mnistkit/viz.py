"""What a model learned, in numbers and pictures: embedding projections and clusters, attention maps.

Each picture comes with a number, so a reader does not have to trust the eye:
- `cluster_scores`: purity and adjusted Rand index of clusters against the labels;
- `knn_accuracy`: how well the labels are predicted from the nearest neighbours in an embedding;
- `attention_received`: per patch, the attention it receives from the other patches (CLS excluded),
  the seed's recipe for its attention maps; `upsample` turns the patch grid into an image-sized map.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .metrics import confusion_matrix


def cluster_scores(labels: np.ndarray, clusters: np.ndarray) -> dict:
    """Purity (share of points whose cluster's majority label is theirs; noise, -1, counts as wrong),
    adjusted Rand index, number of clusters and share of noise points."""
    from sklearn.metrics import adjusted_rand_score

    labels, clusters = np.asarray(labels), np.asarray(clusters)
    correct = 0
    for c in np.unique(clusters):
        if c == -1:
            continue
        correct += np.bincount(labels[clusters == c]).max()
    return {"purity": 100 * correct / len(labels), "ari": float(adjusted_rand_score(labels, clusters)),
            "clusters": int(len(set(clusters.tolist()) - {-1})), "noise": 100 * float(np.mean(clusters == -1))}


def knn_accuracy(embedding: np.ndarray, labels: np.ndarray, k: int = 5, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated k-nearest-neighbour accuracy (%) of the labels in `embedding`."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return 100 * float(cross_val_score(KNeighborsClassifier(k), embedding, labels, cv=splits).mean())


def knn_fold_accuracies(embedding: np.ndarray, labels: np.ndarray, k: int = 5, folds: int = 5,
                        seed: int = 0) -> list[float]:
    """`knn_accuracy` fold by fold (%): the same splits for the same labels and seed, so two embeddings of the same
    points can be compared fold against fold (`mnistkit.stats.paired`)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return [100 * float(s) for s in cross_val_score(KNeighborsClassifier(k), embedding, labels, cv=splits)]


def hdbscan_clusters(x: np.ndarray, min_cluster_size: int = 15) -> tuple[np.ndarray, str]:
    """HDBSCAN labels (-1 = noise) and which implementation ran: the `hdbscan` package when installed,
    else `sklearn.cluster.HDBSCAN`."""
    try:
        import hdbscan
        return hdbscan.HDBSCAN(min_cluster_size=min_cluster_size).fit_predict(x), "hdbscan"
    except ImportError:
        from sklearn.cluster import HDBSCAN
        return HDBSCAN(min_cluster_size=min_cluster_size).fit_predict(x), "sklearn.cluster.HDBSCAN"


def attention_received(attention: torch.Tensor, has_cls: bool = True) -> torch.Tensor:
    """(n, heads, tokens, tokens) or (n, tokens, tokens) -> (n, patches): for each patch, the mean attention
    the patches pay to it (rows = queries), heads averaged, the CLS token's row and column left out."""
    if attention.ndim == 4:
        attention = attention.mean(dim=1)
    if has_cls:
        attention = attention[:, 1:, 1:]
    return attention.mean(dim=1)


def upsample(maps: torch.Tensor, size: int) -> torch.Tensor:
    """(n, patches) on a square grid -> (n, size, size), bilinear, as the seed's attention overlays."""
    n, patches = maps.shape
    grid = int(round(patches ** 0.5))
    if grid * grid != patches:
        raise ValueError(f"{patches} patches do not form a square grid")
    return F.interpolate(maps.view(n, 1, grid, grid), size=(size, size), mode="bilinear", align_corners=False)[:, 0]


def ink_share(maps: torch.Tensor, images: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """Per image, the share of the attention map's mass that falls on ink (pixels above `threshold`),
    divided by the share of the image that is ink: 1 is what a uniform map scores. Above 1 does not show that a map
    follows the strokes: MNIST digits are centred, so any map that favours the centre scores above 1 on every
    digit; `ink_share_of_average` gives that baseline. `maps` and `images` are (n, H, W) with the same size."""
    ink = (images > threshold).float()
    mass = (maps * ink).flatten(1).sum(1) / maps.flatten(1).sum(1)
    return mass / ink.flatten(1).mean(1)


def ink_share_of_average(maps: torch.Tensor, images: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """`ink_share` with every image's map replaced by the average map over the images: what a map that stays where
    it is on average, whatever the digit, scores on the same digits. A map follows each digit only as far as it
    scores above this."""
    return ink_share(maps.mean(0, keepdim=True).expand_as(maps), images, threshold)


def map_consistency(maps: torch.Tensor) -> float:
    """Mean Pearson correlation between the attention maps of every pair of images ((n, ...) -> a number in
    [-1, 1]): near 1, the map is the same whatever the digit (fixed places of the grid); near 0, it moves with
    the image."""
    flat = maps.flatten(1).cpu().double()  # float64 (MPS has none): a number, not a tensor, comes back
    if len(flat) < 2:
        raise ValueError(f"{len(flat)} map(s): a correlation between images needs at least 2")
    flat = flat - flat.mean(1, keepdim=True)
    flat = flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
    corr = flat @ flat.T
    n = len(flat)
    return float((corr.sum() - corr.diagonal().sum()) / (n * (n - 1)))


def top_confusions(y: torch.Tensor, predicted: torch.Tensor, k: int = 3) -> list[tuple[int, int, int]]:
    """The k most frequent (true, predicted, count) mistakes."""
    y, predicted = torch.as_tensor(y), torch.as_tensor(predicted)
    if len(y) == 0:
        return []
    counts = confusion_matrix(y, predicted, classes=int(max(y.max(), predicted.max())) + 1)
    np.fill_diagonal(counts, 0)
    found = [(int(a), int(b), int(counts[a, b])) for a, b in zip(*np.nonzero(counts))]
    return sorted(found, key=lambda t: (-t[2], t[0], t[1]))[:k]  # most frequent first, ties in label order


def plot_overlays(images: torch.Tensor, maps: torch.Tensor, titles: list[str] | None = None, ncols: int = 8,
                  title: str = ""):
    """Digits on top, the same digits with the attention map overlaid ('hot', 50%) below."""
    import matplotlib.pyplot as plt

    n = len(images)
    rows = -(-n // ncols)
    fig, axes = plt.subplots(2 * rows, ncols, figsize=(1.6 * ncols, 3.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        r, c = 2 * (i // ncols), i % ncols
        image = images[i].squeeze().cpu().numpy()
        axes[r][c].imshow(image, cmap="gray")
        if titles:
            axes[r][c].set_title(titles[i], fontsize=8)
        axes[r + 1][c].imshow(image, cmap="gray", alpha=0.7)
        axes[r + 1][c].imshow(maps[i].cpu().numpy(), cmap="hot", alpha=0.5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
