"""Chapter 09 (`notebooks/09_vit_visualised.ipynb`): what chapter 08's ViT and chapter 10's encoder-decoder learned,
said in sentences generated from the chapter's measurements.

One trained model each, so nothing here is over seeds: the noise a comparison must beat is that of the sample of
digits. Two k-NN accuracies of the same digits are compared fold against fold over the same cross-validation folds,
two attention ratios image against image, each with `mnistkit.stats.paired` (a 95% interval; "beyond noise" only
when it excludes zero). A single clustering of a single sample gets its numbers and no verdict.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .chapter import plural
from .metrics import markdown_table
from .params import PROFILES
from .stats import Difference, paired
from .viz import knn_fold_accuracies

QUADRANT_CHANCE = 25.0  # four quadrants
DIGIT_CHANCE = 10.0  # ten digits, close to balanced


def interval(difference: Difference, over: str, unit: str = " pp") -> str:
    """'+1.20 pp (95% interval +0.40 to +2.00, paired over the 5 folds): beyond noise'; `over` names what was
    paired ("folds", "images"), since here it is never seeds."""
    verdict = "beyond noise" if difference.beyond_noise else f"within noise ({difference.n} {over})"
    return (f"{difference.mean:+.2f}{unit} (95% interval {difference.low:+.2f} to {difference.high:+.2f}, "
            f"paired over the {difference.n} {over}): {verdict}")


def above(values, level: float) -> Difference:
    """`values - level`, paired value by value: is a measure beyond noise above (or below) a fixed level?"""
    values = [float(v) for v in values]
    return paired([level] * len(values), values)


def against(difference: Difference, level: float, over: str, unit: str = "") -> str:
    """`above(values, level)` in words: '95% interval 1.21 to 1.57 over the 16 images: above 1 beyond noise'."""
    if not difference.beyond_noise:
        verdict = f"within noise of {level:g}{unit}"
    else:
        verdict = f"{'above' if difference.mean > 0 else 'below'} {level:g}{unit} beyond noise"
    return (f"95% interval {difference.low + level:.2f}{unit} to {difference.high + level:.2f}{unit} over the "
            f"{difference.n} {over}: {verdict}")


def ink_on_grid(images: torch.Tensor, patches: int) -> torch.Tensor:
    """(n, H, W) digits -> (n, patches): the ink of each patch of a square grid (the grid attention maps live on)."""
    grid = int(round(patches ** 0.5))
    if grid * grid != patches:
        raise ValueError(f"patches={patches} is not allowed: expected a square number (a square grid of patches)")
    return F.adaptive_avg_pool2d(images[:, None].float(), grid).flatten(1)


def separation(scores: dict, embeddings: dict, labels: np.ndarray, pca_cls: np.ndarray, tsne_cls: np.ndarray,
               accuracy: float) -> str:
    """How well the labels are recovered by neighbours: CLS token against mean patch token, and PCA's 2-D view
    against t-SNE's, each paired over the same cross-validation folds. `scores`: the chapter's table by embedding."""
    cls, mean_patch = scores["CLS token"], scores["mean patch token"]
    tokens = paired(knn_fold_accuracies(embeddings["mean patch token"], labels),
                    knn_fold_accuracies(embeddings["CLS token"], labels))
    maps = paired(knn_fold_accuracies(pca_cls, labels), knn_fold_accuracies(tsne_cls, labels))
    if not tokens.beyond_noise:
        which = ""
    elif tokens.mean > 0:
        which = "; the CLS token, which the head reads, holds the digits apart better than the mean of the patch tokens"
    else:
        which = "; the mean of the patch tokens holds the digits apart better than the CLS token, which the head reads"
    if maps.beyond_noise and maps.mean > 0:
        reading = ("; PCA's two directions of largest variance keep fewer of the neighbourhoods than t-SNE, which is "
                   "built to keep them")
    elif maps.beyond_noise:
        reading = "; here PCA's two directions keep more of the neighbourhoods than t-SNE"
    else:
        reading = ""
    return (f"- **Separation, measured:** a 5-nearest-neighbour vote recovers the label from the CLS token "
            f"{cls['k-NN % (full embedding)']:.1f}% of the time and from the mean patch token "
            f"{mean_patch['k-NN % (full embedding)']:.1f}%. CLS minus mean patch: {interval(tokens, 'folds')}{which}. "
            f"The model itself scores {accuracy:.1f}% on these digits. In two dimensions t-SNE keeps "
            f"{cls['k-NN % (t-SNE 2-D)']:.1f}%, UMAP {cls['k-NN % (UMAP 2-D)']:.1f}%, PCA {cls['k-NN % (PCA 2-D)']:.1f}%. "
            f"t-SNE minus PCA: {interval(maps, 'folds')}{reading}.")


def clusters(scores: dict, claimed: dict) -> str:
    """KMeans and HDBSCAN against the labels, for both embeddings (numbers only: one clustering of one sample has no
    interval), beside what the write-up reported (`claimed`: write-up 003's "visualisations" claim)."""
    cls, mean_patch = scores["CLS token"], scores["mean patch token"]
    return (f"- **Clusters without labels** (one clustering of one sample each, so numbers and no verdict; the "
            f"measured comparison is the k-NN one above): KMeans (k = 10) in the full CLS embedding reaches purity "
            f"{cls['KMeans purity %']:.1f}%, ARI {cls['KMeans ARI']:.2f} (mean patch token "
            f"{mean_patch['KMeans purity %']:.1f}%, {mean_patch['KMeans ARI']:.2f}). HDBSCAN finds "
            f"{cls['HDBSCAN clusters']} clusters in the CLS embedding (its first 10 principal components), purity {cls['HDBSCAN purity %']:.1f}% with "
            f"{cls['HDBSCAN noise %']:.1f}% of the points left as noise, ARI {cls['HDBSCAN ARI']:.2f} (mean patch token: "
            f"{mean_patch['HDBSCAN clusters']} clusters, {mean_patch['HDBSCAN purity %']:.1f}%, "
            f"{mean_patch['HDBSCAN noise %']:.1f}% noise, ARI {mean_patch['HDBSCAN ARI']:.2f}). The write-up reported "
            f"about {claimed['value']} HDBSCAN clusters for its own encoder-only ViT ({claimed['samples']} digits, "
            f"counted on its figure) and read its PCA plot as \"{claimed['pca_reading']}\"; the PCA view above keeps "
            f"{cls['k-NN % (PCA 2-D)']:.1f}% of the labels by k-NN.")


def attention(ink_images: dict, head_ink: list, head_same: list[float], ink_same: float,
              fixed_images: dict | None = None, fixed_heads: list | None = None) -> str:
    """The ink ratios of the attention maps (1 = what a uniform map scores), each block's and each head's set
    beside the ratio of its own average map on the same digits (`viz.ink_share_of_average`: a map that never moves
    scores that much from where it sits), the difference paired image by image; the last block against the first;
    and how alike a head's map is between images beside how alike the digits' own ink is on the same grid."""
    first, last = (np.asarray(ink_images[k], dtype=float) for k in ("first block", "last block"))
    head_ink = [np.asarray(h, dtype=float) for h in head_ink]  # per head, per image (tensors or lists)
    n = len(first)
    fixed = {k: np.asarray(v, dtype=float) for k, v in (fixed_images or {}).items()}
    fixed_heads = [np.asarray(h, dtype=float) for h in (fixed_heads or [])]

    def beside(name: str, values: np.ndarray) -> str:
        text = f"{name} {values.mean():.2f}"
        if name not in fixed:
            return text + f" ({against(above(values, 1.0), 1, 'images')})"
        return (text + f", its average map on the same digits {fixed[name].mean():.2f}: following each digit adds "
                + interval(paired(fixed[name], values), "images", ""))

    lines = [f"- **Attention** (the {n} digits drawn; ink ratio 1 = what a uniform map scores; the digits are "
             f"centred, so a map that favours the centre scores above 1 whatever the digit): "
             + "; ".join(beside(name, v) for name, v in (("first block", first), ("last block", last)))
             + f". Last block minus first: {interval(paired(first, last), 'images', '')}"
             + (f" (their average maps alone: {fixed['last block'].mean() - fixed['first block'].mean():+.2f})"
                if {"first block", "last block"} <= set(fixed) else "") + "."]
    if len(fixed_heads) == len(head_ink):
        follows = [paired(f, h) for f, h in zip(fixed_heads, head_ink)]
        beyond = sum(d.beyond_noise and d.mean > 0 for d in follows)
        lines.append(f"Per head, the first block's ratios are {', '.join(f'{np.mean(h):.2f}' for h in head_ink)}, "
                     f"their average maps' {', '.join(f'{np.mean(f):.2f}' for f in fixed_heads)}: {beyond} of "
                     f"{len(head_ink)} heads score above their own average map beyond noise, that is, follow the "
                     "digit more than a fixed map would.")
    else:
        heads = [above(h, 1.0) for h in head_ink]
        lines.append(f"Per head, the first block's ratios are {', '.join(f'{np.mean(h):.2f}' for h in head_ink)}: "
                     f"{sum(h.beyond_noise and h.mean > 0 for h in heads)} of {len(heads)} above 1 beyond noise.")
    lines.append(f"A head's map correlates {min(head_same):.2f} to {max(head_same):.2f} between images (1 = the same "
                 f"map whatever the digit), the digits' own ink on the same patch grid {ink_same:.2f}: the digits are "
                 "centred, so their ink is alike too, and a correlation alone cannot tell a head that follows the "
                 "digit from one that keeps to places.")
    return " ".join(lines)


def nearer_to_wrong(cls: np.ndarray, labels: np.ndarray, mistakes: np.ndarray, pairs: list[tuple[int, int]]) -> int:
    """How many mistakes (their CLS embeddings, with (true, predicted) pairs) lie nearer the centroid of the digit
    they were taken for than to that of their own digit; centroids of the sampled embeddings `cls` by label."""
    present = set(np.unique(labels).tolist())
    missing = sorted({d for pair in pairs for d in pair} - present)
    if missing:
        raise ValueError(f"digits {missing} have no embedding in the sample: no centroid to measure against")
    centroids = {d: cls[labels == d].mean(0) for d in present}
    return int(sum(np.linalg.norm(e - centroids[w]) < np.linalg.norm(e - centroids[t])
                   for e, (t, w) in zip(mistakes, pairs)))


def mistakes(top: list[tuple[int, int, int]], cls: np.ndarray, labels: np.ndarray, mistake_cls: np.ndarray,
             pairs: list[tuple[int, int]], every: list[tuple[int, int, int]] | None = None) -> str:
    """The most frequent confusions (with `every` confusion: how many pairs tie with the last one listed, and how
    many of all the mistakes the listed ones are), and where the CLS embeddings of the mistakes drawn lie: nearer
    the centroid of the digit they were taken for, or of their own (k of n, no more)."""
    listed = "; ".join(f"{t} read as {p} ({c}×)" for t, p, c in top) or "none"
    if top and every:
        last = top[-1][2]
        tied = sum(c == last for _, _, c in every)
        listed += ((f", one of {tied} pairs at {last}× (listed by label order)" if tied > sum(c == last for *_, c in top)
                    else "") + f"; these {sum(c for *_, c in top)} of all {sum(c for *_, c in every)} mistakes")
    if not pairs:
        return f"- **Mistakes:** {listed}; none drawn."
    closer = nearer_to_wrong(cls, labels, mistake_cls, pairs)
    n = len(pairs)
    where = ("all of them already sit with the digit they were taken for when the head reads them" if closer == n
             else "all of them sit nearer their own digit" if closer == 0
             else f"the other {n - closer} {'sits' if n - closer == 1 else 'sit'} nearer their own digit's centroid")
    return (f"- **Mistakes** on the whole test set, most frequent first: {listed}. Of the {n} drawn above, {closer} "
            f"{'has' if closer == 1 else 'have'} a "
            f"CLS embedding nearer the centroid of the digit they were taken for than of their own (centroids of the "
            f"{len(labels)} sampled digits): {where}.")


def encoder_decoder(seq_scores: dict, seq_embeddings: dict, digits: np.ndarray, places: np.ndarray,
                    cls_scores: dict) -> str:
    """What chapter 10's quadrant representations and decoder states carry: the digit (chance 10%) and the quadrant
    (chance 25%), each tested against chance over the cross-validation folds, beside the ViT's CLS token."""
    quad, state = seq_scores["quadrant representation"], seq_scores["decoder state"]
    where = {name: above(knn_fold_accuracies(emb, places), QUADRANT_CHANCE) for name, emb in seq_embeddings.items()}
    which = {name: above(knn_fold_accuracies(emb, digits), DIGIT_CHANCE) for name, emb in seq_embeddings.items()}

    def carries(name: str) -> str:  # how far above chance, not only whether: 30% and 88% are not the same finding
        kinds = [f"{k} ({d.mean + chance:.1f}% against {chance:g}% by chance)"
                 for k, d, chance in (("the digit", which[name], DIGIT_CHANCE), ("its quadrant", where[name],
                                                                                 QUADRANT_CHANCE))
                 if d.beyond_noise and d.mean > 0]
        return " and ".join(kinds) + " beyond chance" if kinds else "neither the digit nor its quadrant beyond chance"
    return (f"- **The encoder-decoder beside the ViT:** a 5-nearest-neighbour vote recovers the digit from its quadrant "
            f"representation {quad['k-NN digit % (full)']:.2f}% of the time and from its decoder state "
            f"{state['k-NN digit % (full)']:.2f}% (the ViT's CLS token: {cls_scores['k-NN % (full embedding)']:.2f}%, "
            f"on other test digits); KMeans (k = 10) ARI {quad['KMeans ARI']:.2f} and {state['KMeans ARI']:.2f} (ViT "
            f"{cls_scores['KMeans ARI']:.2f}). The quadrant a vector came from (chance 25%) is recovered "
            f"{quad['k-NN quadrant % (full)']:.1f}% of the time from the quadrant representation "
            f"({against(where['quadrant representation'], QUADRANT_CHANCE, 'folds', '%')}) and "
            f"{state['k-NN quadrant % (full)']:.1f}% from the decoder state "
            f"({against(where['decoder state'], QUADRANT_CHANCE, 'folds', '%')}). The quadrant representation carries "
            f"{carries('quadrant representation')}; the decoder state carries {carries('decoder state')}. The decoder "
            "is handed its step as input (a learned step embedding), and the step is the quadrant: its state's "
            "quadrant score measures how much of that input survives, not something it learned of where a digit "
            "lies.")


def representation_table(scores: dict, seq_scores: dict, dims: dict) -> str:
    """The ViT's two embeddings and the encoder-decoder's two representations side by side (`dims`: name -> size)."""
    rows = [[f"ViT: {name}", dims[name], s["k-NN % (full embedding)"], None, s["k-NN % (t-SNE 2-D)"],
             s["KMeans purity %"], s["KMeans ARI"]] for name, s in scores.items()]
    rows += [[f"encoder-decoder: {name}", dims[name], s["k-NN digit % (full)"], s["k-NN quadrant % (full)"],
              s["k-NN digit % (t-SNE 2-D)"], s["KMeans purity %"], s["KMeans ARI"]] for name, s in seq_scores.items()]
    return markdown_table(["representation", "dims", "k-NN digit % (full)", "k-NN quadrant % (full)",
                           "k-NN digit % (t-SNE 2-D)", "KMeans purity %", "KMeans ARI"], rows)


# The exercises' answers (notebooks/solutions/09_vit_visualised_solutions.ipynb).

def pixels_against_embedding(pixels: np.ndarray, embedding: np.ndarray, labels: np.ndarray, profile: str) -> str:
    """Exercise 1: 5-NN accuracy on the raw pixels against the CLS embedding of the same digits, paired fold by fold."""
    on_pixels, on_embedding = knn_fold_accuracies(pixels, labels), knn_fold_accuracies(embedding, labels)
    gain = paired(on_pixels, on_embedding)
    if gain.beyond_noise and gain.mean > 0:
        reading = (f"the trained representation puts the digits of a class nearer each other than their pixels do, "
                   f"in {embedding.shape[1]} numbers instead of {pixels.shape[1]}.")
    elif gain.beyond_noise:
        reading = "here the embedding does worse than the pixels."
    else:
        reading = "the two are within noise of each other on these digits."
    quick = PROFILES["quick"]
    caveat = (f" This is the quick profile's checkpoint ({plural(quick['epochs'], 'epoch')} on {quick['data_fraction']:.0%} of the "
              "images): the question needs the full profile's." if profile == "quick" else "")
    return (f"Measured on {len(labels)} test digits with chapter 08's {profile}-profile checkpoint: 5-NN accuracy "
            f"{np.mean(on_pixels):.2f}% on the raw pixels ({pixels.shape[1]} numbers; chance 10%) and "
            f"{np.mean(on_embedding):.2f}% on the CLS embedding ({embedding.shape[1]} numbers); embedding minus pixels: "
            f"{interval(gain, 'folds')}: {reading}{caveat}")


def by_block(cls_by_block: list[np.ndarray], labels: np.ndarray) -> str:
    """Exercise 2: the CLS token's 5-NN accuracy after each block, and which steps from a block to the next add
    beyond noise (paired over the same folds)."""
    if len(cls_by_block) < 2:
        raise ValueError(f"{len(cls_by_block)} block(s) is not allowed: a step from one block to the next needs 2")
    folds = [knn_fold_accuracies(emb, labels) for emb in cls_by_block]
    steps = [paired(a, b) for a, b in zip(folds, folds[1:])]
    rising = [k + 2 for k, d in enumerate(steps) if d.beyond_noise and d.mean > 0]
    each = "; ".join(f"block {k + 2} minus block {k + 1}: {interval(d, 'folds')}" for k, d in enumerate(steps))
    if len(rising) == len(steps):
        answer = "it grows block by block, every step beyond noise."
    elif rising == [len(cls_by_block)]:
        answer = "only the last block adds beyond noise."
    elif rising:
        answer = (f"{len(rising)} of {len(steps)} steps add beyond noise (into block"
                  f"{'s' if len(rising) > 1 else ''} {', '.join(map(str, rising))}).")
    else:
        answer = "no step from one block to the next adds beyond noise."
    falling = [k + 2 for k, d in enumerate(steps) if d.beyond_noise and d.mean < 0]
    if falling:
        answer += f" The accuracy falls beyond noise into block{'s' if len(falling) > 1 else ''} {', '.join(map(str, falling))}."
    return (f"The CLS token's 5-NN accuracy goes {' → '.join(f'{np.mean(f):.1f}%' for f in folds)} through the "
            f"{len(folds)} blocks ({each}): {answer} The CLS token enters as the same vector for every image, so "
            "everything it knows it gathered by attention.")
