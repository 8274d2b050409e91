"""ci/refresh_markdown.py: corrected prose reaches the executed notebook only when its code is what ran."""
import importlib.util

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mnistkit.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("refresh_markdown", REPO_ROOT / "ci" / "refresh_markdown.py")
refresh_markdown = importlib.util.module_from_spec(spec)
spec.loader.exec_module(refresh_markdown)


def write(root, stem, markdown, code, outputs=True):
    source = new_notebook(cells=[new_markdown_cell(markdown), new_code_cell(code)])
    (root / "notebooks").mkdir(exist_ok=True)
    nbformat.write(source, str(root / "notebooks" / f"{stem}.ipynb"))
    executed = new_notebook(cells=[new_code_cell("profile = 'full'", metadata={"tags": ["injected-parameters"]}),
                                   new_markdown_cell("old words"), new_code_cell(code)])
    if outputs:
        executed.cells[2].outputs = [new_output("stream", name="stdout", text="99.32\n")]
    (root / "outputs" / stem).mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, str(root / "outputs" / stem / f"{stem}.ipynb"))


def test_new_words_are_carried_and_the_outputs_kept(tmp_path):
    write(tmp_path, "99_x", "new words", "print(99.32)")
    assert refresh_markdown.refresh("99_x", tmp_path) == 1
    executed = nbformat.read(tmp_path / "outputs" / "99_x" / "99_x.ipynb", as_version=4)
    assert executed.cells[1].source == "new words" and executed.cells[2].outputs[0]["text"] == "99.32\n"
    assert refresh_markdown.refresh("99_x", tmp_path) == 0  # nothing left to carry


def test_changed_code_is_refused(tmp_path):
    write(tmp_path, "99_x", "new words", "print(99.32)")
    source = nbformat.read(tmp_path / "notebooks" / "99_x.ipynb", as_version=4)
    source.cells[1].source = "print(99.33)"
    nbformat.write(source, str(tmp_path / "notebooks" / "99_x.ipynb"))
    with pytest.raises(SystemExit, match=r"code cells \[1\] differ from the executed notebook: rerun the chapter"):
        refresh_markdown.refresh("99_x", tmp_path)
