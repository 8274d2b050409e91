"""Chapter 08 (`notebooks/08_vit.ipynb`): a Vision Transformer from scratch, its recipe defined once.

`vit(data, seed=..., ...)` builds the chapter's ViT from its parameters and trains it: AdamW with `param_groups`
(weight decay on the 2-D and 4-D weights whose names hold neither "embed" nor "token": not on biases, norms, the
positions, the CLS token, nor the patch projection `patch_embed.proj`, spared by its name), one epoch of linear
warm-up then a cosine to zero stepped every batch (`warmup_cosine`), rotation and shift augmentation, the forward
pass in `precision` (bf16 autocast on a CPU that computes it). The chapter, its exercise solutions, `mnistkit.search` (the 08 candidates) and `ci/` call it, or
`build` / `optimizer_and_schedule` for its parts.

The other functions take run records (dicts as saved in metrics.json) and return the markdown the chapter shows:
every sentence of its results and analysis that states a number comes from them (unit tests:
`shared/tests/test_ch08.py`).
"""
from __future__ import annotations

import math

import torch

from . import ch01, metrics, stats
from .augment import RandomAffine
from .chapter import plural
from .metrics import markdown_table
from .train import fit, per_batch, progress_as, train_accuracy_in_eval_mode, warmup_cosine
from .transformer import VIT_ARGS, VisionTransformer, param_groups

TARGET = 99.4  # % final test accuracy, on each of SEEDS seeds
STRETCH = 99.5
SEEDS = 3
TEST_IMAGES = 10_000  # the MNIST test set, all of which the full profile evaluates (the quick one a slice)
BUDGET = {"params": 250_000, "epochs": 20, "minutes": 20.0}  # per seed, on a 2-core CPU
LOAD_FACTOR = 1.5  # a seed timed over this many times the fastest seed of the same settings was timed under load
EVAL_TRAIN_IMAGES = ch01.EVAL_TRAIN_IMAGES  # chapter 01's fixed sample of training images, for train accuracy in eval mode
TRAINING_ARGS = ("batch_size", "lr", "weight_decay", "warmup_epochs", "rotation", "translate")
RECIPE_ARGS = VIT_ARGS + TRAINING_ARGS  # the parameters of the chapter that `vit` takes as its recipe
OPTIMIZER = "AdamW + warm-up/cosine per batch"  # how the run record names the training


def build(recipe: dict) -> VisionTransformer:
    """The chapter's ViT from a recipe's architecture parameters (`transformer.VIT_ARGS`; other keys are the
    training's and are left out)."""
    missing = [k for k in VIT_ARGS if k not in recipe]
    if missing:
        raise ValueError(f"recipe {recipe!r} is not allowed: it lacks {', '.join(missing)} (expected {', '.join(VIT_ARGS)})")
    return VisionTransformer(**{k: recipe[k] for k in VIT_ARGS})


def optimizer_and_schedule(model: torch.nn.Module, *, lr: float, weight_decay: float, warmup_epochs: float,
                           epochs: int, steps_per_epoch: int):
    """AdamW (decay on the weights `param_groups` picks: none on the embeddings, the patch projection included) and
    the per-batch warm-up + cosine to zero; the warm-up is cut to `epochs` when it asks for more."""
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr)
    schedule = warmup_cosine(optimizer, int(min(warmup_epochs, epochs) * steps_per_epoch), epochs * steps_per_epoch)
    return optimizer, schedule


def vit(data, *, seed: int, epochs: int, patch: int, stem_channels: int, d_model: int, depth: int, heads: int,
        ff_dim: int, dropout: float, batch_size: int, lr: float, weight_decay: float, warmup_epochs: float,
        rotation: float, translate: float, precision: str = "fp32", eval_train_images: int | None = None,
        progress: bool = True) -> tuple[VisionTransformer, list[dict]]:
    """Chapter 08's recipe: the ViT built from its parameters (seeded with `seed`, on `data`'s device), trained for
    `epochs` with AdamW + warm-up/cosine per batch, rotation/shift augmentation (none when both are 0) and the
    forward pass in `precision` (a resolved name: "fp32", "bf16", "fp16"). Returns the model and `fit`'s history.
    `eval_train_images` adds `train_eval_acc` to each epoch's record (`train.train_accuracy_in_eval_mode`: the
    first that many training images in eval mode, chapter 01's measurement); it draws no random number."""
    augment = RandomAffine(degrees=rotation, translate=translate) if rotation or translate else None
    torch.manual_seed(seed)  # the same seed builds the same initial weights
    model = build(dict(patch=patch, stem_channels=stem_channels, d_model=d_model, depth=depth, heads=heads,
                       ff_dim=ff_dim, dropout=dropout)).to(data.device)
    optimizer, schedule = optimizer_and_schedule(model, lr=lr, weight_decay=weight_decay, warmup_epochs=warmup_epochs,
                                                 epochs=epochs, steps_per_epoch=math.ceil(len(data.train_x) / batch_size))
    measure = train_accuracy_in_eval_mode(model, data, eval_train_images, precision) if eval_train_images else None
    with progress_as(None if progress else "epoch"):
        history = fit(model, optimizer, data.augmented(augment), epochs=epochs, batch_size=batch_size, seed=seed,
                      schedule=per_batch(schedule), precision=precision, on_epoch_end=measure)
    return model, history


# ---- what the chapter says, generated from run records ----------------------------------------------------------

def final(run: dict) -> float:
    """The claim's statistic: the final test accuracy (%) of a run (the README's 'final test')."""
    return run["epochs"][-1]["test_acc"]


def writeup_params(claim: dict) -> int:
    """Parameters of the write-up's model (its patch, d_model, depth, heads, ff_dim) built with this course's code."""
    model = VisionTransformer(patch=claim["patch"], d_model=claim["d_model"], depth=claim["depth"],
                              heads=claim["heads"], ff_dim=claim["ff_dim"])
    return sum(p.numel() for p in model.parameters())


def results(run: dict, claim: dict) -> str:
    """The run's results table: final and peak test accuracy, the last 3 epochs, the first epoch at the target,
    train accuracy in eval mode (when measured), parameters, training time, and the write-up's figure."""
    history = run["epochs"]
    tests = [e["test_acc"] for e in history]
    peak = max(range(len(tests)), key=tests.__getitem__)
    first = next((e["epoch"] for e in history if e["test_acc"] >= TARGET), None)
    seconds = [e["seconds"] for e in history]
    rows = [["test accuracy, last epoch %", tests[-1]],
            ["peak test accuracy % (epoch)", f"{tests[peak]:.2f} ({history[peak]['epoch']})"],
            ["last 3 epochs %", ", ".join(f"{t:.2f}" for t in tests[-3:])],
            [f"first epoch ≥ {TARGET}%", first],
            ["parameters", run["params"]],
            ["training time (the training passes, wall clock; evaluation not counted)", f"{run['training_minutes']:.1f} min ({sum(seconds) / len(seconds):.0f} s/epoch "
                                           f"on average, {min(seconds):.0f} to {max(seconds):.0f} s, on {run['device']} in "
                                           f"{run['precision']}, {plural(run['threads'], 'thread')})"],
            ["the write-up reported", f"{claim['value']:.2f}% ({claim['metric']}; d_model {claim['d_model']}, "
                                      f"{claim['depth']} blocks)"]]
    if "train_eval_acc" in history[-1]:
        rows.insert(4, ["train accuracy, last epoch % (eval mode, fixed training images)", history[-1]["train_eval_acc"]])
    return markdown_table(["", "ours"], rows)


def epoch_log(history: list[dict]) -> str:
    """`metrics.epoch_table` with its lr column named for what it holds: `fit` records, with a per-batch schedule,
    the rate of each epoch's first batch (not the epoch's peak, nor the recipe's peak `lr`), and a line below says
    where the peak rate falls."""
    table = metrics.epoch_table(history).split("\n")
    column = "| lr at the epoch's start |"
    if not history or column not in table[0]:
        raise ValueError("expected an epoch table with an lr column")
    table[0] = table[0].replace(column, "| lr at the epoch's first batch |")
    peak = max(history, key=lambda e: e["lr"])
    return ("\n".join(table) + f"\n\nThe schedule steps after every batch, so each epoch's rate falls (or, while it "
            f"warms up, climbs) from the one shown; the highest shown, {peak['lr']:.4g}, is epoch {peak['epoch']}'s "
            "first batch, the first after the warm-up.")


def errors_text(history: list[dict], predicted: torch.Tensor, labels: torch.Tensor, *, figure_precision: str,
                precision: str) -> str:
    """Whether the figures' predictions (the misclassified digits, the confusion matrix) count the same right
    answers as the last epoch's test accuracy in the table, and, when they do not, why: the table's evaluation ran
    in `precision`, the figures' in `figure_precision`, and bf16 rounding flips a digit the model is unsure of."""
    n = len(labels)
    right = int((predicted.cpu() == labels.cpu()).sum())
    table = round(history[-1]["test_acc"] * n / 100)
    where = (f"the model after its last epoch (epoch {history[-1]['epoch']}, the weights saved to the checkpoint), "
             f"predicted in {figure_precision}")
    if right == table and figure_precision == precision:
        return (f"The figures above are {where}, as the table's test accuracy was measured: they count the same "
                f"{right:,} of {n:,} right ({n - right} mistakes).")
    if right == table:
        return (f"The figures above are {where}; the table's test accuracy was measured in {precision}. Both count "
                f"{right:,} of {n:,} right ({n - right} mistakes).")
    return (f"The figures above are {where} and count {right:,} of {n:,} right; the table's last epoch counts "
            f"{table:,}, measured in {precision}. The weights are the same: "
            + (f"the {abs(right - table)} digit(s) between them are ones the model is unsure of, which {precision} "
               f"and {figure_precision} rounding decide differently." if figure_precision != precision else
               "the two were measured on different images or weights, so the figures are not this table's run."))


def _ordinal(k: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(k, f"{k}th")


def standing(run: dict, seed_runs: list[dict]) -> str:
    """Where `run` (the one the chapter shows) stands among the seeds by final test accuracy."""
    others = [r for r in seed_runs if r.get("seed") != run.get("seed")]
    if not others:
        return f"Seed {run.get('seed')} is the only seed saved in this profile."
    above = sum(final(r) > final(run) for r in others)
    n = len(others) + 1
    where = ("the highest" if above == 0 else "the lowest" if above == n - 1 else f"{_ordinal(above + 1)} from the top")
    return f"Seed {run.get('seed')}, the run shown, scored {final(run):.2f}%: {where} of the {n} seeds."


def _settings(run: dict) -> tuple:
    return run.get("device"), run.get("threads"), run.get("precision"), run.get("params"), len(run["epochs"])


def under_load(seed_runs: list[dict]) -> list[dict]:
    """The seeds whose wall-clock training time says more about the machine than the recipe: over LOAD_FACTOR times
    the fastest seed with the same device, threads, precision, parameters and epochs (the same work), i.e. timed
    while other jobs shared the machine. Their minutes are reported, never judged against the budget."""
    fastest = {}
    for r in seed_runs:
        fastest[_settings(r)] = min(fastest.get(_settings(r), math.inf), r["training_minutes"])
    return [r for r in seed_runs if r["training_minutes"] > LOAD_FACTOR * fastest[_settings(r)]]


def target_text(run: dict, seed_runs: list[dict], *, profile: str) -> str:
    """The chapter's claim over its seeds: ≥ TARGET final test on each of SEEDS seeds within BUDGET. 'met' only
    when every seed holds it, each within the budget, and all SEEDS seeds are saved; otherwise 'k of n'. A seed
    timed under load (`under_load`) is not judged on time: the verdict then says on how many seeds the time held."""
    summary = stats.summarize([final(r) for r in seed_runs], TARGET)
    loaded = under_load(seed_runs)
    over = [f"seed {r.get('seed')}: {what}" for r in seed_runs for what, bad in (
        (f"{r['params']:,} parameters", r["params"] > BUDGET["params"]),
        (f"{len(r['epochs'])} epochs", len(r["epochs"]) > BUDGET["epochs"]),
        (f"{r['training_minutes']:.1f} minutes of training",
         r["training_minutes"] > BUDGET["minutes"] and r not in loaded)) if bad]
    claim = (f"≥ {TARGET}% final test accuracy on each of {SEEDS} seeds, ≤ {BUDGET['params']:,} parameters, "
             f"≤ {BUDGET['epochs']} epochs, ≤ {BUDGET['minutes']:.0f} minutes of training per seed")
    if summary.n < SEEDS:
        verdict = (f"not judged: {summary.n} of its {SEEDS} seeds saved in this profile "
                   f"({summary.holding} of {summary.n} at ≥ {TARGET}%)")
    elif over:
        verdict = f"not met: over the budget ({'; '.join(over)})"
    elif loaded:
        timed = len(seed_runs) - len(loaded)
        verdict = (f"{summary.holds} on accuracy, parameters and epochs; the time held on the {timed} of "
                   f"{len(seed_runs)} seeds timed at the fastest seed's pace, and is not judged on "
                   + ", ".join(f"seed {r.get('seed')}" for r in loaded) + " (timed under load, see below)")
    else:
        verdict = summary.holds
    quick = "" if profile == "full" else f" ({profile} profile: not a real attempt)"
    lines = [f"- **The target** ({claim}): **{verdict}**{quick}. Final test accuracy {summary.text()}. "
             + standing(run, seed_runs) + (margin_text(seed_runs) if profile == "full" else "")]
    if summary.n >= SEEDS:
        stretch = stats.summarize(summary.values, STRETCH)
        lines.append(f"- The stretch goal, {STRETCH}% on each seed: {stretch.holds}.")
    return "\n".join(lines)


def margin_text(seed_runs: list[dict], test_images: int = TEST_IMAGES) -> str:
    """How many test images the closest seed has above (or below) the target: a verdict that rests on a handful of
    digits says so."""
    if not seed_runs:
        return ""
    closest = min(seed_runs, key=final)
    images = round((final(closest) - TARGET) * test_images / 100)
    side = "above" if images >= 0 else "below"
    return (f" The closest seed, seed {closest.get('seed')}, is {abs(images)} of the {test_images:,} test images {side} "
            f"the {TARGET}% line.")


def writeup_text(seed_runs: list[dict], claim: dict) -> str:
    """Our seeds beside the write-up's one number (its own single run): how many of ours score above it, and the
    two models' sizes. No verdict on why: the recipes differ in more than size."""
    values = [final(r) for r in seed_runs]
    above = sum(v > claim["value"] for v in values)
    size, ours = writeup_params(claim), seed_runs[0]["params"]
    seeds = "our one seed" if len(values) == 1 else (f"every one of our {len(values)} seeds" if above == len(values)
                                                     else f"{above} of our {len(values)} seeds")
    return (f"- The write-up reported {claim['value']:.2f}% ({claim['metric']}, one run) and hoped for more than "
            f"{claim['hoped']:g}%, with d_model {claim['d_model']}, feed-forward {claim['ff_dim']}, {claim['depth']} "
            f"blocks and patches of {claim['patch']}×{claim['patch']} pixels ({(28 // claim['patch']) ** 2} tokens; "
            f"{size:,} parameters in this code). "
            f"{seeds[0].upper() + seeds[1:]} scored {'above' if above else 'at or below'} it (final test "
            + (f"{values[0]:.2f}%" if len(values) == 1 else f"{min(values):.2f}–{max(values):.2f}%")
            + f") with {ours:,} parameters, {ours / size:.0%} of "
            "that size. The two recipes differ in the stem, the patches, the size and the training at once, so this "
            "says the small model suffices, not which change made the difference.")


def time_text(seed_runs: list[dict]) -> str:
    """Training minutes per seed against the budget, with the machine each ran on. Minutes are wall-clock time on
    a shared machine: a seed timed under load (`under_load`) is named as such and left out of the budget's
    judgement, which reads the slowest of the others."""
    loaded = under_load(seed_runs)
    clean = [r for r in seed_runs if r not in loaded]
    slowest, fastest = (f(clean, key=lambda r: r["training_minutes"]) for f in (max, min))
    per_seed = ", ".join(f"seed {r.get('seed')}: {r['training_minutes']:.1f}" for r in sorted(
        seed_runs, key=lambda r: r.get("seed", 0)))
    lines = [f"- Training minutes per seed, the training passes on the wall clock, evaluation not counted ({per_seed}) on {slowest['device']}, "
             f"{plural(slowest['threads'], 'thread')}, {slowest['precision']}."]
    pace = [e["seconds"] for e in fastest["epochs"]]
    for r in loaded:
        epochs = [e["seconds"] for e in r["epochs"]]
        lines.append(f" Seed {r.get('seed')}'s {r['training_minutes']:.1f} minutes are "
                     f"{r['training_minutes'] / fastest['training_minutes']:.1f}× seed {fastest.get('seed')}'s "
                     f"{fastest['training_minutes']:.1f} for the same work (same settings, parameters and epochs), and "
                     f"its epochs took {min(epochs):.0f} to {max(epochs):.0f} s (seed {fastest.get('seed')}'s "
                     f"{min(pace):.0f} to {max(pace):.0f} s): it was timed while other jobs "
                     "shared the machine, so its minutes measure the load, not the recipe, and are no verdict on "
                     "the budget.")
    which = "the slowest of the others" if loaded else "the slowest"
    lines.append(f" {which[0].upper() + which[1:]}, seed {slowest.get('seed')} at {slowest['training_minutes']:.1f}, "
                 f"is {'within' if slowest['training_minutes'] <= BUDGET['minutes'] else 'over'} the "
                 f"{BUDGET['minutes']:.0f}-minute budget.")
    return "".join(lines)


def parity_text(fp32_runs: list[dict], bf16_runs: list[dict]) -> str:
    """bf16 autocast against fp32 on final test accuracy: the paired 95% interval (`stats.compare`), or why none."""
    if len(fp32_runs) < 2 or len(bf16_runs) < 2:
        return (f"- **bf16 against fp32:** not measured in this profile ({len(bf16_runs)} bf16 and {len(fp32_runs)} "
                "fp32 seed(s) saved; an interval needs two on each side).")
    difference = stats.compare(fp32_runs, bf16_runs, final)
    per_seed = ", ".join(f"seed {r.get('seed')} {final(r):.2f}%" for r in sorted(fp32_runs, key=lambda r: r.get("seed")))
    in_fp32 = stats.summarize([final(r) for r in fp32_runs], TARGET)
    return (f"- **bf16 against fp32**, final test accuracy, bf16 − fp32: {difference.text()}. "
            f"In fp32 ({per_seed}) the {TARGET}% target is {in_fp32.holds}. "
            + ("The interval holds zero: on these seeds bf16 autocast cost no accuracy that the seeds can show."
               if not difference.beyond_noise else
               "The interval excludes zero: on these seeds the precision changed the accuracy."))


def fit_text(run: dict) -> str:
    """Under- or overfitting judged as chapter 01 teaches: from train accuracy measured in eval mode on fixed
    training images (`train_eval_acc`), beside the test accuracy; the running train accuracy (augmented images,
    weights changing through the epoch) is shown only to say why it is not the one to read."""
    last = run["epochs"][-1]
    if "train_eval_acc" not in last:
        return "- Train accuracy in eval mode was not measured in this run: no judgement of under- or overfitting."
    train, test, running = last["train_eval_acc"], last["test_acc"], last["train_acc"]
    gap = train - test
    judged = (f"{-gap:.2f} pp below its test accuracy: the model does worse on the images it trained on than on "
              "unseen ones, a sign of underfitting" if gap < 0 else
              f"{gap:.2f} pp above its test accuracy: the model does at least as well on the images it trained on as "
              "on unseen ones, so its train accuracy gives no sign of underfitting")
    return (f"- **Does it underfit?** Measured in eval mode on the same fixed training images after every epoch, "
            f"the train accuracy ends at {train:.2f}%, {judged}. The running train accuracy of the log "
            f"({running:.2f}%) reads {'lower' if running < train else 'higher'} because it is measured on augmented "
            "images while the weights still change (chapter 01): it is not the number to judge by.")


def search_text(rows: list[dict], chosen: str, recipe: dict, candidates: dict) -> str:
    """What the validation split says about the chosen candidate: its score, the first version's, the others'.
    One validation seed each: the order is reported, never graded (a verdict needs seeds)."""
    ranked = {r["candidate"]: r for r in rows}
    if chosen not in ranked:
        return f"_The search run of {chosen} is not saved._"
    differs = {k: v for k, v in recipe.items() if candidates[chosen].get(k) != v}
    best = max(ranked.values(), key=lambda r: r["worst_val"])
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"- This notebook's defaults are **{chosen}**: {ranked[chosen]['worst_val']:.2f}% on the validation "
             f"images after its last epoch (seed {ranked[chosen]['seed']}), "
             + ("the highest of the candidates." if best["candidate"] == chosen else
                f"below {best['candidate']} ({best['worst_val']:.2f}%): the defaults are not the best on validation.")
             + (f" This run's parameters differ from it: {differs}." if differs else "")]
    if "vit" in ranked and chosen != "vit":
        lines.append(f"- The first version (`vit`) on the same split: {ranked['vit']['worst_val']:.2f}%.")
    if len(seeds) == 1:
        lines.append(f"- Every candidate ran on one seed ({seeds[0]}): the order above is one seed's, and one seed "
                     "gives no verdict. The choice followed it; the seeds on the test set below show whether the "
                     "chosen recipe meets the target, not that it beats the other candidates.")
    return "\n".join(lines)


def analysis(run: dict, seed_runs: list[dict], fp32_runs: list[dict], *, claim: dict, profile: str) -> str:
    """The chapter's analysis, every sentence generated from the run records."""
    bf16_runs = [r for r in seed_runs if r.get("precision") == "bf16"]
    return "\n".join([target_text(run, seed_runs, profile=profile), writeup_text(seed_runs, claim),
                      time_text(seed_runs), parity_text(fp32_runs, bf16_runs), fit_text(run)])


# ---- the exercises (notebooks/solutions/08_vit_solutions.ipynb) -----------------------------------------------

def positions_text(accuracy: dict[str, float], *, profile: str, epochs: int, images: int) -> str:
    """Exercise 1: the trained ViT as trained, with its positional embedding zeroed, with its patches shuffled."""
    trained, zeroed, shuffled = (accuracy[k] for k in ("as trained", "positional embedding zeroed", "patches shuffled"))
    worse = "zeroing the positions" if zeroed < shuffled else "shuffling the patches" if shuffled < zeroed else "neither"
    return (f"Measured on chapter 08's {profile}-profile checkpoint ({plural(epochs, 'epoch')}), {images:,} test images: "
            f"{trained:.2f}% as trained, {zeroed:.2f}% with the positional embedding zeroed, {shuffled:.2f}% with "
            f"the patches shuffled: {worse} costs more here (one trained model, so one measurement, no seeds). "
            "Zeroing removes a vector the network was trained to expect in every token (the tokens land somewhere it "
            "never saw); shuffling keeps every token well-formed but tells the model wrong places. Which costs more "
            "says how much the trained model leans on where a stroke is rather than on what the stroke looks like.")


def stem_variants_text(rows: list[dict], *, profile: str, epochs: int) -> str:
    """Exercise 2: one line per variant (patch, stem channels, tokens, parameters, seconds per epoch, final test),
    one seed each, so no verdict on accuracy."""
    lines = [f"Measured ({profile} profile, {plural(epochs, 'epoch')} per run, one seed each):"]
    for r in rows:
        stem = f"a stem of {r['stem_channels']} channels" if r["stem_channels"] else "no stem"
        lines.append(f"- patch {r['patch']}, {stem}: {(28 // r['patch']) ** 2} tokens, {r['params']:,} parameters, "
                     f"{r['seconds']:.1f} s per epoch, {r['test_acc']:.2f}% test.")
    lines.append("The stem's channels multiply the patch embedding's inputs (patch·patch·channels weights per token "
                 "dimension instead of patch·patch), which is where its parameters go; smaller patches give more "
                 "tokens, and attention compares every token with every other, so each epoch costs more. The "
                 "accuracies are one seed each after a few epochs: they order these runs, they grade no variant "
                 "(chapter 08's seeds show how far another seed alone moves a final test accuracy).")
    return "\n".join(lines)
