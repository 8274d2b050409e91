"""Models taught in one chapter and imported by the chapters after it (the pattern of d2l's `#@save`).

A chapter that teaches a model shows this source (`mnistkit.chapter.show_source`), so there is one copy of it.
"""
from __future__ import annotations

from torch import nn


class Net(nn.Module):
    """Chapter 01's skeleton, 8 -> 12 -> 16: two 3x3 convs, a max-pool, three 3x3 convs, global average pooling,
    a 1x1 classifier. Chapters 02 (dropout 0.1) and 03 (a StepLR schedule) train it unchanged; 04 trains it with
    augmentation (and tried the variant `early_padding=1` in its search, not kept).

    Every block is Conv (no bias: BatchNorm adds its own shift) -> ReLU -> BatchNorm, with Dropout after
    the two middle blocks. Most parameters sit after the pool, where strokes become digit parts.
    `everywhere` and `on_logits` are chapter 01's probe of the write-up's plateau: dropout after every block,
    and on the 10 logits themselves. `early_padding=1` is chapter 04's variant: the two convolutions before the
    pool keep the 28 px (14 px after the pool, 8x8 before the average), the same parameters over more positions.
    """

    def __init__(self, dropout: float, everywhere: bool = False, on_logits: bool = False, early_padding: int = 0):
        super().__init__()
        early = dropout if everywhere else 0.0  # chapter 01's probe: dropout after every block, as the write-up did

        def block(cin, cout, p=0.0, padding=0):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=padding, bias=False), nn.ReLU(), nn.BatchNorm2d(cout),
                                 nn.Dropout(p))

        layers = [
            block(1, 8, early, early_padding), block(8, 12, early, early_padding),  # 28 -> 24 px, RF 5: edges and
                                                        # strokes (only 8-12 channels:
                                                        # dropping any of them loses information nothing later recovers)
            nn.MaxPool2d(2, 2),                         # 24 -> 12 px, RF 6, jump 2
            block(12, 16, dropout), block(16, 16, dropout),  # 12 -> 8 px, RF 14: parts of digits, regularised
            block(16, 16, early),                       # 8 -> 6 px, RF 18 (no dropout right before the head)
            nn.AdaptiveAvgPool2d(1),                    # global average over 6x6: RF 28, the whole digit
            nn.Conv2d(16, 10, 1, bias=False),           # 1x1 "linear" layer to the 10 classes
        ]
        if on_logits:  # chapter 01's probe: zeroing logits in training makes right answers wrong; eval never does
            layers.append(nn.Dropout(dropout))
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        return self.features(x).flatten(1)  # logits; cross-entropy applies log-softmax


def set_bn_momentum(model: nn.Module, momentum: float) -> nn.Module:
    """Chapter 04: every BatchNorm's running statistics follow the batches with this momentum (PyTorch's default,
    0.1, makes them an average of about the last 10 batches; 0.01, of about the last 100)."""
    if not 0.0 < momentum <= 1.0:
        raise ValueError(f"momentum={momentum!r} is not allowed: expected a number in (0, 1]")
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum
    return model


def conv_block(cin: int, cout: int, dropout: float, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """Chapter 05's block: Conv 3x3 -> ReLU -> BatchNorm -> Dropout. No conv bias: BatchNorm adds its own shift."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=padding, bias=False),
                         nn.ReLU(), nn.BatchNorm2d(cout), nn.Dropout(dropout))


def separable_block(channels: int, dropout: float) -> nn.Sequential:
    """Chapter 04's block of ours: a depthwise 3x3 convolution (one filter per channel, `groups=channels`) and a
    pointwise 1x1 that mixes the channels, then ReLU -> BatchNorm -> Dropout. 9c + c^2 weights instead of a full 3x3
    convolution's 9c^2: at 36 channels 1,620 instead of 11,664, so the same budget buys about twice the width."""
    return nn.Sequential(nn.Conv2d(channels, channels, 3, groups=channels, bias=False),
                         nn.Conv2d(channels, channels, 1, bias=False), nn.ReLU(), nn.BatchNorm2d(channels),
                         nn.Dropout(dropout))


class SeparableNet(nn.Module):
    """Chapter 04's network of ours (7,356 parameters at the defaults): two full 3x3 convolutions (1 -> 8 -> `early`)
    and a max-pool, as in chapter 01's skeleton; then a 1x1 convolution widens to `width` channels and `blocks`
    depthwise-separable 3x3 blocks work at that width; global average pooling and a 1x1 classifier.

    Chapter 01's skeleton spends its budget on full 3x3 convolutions of 16 channels after the pool; here the same
    budget runs 36 channels there, where strokes become digit parts. `strided=True` replaces the pool by a stride-2
    second convolution (chapter 05's idea: 28 -> 26 -> 12 px, a quarter of that layer's work)."""

    def __init__(self, dropout: float, width: int = 36, blocks: int = 3, early: int = 16, strided: bool = False):
        super().__init__()
        self.shape = dict(width=width, blocks=blocks, early=early, strided=strided)  # rebuilds it from a checkpoint
        for name, value, low in (("width", width, 1), ("blocks", blocks, 1), ("early", early, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r} is not allowed: expected an integer >= {low}")
        second = [conv_block(8, early, 0.0, stride=2)] if strided else [conv_block(8, early, 0.0), nn.MaxPool2d(2, 2)]
        self.features = nn.Sequential(
            conv_block(1, 8, 0.0), *second,                  # 28 -> 24 -> 12 px: edges and strokes, RF 6
            nn.Sequential(nn.Conv2d(early, width, 1, bias=False), nn.ReLU(), nn.BatchNorm2d(width)),  # widen: 1x1
            *[separable_block(width, dropout if i < blocks - 1 else 0.0) for i in range(blocks)],  # 12 -> 6 px, RF 18
            nn.AdaptiveAvgPool2d(1),                         # the whole digit
            nn.Conv2d(width, 10, 1, bias=False),             # 1x1 "linear" layer to the 10 classes
        )

    def forward(self, x):
        return self.features(x).flatten(1)


class BaselineNet(nn.Module):
    """Chapter 05's Model_1 (write-up 001): 1 -> 16 -> 32 -> (1x1) 10 -> MaxPool -> 16 -> 16 -> 16 -> 16 -> GAP
    -> (1x1) 10, 13,808 parameters."""

    def __init__(self, dropout: float):
        super().__init__()
        self.features = nn.Sequential(
            conv_block(1, 16, dropout), conv_block(16, 32, dropout),   # 28 -> 24 px, RF 5
            nn.Conv2d(32, 10, 1, bias=False),                          # 1x1: 32 -> 10 channels before the pool
            nn.MaxPool2d(2, 2),                                        # 24 -> 12 px, RF 6, jump 2
            conv_block(10, 16, dropout), conv_block(16, 16, dropout),  # 12 -> 8 px, RF 14
            conv_block(16, 16, dropout),                               # 8 -> 6 px, RF 18
            conv_block(16, 16, dropout, padding=1),                    # stays 6 px, RF 22
            nn.AvgPool2d(6),                                           # global average: RF 32
            nn.Conv2d(16, 10, 1, bias=False),                          # 1x1 classifier
        )

    def forward(self, x):
        return self.features(x).flatten(1)


class StridedNet(nn.Module):
    """Chapter 05's Model_2 (c=12, 7,386 parameters) and Model_3 (c=13, 7,849): 1 -> 10 -> 16 -> (stride 2) 10 ->
    c -> c -> 16 -> GAP -> (1x1) 10. A learned stride-2 convolution replaces the MaxPool."""

    def __init__(self, dropout: float, c: int = 12):
        super().__init__()
        self.features = nn.Sequential(
            conv_block(1, 10, dropout), conv_block(10, 16, dropout),   # 28 -> 24 px, RF 5
            conv_block(16, 10, dropout, stride=2),                     # 24 -> 11 px, RF 7, jump 2: learned downsampling
            conv_block(10, c, dropout), conv_block(c, c, dropout),     # 11 -> 7 px, RF 15: digit parts
            conv_block(c, 16, dropout),                                # 7 -> 5 px, RF 19
            nn.AvgPool2d(5),                                           # global average: RF 27
            nn.Conv2d(16, 10, 1, bias=False),                          # 1x1 classifier
        )

    def forward(self, x):
        return self.features(x).flatten(1)

