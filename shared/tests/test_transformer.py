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
