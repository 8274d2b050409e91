"""Carry a chapter's corrected prose into its executed notebook without rerunning it: `python ci/refresh_markdown.py 10_stacked_seq2seq`.

Markdown cells have no outputs: a rerun of a chapter whose code cells are unchanged would reproduce every output and
differ only in the markdown. So when `outputs/<stem>/<stem>.ipynb` ran exactly the code cells the chapter has now
(papermill's injected-parameters cell aside, as `test_executed_notebook_in_outputs_ran_from_the_current_code`
checks), this copies the chapter's markdown cells over the executed notebook's, cell for cell, and writes it
atomically. It refuses when any code cell differs (or the cells do not line up): then the chapter must be rerun.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))
from mnistkit.paths import atomic_path  # noqa: E402


def refresh(stem: str, root: Path = ROOT) -> int:
    """Copy the markdown of notebooks/<stem>.ipynb into outputs/<stem>/<stem>.ipynb; returns how many cells changed."""
    source = nbformat.read(root / "notebooks" / f"{stem}.ipynb", as_version=4)
    path = root / "outputs" / stem / f"{stem}.ipynb"
    executed = nbformat.read(path, as_version=4)
    ran = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    if len(ran) != len(source.cells) or any(a.cell_type != b.cell_type for a, b in zip(source.cells, ran)):
        raise SystemExit(f"{stem}: the executed notebook's cells do not line up with the chapter's: rerun it")
    changed_code = [i for i, (a, b) in enumerate(zip(source.cells, ran)) if a.cell_type == "code" and a.source != b.source]
    if changed_code:
        raise SystemExit(f"{stem}: code cells {changed_code} differ from the executed notebook: rerun the chapter")
    changed = 0
    for a, b in zip(source.cells, ran):
        if a.cell_type == "markdown" and a.source != b.source:
            b.source, changed = a.source, changed + 1
    if changed:
        with atomic_path(path) as tmp:
            nbformat.write(executed, str(tmp))
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stems", nargs="+", help="chapter stems, e.g. 10_stacked_seq2seq")
    for stem in parser.parse_args(argv).stems:
        print(f"{stem}: {refresh(stem)} markdown cell(s) carried into outputs/{stem}/{stem}.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
