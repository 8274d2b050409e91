"""Bad notebook parameters stop with a message naming the parameter and what is allowed."""
import pytest
import torch

from mnistkit.params import ParameterError, apply_profile, check_choice, check_float, check_int, check_list, pick_device


@pytest.mark.parametrize("call,text", [
    (lambda: check_int("epochs", 0, low=1, high=100), "parameter epochs=0 is not allowed: expected an integer in [1, 100]"),
    (lambda: check_int("epochs", 2.5, low=1), "epochs=2.5"),
    (lambda: check_int("epochs", True, low=1), "epochs=True"),
    (lambda: check_float("data_fraction", 1.5, low=0, high=1, low_open=True),
     "parameter data_fraction=1.5 is not allowed: expected a number in (0, 1]"),
    (lambda: check_float("lr", float("nan"), low=0, low_open=True), "lr=nan"),
    (lambda: check_choice("profile", "fast", ["full", "quick"]), "expected one of 'full', 'quick'"),
    (lambda: check_list("seeds", 3, lambda n, v: check_int(n, v)), "parameter seeds=3 is not allowed: expected a non-empty list"),
    (lambda: check_list("seeds", [], lambda n, v: check_int(n, v)), "seeds=[]"),
    (lambda: check_list("seeds", [1, "2"], lambda n, v: check_int(n, v)), "parameter seeds[1]='2' is not allowed"),
    (lambda: check_list("seeds", [1, 1], lambda n, v: check_int(n, v)), "no duplicates"),
    (lambda: pick_device("tpu"), "parameter device='tpu' is not allowed: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
])
def test_errors_name_the_parameter_and_the_allowed_values(call, text):
    with pytest.raises(ParameterError) as info:
        call()
    assert text in str(info.value)


def test_good_values_pass_through():
    assert check_list("models", ("a", "b"), lambda n, v: check_choice(n, v, ["a", "b", "c"])) == ["a", "b"]
    assert check_int("epochs", 15, low=1) == 15
    assert check_float("data_fraction", 1, low=0, high=1, low_open=True) == 1.0
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in ("cpu", "cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_requested_without_cuda():
    with pytest.raises(ParameterError, match="CUDA is not available"):
        pick_device("cuda")


def test_quick_profile_caps_epochs_and_data():
    assert apply_profile("quick", epochs=15, data_fraction=1.0, seed=3) == {"epochs": 1, "data_fraction": 0.05, "seed": 3}
    assert apply_profile("full", epochs=15, data_fraction=1.0) == {"epochs": 15, "data_fraction": 1.0}
    with pytest.raises(ParameterError, match="profile"):
        apply_profile("fast", epochs=1)


def test_one_parser_reads_command_line_values_for_the_course_and_for_sweeps():
    from mnistkit import course, sweep
    from mnistkit.params import parse_value
    assert course.parse_value is parse_value and sweep.parse_value is parse_value
    assert [parse_value(v) for v in ("true", "False", "0.001", "4", "[1, 2]", "auto")] == [True, False, 0.001, 4, [1, 2], "auto"]


def test_check_list_allows_an_empty_list_only_when_asked():
    assert check_list("separable_widths", [], lambda n, v: check_int(n, v), empty=True) == []
    with pytest.raises(ParameterError, match="expected a list"):
        check_list("separable_widths", 3, lambda n, v: check_int(n, v), empty=True)


def test_start_checks_a_chapters_hyperparameters_by_name_against_one_table():
    from mnistkit.chapter import start
    from mnistkit.params import ParameterError, range_of
    setup = start("03_step_lr", profile="quick", seed=1, device="cpu", epochs=15, lr=0.02, batch_size=128,
                  ours_max_lr=0.2, own={"models": ["a"]})
    assert setup.recipe == {"lr": 0.02, "batch_size": 128, "ours_max_lr": 0.2, "models": ["a"]}
    assert range_of("finetune_lr") == range_of("lr") and range_of("fixed_d_model") == range_of("d_model")
    with pytest.raises(ParameterError, match=r"parameter ours_max_lr=0 is not allowed: expected a number in \(0, 10\]"):
        start("03_step_lr", profile="quick", seed=1, device="cpu", ours_max_lr=0)
    with pytest.raises(ParameterError, match="parameter batch_size=1.5 is not allowed: expected an integer"):
        start("03_step_lr", profile="quick", seed=1, device="cpu", batch_size=1.5)
    with pytest.raises(ParameterError, match="parameter wobble=3 is not allowed: it has no range"):
        start("03_step_lr", profile="quick", seed=1, device="cpu", wobble=3)


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    from mnistkit import params

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(params, "_mps_available", lambda: mps)
    assert pick_device("auto").type == expected
    if mps:
        assert pick_device("mps") == torch.device("mps")
    else:
        with pytest.raises(ParameterError, match="parameter device='mps' is not allowed: MPS .* is not available"):
            pick_device("mps")
