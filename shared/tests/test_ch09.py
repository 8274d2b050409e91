"""Chapter 09's generated sentences, fed fabricated measurements: a difference within noise never reads as better,
k of n never reads as all, and the numbers said are the numbers given."""
import numpy as np
import pytest
import torch

from mnistkit import ch09
from mnistkit.stats import paired
from mnistkit.viz import knn_accuracy, knn_fold_accuracies

RNG = np.random.default_rng(0)
LABELS = np.repeat(np.arange(10), 30)
BLOBS = RNG.normal(size=(300, 8)) * 0.1 + LABELS[:, None] * 3.0  # ten well-separated digits
NOISE = RNG.normal(size=(300, 8))  # nothing to do with the labels


def vit_scores(**changes) -> dict:
    one = {"k-NN % (full embedding)": 99.5, "k-NN % (t-SNE 2-D)": 99.4, "k-NN % (UMAP 2-D)": 99.3,
           "k-NN % (PCA 2-D)": 75.4, "KMeans purity %": 99.5, "KMeans ARI": 0.99, "HDBSCAN purity %": 96.2,
           "HDBSCAN ARI": 0.95, "HDBSCAN clusters": 10, "HDBSCAN noise %": 3.5}
    return {"CLS token": {**one, **changes}, "mean patch token": dict(one)}


CLAIMED = {"value": 15, "samples": 1000, "pca_reading": "clear linear separation"}


def test_knn_folds_are_the_folds_of_knn_accuracy():
    folds = knn_fold_accuracies(BLOBS[:, :2] + NOISE[:, :2], LABELS)
    assert len(folds) == 5 and np.mean(folds) == pytest.approx(knn_accuracy(BLOBS[:, :2] + NOISE[:, :2], LABELS))


def test_interval_and_against_say_within_noise_when_the_interval_crosses():
    crossing = paired([1.0] * 4, [1.2, 0.8, 1.1, 0.9])
    assert ch09.interval(crossing, "folds").endswith("within noise (4 folds)")
    assert "within noise of 1" in ch09.against(ch09.above([1.2, 0.8, 1.1, 0.9], 1.0), 1.0, "images")
    assert ch09.against(ch09.above([1.5, 1.6, 1.4, 1.55], 1.0), 1.0, "images").endswith("above 1 beyond noise")
    assert ch09.against(ch09.above([20, 21, 19, 20.5], 25), 25, "folds", "%").endswith("below 25% beyond noise")


def test_separation_better_only_beyond_noise():
    embeddings = {"CLS token": BLOBS, "mean patch token": NOISE}
    text = ch09.separation(vit_scores(), embeddings, LABELS, NOISE[:, :2], BLOBS[:, :2], 99.0)
    assert "the CLS token, which the head reads, holds the digits apart better" in text
    assert "keep fewer of the neighbourhoods than t-SNE" in text and "99.5%" in text and "75.4%" in text
    same = {"CLS token": BLOBS, "mean patch token": BLOBS}
    text = ch09.separation(vit_scores(), same, LABELS, BLOBS[:, :2], BLOBS[:, :2], 99.0)
    assert "within noise (5 folds)" in text and "better" not in text and "beyond noise" not in text


def test_clusters_give_numbers_and_the_writeup_but_no_verdict():
    text = ch09.clusters(vit_scores(), CLAIMED)
    assert "about 15 HDBSCAN clusters" in text and "1000 digits" in text and '"clear linear separation"' in text
    assert "10 clusters" in text and "75.4%" in text and "3.5% of the points left as noise" in text  # as the table
    assert not any(word in text for word in ("better", "beyond", "as expected"))


def test_attention_counts_heads_beyond_noise_only():
    ink_images = {"first block": [1.3, 1.4, 1.5, 1.35], "last block": [1.2, 0.8, 1.1, 0.9]}
    heads = [[1.5, 1.6, 1.4, 1.55], [1.2, 0.8, 1.1, 0.9]]
    text = ch09.attention(ink_images, heads, [0.4, 0.7], 0.6)
    assert "1 of 2 above 1 beyond noise" in text and "the 4 digits drawn" in text
    assert "first block 1.39 (" in text and "above 1 beyond noise" in text and "within noise of 1" in text
    assert "0.40 to 0.70" in text and "0.60" in text and "keeps to places" in text
    with pytest.raises(ValueError, match="at least 2"):  # one image is no sample
        ch09.attention({"first block": [1.3], "last block": [1.2]}, [[1.5]], [0.4], 0.6)


def test_mistakes_say_k_of_n_never_all():
    cls = np.array([[0.0, 0.0], [0.0, 0.2], [10.0, 0.0], [10.0, 0.2]])
    labels = np.array([3, 3, 5, 5])
    drawn = np.array([[9.0, 0.0], [1.0, 0.0]])  # one 3 near the 5s, one near its own
    text = ch09.mistakes([(3, 5, 2)], cls, labels, drawn, [(3, 5), (3, 5)])
    assert "3 read as 5 (2×)" in text and "Of the 2 drawn above, 1 has" in text and "the other 1 sits nearer" in text
    assert "all of them" not in text
    assert "all of them already sit" in ch09.mistakes([(3, 5, 1)], cls, labels, drawn[:1], [(3, 5)])
    assert ch09.mistakes([], cls, labels, drawn[:0], []).endswith("none; none drawn.")
    with pytest.raises(ValueError, match=r"digits \[7\] have no embedding"):
        ch09.nearer_to_wrong(cls, labels, drawn[:1], [(7, 5)])


def test_encoder_decoder_says_what_is_beyond_chance():
    places = np.tile(np.arange(4), 75)
    where = NOISE.copy()
    where[:, 0] += places * 5.0  # the decoder state knows its step; the quadrant representation only the digit
    seq = {"quadrant representation": BLOBS, "decoder state": where}
    scores = {name: {"k-NN digit % (full)": 90.0, "k-NN quadrant % (full)": 30.0, "KMeans ARI": 0.5,
                     "k-NN digit % (t-SNE 2-D)": 88.0, "KMeans purity %": 80.0} for name in seq}
    scores["decoder state"] = dict(scores["decoder state"], **{"k-NN digit % (full)": 90.25})
    text = ch09.encoder_decoder(scores, seq, LABELS, places, vit_scores()["CLS token"])
    # the table's two decimals: 90.00 and 90.25 must not both read 90.2
    assert "representation 90.00% of the time and from its decoder state 90.25%" in text
    # How far above chance, each with its chance level: a bare "beyond chance" would read 30% like 88%.
    assert "The quadrant representation carries the digit (" in text and "% against 10% by chance) beyond chance;" in text
    assert "the decoder state carries its quadrant (" in text and "% against 25% by chance) beyond chance." in text
    assert "handed its step as input" in text
    assert "(chance 25%)" in text and "within noise of 25%" in text


def test_representation_table_and_ink_grid():
    seq = {"decoder state": {"k-NN digit % (full)": 99.2, "k-NN quadrant % (full)": 88.2,
                             "k-NN digit % (t-SNE 2-D)": 99.0, "KMeans purity %": 99.4, "KMeans ARI": 0.99}}
    table = ch09.representation_table(vit_scores(), seq, {"CLS token": 64, "mean patch token": 64, "decoder state": 64})
    assert "| ViT: CLS token | 64 | 99.50 | – | 99.40 | 99.50 | 0.99 |" in table
    assert "| encoder-decoder: decoder state | 64 | 99.20 | 88.20 |" in table
    images = torch.zeros(2, 28, 28)
    images[:, :14, :14] = 1.0
    grid = ch09.ink_on_grid(images, 4)
    assert grid.shape == (2, 4) and grid[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="patches=5"):
        ch09.ink_on_grid(images, 5)


def test_exercise_answers_call_a_gain_only_beyond_noise():
    text = ch09.pixels_against_embedding(NOISE, BLOBS, LABELS, "full")
    assert "puts the digits of a class nearer each other" in text and "in 8 numbers instead of 8" in text
    assert "quick profile" not in text
    text = ch09.pixels_against_embedding(BLOBS, BLOBS, LABELS, "quick")
    assert "within noise of each other" in text and "nearer" not in text and "quick profile's checkpoint" in text
    text = ch09.by_block([NOISE, NOISE, BLOBS], LABELS)
    assert "only the last block adds beyond noise" in text and "block 2 minus block 1" in text
    assert "every step" not in ch09.by_block([NOISE, BLOBS, BLOBS], LABELS)
    assert "1 of 2 steps add beyond noise (into block 2)" in ch09.by_block([NOISE, BLOBS, BLOBS], LABELS)
    with pytest.raises(ValueError, match="1 block"):
        ch09.by_block([BLOBS], LABELS)


def test_by_block_says_where_it_falls():
    text = ch09.by_block([BLOBS, NOISE], LABELS)
    assert "no step from one block to the next adds beyond noise. The accuracy falls beyond noise into block 2." in text


def test_a_ratio_above_1_is_read_against_the_maps_own_average_not_against_1():
    # A centred map scores well above 1 on centred digits without following any of them: only what a map scores
    # above its own average map, image by image, says it follows the digit.
    ink_images = {"first block": [1.40, 1.38, 1.41, 1.37], "last block": [1.80, 1.85, 1.78, 1.82]}
    fixed = {"first block": [1.39, 1.37, 1.40, 1.38], "last block": [1.60, 1.62, 1.58, 1.61]}
    heads, fixed_heads = [[1.5, 1.6, 1.4, 1.55], [1.2, 1.1, 1.15, 1.12]], [[1.2, 1.25, 1.22, 1.18], [1.2, 1.1, 1.16, 1.13]]
    text = ch09.attention(ink_images, heads, [0.4, 0.7], 0.6, fixed, fixed_heads)
    assert "first block 1.39, its average map on the same digits 1.39" in text
    assert "following each digit adds +0.01" in text and "within noise (4 images)" in text
    assert "last block 1.81, its average map on the same digits 1.60" in text and "beyond noise" in text
    assert "1 of 2 heads score above their own average map beyond noise" in text
    assert "(their average maps alone: +0.22)" in text


def test_the_average_maps_ink_share_is_a_centre_bias_without_any_tracking():
    import torch

    from mnistkit.viz import ink_share, ink_share_of_average

    images = torch.zeros(2, 4, 4)
    images[:, 1:3, 1:3] = 1.0  # two centred "digits"
    centred = torch.zeros(2, 4, 4)
    centred[:, 1:3, 1:3] = 1.0  # a map on the centre, the same for both
    assert torch.allclose(ink_share(centred, images), torch.tensor([4.0, 4.0]))  # far above 1, following nothing
    assert torch.allclose(ink_share_of_average(centred, images), ink_share(centred, images))


def test_the_listed_confusions_say_when_the_last_one_is_a_tie():
    cls = np.array([[0.0, 0.0], [0.0, 0.2], [10.0, 0.0], [10.0, 0.2]])
    labels = np.array([3, 3, 5, 5])
    top = [(5, 3, 5), (9, 4, 3), (3, 5, 2)]
    every = top + [(4, 9, 2), (6, 0, 2), (7, 1, 1)]
    text = ch09.mistakes(top, cls, labels, np.zeros((0, 2)), [], every)
    assert "3 read as 5 (2×), one of 3 pairs at 2× (listed by label order); these 10 of all 15 mistakes" in text
    untied = ch09.mistakes(top[:2], cls, labels, np.zeros((0, 2)), [], every)
    assert "tied" not in untied and "pairs at" not in untied and "these 8 of all 15 mistakes" in untied
