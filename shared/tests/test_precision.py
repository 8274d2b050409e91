"""Mixed precision: what "auto" picks, clear refusals, bf16 training that learns with an fp32 loss."""
import pytest
import torch
from test_train import toy_data
from torch import nn

from mnistkit import precision as mp
from mnistkit.params import ParameterError
from mnistkit.train import evaluate, fit


def test_auto_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(mp, "cpu_has_native_bf16", lambda: True)
    assert mp.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(mp, "cpu_has_native_bf16", lambda: False)
    assert mp.resolve_precision("auto", cpu) == "fp32"  # emulated bf16 is slower than fp32
    assert mp.resolve_precision("bf16", cpu) == "bf16" and mp.resolve_precision("fp32", cpu) == "fp32"


def test_auto_on_each_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert mp.resolve_precision("auto", torch.device("cuda")) == "fp16"  # with loss scaling
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert mp.resolve_precision("auto", torch.device("cuda")) == "bf16"
    mps = torch.device("mps")  # a device name only: nothing runs on it
    assert mp.resolve_precision("auto", mps) == "fp32" and mp.resolve_precision("fp32", mps) == "fp32"
    for low in ("bf16", "fp16"):
        with pytest.raises(ParameterError, match=f"precision='{low}' is not allowed on mps: .* use 'fp32' or 'auto'"):
            mp.resolve_precision(low, mps)


def test_bad_precision_is_refused_with_what_is_allowed():
    with pytest.raises(ParameterError, match="precision='fp8' is not allowed: expected one of 'auto', 'fp32'"):
        mp.resolve_precision("fp8", torch.device("cpu"))
    with pytest.raises(ParameterError, match="precision='fp16' is not allowed on cpu: fp16 autocast is for CUDA"):
        mp.resolve_precision("fp16", torch.device("cpu"))


def test_bf16_autocast_runs_matmuls_in_bf16_and_training_keeps_fp32_weights_and_loss():
    layer = nn.Linear(8, 4)
    with mp.autocast("bf16", torch.device("cpu")):
        assert layer(torch.randn(2, 8)).dtype == torch.bfloat16
    with mp.autocast("fp32", torch.device("cpu")):
        assert layer(torch.randn(2, 8)).dtype == torch.float32
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 2))
    data = toy_data()
    history = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, epochs=3, batch_size=32,
                  precision="bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert history[-1]["test_acc"] > 90 and isinstance(history[-1]["train_loss"], float)
    fp32 = evaluate(model, data.test_x, data.test_y, data.normalize)
    bf16 = evaluate(model, data.test_x, data.test_y, data.normalize, precision="bf16")
    assert abs(fp32["loss"] - bf16["loss"]) < 0.05  # the same model, rounded inputs to the matmul
