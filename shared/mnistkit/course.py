"""Run the course's notebooks with papermill: `python -m mnistkit.course [--profile quick] [--only 03 04]`.

Each notebook `notebooks/NN_name.ipynb` is executed into
`<outputs>/NN_name/NN_name.ipynb` (written to a temporary file and renamed
when the run succeeds, so an interrupted run leaves no half-executed copy).
Stops at the first failure, then regenerates `<outputs>/RESULTS.md`.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .paths import REPO_ROOT, atomic_path, outputs_root
from .report import write_reports

NOTEBOOKS = REPO_ROOT / "notebooks"


def course_notebooks(only: list[str] | None = None) -> list[Path]:
    books = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        books = [p for p in books if any(p.stem.startswith(o) for o in only)]
        if not books:
            raise SystemExit(f"--only {' '.join(only)} matches no notebook in {NOTEBOOKS}")
    return books


def _relative(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else path.name


def record_relative_paths(executed: Path, source: Path, output: Path) -> None:
    """Keep machine paths out of outputs/: papermill's input/output paths, and any path under the repo
    that a cell printed (a library warning names its file, e.g. inside .venv/), become repo-relative."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    meta = nb.metadata.get("papermill", {})
    meta["input_path"], meta["output_path"] = _relative(source), _relative(output)
    prefix = str(REPO_ROOT.resolve()) + os.sep
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = out["text"].replace(prefix, "")
            if "traceback" in out:
                out["traceback"] = [line.replace(prefix, "") for line in out["traceback"]]
    nbformat.write(nb, executed)


def run_notebook(source: Path, output: Path, parameters: dict, log_output: bool = False,
                 progress_bar: bool = True) -> float:
    """Execute `source` with papermill into `output` (atomically); returns seconds taken."""
    import papermill as pm

    start = time.perf_counter()
    with atomic_path(output) as tmp:
        try:
            pm.execute_notebook(str(source), str(tmp), parameters=parameters, kernel_name="python3",
                                cwd=str(source.parent), progress_bar=progress_bar, log_output=log_output)
        except BaseException:
            failed = output.with_name(output.stem + ".failed.ipynb")
            if tmp.exists():
                os.replace(tmp, failed)
                print(f"the partly executed notebook is in {failed}", file=sys.stderr)
            raise
        record_relative_paths(tmp, source, output)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=os.environ.get("MNIST_COURSE_PROFILE", "full"),
                        help="'full' (the course's results, into outputs/) or 'quick' (CI-sized, into build/quick/)")
    parser.add_argument("--only", nargs="*", help="notebook prefixes to run, e.g. 03 04")
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra papermill parameter (value parsed as Python literal when possible)")
    parser.add_argument("--log-output", action="store_true", help="stream cell output to this terminal")
    args = parser.parse_args(argv)

    params = {"profile": args.profile, **{k: _literal(v) for k, v in args.param}}
    root = outputs_root(args.profile)
    for book in course_notebooks(args.only):
        out = root / book.stem / book.name
        print(f"== {book.name} -> {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}", flush=True)
        try:
            seconds = run_notebook(book, out, params, args.log_output)
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
            print(f"FAILED: {book.name}\n{exc}", file=sys.stderr)
            return 1
        print(f"   done in {seconds / 60:.1f} min", flush=True)
    write_reports(args.profile)
    return 0


def _literal(text: str):
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


if __name__ == "__main__":
    sys.exit(main())
