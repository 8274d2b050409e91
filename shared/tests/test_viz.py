"""Embedding and attention helpers against small cases worked out by hand."""
import numpy as np
import pytest
import torch

from mnistkit.viz import attention_received, cluster_scores, ink_share, knn_accuracy, top_confusions, upsample


def test_cluster_scores_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 1])
    s = cluster_scores(labels, np.array([5, 5, 5, 7, 7, 7]))
    assert s["purity"] == 100 and s["ari"] == pytest.approx(1.0) and s["clusters"] == 2 and s["noise"] == 0
    s = cluster_scores(labels, np.array([5, 5, 7, 7, 7, -1]))  # one mixed cluster, one noise point
    assert s["purity"] == pytest.approx(100 * 4 / 6) and s["noise"] == pytest.approx(100 / 6)


def test_knn_accuracy_separable_and_random():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    separable = rng.normal(size=(120, 2)) * 0.1 + labels[:, None] * 5
    assert knn_accuracy(separable, labels) == 100
    assert knn_accuracy(rng.normal(size=(120, 2)), labels) < 60


def test_attention_received_skips_cls_and_averages_heads():
    attn = torch.zeros(1, 2, 5, 5)  # CLS + 4 patches
    attn[0, 0, :, 3] = 1.0  # head 0: everyone attends to patch 2 (token 3)
    attn[0, 1, :, 0] = 1.0  # head 1: everyone attends to CLS, which is left out
    received = attention_received(attn)
    assert received.shape == (1, 4)
    assert torch.allclose(received, torch.tensor([[0.0, 0.0, 0.5, 0.0]]))


def test_upsample_keeps_patch_layout():
    maps = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # 2x2 grid, top-left hot
    up = upsample(maps, 28)
    assert up.shape == (1, 28, 28) and up[0, :7, :7].mean() > 0.9 and up[0, 21:, 21:].max() < 1e-6
    with pytest.raises(ValueError, match="square grid"):
        upsample(torch.ones(1, 5), 28)


def test_ink_share_one_when_uniform():
    images = torch.zeros(1, 4, 4)
    images[0, :2] = 1.0
    assert ink_share(torch.ones(1, 4, 4), images).item() == pytest.approx(1.0)
    focused = torch.zeros(1, 4, 4)
    focused[0, :2] = 1.0
    assert ink_share(focused, images).item() == pytest.approx(2.0)


def test_top_confusions():
    y = torch.tensor([4, 4, 4, 9, 3, 3])
    p = torch.tensor([9, 9, 4, 4, 5, 3])
    assert top_confusions(y, p, k=2) == [(4, 9, 2), (3, 5, 1)]  # ties broken by label order


def test_map_consistency_is_one_for_fixed_maps_and_near_zero_for_unrelated_ones():
    from mnistkit.viz import map_consistency
    spot = torch.zeros(16)
    spot[5] = 1.0
    assert map_consistency(torch.stack([spot, 2 * spot, spot + 0.1])) == pytest.approx(1.0)
    unrelated = torch.eye(16)[:4]  # each map on its own patch
    assert map_consistency(unrelated) == pytest.approx(-1 / 15)
    with pytest.raises(ValueError, match="at least 2"):
        map_consistency(spot[None])
