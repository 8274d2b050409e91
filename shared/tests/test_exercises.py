"""The exercise solutions' helpers: a chapter's own definitions, chapter variants kept out of outputs/."""
import pytest

from mnistkit.exercises import (
    EXERCISES_ROOT,
    chapter_code,
    chapter_defaults,
    chapter_parameters,
    run_chapter,
)
from mnistkit.paths import REPO_ROOT


def test_chapter_code_is_the_chapters_own_cell():
    # a module the chapter imports (07's recipes, mnistkit.ch07) comes with the chapter's imports
    assert chapter_code("07_positional_encoding").ch07 is __import__("mnistkit.ch07").ch07
    # a model the chapter imports (01's, from mnistkit.models) comes with the chapter's imports
    assert chapter_code("01_skeleton").Net is __import__("mnistkit.models").models.Net


def test_chapter_code_runs_nothing_but_definitions():
    chapter = chapter_code("11_mlp_int8_qat")
    assert callable(chapter.MLP) and chapter.CHAPTER == "11_mlp_int8_qat"
    assert not hasattr(chapter, "mnist") and not hasattr(chapter, "history")  # no data loaded, nothing trained


@pytest.mark.parametrize("stem,variant,message", [
    ("12_missing", "x", "chapter '12_missing' is not a notebook of the course: expected one of 00_data_tour"),
    ("01_skeleton", "../outputs", "variant '../outputs' is not allowed"),
])
def test_bad_chapter_or_variant_is_refused(stem, variant, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(".", "\\.")):
        run_chapter(stem, variant, profile="quick")


def test_variants_are_written_under_build_not_outputs():
    assert EXERCISES_ROOT == REPO_ROOT / "build" / "exercises"


def test_a_misspelt_parameter_is_refused_before_anything_runs():
    with pytest.raises(ValueError, match="'dropuot' is not a parameter of 01_skeleton: expected one of epochs, "):
        run_chapter("01_skeleton", "typo", dropuot=0.3, profile="quick")
    assert not (EXERCISES_ROOT / "typo").exists()


def test_chapter_defaults_are_the_parameters_cells_literals():
    defaults = chapter_defaults("08_vit")
    assert set(defaults) < set(chapter_parameters("08_vit"))
    assert "profile" not in defaults  # computed by a call: left out
    assert isinstance(defaults["batch_size"], int) and isinstance(defaults["precision"], str)


@pytest.mark.parametrize("asked,runs", [("quick", "tiny"), ("full", "full"), (None, "tiny")])
def test_a_variant_of_a_quick_solution_runs_in_the_tiny_profile(monkeypatch, asked, runs):
    import mnistkit.course

    ran = {}
    monkeypatch.setenv("MNIST_COURSE_PROFILE", "quick")  # what `make test` sets; a solution not naming one inherits it
    monkeypatch.setattr(mnistkit.course, "run_notebook", lambda source, output, parameters, **_: ran.update(parameters))
    profile = {} if asked is None else {"profile": asked}
    assert run_chapter("03_step_lr", "profile-check", step_size=5, **profile) == {}  # nothing ran, no metrics.json
    assert ran == {"step_size": 5, "profile": runs}


def test_a_solution_that_reads_its_chapters_files_runs_on_the_chapters_xdist_worker():
    import importlib.util
    import re

    spec = importlib.util.spec_from_file_location("root_conftest", REPO_ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    notebooks = {p.stem for p in (REPO_ROOT / "notebooks").glob("**/*.ipynb")}
    assert set(root_conftest.UNIT_OF) <= notebooks  # a renamed notebook would leave its group silently
    for path in (REPO_ROOT / "notebooks" / "solutions").glob("*.ipynb"):
        for read in set(re.findall(r'chapter_file\(\\"(\w+)\\"', path.read_text())):
            assert root_conftest.UNIT_OF.get(path.stem) == root_conftest.UNIT_OF.get(read), (path.stem, read)


# `start`: what a solution does below its parameters cell (issue 34: ranges come from mnistkit.params.RANGES).
def test_start_returns_what_the_solutions_built(capsys):
    from mnistkit.exercises import start

    assert start(profile="full", device="cpu", epochs=5) == {"profile": "full", "epochs": 5, "device": "cpu"}
    assert capsys.readouterr().out == "profile full: 5 epochs per run, device cpu\n"
    quick = start(profile="quick", device="cpu", epochs=3, data_fraction=0.5, seeds=[1, 2, 3], batch_sizes=[128, 32])
    assert quick == {"profile": "quick", "epochs": 1, "device": "cpu", "data_fraction": 0.5}
    assert start(profile="full", device="cpu", samples=2000) == {"profile": "full", "device": "cpu"}
    assert capsys.readouterr().out.splitlines()[-1] == "profile full: device cpu"


@pytest.mark.parametrize("params, message", [
    ({"profile": "tiny"}, "profile='tiny' is not allowed: expected one of 'full', 'quick'"),
    ({"epochs": 0}, "epochs=0 is not allowed: expected an integer in [1, 500]"),
    ({"data_fraction": 0}, "data_fraction=0 is not allowed: expected a number in (0, 1]"),
    ({"seeds": [1, -2]}, "seeds[1]=-2 is not allowed: expected an integer >= 0"),
    ({"seeds": []}, "seeds=[] is not allowed: expected a non-empty list"),
    ({"seeds": [1, 1]}, "seeds=[1, 1] is not allowed: expected each item once"),
    ({"batch_sizes": [128, 0]}, "batch_sizes[1]=0 is not allowed: expected an integer in [1, 60000]"),
    ({"dropouts": [0.2, 1.0]}, "dropouts[1]=1.0 is not allowed: expected a number in [0, 0.9]"),
    ({"patiences": [8, 2.5]}, "patiences[1]=2.5 is not allowed: expected an integer"),
    ({"samples": 10}, "samples=10 is not allowed: expected an integer in [50, 10000]"),
    ({"copies": 4}, "copies=4 is not allowed: it has no range in mnistkit.params.RANGES"),
])
def test_start_refuses_a_bad_value_naming_it_and_what_is_allowed(params, message):
    from mnistkit.exercises import start
    from mnistkit.params import ParameterError

    with pytest.raises(ParameterError) as error:
        start(**{"profile": "full", "device": "cpu", "epochs": 5, **params})
    assert message in str(error.value)
