"""Our written-out attention equals PyTorch's scaled_dot_product_attention; blocks keep shapes; masks work."""
import torch
import torch.nn.functional as F

from mnistkit.transformer import (
    DecoderBlock,
    MultiHeadAttention,
    PatchEmbed,
    TransformerBlock,
    causal_mask,
    keep_attention,
)


def reference(mha, query, context, mask=None):
    q, k, v = mha.split(mha.w_q(query)), mha.split(mha.w_k(context)), mha.split(mha.w_v(context))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    n, _, t, _ = out.shape
    return mha.w_o(out.transpose(1, 2).reshape(n, t, -1))


def test_attention_equals_scaled_dot_product_attention():
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, heads=4)
    x, memory = torch.randn(3, 7, 32), torch.randn(3, 5, 32)
    torch.testing.assert_close(mha(x), reference(mha, x, x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mha(x, context=memory), reference(mha, x, memory), rtol=1e-5, atol=1e-5)
    mask = causal_mask(7)
    torch.testing.assert_close(mha(x, mask=mask), reference(mha, x, x, mask), rtol=1e-5, atol=1e-5)


def test_kept_attention_rows_sum_to_one_and_respect_the_causal_mask():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, heads=2)
    keep_attention(mha)
    mha(torch.randn(2, 4, 16), mask=causal_mask(4))
    w = mha.last_attention
    assert w.shape == (2, 2, 4, 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 4))
    assert torch.all(w.triu(diagonal=1) == 0)  # no step looks ahead


def test_blocks_and_patch_embedding_keep_shapes():
    torch.manual_seed(0)
    tokens = PatchEmbed(4, 24)(torch.randn(2, 1, 28, 28))
    assert tokens.shape == (2, 49, 24)
    for pre_norm in (True, False):
        assert TransformerBlock(24, 4, 48, pre_norm=pre_norm)(tokens).shape == (2, 49, 24)
    out = DecoderBlock(24, 4, 48)(torch.randn(2, 4, 24), tokens, causal_mask(4))
    assert out.shape == (2, 4, 24)


def test_patch_embedding_tokens_follow_reading_order():
    embed = PatchEmbed(7, 1)
    with torch.no_grad():
        embed.proj.weight.fill_(1.0)
        embed.proj.bias.zero_()
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 7:14, 21:28] = 1  # second row of patches, fourth column -> token 1 * 4 + 3 = 7
    assert embed(x)[0, :, 0].argmax().item() == 7


def test_vision_transformer_with_a_convolutional_stem():
    import pytest

    from mnistkit.seq2seq import GridEncoder
    from mnistkit.transformer import VisionTransformer

    torch.manual_seed(0)
    plain, stem = VisionTransformer(patch=7, d_model=16, depth=1, heads=2, ff_dim=32), \
        VisionTransformer(patch=7, d_model=16, depth=1, heads=2, ff_dim=32, stem_channels=8)
    x = torch.randn(3, 1, 28, 28)
    assert stem(x).shape == plain(x).shape == (3, 10)
    assert stem.tokens(x).shape == (3, 17, 16)  # 4x4 patches + CLS, whatever the stem's width
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # the stem's 3x3 kernels (8 * 9 + 8) and a patch embedding that reads 8 channels instead of 1
    assert count(stem) - count(plain) == (8 * 9 + 8) + 7 * 7 * 16 * (8 - 1)
    # chapter 10's encoder builds the same stem: its saved checkpoints keep their key names
    assert {k for k in GridEncoder(stem_channels=8).state_dict() if k.startswith("stem")} == {"stem.0.weight", "stem.0.bias"}
    with pytest.raises(ValueError, match="stem_channels=-1 is not allowed"):
        VisionTransformer(stem_channels=-1)
