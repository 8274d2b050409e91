"""Transformer building blocks, written out so the attention weights can be read.

`MultiHeadAttention` has explicit `w_q`, `w_k`, `w_v`, `w_o` projections and keeps the last
attention weights it computed (`last_attention`, heads kept apart) when `keep_attention` is set.
`TransformerBlock` is the seed's post-norm block (attention + residual -> LayerNorm ->
feed-forward + residual -> LayerNorm) or, with `pre_norm=True`, the pre-norm variant.
`DecoderBlock` adds a causal self-attention and a cross-attention to an encoder's output.
The ViT chapter (08) assembles them into a classifier; the stacked-digit chapter reuses them.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class PatchEmbed(nn.Module):
    """A Conv2d with kernel = stride = patch: each patch becomes one d_model-dimensional token."""

    def __init__(self, patch: int, d_model: int, in_channels: int = 1):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (n, d, h, w) -> (n, h*w tokens, d), reading order


def conv_stem(channels: int) -> nn.Module:
    """One 3x3 convolution (1 -> `channels`, padding 1, so the image keeps its size) and a GELU, in front of the
    patch embedding: each token is then cut from local stroke features rather than raw pixels (Xiao et al. 2021,
    "Early convolutions help transformers see better"). 0 gives the plain ViT patch embedding (an identity)."""
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.GELU()) if channels else nn.Identity()


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        self.heads, self.d_k = heads, d_model // heads
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(d_model, d_model) for _ in range(4))
        self.dropout = nn.Dropout(dropout)
        self.keep_attention = False
        self.last_attention: torch.Tensor | None = None  # (n, heads, queries, keys) when keep_attention

    def split(self, x: torch.Tensor) -> torch.Tensor:
        n, tokens, _ = x.shape
        return x.view(n, tokens, self.heads, self.d_k).transpose(1, 2)  # (n, heads, tokens, d_k)

    def forward(self, query: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention when `context` is None, else cross-attention from `query` to `context`.
        `mask` (queries, keys), True where attention is allowed (e.g. a causal mask)."""
        context = query if context is None else context
        q, k, v = self.split(self.w_q(query)), self.split(self.w_k(context)), self.split(self.w_v(context))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)  # scaled: keeps the softmax out of saturation
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(dim=-1)
        if self.keep_attention:
            self.last_attention = weights.detach()
        mixed = self.dropout(weights) @ v  # (n, heads, queries, d_k)
        n, _, queries, _ = mixed.shape
        return self.w_o(mixed.transpose(1, 2).reshape(n, queries, self.heads * self.d_k))


def feed_forward(d_model: int, ff_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_model, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model))


class TransformerBlock(nn.Module):
    """Self-attention and feed-forward, each with a residual connection and a LayerNorm."""

    def __init__(self, d_model: int, heads: int, ff_dim: int, dropout: float = 0.0, pre_norm: bool = True):
        super().__init__()
        self.attention = MultiHeadAttention(d_model, heads, dropout)
        self.ff = feed_forward(d_model, ff_dim, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.pre_norm:  # normalise the input of each sub-layer; the residual path stays untouched
            x = x + self.drop(self.attention(self.norm1(x), mask=mask))
            return x + self.drop(self.ff(self.norm2(x)))
        x = self.norm1(x + self.drop(self.attention(x, mask=mask)))  # the seed's post-norm order
        return self.norm2(x + self.drop(self.ff(x)))


class DecoderBlock(nn.Module):
    """Causal self-attention over the outputs so far, cross-attention to the encoder, feed-forward (pre-norm)."""

    def __init__(self, d_model: int, heads: int, ff_dim: int, dropout: float = 0.0):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, heads, dropout)
        self.cross_attention = MultiHeadAttention(d_model, heads, dropout)
        self.ff = feed_forward(d_model, ff_dim, dropout)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, causal: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.self_attention(self.norm1(x), mask=causal))
        x = x + self.drop(self.cross_attention(self.norm2(x), context=memory))
        return x + self.drop(self.ff(self.norm3(x)))


def causal_mask(length: int, device=None) -> torch.Tensor:
    """(length, length) boolean mask, True on and below the diagonal: step t sees steps 0..t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def keep_attention(model: nn.Module, keep: bool = True) -> list[MultiHeadAttention]:
    """Switch every attention layer of `model` to keep (or drop) its last attention weights."""
    layers = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    for layer in layers:
        layer.keep_attention = keep
        if not keep:
            layer.last_attention = None
    return layers


# The arguments of VisionTransformer that chapter 08's parameters cell sets (the rest of its cell is training);
# the search, `make bench` and `make time-vit` build the chapter's model from them.
VIT_ARGS = ("patch", "d_model", "depth", "heads", "ff_dim", "dropout", "stem_channels")


class VisionTransformer(nn.Module):
    """Encoder-only ViT (chapter 08): patches -> tokens (after an optional 3x3 convolution, `conv_stem`), a CLS
    token in front, learned positions, `depth` blocks, a final LayerNorm and a linear head on the CLS token. The CLS
    token has no pixels of its own: everything it knows it gathered by attention."""

    def __init__(self, patch: int = 4, d_model: int = 64, depth: int = 4, heads: int = 4, ff_dim: int = 128,
                 dropout: float = 0.0, image: int = 28, classes: int = 10, pre_norm: bool = True,
                 stem_channels: int = 0):
        super().__init__()
        if image % patch:
            raise ValueError(f"patch={patch} does not divide the image size {image}")
        if not isinstance(stem_channels, int) or stem_channels < 0:
            raise ValueError(f"stem_channels={stem_channels!r} is not allowed: expected an integer >= 0 (0: no stem)")
        self.stem = conv_stem(stem_channels)
        self.patch_embed = PatchEmbed(patch, d_model, in_channels=stem_channels or 1)
        self.grid = image // patch
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid ** 2 + 1, d_model) * 0.02)
        self.blocks = nn.Sequential(*[TransformerBlock(d_model, heads, ff_dim, dropout, pre_norm) for _ in range(depth)])
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens with the CLS token in front and positions added: the input of the first block."""
        t = self.patch_embed(self.stem(x))
        return torch.cat([self.cls_token.expand(len(x), -1, -1), t], dim=1) + self.pos_embed

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """All tokens after the last block and the final LayerNorm: (n, 1 + patches, d_model)."""
        return self.norm(self.blocks(self.tokens(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x)[:, 0])


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW's two groups, taught in chapter 08 and used again in chapter 10. The rule: weight decay on every
    parameter of 2 or more dimensions whose name holds neither "embed" nor "token" (attention and feed-forward
    matrices, a stem's convolution kernels, the head); none on biases and LayerNorm scales (1-D), nor, by name, on
    position embeddings, the CLS token, token embeddings and the patch embedding's projection `patch_embed.proj`
    (a 4-D convolution kernel that multiplies pixels like any other: it is spared only because of its name).

    Why: decay pulls a weight toward zero. For a matrix inside the network that mostly shrinks the layer's gain,
    which the next LayerNorm undoes; for a bias, a norm's scale, a position embedding or the CLS token it erases
    what the vector itself stores, so those are left alone. nanoGPT's `configure_optimizers` draws the line by
    dimension alone (every 2+-D tensor decays, its embeddings included); this rule also spares, by name, every
    embedding, the patch projection with them. It is the rule chapters 08 and 10 were tuned and measured with:
    decaying the patch projection too would change their numbers.
    """
    def decays(name: str, p: torch.Tensor) -> bool:
        return p.ndim >= 2 and "embed" not in name and "token" not in name

    named = list(model.named_parameters())
    return [{"params": [p for n, p in named if decays(n, p)], "weight_decay": weight_decay},
            {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0}]
