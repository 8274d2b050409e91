"""Reading four digits at once (chapter 10): an encoder over the 56x56 grid, pooled to four quadrant
representations, then either a transformer decoder that writes the digits one at a time (`DigitSequenceReader`)
or four independent classification heads (`FourHeadReader`, the ablation).

The models live here rather than in the notebook because the tests check their decoding; the notebook prints
their source.
"""
from __future__ import annotations

import torch
from torch import nn

from .transformer import DecoderBlock, PatchEmbed, TransformerBlock, causal_mask, conv_stem

START = 10  # the decoder's start token; digits are 0-9
STEPS = 4   # digits per grid


class GridEncoder(nn.Module):
    """Patches (7x7 on a 56x56 grid: 8x8 = 64 tokens) + a learned positional embedding + pre-norm transformer
    blocks + a final LayerNorm. `stem_channels` > 0 puts chapter 08's `conv_stem` (one 3x3 convolution) in front
    of the patch embedding; 0 is the plain ViT patch embedding. `attention="grid"` lets every token attend to all
    64; `"quadrant"` only to the 16 of its own quadrant (a block-diagonal mask): the four digits are independent,
    so each is read like chapter 08 reads one digit, and no attention is spent on the neighbours."""

    def __init__(self, patch: int = 7, d_model: int = 64, depth: int = 4, heads: int = 4, ff_dim: int = 128,
                 dropout: float = 0.0, image: int = 56, stem_channels: int = 0, attention: str = "grid"):
        super().__init__()
        if image % patch or (image // patch) % 2:
            raise ValueError(f"patch={patch} must divide the image size {image} into an even number of patches")
        if attention not in ATTENTION:
            raise ValueError(f"attention={attention!r} is not allowed: expected one of {list(ATTENTION)}")
        self.grid = image // patch
        # (tokens, tokens), True where a query may attend to a key; None: everywhere. A buffer, so it moves with
        # the model, but not saved: checkpoints keep the same keys.
        self.register_buffer("mask", quadrant_mask(self.grid) if attention == "quadrant" else None, persistent=False)
        self.stem = conv_stem(stem_channels)  # chapter 08's
        self.patch_embed = PatchEmbed(patch, d_model, in_channels=stem_channels or 1)
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid ** 2, d_model) * 0.02)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, heads, ff_dim, dropout, pre_norm=True)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(self.stem(images)) + self.pos_embed
        for block in self.blocks:
            x = block(x, mask=self.mask)
        return self.norm(x)  # (n, grid * grid, d_model), patches in reading order


ATTENTION = ("grid", "quadrant")  # GridEncoder's choices: which tokens a token may attend to


def quadrant_mask(grid: int) -> torch.Tensor:
    """(grid*grid, grid*grid) boolean mask for patch tokens in reading order: True where the query token and the
    key token lie in the same quadrant."""
    rows, cols = torch.arange(grid * grid).div(grid, rounding_mode="floor"), torch.arange(grid * grid) % grid
    quadrant = 2 * (rows >= grid // 2).long() + (cols >= grid // 2).long()
    return quadrant[:, None] == quadrant[None, :]


def quadrant_tokens(tokens: torch.Tensor, grid: int) -> torch.Tensor:
    """(n, grid*grid, d) patch tokens -> (n, 4, (grid/2)^2, d): each quadrant's tokens, quadrants in reading order
    (top-left, top-right, bottom-left, bottom-right), tokens in reading order within their quadrant."""
    n, _, d = tokens.shape
    half = grid // 2
    blocks = tokens.view(n, 2, half, 2, half, d)  # (n, row half, row in half, column half, column in half, d)
    return blocks.permute(0, 1, 3, 2, 4, 5).reshape(n, 4, half * half, d)


class QuadrantPool(nn.Module):
    """Four quadrant representations from the patch tokens. "mean" averages each quadrant's tokens (a bag of
    patches: where a stroke sits inside the quadrant is only known through what the encoder wrote into the
    token); "flatten" concatenates them in order and projects back to d_model, so the layout is kept, like the
    flatten + linear layer at the end of a CNN."""

    def __init__(self, grid: int, d_model: int, mode: str = "flatten"):
        super().__init__()
        if mode not in ("mean", "flatten"):
            raise ValueError(f"pool={mode!r}: expected 'mean' or 'flatten'")
        self.grid, self.mode = grid, mode
        self.proj = nn.Linear((grid // 2) ** 2 * d_model, d_model) if mode == "flatten" else None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        quadrants = quadrant_tokens(tokens, self.grid)  # (n, 4, tokens per quadrant, d)
        if self.mode == "mean":
            return quadrants.mean(dim=2)
        return self.proj(quadrants.flatten(2))  # (n, 4, d)


class DigitSequenceReader(nn.Module):
    """Encoder -> four quadrant representations (the `memory`) -> a decoder that writes the four digits left to
    right. Each decoder step sees the start token and the digits written so far (causal self-attention) and
    looks at the four quadrant representations through cross-attention."""

    def __init__(self, encoder: GridEncoder, d_model: int = 64, depth: int = 2, heads: int = 4, ff_dim: int = 128,
                 dropout: float = 0.0, pool: str = "flatten"):
        super().__init__()
        self.encoder = encoder
        self.pool = QuadrantPool(encoder.grid, d_model, pool)
        self.token_embed = nn.Embedding(11, d_model)  # 0-9 and START
        # Step k must find quadrant k. Both get a learned embedding at the scale of the token embedding (std 1):
        # with ViT-sized ones (0.02) the four quadrant summaries look alike to the decoder at first and training
        # sits at chance for an epoch before it breaks the symmetry.
        self.step_embed = nn.Parameter(torch.randn(1, STEPS, d_model))
        self.quadrant_embed = nn.Parameter(torch.randn(1, STEPS, d_model))
        self.blocks = nn.ModuleList(DecoderBlock(d_model, heads, ff_dim, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 10)

    def memory(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool(self.encoder(images)) + self.quadrant_embed

    def decode(self, memory: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (n, t, 10) for the next digit after each prefix of `tokens` (n, t), which starts with START."""
        t = tokens.shape[1]
        x = self.token_embed(tokens) + self.step_embed[:, :t]
        mask = causal_mask(t, device=tokens.device)
        for block in self.blocks:
            x = block(x, memory, mask)
        return self.head(self.norm(x))

    def forward(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """With `targets` (training): teacher forcing, all four steps in one pass, the decoder's input being
        START followed by the first three true digits. Without: greedy decoding. Both return (n, 4, 10)."""
        if targets is None:
            return greedy_decode(self, images)[1]
        start = torch.full_like(targets[:, :1], START)
        return self.decode(self.memory(images), torch.cat([start, targets[:, :-1]], dim=1))


def reader_from(config: dict) -> DigitSequenceReader:
    """Chapter 10's encoder-decoder from a dict named as the chapter's parameters (patch, d_model, encoder_depth,
    decoder_depth, heads, ff_dim, dropout, stem_channels, attention, pool): what the search and `make bench` build."""
    encoder = GridEncoder(patch=config["patch"], d_model=config["d_model"], depth=config["encoder_depth"],
                          heads=config["heads"], ff_dim=config["ff_dim"], dropout=config["dropout"],
                          stem_channels=config["stem_channels"], attention=config["attention"])
    return DigitSequenceReader(encoder, d_model=config["d_model"], depth=config["decoder_depth"], heads=config["heads"],
                               ff_dim=config["ff_dim"], dropout=config["dropout"], pool=config["pool"])


@torch.no_grad()
def greedy_decode(model: DigitSequenceReader, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy decoding for a whole batch at once: encode the images once (the memory is the cache), then four
    steps, each feeding back the digits chosen so far. Returns digits (n, 4) and each step's logits (n, 4, 10)."""
    memory = model.memory(images)
    tokens = torch.full((len(images), 1), START, dtype=torch.long, device=images.device)
    step_logits = []
    for _ in range(STEPS):
        logits = model.decode(memory, tokens)[:, -1]  # only the newest position is new information
        step_logits.append(logits)
        tokens = torch.cat([tokens, logits.argmax(dim=-1, keepdim=True)], dim=1)
    return tokens[:, 1:], torch.stack(step_logits, dim=1)


@torch.no_grad()
def greedy_decode_naive(model: DigitSequenceReader, image: torch.Tensor) -> list[int]:
    """The same decoding written the slowest, plainest way: one image, and every step runs the whole model
    (encoder included) on the image and the prefix. Tests check `greedy_decode` against it."""
    digits: list[int] = []
    for _ in range(STEPS):
        prefix = torch.tensor([[START] + digits], device=image.device)
        logits = model.decode(model.memory(image[None]), prefix)
        digits.append(int(logits[0, -1].argmax()))
    return digits


class FourHeadReader(nn.Module):
    """The ablation: the same encoder and quadrant pooling, then one linear classifier per quadrant. No decoder,
    no attention between the four outputs."""

    def __init__(self, encoder: GridEncoder, d_model: int = 64, pool: str = "flatten"):
        super().__init__()
        self.encoder = encoder
        self.pool = QuadrantPool(encoder.grid, d_model, pool)
        self.heads = nn.ModuleList(nn.Linear(d_model, 10) for _ in range(STEPS))

    def forward(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        quadrants = self.pool(self.encoder(images))
        return torch.stack([head(quadrants[:, k]) for k, head in enumerate(self.heads)], dim=1)  # (n, 4, 10)
