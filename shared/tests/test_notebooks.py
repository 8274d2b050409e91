"""The notebooks themselves: tidy sources, papermill parameters, and bad values stopped with clear messages."""
import importlib.util
import json
import re
import subprocess
import sys

import nbformat
import papermill as pm
import pytest

from mnistkit.paths import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_course_has_its_chapters():
    assert [p.stem[:2] for p in NOTEBOOKS][:5] == ["00", "01", "02", "03", "04"]


def test_sources_are_stripped_except_nbval_checked_cells():
    result = subprocess.run([sys.executable, str(REPO_ROOT / "ci" / "refresh_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_tidiness_check_finds_cells_without_a_unique_id():
    """CI's browser check failed once on two new cells without ids (JupyterLab adds them on save, so the saved
    notebook differed from git's); `refresh_notebooks.py --check`, which make test runs, now finds them first."""
    spec = importlib.util.spec_from_file_location("refresh_notebooks", REPO_ROOT / "ci" / "refresh_notebooks.py")
    refresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(refresh)
    cells = [{"cell_type": "markdown", "id": "a1", "metadata": {}, "source": "x"},
             {"cell_type": "markdown", "metadata": {}, "source": "y"},
             {"cell_type": "markdown", "id": "a1", "metadata": {}, "source": "z"}]
    assert refresh.id_problems(json.dumps({"cells": cells})) == ["cell 1 has no id", "cell id 'a1' is used 2 times"]
    assert refresh.id_problems(json.dumps({"cells": cells[:2] + [{**cells[2], "id": "b2"}]})) == ["cell 1 has no id"]


def test_every_chapter_stops_with_the_install_command_when_mnistkit_is_missing(monkeypatch):
    """Issue 35: opened outside a clone (Colab), a chapter's first code cell says how to install the helper instead of
    failing on an ImportError somewhere in its imports."""
    guards = {path.stem: next(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
              for path in NOTEBOOKS}
    assert len(set(guards.values())) == 1, "every chapter starts with the same guard cell"
    guard = guards[NOTEBOOKS[0].stem]
    exec(guard, {})  # installed: nothing happens
    monkeypatch.setitem(sys.modules, "mnistkit", None)  # what `import mnistkit` meets without the package
    with pytest.raises(SystemExit) as stopped:
        exec(guard, {})
    message = str(stopped.value)
    assert "not installed" in message and "pip install ./shared" in message
    assert '%pip install "mnistkit @ git+' in message and '#subdirectory=shared"' in message and "Colab" in message


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_and_chapter_name(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters' (papermill injects after it)"
    params = nb.cells[tagged[0]].source
    assert "profile = default_profile()" in params and 'device = "auto"' in params
    validation = nb.cells[tagged[0] + 1].source
    assert "setup = start(CHAPTER, profile=profile, seed=" in validation or (
        "check_choice(\"profile\"" in validation and "pick_device(device)" in validation)
    setup = "\n".join(c.source for c in nb.cells[: tagged[0]])
    assert f'CHAPTER = "{path.stem}"' in setup


@pytest.mark.parametrize("name,value,message", [
    ("epochs", 0, "parameter epochs=0 is not allowed: expected an integer in [1, 200]"),
    ("data_fraction", 1.5, "parameter data_fraction=1.5 is not allowed: expected a number in (0, 1]"),
    ("device", "tpu", "parameter device='tpu' is not allowed"),
])
def test_bad_papermill_parameter_stops_the_notebook(tmp_path, name, value, message):
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(str(REPO_ROOT / "notebooks" / "04_augmentation.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={name: value, "profile": "quick"}, kernel_name="python3",
                            cwd=str(tmp_path), progress_bar=False)
    assert info.value.ename == "ParameterError" and message in info.value.evalue


@pytest.mark.parametrize("notebook,parameters,message", [
    ("05_strided_convs", {"models": ["model1", "model9"]}, "parameter models[1]='model9' is not allowed: expected one of"),
    ("06_capstone_small", {"candidates": [[8, 8, 12]]}, "parameter candidates[0]=[8, 8, 12] is not allowed: expected 5 widths"),
    ("07_positional_encoding", {"lr_sweep": [0.01, 0.01]}, "parameter lr_sweep=[0.01, 0.01] is not allowed: expected each item once"),
])
def test_list_parameters_are_checked(tmp_path, notebook, parameters, message):
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(str(REPO_ROOT / "notebooks" / f"{notebook}.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={**parameters, "profile": "quick"}, kernel_name="python3",
                            cwd=str(tmp_path), progress_bar=False)
    assert info.value.ename == "ParameterError" and message in info.value.evalue


CHAPTERS = [p for p in NOTEBOOKS if p.stem[:2] != "00"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_ends_with_exercises_whose_solutions_are_a_notebook(path):
    last = nbformat.read(path, as_version=4).cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Exercises")
    exercises = re.findall(r"^\d+\. \*\*(.+?)\*\*", last.source, re.M)
    assert 2 <= len(exercises) <= 4, exercises
    solutions = REPO_ROOT / "notebooks" / "solutions" / f"{path.stem}_solutions.ipynb"
    assert solutions.exists() and f"(solutions/{solutions.name})" in last.source
    answered = [c.source for c in nbformat.read(solutions, as_version=4).cells
                if c.cell_type == "markdown" and c.source.startswith("## Exercise ")]
    assert len(answered) == len(exercises)
    for number, (title, heading) in enumerate(zip(exercises, answered), start=1):
        assert heading.startswith(f"## Exercise {number} · {title.rstrip('.')}")


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "notebooks" / "solutions").glob("*.ipynb")), ids=lambda p: p.stem)
def test_solutions_have_checked_parameters_and_type_no_numbers(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "profile = default_profile()" in nb.cells[tagged[0]].source
    # The check below it is one call of mnistkit.exercises.start (ranges by name from mnistkit.params.RANGES), not a
    # restatement of the ranges: no check of the profile or the epochs of its own.
    check = nb.cells[tagged[0] + 1].source
    assert re.search(r"\bstart\(profile=profile, device=device\b", check), check[:120]
    assert not re.search(r'check_\w+\("(profile|epochs|seeds|data_fraction)"', check), check[:120]
    # The answers are written from the runs: no markdown cell after the parameters states a measured percentage.
    for cell in nb.cells[tagged[0]:]:
        if cell.cell_type == "markdown":
            assert not re.search(r"\d+\.\d+ ?%", cell.source), cell.source[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_executed_notebook_in_outputs_ran_from_the_current_code(path):
    """outputs/<stem>/<stem>.ipynb ran the chapter's code cells as they are now (papermill's injected cell aside).
    After changing a chapter's code, rerun it in full (`python -m mnistkit.course --only NN`)."""
    executed = REPO_ROOT / "outputs" / path.stem / path.name
    if not executed.exists():
        pytest.skip(f"{path.stem} has no full run in outputs/")
    source = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    ran = [c.source for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"
           and "injected-parameters" not in c.metadata.get("tags", [])]
    changed = [i for i, (a, b) in enumerate(zip(source, ran)) if a != b]
    assert len(source) == len(ran) and not changed, f"code cells {changed} differ from outputs/{path.stem}/"


def code_lines(path) -> list[str]:
    """A notebook's code, one stripped line each. Left out, as boilerplate that repeats by nature: blank lines,
    comments, imports, and the papermill protocol's two cells (the `parameters` cell and the check below it,
    which declare and check each chapter's own parameters, so chapters that share hyperparameters repeat them)."""
    cells = nbformat.read(path, as_version=4).cells
    tagged = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    lines = []
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and i not in (tagged, tagged + 1):
            lines += [line.strip() for line in cell.source.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "import ", "from "))]


def shared_runs(a: list[str], b: list[str], length: int) -> list[int]:
    """Start indices in `a` of runs of `length` consecutive lines that also stand, in the same order, in `b`."""
    windows = {tuple(b[i:i + length]) for i in range(len(b) - length + 1)}
    return [i for i in range(len(a) - length + 1) if tuple(a[i:i + length]) in windows]


def test_shared_runs_finds_a_copied_block():
    block = [f"x{i} = {i}" for i in range(8)]
    assert shared_runs(["a = 1"] + block, block + ["b = 2"], 8) == [1]
    assert shared_runs(block[:7], block, 8) == []


def test_no_two_chapters_share_eight_lines_of_code():
    """A model or a helper is written once, where it is taught, and imported after that (issue 14)."""
    code = {path.stem: code_lines(path) for path in NOTEBOOKS}
    copies = [f"{a} line {code[a][runs[0]]!r} ... and {b}" for i, a in enumerate(code) for b in list(code)[i + 1:]
              if (runs := shared_runs(code[a], code[b], 8))]
    assert not copies, copies


# Chapters whose committed full run predates inline figures (issue 30) and has not been rerun since: their executed
# notebooks carry no images and a progress bar's redraws. Strict: a chapter rerun since passes, and must leave this set.
RUN_BEFORE_FIGURES: set[str] = set()  # empty since the 2026-12-02 course run
BRAILLE_FRAMES = {"10_stacked_seq2seq"}  # chapter 10 redraws its braille display of predictions, as the write-up did


def figures_drawn(executed) -> int:
    """How many figures the chapter's run drew, at least: the PNG files it saved beside the notebook (each is a
    figure drawn), or the code cells that end a plot with plt.show(), whichever is more."""
    nb = nbformat.read(executed, as_version=4)
    shown = sum("plt.show()" in c.source for c in nb.cells if c.cell_type == "code")
    return max(shown, len(list(executed.parent.glob("*.png"))))


def images(executed) -> int:
    nb = nbformat.read(executed, as_version=4)
    return sum("image/png" in out.get("data", {}) for c in nb.cells if c.cell_type == "code" for out in c.outputs)


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.xfail(
    p.stem in RUN_BEFORE_FIGURES, strict=True, reason="full run predates inline figures: rerun pending"))
    for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_executed_notebook_shows_its_figures_and_a_line_per_epoch(path):
    """What a reader opens in outputs/ has every figure its run drew, progress at most a line per epoch (no bar
    redraws), and stays under 2 MB (chapter 10's braille frames aside)."""
    executed = REPO_ROOT / "outputs" / path.stem / path.name
    if not executed.exists():
        pytest.skip(f"{path.stem} has no full run in outputs/")
    assert images(executed) >= figures_drawn(executed), f"{images(executed)} images, {figures_drawn(executed)} drawn"
    if path.stem not in BRAILLE_FRAMES:
        nb = nbformat.read(executed, as_version=4)
        redraws = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                   for out in c.outputs if out.output_type == "stream" and "\r" in out.text]
        assert not redraws, f"cells {sorted(set(redraws))} redraw a progress bar"
        assert executed.stat().st_size < 2 * 2 ** 20, f"{executed.stat().st_size:,} bytes"


SWEEP_RUNS = sorted((REPO_ROOT / "outputs" / "sweeps").glob("*/*/*.ipynb"))
# Sweep points whose run predates inline figures (issue 30): chapter 05's seeds 2-5, 50 minutes each to rerun. Strict:
# a point rerun since passes, and must leave this set.
SWEEP_RUN_BEFORE_FIGURES = {f"05-seeds/seed={k}" for k in (2, 3, 4, 5)}


def sweep_point(path) -> str:
    return f"{path.parent.parent.name}/{path.parent.name}"


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.xfail(
    sweep_point(p) in SWEEP_RUN_BEFORE_FIGURES, strict=True, reason="run predates inline figures: rerun pending"))
    for p in SWEEP_RUNS], ids=sweep_point)
def test_a_sweep_point_shows_the_figures_its_run_drew(path):
    """What a sweep point's executed notebook drew is in it, as in the chapters' (the sweep runs through papermill
    with the inline backend). A point's parameters can skip a plotting cell (chapter 10's ablation points train no
    encoder-decoder, so its cross-attention figure is never drawn): the figures it saved beside it count then."""
    saved = len(list((path.parent / path.stem).glob("*.png")))
    drawn = saved or figures_drawn(path)
    assert images(path) >= drawn, f"{images(path)} images, {drawn} drawn"


SOLUTIONS = sorted((REPO_ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))
LONGEST_CELL, LONGEST_ANALYSIS = 40, 10


def analysis_cells(cells) -> list:
    """The code cells under a chapter's "Analysis" heading (until the next heading)."""
    under, found = False, []
    for cell in cells:
        heading = re.match(r"#+\s*(\w+)", cell.source) if cell.cell_type == "markdown" else None
        if heading:
            under = heading.group(1).lower() == "analysis"
        elif under and cell.cell_type == "code":
            found.append(cell)
    return found


@pytest.mark.parametrize("path", NOTEBOOKS + SOLUTIONS, ids=lambda p: p.stem)
def test_the_lesson_is_on_top_no_long_cells_and_a_short_analysis(path):
    """Issue 34/30: no code cell over 40 lines in a chapter or a solution; a chapter's analysis is a short call to
    the helper's tested prose functions (at most 10 lines), not an f-string cell that builds the sentences."""
    cells = nbformat.read(path, as_version=4).cells
    long = [(i, len(c.source.splitlines())) for i, c in enumerate(cells)
            if c.cell_type == "code" and len(c.source.splitlines()) > LONGEST_CELL]
    assert not long, f"code cells over {LONGEST_CELL} lines (cell, lines): {long}"
    if path in NOTEBOOKS:
        analysis = analysis_cells(cells)
        assert analysis, "a chapter ends with an Analysis section"
        assert all(len(c.source.splitlines()) <= LONGEST_ANALYSIS for c in analysis), \
            [len(c.source.splitlines()) for c in analysis]


def test_the_analysis_finder_sees_a_long_analysis_cell():
    cells = [nbformat.v4.new_markdown_cell("## Analysis\nGenerated."), nbformat.v4.new_code_cell("x = 1\n" * 11),
             nbformat.v4.new_markdown_cell("## Exercises"), nbformat.v4.new_code_cell("y = 2")]
    found = analysis_cells(cells)
    assert len(found) == 1 and len(found[0].source.splitlines()) > LONGEST_ANALYSIS
