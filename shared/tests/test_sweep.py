"""The sweep command: grid parsing, point names, and a real two-point sweep of a tiny notebook."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mnistkit.paths import OUTPUTS_ENV
from mnistkit.sweep import grid_points, main, parse_axes, point_name, update_readme_sweep


def test_grid_and_random_sample():
    axes = parse_axes(["lr=0.001,0.003", "depth=2,4", "patch=4,7"])
    assert axes == {"lr": [0.001, 0.003], "depth": [2, 4], "patch": [4, 7]}
    points = grid_points(axes)
    assert len(points) == 8 and {"lr": 0.003, "depth": 4, "patch": 7} in points
    sample = grid_points(axes, sample=3, seed=1)
    assert len(sample) == 3 and sample == grid_points(axes, sample=3, seed=1) and all(p in points for p in sample)


@pytest.mark.parametrize("spec", ["lr", "lr=", "=1,2"])
def test_bad_axis_is_named(spec):
    with pytest.raises(ValueError, match="expected NAME=V1,V2"):
        parse_axes([spec])


def test_point_names_are_safe_folder_names():
    assert point_name({"lr": 0.001, "depth": 2, "mode": "a/b"}) == "depth=2_lr=0.001_mode=a-b"


def toy_notebook(path):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = new_code_cell("lr = 0.1\ndepth = 1\nprofile = 'quick'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(
        "from mnistkit.metrics import run_record, save_metrics\nfrom mnistkit.paths import chapter_dir\n"
        "assert depth != 3, 'depth 3 fails on purpose'\n"
        "save_metrics(chapter_dir('99_toy', profile), '99_toy', "
        "[run_record('toy', depth * 10, [{'epoch': 1, 'test_acc': 90 + lr * depth, 'seconds': 0.5}])])")]
    nbformat.write(nb, path)


def test_sweep_runs_points_in_parallel_and_writes_a_generated_table(tmp_path, monkeypatch):
    monkeypatch.setenv(OUTPUTS_ENV, str(tmp_path / "out"))
    book = tmp_path / "99_toy.ipynb"
    toy_notebook(book)
    code = main([str(book), "--name", "toy", "--grid", "lr=0.5,1.5", "depth=1,3", "--jobs", "2", "--profile", "quick"])
    assert code == 1  # the two depth-3 points fail on purpose; the others still run
    sweep = tmp_path / "out" / "sweeps" / "toy"
    manifest = json.loads((sweep / "sweep.json").read_text())
    assert sorted(e["status"] for e in manifest["points"]) == ["failed", "failed", "ok", "ok"]
    assert (sweep / "depth=1_lr=1.5" / "99_toy" / "metrics.json").exists()
    assert (sweep / "depth=3_lr=0.5" / "99_toy.failed.ipynb").exists()
    table = (sweep / "RESULTS.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "status" not in line]
    assert rows[0].startswith("| 1.5 | 1 | ok | 10 | 91.50") and rows[1].startswith("| 0.5 | 1 | ok | 10 | 90.50")
    assert "`depth=3_lr=0.5`: PapermillExecutionError: AssertionError: depth 3 fails on purpose" in table and (sweep / "sweep.png").exists()

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- sweep:start -->\nold\n<!-- sweep:end -->\nrest\n")
    assert update_readme_sweep(readme, sweep)
    text = readme.read_text()
    assert "old" not in text and "| 1.5 | 1 | ok |" in text and text.endswith("<!-- sweep:end -->\nrest\n")


def test_report_only_needs_an_existing_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(OUTPUTS_ENV, str(tmp_path))
    with pytest.raises(SystemExit):
        main(["--name", "nothing-here", "--report-only"])
    assert "no sweep named 'nothing-here'" in capsys.readouterr().err


def test_a_list_valued_axis_is_drawn(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from mnistkit.sweep import sweep_figure

    rows = [{"separable_widths": [8], "seed": 1, "final_test_acc": 98.7},
            {"separable_widths": [12], "seed": 1, "final_test_acc": 99.0}]
    fig = sweep_figure(rows, ["separable_widths", "seed"], "06-frontier")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["[12]", "[8]"]


def test_a_sweep_point_gives_its_chapter_its_threads_as_workers(monkeypatch, tmp_path):
    """A point's kernel inherits the job's threads, and a chapter's side-by-side runs split no further."""
    import os

    from mnistkit import course, sweep

    seen = {}
    monkeypatch.setattr(course, "run_notebook", lambda source, out, parameters: seen.update(
        {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "MNIST_COURSE_WORKERS")}) or 1.0)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MNIST_COURSE_WORKERS", "MNIST_COURSE_OUTPUTS"):
        monkeypatch.setenv(var, os.environ.get(var, "2"))  # restored after the test
    sweep.run_point(str(tmp_path / "05_strided_convs.ipynb"), str(tmp_path / "point"), {"seed": 2}, threads=1)
    assert seen == {"OMP_NUM_THREADS": "1", "MNIST_COURSE_WORKERS": "1"}
