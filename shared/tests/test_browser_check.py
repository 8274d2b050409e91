"""The browser check's verdicts, on pages and notebooks made up to fail (the check itself runs in Chromium)."""
import sys

import nbformat

from mnistkit.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "ci"))
from browser_check import braille_problems, notebook_problems  # noqa: E402


def box(left, top, width=60.0, height=80.0, overflow=False):
    return {"left": left, "top": top, "width": width, "height": height, "overflow": overflow}


def sample(left=0.0, top=0.0):
    return [box(left, top), box(left + 63, top), box(left, top + 83), box(left + 63, top + 83)]


def test_aligned_frame_passes_and_each_misalignment_is_named():
    assert braille_problems({"samples": [sample(), sample(left=140)], "frameOverflow": False}) == []
    drifted = sample()
    drifted[3] = box(66, 83, width=64.0)  # a wider box, as a fallback braille font makes rows wider
    found = braille_problems({"samples": [drifted], "frameOverflow": True})
    assert "digit boxes differ in width: 60.0 to 64.0 px" in found
    assert "sample 0: the two boxes of a column are not aligned" in found
    assert "the frame is wider than the output area" in found
    assert braille_problems(None) == ["no braille frame in the page"]


def test_saved_notebook_with_an_error_or_stderr_or_no_plot_fails(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(1)", execution_count=1, outputs=[
            nbformat.v4.new_output("stream", name="stderr", text="UserWarning: careful\n")]),
        nbformat.v4.new_code_cell("1 / 0", execution_count=2, outputs=[
            nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]),
        nbformat.v4.new_code_cell("never run")])
    nbformat.write(nb, tmp_path / "x.ipynb")
    found, counts = notebook_problems(tmp_path / "x.ipynb")
    assert "cell 1: ZeroDivisionError: division by zero" in found
    assert any(p.startswith("cell 0 writes to stderr") for p in found)
    assert "2 of 3 code cells ran" in found and "no plot is shown" in found
    assert counts == {"cells run": 2, "images": 0, "progress widgets": 0}
