"""Models taught in one chapter and imported by the chapters after it (the pattern of d2l's `#@save`).

A chapter that teaches a model shows this source (`mnistkit.lab.show_source`), so there is one copy of it.
"""
from __future__ import annotations

from torch import nn


class Net(nn.Module):
    """Chapter 01's skeleton, 8 -> 12 -> 16: two 3x3 convs, a max-pool, three 3x3 convs, global average pooling,
    a 1x1 classifier. Chapters 02 (dropout 0.1), 03 (a StepLR schedule) and 04 (augmentation) train it unchanged.

    Every block is Conv (no bias: BatchNorm adds its own shift) -> ReLU -> BatchNorm, with Dropout after
    the two middle blocks. Most parameters sit after the pool, where strokes become digit parts.
    """

    def __init__(self, dropout: float):
        super().__init__()

        def block(cin, cout, p=0.0):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(cout), nn.Dropout(p))

        self.features = nn.Sequential(
            block(1, 8), block(8, 12),                  # 28 -> 24 px, RF 5: edges and strokes (only 8-12 channels:
                                                        # dropping any of them loses information nothing later recovers)
            nn.MaxPool2d(2, 2),                         # 24 -> 12 px, RF 6, jump 2
            block(12, 16, dropout), block(16, 16, dropout),  # 12 -> 8 px, RF 14: parts of digits, regularised
            block(16, 16),                              # 8 -> 6 px, RF 18 (no dropout right before the head)
            nn.AdaptiveAvgPool2d(1),                    # global average over 6x6: RF 28, the whole digit
            nn.Conv2d(16, 10, 1, bias=False),           # 1x1 "linear" layer to the 10 classes
        )

    def forward(self, x):
        return self.features(x).flatten(1)  # logits; cross-entropy applies log-softmax
