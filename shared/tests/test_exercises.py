"""The exercise solutions' helpers: a chapter's own definitions, chapter variants kept out of outputs/."""
import inspect

import nbformat
import pytest

from mnistkit.exercises import (
    EXERCISES_ROOT,
    chapter_code,
    chapter_defaults,
    chapter_parameters,
    chapter_path,
    run_chapter,
)
from mnistkit.paths import REPO_ROOT


def test_chapter_code_is_the_chapters_own_cell():
    net = chapter_code("07_positional_encoding").PatchAttentionNet
    cells = [c.source for c in nbformat.read(chapter_path("07_positional_encoding"), as_version=4).cells
             if c.cell_type == "code"]
    assert any(inspect.getsource(net).strip() in cell for cell in cells)
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
