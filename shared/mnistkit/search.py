"""Choose a chapter's recipe on a validation split, never on the test set (issue 15), with Optuna (issue 33).

    python -m mnistkit.search 04 --trials 24 --workers 2     # chapter 04's Optuna study: create, or resume
    python -m mnistkit.search 04 onecycle-0.05 --seed 2      # an earlier candidate (a saved run's recipe), another seed

The first form is the search: a pruned, persistent Optuna study over the chapter's recipe, shared by `--workers`
processes (or machines, `--storage`), the chapter's recipe and its earlier candidates enqueued as its first trials
(`mnistkit.study`, where every option is described). The second
trains one candidate recipe of chapter 04, 05 or 06 for its 15 epochs (07: its patch-attention model, 5 epochs, the
model read from the chapter's own cells; 08: its ViT, up to 20 epochs; 10: its encoder-decoder on 2x2 grids, the
training grids built from the 55,000, the validation grids from the 5,000 only) on 55,000 training images and
scores it on the 5,000 held out (`TensorData.split_validation`, split seed 0); the test set is evaluated too, but only recorded.
Each run is saved as `outputs/search/<chapter>/<candidate>-seed<k>.json`; `--report` writes the table of every
saved run (`outputs/search/RESULTS.md`) ranked by the worst validation accuracy over the chapter's last epochs,
the number its target is about. The chapters name the candidate they chose and why.
"""
from __future__ import annotations

import argparse
import statistics
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from . import ch04, ch08
from .chapter import plural
from .data import load_mnist
from .metrics import markdown_table
from .models import Net, SeparableNet, StridedNet, conv_block
from .paths import REPO_ROOT, write_json, write_text
from .precision import resolve_precision

VALIDATION = 5000
OUT = REPO_ROOT / "outputs" / "search"
LAST = {"04": 5, "05": 3, "06": 3, "07": 1, "08": 1, "10": 1}  # the chapter's target is about each of its last N epochs


def _wide_late_net(dropout: float) -> nn.Sequential:
    """Search candidate: Net's layout with channels moved from before the pool to the last block (8, 10 | 16, 16, 20)."""
    return nn.Sequential(conv_block(1, 8, 0.0), conv_block(8, 10, 0.0), nn.MaxPool2d(2), conv_block(10, 16, dropout),
                         conv_block(16, 16, dropout), conv_block(16, 20, 0.0), nn.AdaptiveAvgPool2d(1),
                         nn.Conv2d(20, 10, 1, bias=False), nn.Flatten())


MODELS = {"net": lambda recipe: Net(recipe["dropout"]),  # chapter 04's (01's skeleton)
          "wide-late": lambda recipe: _wide_late_net(recipe["dropout"]),
          "separable36": lambda recipe: SeparableNet(recipe["dropout"]),  # chapter 04's of ours
          "separable32x4": lambda recipe: SeparableNet(recipe["dropout"], width=32, blocks=4),
          "separable36-strided": lambda recipe: SeparableNet(recipe["dropout"], strided=True),
          "separable38-early12": lambda recipe: SeparableNet(recipe["dropout"], width=38, early=12),
          "separable23-small": lambda recipe: SeparableNet(recipe["dropout"], width=23, early=12),  # chapter 06: < 4,000
          "net-padded": lambda recipe: Net(recipe["dropout"], early_padding=1),  # the same, 28 px until the pool
          "strided13": lambda recipe: StridedNet(recipe["dropout"], c=13),  # chapter 05's Model_3
          # any SeparableNet, its shape in the recipe (`mnistkit.study`'s trials; chapter 06's frontier family)
          "separable": lambda recipe: SeparableNet(recipe["dropout"], width=recipe["width"],
                                                   early=recipe.get("early", 16), blocks=recipe.get("blocks", 3))}


BASE = dict(model="net", dropout=0.1, lr=0.02, momentum=0.9, batch_size=128, schedule="step", step_size=10,
            gamma=0.1, rotation=10.0, translate=0.1, epochs=15, ema=None)
OURS = dict(BASE, schedule="onecycle", lr=0.05, rotation=7.0, translate=0.05)  # chapter 04's first choice
OURS_11 = dict(OURS, anneal_epochs=11, bn_momentum=0.01)  # chapter 04's schedule of ours, on which its networks were tried
FIX_ADAMW = dict(model="patch-attention", d_model=64, ff_dim=128, heads=4, blocks=1, positional="sinusoidal",
                 scaled=True, residual_norm=True, optimizer="adamw", lr=0.003, weight_decay=0.05, pct_start=0.2,
                 batch_size=32, epochs=5)
# Chapter 08's ViT as it was (139,018 params, 99.25% test on seed 1): the reference its candidates change.
VIT = dict(model="vit", patch=4, d_model=64, depth=4, heads=4, ff_dim=128, dropout=0.05, stem_channels=0, epochs=15,
           batch_size=128, lr=2e-3, weight_decay=0.05, warmup_epochs=1.0, rotation=10.0, translate=0.1)
# The encoder shape chapter 10's search started from (SEQ2SEQ below: a 3x3 convolution of 8 channels, then 7x7
# patches, 16 tokens a digit). No dropout: not tried alone on validation, it changed with the stem, patch and epochs.
VIT_STEM = dict(VIT, patch=7, stem_channels=8, dropout=0.0, epochs=20)
# Chapter 10's encoder-decoder with the chapter's parameters (before its 16-channel stem): grids built from the
# 55,000 training digits left after the validation split, scored on grids built only from the 5,000 held out.
SEQ2SEQ = dict(model="seq2seq", train_grids=60_000, val_grids=10_000, test_grids=10_000, patch=7, stem_channels=8,
               d_model=64, encoder_depth=4, decoder_depth=2, heads=4, ff_dim=128, pool="flatten", dropout=0.0,
               epochs=17, batch_size=128, lr=2e-3, weight_decay=0.05, warmup_epochs=0.5, rotation=10.0, translate=0.1,
               attention="grid")
# The arguments of chapter 07's PatchAttentionNet that a 07 candidate sets (the rest of its recipe is training).
PATCH_ATTENTION_ARGS = ("d_model", "ff_dim", "heads", "blocks", "positional", "scaled", "residual_norm")
# Each chapter's reference: the first recipe its search tried, the one its table counts changes from (04: the
# write-up's; 05: the write-up's final model; 06: chapter 04's schedule on the small network; 07, 08 and 10: the
# chapter's model as it was before its search).
REFERENCES = {
    "04": ("writeup", BASE),
    "05": ("final", dict(BASE, model="strided13", lr=0.1, step_size=4, gamma=0.4, rotation=0.0, translate=0.0)),
    "06": ("separable23-small", dict(OURS_11, model="separable23-small", dropout=0.0)),
    "07": ("fix-adamw", FIX_ADAMW),
    "08": ("vit", VIT),
    "10": ("stem8", SEQ2SEQ),
}


def saved_recipes(chapter: str, root: Path | None = None) -> dict[str, dict]:
    """The candidates `chapter`'s search trained, as their saved runs hold them (`outputs/search/<chapter>/
    <name>-seed<k>.json`): name -> recipe, the chapter's reference first. No registry is written by hand: a candidate
    exists once a run of it is saved, and new ones come from the chapter's Optuna study (`mnistkit.study`). A key a
    run's file predates (a moving average, chapter 10's attention) takes the reference's value, which is what the
    code did before the key existed."""
    import json

    name, reference = REFERENCES[chapter]
    recipes = {name: dict(reference)}
    for path in sorted(((root or OUT) / chapter).glob("*-seed*.json")):
        run = json.loads(path.read_text())
        if "candidate" in run:  # a study's confirm and test records sit beside the runs
            recipes.setdefault(run["candidate"], dict(reference, **run["recipe"]))
    return recipes


class SavedCandidates(Mapping):
    """chapter -> its candidates (`saved_recipes`), read from the saved runs each time it is asked."""

    def __getitem__(self, chapter: str) -> dict[str, dict]:
        if chapter not in REFERENCES:
            raise KeyError(chapter)
        return saved_recipes(chapter)

    def __iter__(self):
        return iter(REFERENCES)

    def __len__(self) -> int:
        return len(REFERENCES)


CANDIDATES = SavedCandidates()


def _train_patch_attention(recipe: dict, data, seed: int) -> tuple[nn.Module, list[dict]]:
    """Chapter 07's recipe (`mnistkit.ch07.train_patch_attention`): raw pixels, AdamW + one-cycle per batch."""
    from .ch07 import train_patch_attention

    data = replace(data, mean=0.0, std=1.0)  # the write-up fed raw pixels in [0, 1]
    return train_patch_attention(data, {k: recipe[k] for k in PATCH_ATTENTION_ARGS}, seed=seed, lr=recipe["lr"],
                                 optimizer="adamw", epochs=recipe["epochs"], batch_size=recipe["batch_size"],
                                 weight_decay=recipe["weight_decay"], pct_start=recipe["pct_start"], watch=False,
                                 progress=False)


def _train_vit(recipe: dict, data, seed: int) -> tuple[nn.Module, list[dict]]:
    """Chapter 08's recipe (`ch08.vit`), bf16 autocast where the CPU computes it (the chapter's `precision="auto"`)."""
    return ch08.vit(data, seed=seed, precision=resolve_precision("auto", torch.device("cpu")), progress=False,
                    **{k: v for k, v in recipe.items() if k != "model"})


def _train_seq2seq(recipe: dict, data, seed: int, device: str = "cpu") -> tuple[nn.Module, list[dict]]:
    """Chapter 10's recipe on grids: training grids from `data.train_x` only, validation grids from `data.val_x`
    only (checked pixel for pixel), test grids from `data.test_x` (recorded, never used to choose). The validation
    score is whole sequences right (`val_acc`); the test record has `seq_acc` and `digit_acc` as in the chapter."""
    from .ch10 import ARCHITECTURE, read_grids
    from .stacked import make_grids, shared_digit_images

    train_x, train_y, _ = make_grids(data.train_x, data.train_y, recipe["train_grids"], seed)
    val_x, val_y, _ = make_grids(data.val_x, data.val_y, recipe["val_grids"], seed + 1)
    test_x, test_y, _ = make_grids(data.test_x, data.test_y, recipe["test_grids"], seed + 1)
    if shared_digit_images(data.train_x, val_x):
        raise ValueError("a training digit appears in a validation grid")
    device = torch.device(device)
    grids = replace(data, train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y, test_x=test_x,
                    test_y=test_y).to(device)
    return read_grids(grids, "seq2seq", seed=seed, precision=resolve_precision("auto", device), progress=False,
                      **{k: recipe[k] for k in ARCHITECTURE}, ema=recipe.get("ema"),
                      **{k: recipe[k] for k in ("epochs", "batch_size", "lr", "weight_decay", "warmup_epochs",
                                                "rotation", "translate")})


def train(chapter: str, name: str, seed: int, device: str = "cpu") -> dict:
    """Train candidate `name` of `chapter` with `seed` and save its run. `device` is "cpu" except for chapter 10,
    whose search may run on a GPU (its grids and model move there; bf16 autocast where the device computes it)."""
    recipe = saved_recipes(chapter)[name]
    if device != "cpu" and recipe["model"] != "seq2seq":
        raise ValueError(f"device {device!r} is not allowed for chapter {chapter}: only chapter 10's search runs off the CPU")
    model, history = train_recipe(chapter, recipe, load_mnist().split_validation(VALIDATION, seed=0), seed, device)
    return _save(chapter, name, seed, recipe, model, history, device)


def train_recipe(chapter: str, recipe: dict, data, seed: int, device: str = "cpu") -> tuple[nn.Module, list[dict]]:
    """A recipe of `chapter` (a candidate's, or a `mnistkit.study` trial's) trained through the chapter's recipe
    function on `data` (a validation split); returns the model and its history."""
    if recipe["model"] == "seq2seq":
        return _train_seq2seq(recipe, data, seed, device)
    trainers = {"patch-attention": _train_patch_attention, "vit": _train_vit}
    if recipe["model"] in trainers:
        return trainers[recipe["model"]](recipe, data, seed)
    return _train_ch05(recipe, data, seed) if chapter == "05" else _train_sgd(recipe, data, seed)


def _train_ch05(recipe: dict, data, seed: int) -> tuple[nn.Module, list[dict]]:
    """The candidates of chapter 05: its recipe function, `mnistkit.ch05.train` (SGD, StepLR or OneCycleLR finished
    by `anneal_epochs`, rotation and shift, optional BatchNorm momentum)."""
    from . import ch05
    if recipe.get("ema") is not None or recipe.get("weight_decay"):
        raise ValueError(f"chapter 05's recipe has no moving average or weight decay: got {recipe!r}")
    return ch05.train(data, network=lambda dropout: MODELS[recipe["model"]](dict(recipe, dropout=dropout)),
                      dropout=recipe["dropout"], lr=recipe["lr"], seed=seed, epochs=recipe["epochs"],
                      batch_size=recipe["batch_size"], momentum=recipe["momentum"], schedule=recipe["schedule"],
                      step_size=recipe["step_size"], gamma=recipe["gamma"], rotation=recipe["rotation"],
                      translate=recipe["translate"], anneal_epochs=recipe.get("anneal_epochs"),
                      bn_momentum=recipe.get("bn_momentum"), progress=False)


def _train_sgd(recipe: dict, data, seed: int) -> tuple[nn.Module, list[dict]]:
    """The CNN candidates of chapters 04 and 06: chapter 04's `train` (SGD, StepLR or OneCycleLR finished by
    `anneal_epochs`, rotation and shift, optional BatchNorm momentum, weight decay and moving average)."""
    return ch04.train(lambda: MODELS[recipe["model"]](recipe), data, seed=seed, epochs=recipe["epochs"],
                      batch_size=recipe["batch_size"], lr=recipe["lr"], momentum=recipe["momentum"],
                      rotation=recipe["rotation"], translate=recipe["translate"], schedule=recipe["schedule"],
                      step_size=recipe["step_size"], gamma=recipe["gamma"], anneal_epochs=recipe.get("anneal_epochs"),
                      weight_decay=recipe.get("weight_decay", 0.0), bn_momentum=recipe.get("bn_momentum"),
                      ema=recipe.get("ema"), progress=False)


def _save(chapter: str, name: str, seed: int, recipe: dict, model: nn.Module, history: list[dict],
          device: str = "cpu") -> dict:
    run = {"chapter": chapter, "candidate": name, "seed": seed, "recipe": recipe,
           "params": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
           "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
           "validation": VALIDATION, "epochs": history}
    write_json(OUT / chapter / f"{name}-seed{seed}.json", run)
    return run


STEP_ONLY = ("step_size", "gamma")  # StepLR's settings: a recipe on another schedule carries them unused


def search_rows(chapter: str) -> list[dict]:
    """Every saved search run of `chapter`, best first by the worst validation accuracy of its last epochs."""
    import json
    rows = []
    for path in sorted((OUT / chapter).glob("*.json")):
        run = json.loads(path.read_text())
        if "candidate" not in run:  # a study's confirm and test records (`mnistkit.study`), not a candidate's run
            continue
        val = [e["val_acc"] for e in run["epochs"][-LAST[chapter]:]]
        base = REFERENCES[chapter][1]  # the chapter's reference recipe
        unused = () if run["recipe"].get("schedule", "step") == "step" else STEP_ONLY  # settings its schedule ignores
        changes = {k: v for k, v in run["recipe"].items() if base.get(k) != v and k not in unused}
        rows.append({"candidate": run["candidate"], "seed": run["seed"], "params": run["params"], "worst_val": min(val),
                     "mean_val": statistics.mean(val), "spread_val": max(val) - min(val),
                     "final_train": run["epochs"][-1]["train_acc"], "device": run.get("device", "cpu"),
                     "changes": ", ".join(f"{k}={v}" for k, v in changes.items()) or "(none)"})
    return sorted(rows, key=lambda r: (-r["worst_val"], -r["mean_val"]))


def search_table(chapter: str) -> str:
    """The markdown table of a chapter's search (what a chapter shows to say how its recipe was chosen)."""
    rows = search_rows(chapter)
    first = REFERENCES[chapter][0]  # the reference the changes are counted from
    if not rows:
        return f"_No search run of chapter {chapter} is saved: `python -m mnistkit.search {chapter} <candidates>`._"
    if LAST[chapter] == 1:  # one epoch: its lowest, mean and spread would repeat one number
        return markdown_table(["candidate", "seed", "params", "val % (last epoch)", "final train %", "device",
                               f"changes from {first}"],
                              [[r["candidate"], r["seed"], r["params"], f"{r['worst_val']:.2f}",
                                f"{r['final_train']:.2f}", r["device"], r["changes"]] for r in rows])
    last = f"last {plural(LAST[chapter], 'epoch')}"  # of one run: the columns read epochs, not seeds
    return markdown_table(["candidate", "seed", "params", f"lowest val % of its {last}", f"mean val % of its {last}",
                           f"spread of its {last} (pp)", "final train %", "device", f"changes from {first}"],
                          [[r["candidate"], r["seed"], r["params"], f"{r['worst_val']:.2f}", f"{r['mean_val']:.2f}",
                            f"{r['spread_val']:.2f}", f"{r['final_train']:.2f}", r["device"], r["changes"]]
                           for r in rows])


def report() -> Path:
    lines = ["# Recipe search on a validation split", "",
             f"Generated by `python -m mnistkit.search --report` from `outputs/search/*/*.json`. Every run trains on "
             f"55,000 training images and is scored on the {VALIDATION:,} held out (split seed 0); its test accuracy "
             "is recorded in the JSON but not used to choose. Each row is one run (one seed): 'lowest val' is its lowest "
             "validation accuracy over the chapter's last epochs (5 for chapter 04, 3 for 05 and 06, the last of 5 for "
             "07, the last for 08 and 10), best first; 'spread' is the highest minus the lowest over those epochs.", ""]
    for chapter in sorted(p.name for p in OUT.glob("*") if p.is_dir() and p.name in REFERENCES):  # 13: stock.json
        lines += [f"## Chapter {chapter}", "", search_table(chapter), ""]
    return write_text(OUT / "RESULTS.md", "\n".join(lines))


def main(argv=None) -> None:
    import sys

    from . import study

    argv = sys.argv[1:] if argv is None else list(argv)
    valued = {"--storage", "--device", "--width"}  # options whose value is a word, not a number
    named = [a for i, a in enumerate(argv[1:], start=1)  # a word after the chapter: the earlier candidates' form
             if not a.startswith("-") and not a.replace(".", "", 1).isdigit() and argv[i - 1] not in valued]
    if argv and argv[0] in study.CHAPTERS and not named and "--report" not in argv:
        raise SystemExit(study.main(argv))  # the Optuna study of the chapter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", nargs="?", choices=sorted(REFERENCES))
    parser.add_argument("candidates", nargs="*")
    parser.add_argument("--seed", type=int, nargs="+", default=[1])
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for chapter 10's encoder-decoder")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    for name in args.candidates:
        saved = saved_recipes(args.chapter)
        if name not in saved:
            parser.error(f"candidate {name!r} is not allowed: expected one of {sorted(saved)} (the candidates with a "
                         f"saved run; a new recipe is a trial of the chapter's study: python -m mnistkit.study)")
        for seed in args.seed:
            run = train(args.chapter, name, seed, args.device)
            val = [e["val_acc"] for e in run["epochs"][-LAST[args.chapter]:]]
            print(f"{args.chapter} {name} seed {seed}: last val {val}", flush=True)
    if args.report or args.candidates:
        print("wrote", report())


if __name__ == "__main__":
    main()
