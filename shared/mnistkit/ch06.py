"""Chapter 06 (`notebooks/06_capstone_small.ipynb`): the capstone, the smallest CNN that holds 99.4%.

Two families of designs: `SmallNet` (five full 3x3 convolutions, trained by `small`: SGD with Nesterov momentum and
OneCycleLR over every epoch) and chapter 04's `SeparableNet`, narrowed (trained by `capstone`, which is chapter
04's recipe of ours, `mnistkit.ch04.ours`, with other widths). The rest turns run records into the chapter's
sentences, graded by `mnistkit.stats`.
"""
from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from . import ch04
from .chapter import plural
from .models import SeparableNet, StridedNet, set_bn_momentum
from .stats import compare, paired, summarize

TARGET = 99.4
LAST = 3  # the capstone's claim is about each of the last 3 epochs
EARLY = 12  # the narrowed SeparableNet's channels before the pool (8 -> 12), as SmallNet's
AIM = 4000  # parameters: the chapter's aim
REFERENCES = Path(__file__).parent / "writeups" / "references.json"


class SmallNet(nn.Module):
    """Five 3x3 convolutions (Conv -> ReLU -> BatchNorm, no bias, no dropout), one max-pool, GAP, a 1x1 classifier."""

    def __init__(self, channels: list[int]):
        super().__init__()
        c1, c2, c3, c4, c5 = channels

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(cout))

        self.features = nn.Sequential(
            block(1, c1), block(c1, c2),    # 28 -> 24 px, RF 5: strokes
            nn.MaxPool2d(2, 2),             # 24 -> 12 px, RF 6, jump 2
            block(c2, c3), block(c3, c4),   # 12 -> 8 px, RF 14: digit parts
            block(c4, c5),                  # 8 -> 6 px, RF 18
            nn.AdaptiveAvgPool2d(1),        # global average: RF 28, the whole digit
            nn.Conv2d(c5, 10, 1, bias=False),
        )

    def forward(self, x):
        return self.features(x).flatten(1)


def is_separable(design: tuple) -> bool:
    return design[0] == "separable"


def build(design: tuple, bn_momentum: float) -> nn.Module:
    """A design as a model: ("separable", width) is chapter 04's network narrowed, no dropout at this size (its
    BatchNorm at `bn_momentum`); five widths are a SmallNet."""
    if is_separable(design):
        return set_bn_momentum(SeparableNet(0.0, width=design[1], early=EARLY), bn_momentum)
    return SmallNet(list(design))


def label(design: tuple) -> str:
    return f"SeparableNet(width={design[1]}, early={EARLY})" if is_separable(design) else str(list(design))


def small(data, *, seed: int, channels: list[int], epochs: int, batch_size: int, momentum: float, max_lr: float,
          pct_start: float, rotation: float, translate: float, precision: str = "fp32", progress: bool = True):
    """SmallNet's recipe: chapter 04's training (`ch04.train`) with Nesterov momentum and OneCycleLR over every
    epoch, warming up for `pct_start` of the steps."""
    return ch04.train(lambda: SmallNet(list(channels)), data, seed=seed, epochs=epochs, batch_size=batch_size,
                      lr=max_lr, momentum=momentum, rotation=rotation, translate=translate, schedule="onecycle",
                      pct_start=pct_start, nesterov=True, precision=precision, progress=progress)


def capstone(data, *, seed: int, width: int, epochs: int, batch_size: int, momentum: float, max_lr: float,
             anneal_epochs: int, bn_momentum: float, rotation: float, translate: float, precision: str = "fp32",
             progress: bool = True):
    """The separable design: chapter 04's recipe of ours (`ch04.ours`) at `width`, 8 -> 12 before the pool, no
    dropout."""
    return ch04.ours(data, seed=seed, epochs=epochs, batch_size=batch_size, momentum=momentum, dropout=0.0,
                     width=width, early=EARLY, max_lr=max_lr, anneal_epochs=anneal_epochs, bn_momentum=bn_momentum,
                     rotation=rotation, translate=translate, precision=precision, progress=progress)


def train_design(design: tuple, data, *, seed: int, recipe: dict, precision: str = "fp32", progress: bool = True):
    """Train one design with the chapter's checked parameters (`setup.recipe`): `capstone` or `small`."""
    shared = dict(seed=seed, epochs=recipe["epochs"], batch_size=recipe["batch_size"], momentum=recipe["momentum"],
                  rotation=recipe["rotation"], translate=recipe["translate"], precision=precision, progress=progress)
    if is_separable(design):
        return capstone(data, width=design[1], max_lr=recipe["separable_max_lr"],
                        anneal_epochs=recipe["separable_anneal_epochs"], bn_momentum=recipe["separable_bn_momentum"],
                        **shared)
    return small(data, channels=list(design), max_lr=recipe["max_lr"], pct_start=recipe["pct_start"], **shared)


def recipe_record(design: tuple, recipe: dict) -> dict:
    """What a design's run record says of its recipe (the committed sweep 06-seeds is matched on it)."""
    own = (dict(design=label(design), max_lr=recipe["separable_max_lr"], anneal_epochs=recipe["separable_anneal_epochs"],
                bn_momentum=recipe["separable_bn_momentum"], optimizer="SGD momentum 0.9 + OneCycleLR (chapter 04's)")
           if is_separable(design) else
           dict(design=label(design), channels=list(design), max_lr=recipe["max_lr"], pct_start=recipe["pct_start"],
                optimizer="SGD nesterov 0.9 + OneCycleLR"))
    return dict(own, batch_size=recipe["batch_size"], epochs=recipe["epochs"], rotation=recipe["rotation"],
                translate=recipe["translate"])


def reference() -> dict:
    """The public reference the chapter compares with (value, params, epochs, what, source), from
    `writeups/references.json`."""
    return json.loads(REFERENCES.read_text())["references"]["capstone_small"]


def chapter05_params() -> int:
    """Chapter 05's final model (`StridedNet(c=13)`), counted."""
    return sum(p.numel() for p in StridedNet(0.0, c=13).parameters())


def sizes(params: dict[str, int]) -> str:
    """Each design's size against chapter 05's final model and the public reference."""
    ref, ch05 = reference(), chapter05_params()
    return "\n".join(f"{name}: {n:,} parameters, {n / ch05:.0%} of chapter 05's final model ({ch05:,}), "
                     f"{n / ref['params']:.0%} of the {ref['params']:,}-parameter public reference"
                     for name, n in params.items())


def lowest(run: dict) -> float:
    return ch04.lowest(run, LAST)


def verdict(capstone_label: str, capstone_runs: list[dict], others: dict[str, list[dict]],
            chapter05: list[dict]) -> str:
    """The capstone's analysis: its size, whether its claim holds over the saved seeds (met only on every seed and
    under the aim), and, paired over the seeds both ran, against every other design and chapter 05's final recipe."""
    if not capstone_runs:
        return "_The chosen model has no saved run in this profile._"
    params, ref = capstone_runs[0]["params"], reference()
    summary = summarize([lowest(r) for r in capstone_runs], TARGET)
    met = summary.met and summary.n >= 5 and params < AIM
    lines = [f"- **The chosen model: {capstone_label}, {params:,} parameters** "
             f"({'under' if params < AIM else 'over'} the {AIM:,} aim; {params / ref['params']:.0%} of the public "
             f"reference's {ref['params']:,}, {params / chapter05_params():.0%} of chapter 05's final model).",
             f"- Each of the last {LAST} epochs ≥ {TARGET}%: {summary.holds}; the lowest of the last {LAST} epochs "
             f"{summary.text()}{'; ± is the standard deviation over seeds' if summary.n > 1 else ''}. "
             "The chapter's target is " + (
                 "**met**." if met else "**not met**" + (f" ({plural(summary.n, 'seed')} saved)." if summary.n < 5 else "."))]
    final05 = f"chapter 05's final recipe ({chapter05_params():,} params, no augmentation)"
    for name, runs in list(others.items()) + [(final05, chapter05)]:
        if len(runs) < 2 or len(capstone_runs) < 2:
            lines.append(f"- Against {name}: fewer than two seeds on one side, no verdict.")
            continue
        lines.append(f"- Against {name}, the lowest of the last {LAST} epochs: "
                     f"{compare(runs, capstone_runs, lowest).text()}.")
    lines.append(f"- The {ref['what']}, reported at {ref['value']}%: one run, so no verdict on seeds. Its source: "
                 f"{ref['source']}.")
    return "\n".join(lines)


def search_variant(search_rows: list[dict], base: str, variant: str, what: str) -> str:
    """A search candidate against the chosen recipe (`base`) on the validation split (`outputs/search/06`): the worst
    validation accuracy of the last `LAST` epochs of each on every seed both ran, the per-seed differences, and the
    paired 95% interval (`mnistkit.stats.paired`); what it says of the chosen recipe follows the verdict."""
    worst = {name: {r["seed"]: r["worst_val"] for r in search_rows if r["candidate"] == name} for name in (base, variant)}
    seeds = sorted(set(worst[base]) & set(worst[variant]))
    head = (f"**{what}** (`{variant}` against the chosen recipe `{base}`, worst validation accuracy of the last {LAST} "
            "epochs")
    if not seeds:
        return f"{head}): no seed in common, nothing to compare."
    per_seed = "; ".join(f"seed {s}: {worst[variant][s]:.2f}% against {worst[base][s]:.2f}%, "
                         f"{worst[variant][s] - worst[base][s]:+.2f} pp" for s in seeds)
    if len(seeds) < 2:
        return f"{head}): {per_seed}. One seed in common: no verdict."
    diff = paired([worst[base][s] for s in seeds], [worst[variant][s] for s in seeds])
    close = ("The validation split favours the change, beyond noise." if diff.beyond_noise and diff.mean > 0 else
             "It costs validation accuracy, beyond noise: the chosen recipe stays." if diff.beyond_noise else
             "These seeds give no reason to add it: the chosen recipe stays.")
    return f"{head}): {per_seed}; paired {diff.text()}. {close}"


BASE = "separable23-small"  # the chosen recipe in `outputs/search/06`: chapter 04's recipe of ours at width 23
VARIANTS = {"separable23-small-wd5e-4": "Weight decay 5e-4", "separable23-small-noaug": "No augmentation",
            "separable23-small-anneal14": "Annealing over 14 epochs instead of 11",
            "separable23-small-b64": "Batch 64 (twice the steps)", "separable23-small-lr0.1": "Peak rate 0.1"}


def search_summary(search_rows: list[dict], base: str = BASE, variants: dict[str, str] = VARIANTS) -> str:
    """Every variant of the search that was run (`search_variant`), one bullet each, in `variants`' order."""
    ran = {r["candidate"] for r in search_rows}
    return "\n".join(f"- {search_variant(search_rows, base, name, what)}" for name, what in variants.items()
                     if name in ran)


def chapter05_finals(profile: str) -> list[dict]:
    """Chapter 05's final recipe on every saved seed: its own run and its committed sweep 05-seeds."""
    from .metrics import chapter_runs, sweep_runs

    runs = list((chapter_runs("05_strided_convs", profile) or {}).values()) + sweep_runs("05_strided_convs", "05-seeds",
                                                                                          profile)
    return [r for r in runs if r["name"].startswith("final-seed")]


def one_seed(what: str, before: tuple[str, dict], after: tuple[str, dict], profile: str, epochs: int) -> str:
    """An exercise's two runs on one seed: the lowest of the last 3 epochs and the final train accuracy of each, the
    difference, and no verdict (one seed cannot tell an effect from noise; the chapter's seed table shows how much
    one design varies from seed to seed)."""
    (name_b, run_b), (name_a, run_a) = before, after
    low_b, low_a = lowest(run_b), lowest(run_a)
    return (f"Measured ({profile} profile, {plural(epochs, 'epoch')}, seed {run_a.get('seed', 1)}), {what}: {name_a} "
            f"({run_a['params']:,} parameters) {low_a:.2f}% against {low_b:.2f}% for {name_b} ({run_b['params']:,}), "
            f"{low_a - low_b:+.2f} pp on the lowest of the last {LAST} epochs; final train accuracy (on the images as "
            f"trained) {run_a['epochs'][-1]['train_acc']:.2f}% against {run_b['epochs'][-1]['train_acc']:.2f}%. One "
            "seed gives no verdict: compare the gap with the seed-to-seed spread in the chapter's seed table.")


# --- the frontier: parameters against accuracy, one family at several sizes, five seeds each ----------------------
FRONTIER_SWEEPS = "06-frontier-*"  # one sweep per SeparableNet width: `separable_widths=[w]`, seeds 1-5, no SmallNet


def frontier_points(runs: list[dict]) -> dict[tuple[str, int, int], list[dict]]:
    """Runs grouped into points of the frontier, (family, parameters, epochs) -> one run per seed (the first run of a
    seed wins: a chapter's own before a sweep's repeat). Family: "SeparableNet" or "SmallNet", from the recipe."""
    points: dict[tuple[str, int, int], dict] = {}
    for run in runs:
        family = "SeparableNet" if str(run["recipe"].get("design", "")).startswith("SeparableNet") else "SmallNet"
        key = (family, run["params"], len(run["epochs"]))
        points.setdefault(key, {}).setdefault(run["seed"], run)
    return {key: [by_seed[s] for s in sorted(by_seed)] for key, by_seed in sorted(points.items(),
                                                                                key=lambda kv: (kv[0][1], kv[0][2]))}


def frontier_table(points: dict[tuple[str, int, int], list[dict]]) -> str:
    """One row per point: its seeds' lowest of the last `LAST` epochs, mean ± std, worst and how many hold."""
    from .metrics import markdown_table

    rows = []
    for (family, params, epochs), runs in points.items():
        s = summarize([lowest(r) for r in runs], TARGET)
        rows.append([family, f"{params:,}", epochs, ", ".join(f"{r['seed']}: {lowest(r):.2f}" for r in runs),
                     f"{s.mean:.2f} ± {s.std:.2f}" if s.n > 1 else f"{s.mean:.2f}", f"{s.worst:.2f}",
                     f"{s.holding} of {s.n}"])
    return markdown_table(["family", "params", "epochs", f"seed: lowest of the last {LAST} epochs %", "mean ± std %",
                           "worst %", f"seeds holding ≥ {TARGET}%"], rows)


def frontier_answers(points: dict[tuple[str, int, int], list[dict]], *, seeds: int = 5, epochs: int = 15,
                     limit: int = 8000) -> dict | None:
    """The frontier's two answers over the points trained `epochs` epochs on at least `seeds` seeds and at most
    `limit` parameters: "mean" (the smallest whose mean holds the target) and "every" (the smallest where every seed
    holds), each a point's key or None, with each point's `summarize` ("stats") and the largest size ("largest").
    None when no point qualifies."""
    full = {k: v for k, v in points.items() if k[2] == epochs and len(v) >= seeds and k[1] <= limit}
    if not full:
        return None
    stats = {k: summarize([lowest(r) for r in v], TARGET) for k, v in full.items()}
    smallest = lambda keys: min(keys, key=lambda k: k[1]) if keys else None  # noqa: E731
    return {"sizes": len(full), "stats": stats, "largest": max(k[1] for k in full),
            "mean": smallest([k for k in full if stats[k].mean >= TARGET]),
            "every": smallest([k for k in full if stats[k].met])}


def frontier_headline(points: dict[tuple[str, int, int], list[dict]], *, seeds: int = 5, epochs: int = 15,
                      limit: int = 8000) -> str:
    """The frontier in one sentence (`frontier_answers`): the smallest size whose mean holds the target, and the
    smallest where every seed does (or "none up to <largest size>")."""
    answers = frontier_answers(points, seeds=seeds, epochs=epochs, limit=limit)
    if answers is None:
        return f"No size has {seeds} seeds of {epochs} epochs saved in this profile: the frontier is not measured."
    stats, largest = answers["stats"], answers["largest"]

    def named(key) -> str:
        return f"{key[1]:,} parameters ({key[0]}: {stats[key].text()}, {stats[key].holding} of {stats[key].n} hold)"

    first = (f"the smallest size whose mean over {seeds} seeds holds ≥ {TARGET}% is {named(answers['mean'])}"
             if answers["mean"] else f"no size up to {largest:,} parameters has a mean ≥ {TARGET}% over {seeds} seeds")
    second = (f"the smallest where every seed holds is {named(answers['every'])}" if answers["every"] else
              f"no size up to {largest:,} parameters holds it on every seed")
    return (f"Over {plural(answers['sizes'], 'size')} trained {epochs} epochs on {seeds}+ seeds (the lowest of the last "
            f"{LAST} epochs; ± is the standard deviation over seeds): {first}; {second}.")


def frontier_short(points: dict[tuple[str, int, int], list[dict]], **kwargs) -> str:
    """The frontier's two answers in a table cell: "frontier over 5 seeds: smallest with mean ≥ 99.4%: 5,386 params;
    smallest with every seed ≥ 99.4%: none up to 7,474 params"."""
    answers = frontier_answers(points, **kwargs)
    if answers is None:
        return "frontier: not measured"
    size = {k: f"{answers[k][1]:,} params" if answers[k] else f"none up to {answers['largest']:,} params"
            for k in ("mean", "every")}
    return (f"frontier over {kwargs.get('seeds', 5)} seeds: smallest with mean ≥ {TARGET}%: {size['mean']}; "
            f"smallest with every seed ≥ {TARGET}%: {size['every']}")


def frontier_epochs_text(points: dict[tuple[str, int, int], list[dict]], references: list[dict], *,
                         short: int = 15, long: int = 30) -> str:
    """The frontier's second axis: each size trained `long` epochs beside the same size at `short`, paired over the
    seeds both ran (the lowest of the last `LAST` epochs), graded by `mnistkit.stats`; then which public figures
    trained longer than `short` epochs, or do not say. "" when no size was trained `long` epochs."""
    sentences = []
    for (family, params, epochs), runs in points.items():
        if epochs != long or (family, params, short) not in points:
            continue
        before = {r["seed"]: lowest(r) for r in points[(family, params, short)]}
        after = {r["seed"]: lowest(r) for r in runs}
        seeds = sorted(set(before) & set(after))
        if len(seeds) < 2:
            sentences.append(f"{family} at {params:,} parameters has {plural(len(seeds), 'seed')} at both {short} and "
                             f"{long} epochs: too few to compare.")
            continue
        at_short = summarize([before[s] for s in seeds], TARGET)
        at_long = summarize([after[s] for s in seeds], TARGET)
        diff = paired([before[s] for s in seeds], [after[s] for s in seeds])
        sentences.append(
            f"{family} at {params:,} parameters, {long} epochs against {short} (the recipe otherwise the same, its "
            f"annealing stretched in proportion): {at_long.text()} against {at_short.text()}; {long} − {short} epochs is "
            f"{diff.text()}; {at_long.holding} of {at_long.n} seeds hold ≥ {TARGET}% at {long} epochs, "
            f"{at_short.holding} of {at_short.n} at {short}.")
    if not sentences:
        return ""
    longer = [r for r in references if r.get("epochs") and r["epochs"] > short]
    unstated = [r for r in references if not r.get("epochs")]
    if longer:
        sentences.append(f"Public figures trained longer than our {short} epochs: " + "; ".join(
            f"{r['params']:,} parameters, {r['value']:.2f}% ({r['protocol']})" for r in longer) + ".")
    if unstated:
        sentences.append("Public figures that do not state their epochs: " + "; ".join(
            f"{r['params']:,} parameters, {r['value']:.2f}% ({r['protocol']})" for r in unstated) + ".")
    return " ".join(sentences)


def frontier_references() -> list[dict]:
    """The public points of the frontier figure, each with its source and protocol (`writeups/references.json`)."""
    return json.loads(REFERENCES.read_text())["frontier"]


REFERENCE_MARKERS = {"best epoch, picked on the test set": "v", "claimed, its run not published": "x",
                     "fixed epochs, lowest of the last 3": "s", "one checkpoint, how chosen not stated": "D"}


def plot_frontier(points: dict[tuple[str, int, int], list[dict]], references: list[dict], title: str = ""):
    """Parameters (log) against the lowest of the last `LAST` epochs: every seed a dot, each size's mean ± std,
    the 99.4% line, and the public figures as published, marked by their protocol (hollow: not comparable one to
    one with ours, which are five seeds each at a fixed epoch, never picked on the test set)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5.5))
    for family, color in (("SeparableNet", "C0"), ("SmallNet", "C2")):
        for epochs, style in ((15, "-o"), (30, "--s")):
            keys = [k for k in points if k[0] == family and k[2] == epochs]
            if not keys:
                continue
            means = [summarize([lowest(r) for r in points[k]]) for k in keys]
            ax.errorbar([k[1] for k in keys], [m.mean for m in means], yerr=[m.std for m in means], fmt=style,
                        color=color, capsize=3, ms=6,
                        label=f"ours: {family}, {epochs} epochs, mean ± std over seeds")
            for k in keys:
                ax.scatter([k[1]] * len(points[k]), [lowest(r) for r in points[k]], s=12, color=color, alpha=0.35,
                           zorder=3)
    for kind, marker in REFERENCE_MARKERS.items():
        chosen = [r for r in references if r["kind"] == kind]
        if chosen:
            hollow = {"facecolors": "none", "edgecolors": "C3"} if marker != "x" else {"color": "C3"}
            ax.scatter([r["params"] for r in chosen], [r["value"] for r in chosen], marker=marker, s=60,
                       label=f"public: {kind}", **hollow)
            for r in chosen:
                ax.annotate(f"{r['params']:,}: {r['value']:.2f}%", (r["params"], r["value"]), textcoords="offset points",
                            xytext=(6, 4), fontsize=7, color="C3")
    ax.axhline(TARGET, color="grey", ls=":", lw=1, label=f"{TARGET}%")
    ax.set_xscale("log")
    ax.set(xlabel="parameters (log scale)", ylabel=f"test accuracy %: ours, the lowest of the last {LAST} epochs",
           title=title or "How small can it go: our runs beside the public figures as published")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
