"""Model summary computed from the model itself: output shapes, parameters, receptive field, jump.

Forward hooks record every leaf module in the order it runs on a dummy input.
Receptive field (RF) and jump follow the usual recurrence, layer by layer:

    RF_out   = RF_in + (kernel - 1) * dilation * jump_in
    jump_out = jump_in * stride

Convolutions and pooling change them; activations, BatchNorm and Dropout do
not. A global pool counts as a pool whose kernel is the whole map; it leaves
the jump as it was (one output position has no spacing), as seed 001's tables do.
RF and jump are shown only while activations are spatial maps (N, C, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

_POOLS = (nn.MaxPool2d, nn.AvgPool2d)
_ADAPTIVE_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass
class LayerRow:
    name: str
    output_shape: tuple
    params: int
    rf: int | None
    jump: int | None


@dataclass
class Summary:
    input_shape: tuple
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    # Parameters a module holds itself beside its layers (a ViT's CLS token and positional embedding): no forward
    # hook sees them, so they get rows of their own, named, and the table adds up to the total.
    held: list[tuple[str, int]] = field(default_factory=list)

    @property
    def final_rf(self) -> int | None:
        """The receptive field of the last layer, when the model ends on spatial maps (a CNN); None when its last
        layers mix tokens (a transformer, whose attention lets every token see the whole image)."""
        spatial = [r.rf for r in self.rows if r.rf is not None]
        return spatial[-1] if spatial and self.rows[-1].rf is not None else None

    @property
    def token_rf(self) -> int | None:
        """For a model that turns spatial maps into tokens: the receptive field of one token before attention."""
        spatial = [r.rf for r in self.rows if r.rf is not None]
        return spatial[-1] if spatial and self.rows[-1].rf is None else None

    def table(self) -> str:
        line = "=" * 66
        out = [line, f"{'Layer (type)':<24}{'Output Shape':<20}{'Param #':>9}{'RF':>7}{'Jump':>6}", line]
        out.append(f"{'INPUT':<24}{_shape(self.input_shape):<20}{0:>9}{1:>7}{1:>6}")
        for r in self.rows:
            rf = "" if r.rf is None else r.rf
            jump = "" if r.jump is None else r.jump
            out.append(f"{r.name:<24}{_shape(r.output_shape):<20}{r.params:>9,}{rf:>7}{jump:>6}")
        for name, count in self.held:
            out.append(f"{name + ' (parameter)':<44}{count:>9,}")
        out += [line, f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}"]
        if self.final_rf is not None:
            out.append(f"Final RF: {self.final_rf}x{self.final_rf}")
        elif self.token_rf is not None:
            out.append(f"RF of one token before attention: {self.token_rf}x{self.token_rf} (attention then mixes "
                       "every token: the output sees the whole image)")
        out.append(line)
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return self.table()


def _shape(shape) -> str:
    return "[" + ", ".join(["-1", *map(str, shape[1:])]) + "]"


def _pair(v) -> int:
    """First element of an int-or-tuple hyper-parameter (the course's kernels are square)."""
    return v[0] if isinstance(v, (tuple, list)) else v


def _kernel_stride_dilation(module: nn.Module, in_shape: tuple, out_shape: tuple):
    if isinstance(module, nn.Conv2d):
        return _pair(module.kernel_size), _pair(module.stride), _pair(module.dilation)
    if isinstance(module, _POOLS):
        stride = _pair(module.stride) if module.stride is not None else _pair(module.kernel_size)
        return _pair(module.kernel_size), stride, _pair(getattr(module, "dilation", 1))
    if isinstance(module, _ADAPTIVE_POOLS):
        # Equivalent fixed pool: kernel = stride = in // out (exact for global pooling).
        k = in_shape[-1] // out_shape[-1]
        return k, k, 1
    return 1, 1, 1


def summarize(model: nn.Module, input_shape: tuple = (1, 28, 28), device=None, **forward_kwargs) -> Summary:
    """Run one dummy batch through `model` and tabulate every leaf module it calls."""
    device = device or next(model.parameters()).device
    calls = []
    hooks = []

    def hook(module, inputs, output):
        in_shape = tuple(inputs[0].shape) if inputs and torch.is_tensor(inputs[0]) else None
        out = output[0] if isinstance(output, tuple) else output
        calls.append((module, in_shape, tuple(out.shape)))

    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((2, *input_shape), device=device), **forward_kwargs)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)

    summary = Summary(input_shape=(2, *input_shape))
    rf, jump, spatial = 1, 1, len(input_shape) == 3
    for index, (module, in_shape, out_shape) in enumerate(calls, start=1):
        name = f"{type(module).__name__}-{index}"
        spatial = spatial and len(out_shape) == 4
        if spatial and in_shape is not None:
            k, s, d = _kernel_stride_dilation(module, in_shape, out_shape)
            rf += (k - 1) * d * jump
            if out_shape[-2:] != (1, 1):
                jump *= s
            if isinstance(module, nn.Conv2d) and s > 1:
                name += f" (stride={s})"
        params = sum(p.numel() for p in module.parameters(recurse=False))
        summary.rows.append(LayerRow(name, out_shape, params, rf if spatial else None, jump if spatial else None))
    summary.held = [(f"{prefix}.{name}" if prefix else name, p.numel()) for prefix, module in model.named_modules()
                    if list(module.children()) for name, p in module.named_parameters(recurse=False)]
    summary.total_params = sum(p.numel() for p in model.parameters())
    summary.trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return summary

