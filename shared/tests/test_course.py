"""The course runner: chapter selection and machine-independent metadata in executed notebooks."""
import nbformat
import pytest

from mnistkit.course import READS, course_notebooks, course_order, record_relative_paths
from mnistkit.paths import REPO_ROOT


def test_selects_chapters_by_prefix():
    assert [p.stem[:2] for p in course_notebooks(["00", "04"])] == ["00", "04"]
    with pytest.raises(SystemExit, match="matches no notebook"):
        course_notebooks(["99"])


def test_a_chapter_runs_after_the_chapters_it_reads():
    stems = [p.stem for p in course_notebooks()]
    for reader, sources in READS.items():
        assert all(stems.index(source) < stems.index(reader) for source in sources), stems
    assert course_order(["10_b", "09_vit_visualised", "08_vit", "11_c"]) == ["08_vit", "09_vit_visualised", "10_b", "11_c"]
    assert course_order(["09_vit_visualised", "08_vit", "10_stacked_seq2seq", "11_c"]) == [
        "08_vit", "10_stacked_seq2seq", "09_vit_visualised", "11_c"]


def test_executed_notebook_records_repo_relative_paths(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"input_path": "/abs/somewhere/in.ipynb", "output_path": "/abs/tmp/.x.tmp.ipynb"}
    warning = f"{REPO_ROOT}/.venv/lib/site-packages/torch/x.py:72: UserWarning: old API\n"
    nb.cells.append(nbformat.v4.new_code_cell("f()", outputs=[nbformat.v4.new_output("stream", name="stderr", text=warning)]))
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    record_relative_paths(path, REPO_ROOT / "notebooks" / "04_augmentation.ipynb",
                          REPO_ROOT / "outputs" / "04_augmentation" / "04_augmentation.ipynb")
    executed = nbformat.read(path, as_version=4)
    assert executed.cells[0].outputs[0]["text"] == ".venv/lib/site-packages/torch/x.py:72: UserWarning: old API\n"
    meta = executed.metadata["papermill"]
    assert meta == {"input_path": "notebooks/04_augmentation.ipynb",
                    "output_path": "outputs/04_augmentation/04_augmentation.ipynb"}
