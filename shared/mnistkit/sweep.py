"""Parameter sweeps without accounts: papermill over a grid (or a random sample), several processes at once.

    python -m mnistkit.sweep notebooks/08_vit.ipynb --name vit-small \\
        --grid lr=0.001,0.003 depth=2,4 patch=4,7 -p epochs 3 --jobs 2

Each point runs the notebook with its parameters into `outputs/sweeps/<name>/<point>/<stem>.ipynb`; the
notebook's own outputs (metrics.json, figures) land beside it, because the sweep points
$MNIST_COURSE_OUTPUTS at that folder. When every point has run, `outputs/sweeps/<name>/RESULTS.md` (a table
read from the points' metrics.json files) and `sweep.png` (one panel per swept parameter: the score of every
point against that parameter's value) are generated. A point that fails keeps its partly executed notebook as
`<stem>.failed.ipynb` and shows as failed in the table; the others still run.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .metrics import load_metrics, markdown_table
from .params import default_profile, parse_value
from .paths import OUTPUTS_ENV, REPO_ROOT, outputs_root, replace_marked, shown, write_json, write_text


def parse_axes(specs: list[str]) -> dict[str, list]:
    """['lr=0.001,0.003', 'depth=2,4'] -> {'lr': [0.001, 0.003], 'depth': [2, 4]}, with clear errors."""
    axes = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ValueError(f"grid axis {spec!r} is not allowed: expected NAME=V1,V2,... (e.g. lr=0.001,0.003)")
        if name in axes:
            raise ValueError(f"grid axis {name!r} is given twice")
        axes[name.strip()] = [parse_value(v) for v in values.split(",") if v.strip()]
    return axes


def grid_points(axes: dict[str, list], sample: int | None = None, seed: int = 0) -> list[dict]:
    """Every combination of the axes' values, or `sample` of them drawn without replacement (seeded)."""
    points = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    if sample is not None:
        if sample < 1:
            raise ValueError(f"--random {sample} is not allowed: expected a positive number of points")
        points = random.Random(seed).sample(points, min(sample, len(points)))
    return points


def point_name(point: dict) -> str:
    """A folder name for a point: 'depth=2_lr=0.001_patch=4' (keys sorted, safe characters only)."""
    def safe(value) -> str:
        return "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in str(value))
    return "_".join(f"{safe(k)}={safe(point[k])}" for k in sorted(point))


def run_point(notebook: str, folder: str, parameters: dict, threads: int) -> dict:
    """Execute one point (in a worker process); returns its status for the table."""
    from .course import run_notebook

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[OUTPUTS_ENV] = str(folder)  # the notebook's chapter_dir() now resolves inside this point's folder
    # The kernel inherits these: the jobs share the cores instead of fighting, and a chapter that trains its runs
    # side by side (mnistkit.parallel) splits no further than its job's threads.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MNIST_COURSE_WORKERS"):
        os.environ[var] = str(threads)
    source = Path(notebook)
    try:
        seconds = run_notebook(source, folder / source.name, parameters)
        return {"status": "ok", "seconds": seconds}
    except Exception as exc:  # the failed notebook is kept beside; the sweep goes on
        return {"status": "failed", "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:200]}"}


def point_scores(folder: Path, run: str | None = None) -> list[dict]:
    """Final and best test accuracy, epochs and s/epoch of each run the point saved (or of the one named); [] when
    it saved none."""
    paths = sorted(folder.glob("*/metrics.json"))
    if not paths:
        return []
    runs = [r for r in load_metrics(paths[0])["runs"] if run is None or r["name"] == run]
    return [{"run": r["name"], "params": r["params"], "final_test_acc": r["epochs"][-1]["test_acc"],
             "best_test_acc": max(e["test_acc"] for e in r["epochs"]), "epochs": len(r["epochs"]),
             "seconds_per_epoch": sum(e["seconds"] for e in r["epochs"]) / len(r["epochs"])} for r in runs]


def sweep_table(sweep_dir: Path, run: str | None = None) -> tuple[str, list[dict]]:
    """The sweep's RESULTS table (markdown) and its rows, read from sweep.json and the points' metrics: a row per
    run a point saved (a notebook that trains several designs saves several), with a "run" column where any point
    saved more than one."""
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    axes = list(manifest["axes"])
    rows = []
    for entry in manifest["points"]:
        scores = point_scores(sweep_dir / entry["folder"], run) if entry.get("status") == "ok" else []
        rows += [{**entry["parameters"], "status": entry.get("status", "not run"), **score,
                  "folder": entry["folder"], "error": entry.get("error", "")} for score in scores or [{}]]
    rows.sort(key=lambda r: -r.get("final_test_acc", -1))
    named = len(rows) > len(manifest["points"])  # some point saved several runs: say which row is which
    header = axes + ["run"] * named + ["status", "params", "final test %", "best test %", "epochs", "s / epoch"]
    table = markdown_table(header, [[f"{r[a]:g}" if isinstance(r[a], float) else str(r[a]) for a in axes]
                                    + [r.get("run", "")] * named
                                    + [r["status"], r.get("params"), r.get("final_test_acc"),
                                    r.get("best_test_acc"), r.get("epochs"), r.get("seconds_per_epoch")] for r in rows])
    return table, rows


def sweep_figure(rows: list[dict], axes: list[str], title: str):
    """One panel per swept parameter: each point's final test accuracy against that parameter's value."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if "final_test_acc" in r]
    fig, panels = plt.subplots(1, len(axes), figsize=(4.2 * len(axes), 3.8), sharey=True, squeeze=False)
    def value(v):  # a list-valued axis (separable_widths=[8]) by its text: lists are not set members
        return json.dumps(v) if isinstance(v, (list, dict)) else v

    for ax, name in zip(panels[0], axes):
        values = sorted({value(r[name]) for r in done}, key=lambda v: (isinstance(v, str), v))
        position = {v: i for i, v in enumerate(values)}
        ax.scatter([position[value(r[name])] for r in done], [r["final_test_acc"] for r in done], alpha=0.8)
        ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set(xlabel=name, title=f"by {name}")
        ax.grid(alpha=0.3)
    panels[0][0].set_ylabel("final test accuracy %")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def write_sweep_report(sweep_dir: Path, run: str | None = None) -> Path:
    from .plots import save_figure

    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    table, rows = sweep_table(sweep_dir, run)
    lines = [f"# Sweep `{manifest['name']}`", "",
             "Generated by `python -m mnistkit.sweep` from the points' `metrics.json`; do not edit by hand.",
             f"Notebook `{manifest['notebook']}`, fixed parameters `{manifest['fixed']}`, "
             f"{len(manifest['points'])} points, best first.", "", table, ""]
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        lines += ["Failed points:", ""] + [f"- `{r['folder']}`: {r['error']}" for r in failed] + [""]
    if any("final_test_acc" in r for r in rows):
        save_figure(sweep_figure(rows, list(manifest["axes"]), f"sweep {manifest['name']}"), sweep_dir / "sweep.png")
        lines += ["![sweep](sweep.png)", ""]
    return write_text(sweep_dir / "RESULTS.md", "\n".join(lines))


README_START, README_END = "<!-- sweep:start -->", "<!-- sweep:end -->"


def update_readme_sweep(readme: Path, sweep_dir: Path, run: str | None = None) -> bool:
    """Put the sweep's generated table (and a link to its folder) between the README's sweep markers."""
    table, _ = sweep_table(sweep_dir, run)
    where = shown(sweep_dir)
    body = "\n".join([f"  Last documented sweep, generated from [`{where}/`]({where}/RESULTS.md) "
                      "(the executed notebook of every point is there, and `sweep.png`):", "",
                      *("  " + line for line in table.splitlines())])
    return replace_marked(readme, README_START, README_END, f"\n{body}\n  ")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", nargs="?", help="the notebook to sweep, e.g. notebooks/08_vit.ipynb")
    parser.add_argument("--name", required=True, help="the sweep's folder under outputs/sweeps/")
    parser.add_argument("--grid", nargs="+", metavar="NAME=V1,V2", help="axes of the grid")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: regenerate RESULTS.md and sweep.png (and the README with --readme) of a past sweep")
    parser.add_argument("--random", type=int, metavar="N", help="run N points drawn at random from the grid")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --random draw")
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter fixed for every point")
    parser.add_argument("--profile", default=default_profile())
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="points run at once (default: half the cores, one thread each at least)")
    parser.add_argument("--threads", type=int, help="CPU threads per point (default: the cores shared among the jobs)")
    parser.add_argument("--run", help="which run of the notebook's metrics.json to score (default: its first)")
    parser.add_argument("--readme", action="store_true", help="also put the table into README.md (sweep markers)")
    args = parser.parse_args(argv)

    if args.report_only:
        sweep_dir = outputs_root(args.profile) / "sweeps" / args.name
        if not (sweep_dir / "sweep.json").exists():
            parser.error(f"no sweep named {args.name!r}: {shown(sweep_dir / 'sweep.json')} does not exist")
        print(f"wrote {shown(write_sweep_report(sweep_dir, args.run))}")
        if args.readme and update_readme_sweep(REPO_ROOT / "README.md", sweep_dir, args.run):
            print("updated README.md")
        return 0
    if not args.notebook or not args.grid:
        parser.error("a notebook and --grid are needed (or --report-only)")
    notebook = Path(args.notebook).resolve()
    if not notebook.exists():
        parser.error(f"notebook {args.notebook!r} does not exist")
    try:
        axes = parse_axes(args.grid)
        points = grid_points(axes, args.random, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs} is not allowed: expected at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads {args.threads} is not allowed: expected at least 1")
    fixed = {"profile": args.profile, **{k: parse_value(v) for k, v in args.param}}
    sweep_dir = outputs_root(args.profile) / "sweeps" / args.name
    sweep_dir.mkdir(parents=True, exist_ok=True)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    entries = [{"parameters": p, "folder": point_name(p)} for p in points]
    manifest = {"name": args.name, "notebook": shown(notebook), "axes": axes, "fixed": fixed, "points": entries}
    write_json(sweep_dir / "sweep.json", manifest)
    print(f"sweep {args.name}: {len(points)} points of {shown(notebook)}, {args.jobs} at a time "
          f"({threads} thread(s) each), into {shown(sweep_dir)}/", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_point, str(notebook), str(sweep_dir / e["folder"]), {**fixed, **e["parameters"]},
                               threads): e for e in entries}
        for i, future in enumerate(as_completed(futures), start=1):
            entry = futures[future]
            entry.update(future.result())
            print(f"[{i}/{len(entries)}] {entry['folder']}: {entry['status']}"
                  + (f" in {entry['seconds'] / 60:.1f} min" if "seconds" in entry else f" ({entry.get('error')})"), flush=True)
            write_json(sweep_dir / "sweep.json", manifest)  # progress survives an interruption
    report = write_sweep_report(sweep_dir, args.run)
    print(f"wrote {shown(report)}")
    if args.readme and update_readme_sweep(REPO_ROOT / "README.md", sweep_dir, args.run):
        print("updated README.md")
    return 0 if all(e["status"] == "ok" for e in entries) else 1


if __name__ == "__main__":
    sys.exit(main())
