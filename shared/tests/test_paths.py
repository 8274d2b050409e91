"""Repository-relative paths and the README's generated blocks."""
from mnistkit.paths import REPO_ROOT, replace_marked, repo_relative


def test_repo_relative_paths_carry_no_machine_prefix(tmp_path):
    assert repo_relative(REPO_ROOT / "outputs" / "RESULTS.md") == "outputs/RESULTS.md"
    assert repo_relative(tmp_path / "x.ipynb", outside="name") == "x.ipynb"
    assert repo_relative(tmp_path / "x.ipynb") == str(tmp_path / "x.ipynb")


def test_replace_marked_keeps_the_markers_and_the_rest(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- a -->\nold\n<!-- b -->\nrest\n")
    assert replace_marked(readme, "<!-- a -->", "<!-- b -->", "\nnew\n")
    assert readme.read_text() == "intro\n<!-- a -->\nnew\n<!-- b -->\nrest\n"
    assert not replace_marked(readme, "<!-- a -->", "<!-- b -->", "\nnew\n")  # nothing to change
    assert not replace_marked(readme, "<!-- c -->", "<!-- b -->", "\nother\n")  # no such marker: left alone
    assert "other" not in readme.read_text()
