"""What the exercise solutions (notebooks/solutions/) build on: a chapter run as a variant, a chapter's own code.

`run_chapter` runs a chapter notebook with papermill parameters, as an instructor makes a variant, into
`build/exercises/<variant>/` (never into outputs/), and returns the runs its metrics.json recorded; a solution run in
the quick profile (`make test`) runs its variants in the tiny one (`VARIANT_PROFILES`). `chapter_code`
gives the classes and functions a chapter defines, read from the chapter's own cells, so a solution uses the very
model the chapter taught instead of a copy of it. `start` is what a solution does below its `parameters` cell: one
call that checks its parameters by name against the course's one table of ranges (`mnistkit.params.RANGES`).
"""
from __future__ import annotations

import ast
import linecache
import logging
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import nbformat

from .chapter import plural
from .metrics import load_metrics
from .params import (
    apply_profile,
    check_choice,
    check_float,
    check_int,
    check_list,
    check_parameter,
    default_profile,
    pick_device,
    range_of,
)
from .paths import OUTPUTS_ENV, REPO_ROOT, environment, outputs_root

NOTEBOOKS = REPO_ROOT / "notebooks"
EXERCISES_ROOT = REPO_ROOT / "build" / "exercises"
# What `chapter_code` keeps of a chapter's cells: imports, definitions and UPPER_CASE constants (CHAPTER = "...",
# 07's table of positional encodings); a constant computed from the chapter's parameters fails and is left out.
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
# The profile a chapter variant runs in, by the profile the solution asks for. In the quick profile a solution only
# checks that its code runs (its numbers answer nothing), and `make test` runs every solution: its variants, a dozen
# chapter runs for chapter 10 alone, run in the tiny profile (1 epoch on 2% of the training images, 5% of the test
# images; `mnistkit.params.PROFILES`), which their run records name. The full profile is left as asked.
VARIANT_PROFILES = {"quick": "tiny"}


def chapter_path(stem: str) -> Path:
    """notebooks/<stem>.ipynb, or a ValueError that lists the chapters."""
    path = NOTEBOOKS / f"{stem}.ipynb"
    if not isinstance(stem, str) or not path.is_file():
        chapters = ", ".join(p.stem for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
        raise ValueError(f"chapter {stem!r} is not a notebook of the course: expected one of {chapters}")
    return path


def _parameters_cell(stem: str) -> list[ast.stmt]:
    """The statements of the chapter's `parameters` cell (the one papermill injects after)."""
    notebook = nbformat.read(chapter_path(stem), as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    return ast.parse(cell.source).body


def chapter_parameters(stem: str) -> list[str]:
    """The names the chapter's `parameters` cell assigns: what papermill may set."""
    return [t.id for node in _parameters_cell(stem) if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


def chapter_defaults(stem: str) -> dict[str, object]:
    """The values the chapter's `parameters` cell gives its parameters, where they are plain literals (numbers,
    strings, lists); a value computed by a call (`profile = default_profile()`) is left out."""
    defaults = {}
    for node in _parameters_cell(stem):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                defaults[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return defaults


def run_chapter(stem: str, variant: str, **parameters) -> dict[str, dict]:
    """Run chapter `stem` with papermill `parameters` (its outputs, metrics and figures go to
    build/exercises/<variant>/<stem>/); returns the runs of its metrics.json by name ({} if it saves none). The
    profile (given, else $MNIST_COURSE_PROFILE) becomes the one VARIANT_PROFILES names for it: quick runs tiny."""
    profile = parameters.get("profile", default_profile())
    return _run_variant(stem, variant, {**parameters, "profile": VARIANT_PROFILES.get(profile, profile)})


def _run_variant(stem: str, variant: str, parameters: dict) -> dict[str, dict]:
    """`run_chapter` with `parameters` as given (its profile too)."""
    from .course import run_notebook

    source = chapter_path(stem)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", variant):
        raise ValueError(f"variant {variant!r} is not allowed: expected letters, digits, '_', '-' or '.'")
    known = chapter_parameters(stem)
    for name in parameters:  # papermill would inject a misspelt name, and the chapter would ignore it
        if name not in known:
            raise ValueError(f"{name!r} is not a parameter of {stem}: expected one of {', '.join(known)}")
    root = EXERCISES_ROOT / variant
    shutil.rmtree(root / stem, ignore_errors=True)  # never read a previous run's metrics
    # The chapter's kernel inherits the environment: its outputs go under root. Papermill's own warnings (it cannot
    # read a parameters line whose comment holds an "="; a name it did not infer) would land in a stderr box; the
    # names were checked above, and the chapter checks the values.
    papermill_log = logging.getLogger("papermill")
    level = papermill_log.level
    papermill_log.setLevel(logging.ERROR)
    try:
        with environment(**{OUTPUTS_ENV: str(root)}):
            run_notebook(source, root / stem / source.name, parameters, progress_bar=False)
    finally:
        papermill_log.setLevel(level)
    metrics = root / stem / "metrics.json"
    return {run["name"]: run for run in load_metrics(metrics)["runs"]} if metrics.exists() else {}


def chapter_code(stem: str) -> ModuleType:
    """A module made of the imports, functions, classes and UPPER_CASE constants of a chapter's code cells (nothing
    is trained or loaded); e.g. `chapter_code("01_skeleton").Net`. `inspect.getsource` shows the chapter's text. A
    definition that needs the chapter's own run (a value or default argument computed from its parameters, which
    raises NameError here) is left out."""
    from IPython.core.inputtransformer2 import TransformerManager

    notebook = nbformat.read(chapter_path(stem), as_version=4)
    to_python = TransformerManager().transform_cell  # %magics and !commands become plain Python calls
    segments = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        source = to_python(cell.source)
        lines = source.splitlines()
        for node in ast.parse(source).body:
            constant = isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id.isupper()
                                                            for t in node.targets)
            if isinstance(node, DEFINITIONS) or constant:
                first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
                segments.append("\n".join(lines[first - 1:node.end_lineno]))
    text = "\n\n\n".join(segments) + "\n"
    filename = f"<chapter {stem}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)  # for inspect.getsource
    module = ModuleType(f"chapter_{stem.replace('-', '_')}", f"The definitions of notebooks/{stem}.ipynb.")
    module.__file__ = filename
    sys.modules[module.__name__] = module
    for node in ast.parse(text, filename).body:
        try:
            exec(compile(ast.Module(body=[node], type_ignores=[]), filename, "exec"), module.__dict__)
        except NameError:  # e.g. 07's `SEED = seeds[0]`, and `seed: int = SEED` after it
            continue
    return module


def chapter_file(stem: str, filename: str, profile: str, **parameters) -> Path:
    """A file chapter `stem` writes (checkpoint, exported weights, metrics.json): the course run's, in the profile's
    outputs folder, when it is there; else the chapter is run now in that profile (with `parameters`) into
    build/exercises/<stem>-<profile>/ and that run's file is returned."""
    path = outputs_root(profile) / stem / filename
    if path.exists():
        return path
    variant = f"{stem}-{profile}"
    _run_variant(stem, variant, {**parameters, "profile": profile})  # the profile asked for: files a chapter reads
    path = EXERCISES_ROOT / variant / stem / filename
    if not path.exists():
        raise FileNotFoundError(f"chapter {stem} ran but wrote no {filename} (in {path.parent})")
    return path


# The profiles a solution runs in: "full" answers its exercises, "quick" (`make test`) checks that its code runs.
SOLUTION_PROFILES = ("full", "quick")


def check_solution_parameter(name: str, value):
    """One parameter of a solution, by name, against the course's one table of ranges (`mnistkit.params.RANGES`).

    The rule for lists: a list or tuple whose name ends in "s" (`seeds`, `batch_sizes`, `dropouts`, `step_sizes`,
    `patiences`) is a non-empty list of distinct items, each checked as the name without that "s": `seeds[i]` as a
    seed (an integer >= 0, as `mnistkit.chapter.start` checks `seed`), `batch_sizes[i]` with batch_size's range.
    `seed` is checked the same way; any other name takes its range from RANGES (`check_parameter`), and a name with
    no range there is refused: a solution checks such a parameter itself, next to the call."""
    if isinstance(value, (list, tuple)) and name.endswith("s"):
        item = name[:-1]
        return check_list(name, value, lambda n, v: check_solution_parameter_item(item, n, v))
    return check_solution_parameter_item(name, name, value)


def check_solution_parameter_item(range_name: str, name: str, value):
    """`value` (called `name` in messages) against the range of `range_name`; a seed is an integer >= 0."""
    if range_name == "seed":
        return check_int(name, value, low=0)
    known = range_of(range_name)
    if known is None:
        return check_parameter(name, value)  # refused, naming the value: the name has no range in RANGES
    kind, low, high, low_open = known
    if kind == "int":
        return check_int(name, value, low=low, high=high)
    return check_float(name, value, low=low, high=high, low_open=low_open)


def start(*, profile: str, device: str = "auto", epochs: int | None = None, data_fraction: float | None = None,
          **params) -> dict:
    """What a solution does below its `parameters` cell, in one call: checks the profile (one of
    SOLUTION_PROFILES), epochs and every other parameter by name (`check_solution_parameter`), data_fraction in (0, 1],
    picks the device, caps epochs by the profile (quick: 1 epoch; `apply_profile`), prints one line, and returns
    what every chapter variant of the solution shares: {"profile", "epochs" (when given), "device" (its name, e.g.
    "cpu"), "data_fraction" (when given, as given: the chapter applies the profile to it)}. A solution's own
    special cases (fewer seeds in the quick profile, choices that are not ranges) stay in its cell, after the call."""
    check_choice("profile", profile, list(SOLUTION_PROFILES))
    if epochs is not None:
        check_solution_parameter("epochs", epochs)
    if data_fraction is not None:
        check_float("data_fraction", data_fraction, low=0, high=1, low_open=True)
    for name, value in params.items():
        check_solution_parameter(name, value)
    picked = pick_device(device)
    chapter = {"profile": profile}
    if epochs is not None:
        chapter["epochs"] = apply_profile(profile, epochs=epochs)["epochs"]  # the quick profile trains 1 epoch
    chapter["device"] = str(picked)
    if data_fraction is not None:
        chapter["data_fraction"] = data_fraction
    trained = f"{plural(chapter['epochs'], 'epoch')} per run, " if epochs is not None else ""
    print(f"profile {profile}: {trained}device {picked}")
    return chapter
