"""Chapter 11 (`notebooks/11_mlp_int8_qat.ipynb`, write-up 004): a 784 -> 256 -> 128 -> 10 ReLU MLP trained with
plain SGD and early stopping on a validation split, a learning-rate ablation, and symmetric per-tensor int8 weights
learned with quantization-aware training (QAT).

The recipes are defined here once; the chapter, its exercise solutions and anything else that trains them call
these functions with other arguments:
    stage1, stage2, history = ch11.two_stages(data, lr=0.1, finetune_lr=0.01, epochs=60, finetune_epochs=5, ...)
    ablation = ch11.lr_ablation(data, [0.01, 0.1], epochs=40, done=[stage1], ...)
    qat = ch11.qat_finetune(data, stage1, finetune_lr=0.01, finetune_epochs=5, ...)

The result text is generated here too, from run records as `metrics.json` stores them (`results_tables`,
`ablation_table`, `analysis`). Chapter 11 trains ONE seed: every comparison it makes is between single runs, and the
text says so instead of calling either side better; a target is "held on the one seed run", never "met".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .augment import RandomAffine
from .data import TensorData
from .metrics import markdown_table
from .params import ParameterError, check_list, check_parameter
from .quant import predict_dequantized, quantize_symmetric
from .stats import signed, summarize
from .train import EarlyStopping, evaluate, fit, progress_as

ONE_SEED = "one seed, a single run each: no verdict beyond this run"


def fake_quant(w: torch.Tensor) -> torch.Tensor:
    """Forward: w rounded to the int8 grid (codes * scale). Backward: identity (straight-through)."""
    scale = w.detach().abs().max().clamp(min=1e-12) / 127
    q = torch.clamp(torch.round(w / scale), -127, 127) * scale
    return w + (q - w).detach()


class QuantLinear(nn.Linear):
    """nn.Linear whose weight goes through fake_quant in the forward pass (bias stays float32)."""

    def forward(self, x):
        return nn.functional.linear(x, fake_quant(self.weight), self.bias)


class MLP(nn.Module):
    def __init__(self, quantize: bool = False):
        super().__init__()
        Linear = QuantLinear if quantize else nn.Linear
        self.net = nn.Sequential(nn.Flatten(), Linear(784, 256), nn.ReLU(), Linear(256, 128), nn.ReLU(), Linear(128, 10))
        hidden, output = self.linears[:-1], self.linears[-1]
        for layer in hidden:  # He initialization for layers followed by ReLU
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        nn.init.xavier_normal_(output.weight)  # Xavier for the linear output layer
        nn.init.zeros_(output.bias)

    @property
    def linears(self):
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def forward(self, x):
        return self.net(x)


def check_each(name: str, values, like: str) -> list:
    """A non-empty list whose items each lie in the range `mnistkit.params.RANGES` holds for `like` (e.g.
    `ablation_lrs` items in lr's range); an error names the item: "parameter ablation_lrs[2]=-0.1 is not allowed"."""
    def check_item(item: str, value):
        try:
            return check_parameter(like, value)
        except ParameterError as error:
            raise ParameterError(str(error).replace(f"parameter {like}=", f"parameter {item}=", 1)) from None

    return check_list(name, values, check_item)


def check_rates(name: str, rates) -> list[float]:
    """A non-empty list of learning rates (`ablation_lrs`), each in lr's range."""
    return check_each(name, rates, "lr")


@dataclass
class Trained:
    """One training run: the model (restored to its best validation epoch), its history, its early stopping, the
    rate it trained at and its cap on epochs."""

    model: MLP
    history: list[dict]
    stopper: EarlyStopping
    lr: float
    cap: int

    def same_run_as(self, epochs: int) -> bool:
        """Whether the same recipe capped at `epochs` would train exactly this run: it ran to a cap of `epochs`, or
        stopped by itself no later than that."""
        if self.stopper.stopped_epoch is None:
            return len(self.history) == epochs
        return len(self.history) <= epochs

    def early_stopping(self) -> dict:
        """What the run record keeps of the early stopping."""
        best = self.history[self.stopper.best_epoch - 1]["val_acc"] if self.stopper.best_epoch else None
        return {"best_epoch": self.stopper.best_epoch, "stopped_epoch": self.stopper.stopped_epoch,
                "epochs_run": len(self.history), "diverged": self.stopper.diverged,
                "best_val_loss": self.stopper.best, "val_acc_at_best": best}


def train(data: TensorData, *, lr: float, epochs: int, patience: int, batch_size: int, seed: int,
          rotation: float = 0.0, translate: float = 0.0, quantize: bool = False, init: nn.Module | None = None,
          test: tuple[torch.Tensor, torch.Tensor] | None = None, precision: str = "fp32", log: bool = True) -> Trained:
    """The chapter's recipe: plain SGD (no momentum) on `data` (its evaluation split is the validation split), with
    the augmentation of chapter 04 unless `rotation` and `translate` are 0, stopped once the validation loss has not
    improved for `patience` epochs; the weights of the best validation epoch are restored.

    `quantize`: every Linear fake-quantizes its weight (QAT). `init`: start from that model's weights (a QuantLinear
    is an nn.Linear: a float model's state_dict loads as it is). `test` (images, labels): their accuracy is recorded
    every epoch beside the validation numbers, for the report only, never used to decide.
    """
    if data.eval_name != "val":
        raise ValueError(f"chapter 11 trains on data whose evaluation split is a validation split "
                         f"(`TensorData.validation_split`): got one named {data.eval_name!r}")
    torch.manual_seed(seed)
    model = MLP(quantize).to(data.device)
    if init is not None:
        model.load_state_dict(init.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    stopper = EarlyStopping(model, patience=patience, monitor="val_loss")
    augment = RandomAffine(degrees=rotation, translate=translate) if rotation or translate else None
    label = run_label(lr=lr, seed=seed, quantize=quantize, init=init is not None, augmented=augment is not None,
                      precision=precision)
    if log:
        print(f"{label}:")  # the epoch lines below belong to this run

    def on_epoch_end(record):
        if test is not None:
            scores = evaluate(model, test[0], test[1], data.normalize)  # recorded, never used to decide
            record["test_loss"], record["test_acc"] = scores["loss"], scores["acc"]
        return stopper(record)

    with progress_as(None if log else "none"):  # `data`'s evaluation split is the validation split: val_*
        history = fit(model, optimizer, data.augmented(augment), epochs=epochs, batch_size=batch_size, seed=seed,
                      on_epoch_end=on_epoch_end, precision=precision)
    stopper.restore()
    if log:
        print(f"{label}: {outcome(Trained(model, history, stopper, lr, epochs).early_stopping(), epochs)}")
    return Trained(model, history, stopper, lr, epochs)


def run_label(*, lr: float, seed: int, quantize: bool, init: bool, augmented: bool, precision: str) -> str:
    """The name a run's log lines carry: which model, from which weights, on which images, at which rate, seed and
    precision, e.g. 'int8 QAT MLP (fake-quant), from trained weights, augmented images, lr 0.01, seed 0, fp32'."""
    model = "int8 QAT MLP (fake-quant)" if quantize else "float MLP"
    start = "from trained weights" if init else "from random weights"
    images = "augmented images" if augmented else "raw images"
    return f"{model}, {start}, {images}, lr {lr:g}, seed {seed}, {precision}"


def two_stages(data: TensorData, *, lr: float, finetune_lr: float, epochs: int, finetune_epochs: int,
               **recipe) -> tuple[Trained, Trained, list[dict]]:
    """The float model: stage 1 at `lr` for at most `epochs`, then stage 2 at `finetune_lr` for at most
    `finetune_epochs` from stage 1's best weights, both with the early stopping of `train` (`recipe`: its other
    arguments). Returns both stages and the float run's history: stage 1, then stage 2 numbered on from there."""
    stage1 = train(data, lr=lr, epochs=epochs, **recipe)
    stage2 = train(data, lr=finetune_lr, epochs=finetune_epochs, init=stage1.model, **recipe)
    history = [dict(e, stage=1) for e in stage1.history] + \
        [dict(e, stage=2, epoch=len(stage1.history) + e["epoch"]) for e in stage2.history]
    return stage1, stage2, history


def qat_finetune(data: TensorData, stage1: Trained, *, finetune_lr: float, finetune_epochs: int, **recipe) -> Trained:
    """QAT the usual way (PyTorch's `prepare_qat` too): the float model's stage 2, from the same stage-1 weights, at
    the same rate and cap, with every weight fake-quantized. Against the float stage 2 it measures the rounding
    alone."""
    return train(data, lr=finetune_lr, epochs=finetune_epochs, init=stage1.model, quantize=True, **recipe)


def lr_ablation(data: TensorData, rates: list[float], *, epochs: int, done: list[Trained] = (),
                **recipe) -> dict[float, Trained]:
    """The recipe of `train` at each rate, capped at `epochs`; a run in `done` (trained with the same `recipe`) is
    reused where it is the same run: same rate, and `Trained.same_run_as(epochs)`."""
    runs = {}
    for rate in rates:
        same = [run for run in done if run.lr == rate and run.same_run_as(epochs)]
        runs[rate] = same[0] if same else train(data, lr=rate, epochs=epochs, **recipe)
    return runs


def accuracy(predicted, labels) -> float:
    """Test accuracy (%) of predicted labels (NumPy arrays)."""
    return 100 * float((predicted == labels).mean())


def run_records(runs: dict[str, Trained], ablation: dict[float, Trained], *, final: dict[str, dict], recipe: dict,
                params: int, record: dict, claims: dict, history: list[dict]) -> list[dict]:
    """The chapter's run records (`metrics.json`): `runs` holds "stage1", "stage2", "qat", "scratch" and "raw"
    (`Trained`), `history` the float run's two stages, `final` the measured numbers of each record by name,
    `recipe` the common recipe, `record` `setup.record()`, `claims` write-up 004's."""
    stage1, stage2 = runs["stage1"], runs["stage2"]
    float_recipe = {**recipe, "max_epochs": stage1.cap, "finetune_lr": stage2.lr, "finetune_epochs": stage2.cap}
    qat_recipe = {**recipe, "lr": stage2.lr, "max_epochs": stage2.cap,
                  "init": f"stage-1 float weights (epoch {stage1.stopper.best_epoch}), as the float run's stage 2"}

    def one(name, trained, run_recipe, **extra):
        return {"name": name, "params": int(params), "epochs": trained.history if trained else history, **record,
                "recipe": run_recipe, **extra}

    return [
        one("float", None, float_recipe, final=final["float"], writeup=_quoted(claims["float"]),
            early_stopping={"stage1": stage1.early_stopping(), "stage2": stage2.early_stopping()}),
        one("qat-int8", runs["qat"], qat_recipe, early_stopping=runs["qat"].early_stopping(),
            final=final["qat-int8"], writeup=_quoted(claims["size"])),
        one("qat-int8-scratch", runs["scratch"], {**recipe, "max_epochs": runs["scratch"].cap},
            early_stopping=runs["scratch"].early_stopping(), final=final["qat-int8-scratch"]),
        one("float-no-augmentation", runs["raw"], {**recipe, "rotation": 0.0, "translate": 0.0,
                                                   "max_epochs": runs["raw"].cap},
            early_stopping=runs["raw"].early_stopping(), final=final["float-no-augmentation"]),
    ] + [one(f"lr-{rate}", run, {**recipe, "lr": rate, "max_epochs": run.cap}, early_stopping=run.early_stopping())
         for rate, run in ablation.items()]


def _quoted(claim: dict) -> dict:
    """A write-up claim as a run record carries it (the README's write-up column)."""
    return {"value": claim["value"], "what": claim["what"]}


# ---- the text: generated from run records (dicts as saved in metrics.json) ----

def outcome(early_stopping: dict, cap: int) -> str:
    """How a run ended, from its record's `early_stopping`."""
    if early_stopping["diverged"]:
        return f"diverged (validation loss not finite) at epoch {early_stopping['stopped_epoch']}"
    best = f"best validation loss {early_stopping['best_val_loss']:.4f} at epoch {early_stopping['best_epoch']}"
    if early_stopping["stopped_epoch"]:
        return f"{best}; early-stopped at epoch {early_stopping['stopped_epoch']}"
    return f"{best}; ran to the cap ({cap} epochs) without early stopping"


def _by_name(runs: list[dict]) -> dict[str, dict]:
    return {run["name"]: run for run in runs}


def _ablation_runs(runs: list[dict]) -> list[dict]:
    return [run for run in runs if run["name"].startswith("lr-")]


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def _target(value: float, target: float) -> str:
    """A target on the chapter's one seed, by the course's one rule (`mnistkit.stats.summarize`): "held on the one
    seed run (...)", or "not held on the one seed run (...)"; one seed is never "met"."""
    return summarize([value], target).holds


def ablation_table(runs: list[dict]) -> str:
    """The learning-rate ablation, one row per `lr-<rate>` run."""
    rows = []
    for run in _ablation_runs(runs):
        stop = run["early_stopping"]
        rows.append([f"{run['recipe']['lr']:g}", None if stop["best_val_loss"] is None else f"{stop['best_val_loss']:.4f}",
                     stop["val_acc_at_best"], stop["best_epoch"], stop["epochs_run"], outcome(stop, run["recipe"]["max_epochs"])])
    return markdown_table(["lr", "best val loss", "val acc % at best", "best epoch", "epochs run", "how it ended"], rows)


def results_tables(runs: list[dict]) -> str:
    """Test accuracy of every model and inference path beside its proper control, and the size of every file, from
    the run records."""
    r = _by_name(runs)
    float_final, qat_final = r["float"]["final"], r["qat-int8"]["final"]
    stage1, both = "float after stage 1 only", "float model (stages 1 and 2)"
    rows = [  # (name, test accuracy, its control): the one thing each differs from its control by
        (stage1, float_final["test_acc_stage1"], None),
        ("float without augmentation, stage 1 only", r["float-no-augmentation"]["final"]["test_acc"], stage1),
        ("QAT from scratch, fake-quant (stage-1 recipe)", r["qat-int8-scratch"]["final"]["test_acc"], stage1),
        (both, float_final["test_acc"], stage1),
        ("QAT model, fake-quant (same stage 2 as float)", qat_final["test_acc_fake_quant"], both),
        ("float weights rounded to int8, no QAT (NumPy)", float_final["test_acc_rounded_int8"], both),
        ("float32 npz (NumPy)", float_final["test_acc_npz"], both),
        ("int8 npz, (a) dequantized (NumPy)", qat_final["test_acc"], both),
        ("int8 npz, (b) integer arithmetic (NumPy)", qat_final["test_acc_integer_path"], both),
        ("float model, torch.ao dynamic int8", float_final["test_acc_torch_ao"], both),
    ]
    accuracy = {name: acc for name, acc, _ in rows}
    sizes = [("int8 npz", qat_final["bytes"]), ("float32 npz", float_final["bytes"]),
             ("torch.ao state_dict", float_final["bytes_torch_ao"]), ("float state_dict", float_final["bytes_state_dict"])]
    return "\n\n".join([
        markdown_table(["model / inference path (one seed)", "test accuracy %", "its control", "Δ vs control (pp)"],
                       [[name, acc, control, None if control is None else signed(acc - accuracy[control])]
                        for name, acc, control in rows]),
        markdown_table(["file", "bytes", "vs int8 npz"], [[name, size, f"{size / qat_final['bytes']:.2f}x"]
                                                          for name, size in sizes]),
        f"Path (a) agrees with the fake-quant model on {qat_final['agreement_with_fake_quant']:.2f}% of the "
        f"{float_final['test_images']:,} test digits.",
    ])


def float_text(runs: list[dict], writeup: dict, target: float) -> str:
    """The float MLP: stage 1, stage 2, the target, the write-up's figure."""
    run = _by_name(runs)["float"]
    stage1, stage2 = run["early_stopping"]["stage1"], run["early_stopping"]["stage2"]
    final = run["final"]["test_acc"]
    holds = _target(final, target)
    raw = _by_name(runs).get("float-no-augmentation")
    control = (f"; our same stage 1 without augmentation, as the write-up trained, reached "
               f"{raw['early_stopping']['val_acc_at_best']:.2f}%" if raw else "")
    if stage2.get("stopped_epoch") is None:
        capped = (f"; it ran to its cap of {_epochs(stage2['epochs_run'])} without early stopping, its best validation "
                  f"loss at epoch {stage2['best_epoch']}" + (", the last: more epochs might still help"
                                                              if stage2["best_epoch"] == stage2["epochs_run"] else ""))
    else:
        capped = f"; early-stopped at epoch {stage2['stopped_epoch']}, restored epoch {stage2['best_epoch']}"
    return (f"- **Float MLP** (seed {run['seed']}, one run): stage 1 (lr {run['recipe']['lr']:g}, augmented images) "
            f"restored epoch {stage1['best_epoch']}, validation accuracy {stage1['val_acc_at_best']:.2f}% (the "
            f"write-up reported {writeup['val_acc']:.2f}% validation after {writeup['epochs']} epochs, on its own split "
            f"and without augmentation{control}), test accuracy {run['final']['test_acc_stage1']:.2f}%. Stage 2 "
            f"(lr {run['recipe']['finetune_lr']:g}{capped}) ends at **{final:.2f}%** final test accuracy; target ≥ "
            f"{target:g}%: {holds}.")


def augmentation_text(runs: list[dict]) -> str:
    """Augmentation (our change to the write-up's recipe) against its proper control: the same stage 1 without it.
    Judged on the validation split; the test numbers beside it are recorded only."""
    r = _by_name(runs)
    aug, raw = r["float"], r["float-no-augmentation"]
    aug_stop, raw_stop = aug["early_stopping"]["stage1"], raw["early_stopping"]
    best, last = raw["epochs"][raw_stop["best_epoch"] - 1], raw["epochs"][-1]
    delta = aug["final"]["test_acc_stage1"] - raw["final"]["test_acc"]
    if last["epoch"] > best["epoch"]:
        after = (f"; {_epochs(last['epoch'] - best['epoch'])} later it stood at {last['val_loss']:.4f} while the "
                 f"training loss fell from {best['train_loss']:.4f} to {last['train_loss']:.4f}")
    else:
        after = ", its last epoch"
    return (f"- **Augmentation** (our change to the write-up's recipe) against its control, the same stage 1 on the "
            f"raw images: without it the validation loss was lowest at epoch {raw_stop['best_epoch']} "
            f"({raw_stop['best_val_loss']:.4f}){after}; with it, lowest at epoch {aug_stop['best_epoch']} "
            f"({aug_stop['best_val_loss']:.4f}). Validation accuracy at the restored epoch "
            f"{raw_stop['val_acc_at_best']:.2f}% without, {aug_stop['val_acc_at_best']:.2f}% with; test "
            f"{raw['final']['test_acc']:.2f}% and {aug['final']['test_acc_stage1']:.2f}% ({signed(delta)} pp, recorded "
            f"only). {ONE_SEED.capitalize()} on whether augmentation helps this MLP. The choice was made when the "
            "chapter was written, not by a search on the validation split.")


def lr_text(runs: list[dict], writeup: dict, lr: float) -> str:
    """The learning-rate ablation: the lowest best validation loss, the fewest epochs, the write-up's rate; single
    runs, so a ranking of this run and no verdict."""
    ablation = [run for run in _ablation_runs(runs) if run["early_stopping"]["best_val_loss"] is not None]
    if not ablation:
        return "- **Learning rate:** every rate of the ablation diverged."
    lowest = min(ablation, key=lambda run: run["early_stopping"]["best_val_loss"])
    fewest = min(run["early_stopping"]["epochs_run"] for run in ablation)
    fewest_rates = [f"{run['recipe']['lr']:g}" for run in ablation if run["early_stopping"]["epochs_run"] == fewest]
    capped = [f"{run['recipe']['lr']:g}" for run in ablation if run["early_stopping"]["stopped_epoch"] is None]
    ours = [run for run in ablation if run["recipe"]["lr"] == lr and run is not lowest]
    ours_text = (f"; at the chapter's lr {lr:g}: {ours[0]['early_stopping']['best_val_loss']:.4f} (epoch "
                 f"{ours[0]['early_stopping']['best_epoch']})" if ours else "")
    text = (f"- **Learning rate** (one seed, one run per rate): the lowest best validation loss in this run came from "
            f"lr **{lowest['recipe']['lr']:g}** ({lowest['early_stopping']['best_val_loss']:.4f}, epoch "
            f"{lowest['early_stopping']['best_epoch']}){ours_text}; the fewest epochs run: lr {', '.join(fewest_rates)} "
            f"({fewest}). The write-up reported {writeup['value']:g} as \"{writeup['quote']}\". Each rate is a single "
            "run on one seed: the table ranks the rates in this run, and cannot say that one beats another by more "
            "than run-to-run noise.")
    if capped:
        text += f" lr {', '.join(capped)} ran to the cap without early stopping: their best epoch may lie beyond it."
    return text + f" The chapter trains at lr {lr:g} because the write-up did, not because of this ablation."


def int8_text(runs: list[dict], target_pp: float) -> str:
    """int8 against float: the QAT model and the float model ran the same stage 2, so the difference is the
    rounding; plain rounding of the float weights beside it; the integer path."""
    r = _by_name(runs)
    float_final, qat = r["float"]["final"], r["qat-int8"]
    a, b, base = qat["final"]["test_acc"], qat["final"]["test_acc_integer_path"], float_final["test_acc"]
    rounded = float_final["test_acc_rounded_int8"]
    digit = 100 / float_final["test_images"]  # one test digit, in pp
    within = _target(-round(abs(a - base), 6), -target_pp)  # within target_pp: -|gap| >= -target_pp
    rounded_within = round(abs(rounded - base), 6) <= target_pp
    text = (f"- **int8 QAT model, final test %** (the README's headline): it ran the float model's stage 2 with "
            f"fake-quant ({_epochs(qat['early_stopping']['epochs_run'])}, restored epoch "
            f"{qat['early_stopping']['best_epoch']}). Path (a) reaches **{a:.2f}%** ({signed(a - base)} pp vs float, "
            f"a net {round(abs(a - base) / digit)} of {float_final['test_images']:,} test digits); target within {target_pp:g} pp: {within}. Rounding the "
            f"float model's weights with no QAT at all gives {rounded:.2f}% ({signed(rounded - base)} pp). ")
    if rounded_within:
        text += (f"Plain rounding is already within {target_pp:g} pp here, so this run does not show what QAT adds "
                 f"over it ({ONE_SEED}). ")
    else:
        text += f"QAT is within the target where plain rounding is not ({ONE_SEED}). "
    return text + (f"Integer path (b), with int8 activations too, reaches {b:.2f}% ({signed(b - a)} pp vs path (a), the "
                   "same weights); its activation scales are set by the largest value in the whole batch of test "
                   "images passed at once, so one digit's answer can depend on the digits beside it.")


def scratch_text(runs: list[dict], writeup: dict) -> str:
    """QAT from scratch against its control, the float stage 1 (the same recipe from random weights, no stage 2)."""
    r = _by_name(runs)
    scratch, float_run = r["qat-int8-scratch"], r["float"]
    s, f = scratch["early_stopping"], float_run["early_stopping"]["stage1"]
    delta = scratch["final"]["test_acc"] - float_run["final"]["test_acc_stage1"]
    return (f"- **QAT from scratch** (the write-up's quantized-vs-unquantized comparison) against its control, the "
            f"float stage 1 (same recipe, no stage 2): best validation loss {s['best_val_loss']:.4f} at epoch "
            f"{s['best_epoch']} of {s['epochs_run']}, against {f['best_val_loss']:.4f} at epoch {f['best_epoch']} of "
            f"{f['epochs_run']}; test {scratch['final']['test_acc']:.2f}% against "
            f"{float_run['final']['test_acc_stage1']:.2f}% ({signed(delta)} pp). {ONE_SEED.capitalize()}; two "
            "separately trained runs also differ by their own training noise, and the rounding moves where early "
            "stopping lands: the controlled comparison is the shared stage 2 above. The write-up reported a \"validation loss drop\" of "
            f"{writeup['quantized']:.2f}% quantized "
            f"and {writeup['unquantized']:.2f}% unquantized, a measure it does not define: we set none of ours "
            "beside it.")


def size_text(runs: list[dict], writeup: dict, target_ratio: float) -> str:
    """The files: bytes, the ratio, the write-up's figures."""
    r = _by_name(runs)
    int8, float32 = r["qat-int8"]["final"]["bytes"], r["float"]["final"]["bytes"]
    ratio = float32 / int8
    verdict = "met" if ratio >= target_ratio else "not met"  # a size, the same for every seed: no noise to judge
    return (f"- **Size:** {int8:,} vs {float32:,} bytes, **{ratio:.2f}x** smaller (target ≥ {target_ratio:g}x: "
            f"{verdict}: a file's size is the same on every seed, so one run measures it; the write-up reported {writeup['int8_kB']} kB vs {writeup['float32_kB']} kB, "
            f"{writeup['ratio']:.2f}x). The weights shrink 4x; the float32 biases and scales and the file headers keep "
            "the ratio under 4.")


def torch_ao_text(runs: list[dict]) -> str:
    """PyTorch's post-training dynamic quantization of the float model, beside ours."""
    final = _by_name(runs)["float"]["final"]
    return (f"- **torch.ao dynamic quantization** of the float model: {final['test_acc_torch_ao']:.2f}% test "
            f"({signed(final['test_acc_torch_ao'] - final['test_acc'])} pp vs float), a {final['bytes_torch_ao']:,}-byte "
            "state_dict, with no retraining: int8 weights and activations quantized on the fly, in one call. On "
            "accuracy this one run does not separate it from ours; the hand-written path differs in what it shows: "
            "the rounding seen during training (QAT), a plain npz any language can read, every step of integer "
            "inference in view.")


def analysis(runs: list[dict], claims: dict, *, lr: float, target: float, target_pp: float,
             target_ratio: float) -> str:
    """The chapter's analysis, every bullet generated from the run records; `claims`: write-up 004's (its JSON)."""
    return "\n".join([
        float_text(runs, claims["float"], target),
        augmentation_text(runs),
        lr_text(runs, claims["lr"], lr),
        int8_text(runs, target_pp),
        scratch_text(runs, claims["val_loss_drop"]),
        size_text(runs, claims["size"], target_ratio),
        torch_ao_text(runs),
    ])


# ---- the exercise solutions (notebooks/solutions/11_mlp_int8_qat_solutions.ipynb) ----

def quantize_bits(weights: dict, pixels, labels, bits: list[int]) -> list[list]:
    """Exercise 1: a float32 weights file's model (`mnistkit.quant.load_weights(..., quantized=False)`) with its
    weights rounded to each width in `bits` by the symmetric rule, evaluated on (pixels, labels). Rows of [weights,
    test %, size in kB with the codes packed, weights that are 0 (%)], float32 first."""
    n_weights = sum(w.size for w, _, _ in weights["layers"])
    n_biases = sum(b.size for _, _, b in weights["layers"])
    zeros = sum((w == 0).sum() for w, _, _ in weights["layers"])
    rows = [["float32", accuracy(predict_dequantized(weights, pixels).argmax(1), labels),
             4 * (n_weights + n_biases) / 1000, float(100 * zeros / n_weights)]]
    for b in bits:
        layers = []
        for w, _, bias in weights["layers"]:
            codes, scale = quantize_symmetric(w, bits=b)
            layers.append((codes, float(scale), bias))
        predicted = predict_dequantized(dict(weights, layers=layers), pixels).argmax(1)
        zeros = sum((codes == 0).sum() for codes, _, _ in layers)
        rows.append([f"int{b}", accuracy(predicted, labels), (b * n_weights / 8 + 4 * n_biases) / 1000,
                     float(100 * zeros / n_weights)])  # packed: b bits a weight, the biases stay float32
    return rows


def bits_text(rows: list[list], profile: str, target_pp: float = 0.1) -> str:
    """Exercise 1's answer from `quantize_bits`' rows: which widths stay within `target_pp` of float32."""
    base = rows[0][1]
    holding = [row[0] for row in rows[1:] if round(base - row[1], 6) <= target_pp]
    falling = [f"{row[0]} ({signed(row[1] - base)} pp)" for row in rows[1:] if round(base - row[1], 6) > target_pp]
    return (f"Measured on the chapter's {profile}-profile float weights (one trained model, one seed), "
            f"{base:.2f}% test in float32. Within {target_pp:g} pp of it: {', '.join(holding) or 'none'}; further "
            f"below: {', '.join(falling) or 'none'}. One scale per tensor, set by the largest weight, leaves "
            "2**(bits − 1) − 1 steps on each side of zero for everything else, so the small weights round to zero: "
            f"{rows[1][3]:.1f}% of the weights are 0 at {rows[1][0]}, {rows[-1][3]:.1f}% at {rows[-1][0]}. These are "
            "roundings of one model after training; what QAT (the chapter's) or a scale per output row would recover "
            "at low widths is not measured here.")


def patience_text(runs: dict[int, Trained], profile: str) -> str:
    """Exercise 2's answer: each patience's run (the same recipe, seed and split otherwise): epochs run, the epoch
    restored, its test accuracy. One seed: single runs, no verdict."""
    def test_at_best(run: Trained) -> float:
        return run.history[run.stopper.best_epoch - 1]["test_acc"]

    parts = [f"patience {p} ran {_epochs(len(run.history))} and restored epoch {run.stopper.best_epoch} "
             f"({test_at_best(run):.2f}% test)" for p, run in runs.items()]
    (p_long, long), (p_short, short) = max(runs.items()), min(runs.items())
    text = f"Measured ({profile} profile, cap {_epochs(long.cap)}, one seed): " + "; ".join(parts) + ". "
    if len(long.history) == len(short.history):
        text += "Both ran the same epochs: the cap, not the patience, ended training. "
    else:
        saved = len(long.history) - len(short.history)
        text += f"Patience {p_short} stopped {_epochs(saved)} sooner"
        text += (", at the same restored epoch. " if short.stopper.best_epoch == long.stopper.best_epoch else
                 f" and restored epoch {short.stopper.best_epoch} instead of {long.stopper.best_epoch}: it stopped "
                 f"at a bump of the validation loss that patience {p_long} waited out. ")
    return text + (f"The test accuracies differ by {signed(test_at_best(short) - test_at_best(long))} pp: one seed, a "
                   "single run each, so no verdict on either patience.")
