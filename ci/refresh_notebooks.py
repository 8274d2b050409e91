"""Keep notebooks/ (and notebooks/solutions/) reviewable: sources without outputs, except the cells nbval compares.

    python ci/refresh_notebooks.py          # copy checked-cell outputs from build/quick/outputs/, strip the rest
    python ci/refresh_notebooks.py 05 07    # only the notebooks whose names start with these
    python ci/refresh_notebooks.py --check  # exit 1 if a notebook carries outputs it should not (or lacks them),
                                            # or a cell lacks its id (JupyterLab would add one on save)

Run `python -m mnistkit.course --profile quick` first: the outputs of the cells marked
`# NBVAL_CHECK_OUTPUT` are taken from those executed copies, so nbval compares CI's run with a real run.
"""
import argparse
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
MARK = "# NBVAL_CHECK_OUTPUT"


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(MARK)


def problems(nb) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if not is_checked(cell) and cell.get("execution_count") is not None:
            found.append(f"cell {i} has an execution count")
        if is_checked(cell) and (not cell.outputs or cell.get("execution_count") is None):
            found.append(f"cell {i} is marked for nbval but has no stored output and execution count")
        if not is_checked(cell) and cell.outputs:
            found.append(f"cell {i} stores outputs (only {MARK} cells may)")
    return found


def id_problems(text: str) -> list[str]:
    """Cells without a unique id, read from the file's own JSON: nbformat fills missing ids on read, and
    JupyterLab on save, so a student who opens and saves the notebook would otherwise see a git diff."""
    cells = json.loads(text)["cells"]
    found = [f"cell {i} has no id" for i, cell in enumerate(cells) if not cell.get("id")]
    ids = [cell["id"] for cell in cells if cell.get("id")]
    found += [f"cell id {cid!r} is used {ids.count(cid)} times" for cid in sorted(set(ids)) if ids.count(cid) > 1]
    return found


def refresh(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    outputs = {}
    if any(is_checked(c) for c in nb.cells):  # only chapters have nbval-checked cells; solutions are just stripped
        executed = nbformat.read(ROOT / "build" / "quick" / "outputs" / path.stem / path.name, as_version=4)
        outputs = {c.source: c.outputs for c in executed.cells if is_checked(c)}
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            # nbval skips (and complains about) a stored output whose cell has no execution count.
            count += is_checked(cell)
            cell.execution_count = count if is_checked(cell) else None
            cell.outputs = outputs[cell.source] if is_checked(cell) else []
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    nbformat.write(nb, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("only", nargs="*", help="name prefixes of the notebooks to refresh (default: all)")
    args = parser.parse_args()
    bad = 0
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb")):
        if args.only and not any(path.name.startswith(prefix) for prefix in args.only):
            continue
        if args.check:
            text = path.read_text(encoding="utf-8")
            for p in id_problems(text) + problems(nbformat.reads(text, as_version=4)):
                print(f"{path.name}: {p}")
                bad += 1
        else:
            refresh(path)
            print(f"refreshed {path.name}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
