"""Run the course's notebooks with papermill: `python -m mnistkit.course [--profile quick] [--only 03 04]`.

Each notebook `notebooks/NN_name.ipynb` runs into a hidden staging folder, `<outputs>/.NN_name.staging/`: the
executed notebook, `metrics.json`, figures and checkpoints. Only when the whole notebook has run does the staging
folder replace `<outputs>/NN_name/`, so a run that fails or is killed leaves the chapter's previous outputs whole
(and its partial ones in the staging folder, to look at). Stops at the first failure, then regenerates
`<outputs>/RESULTS.md`.

A run of every notebook is recorded in `<outputs>/course_run.json` (commit, machine, seconds, threads and status
per notebook), rewritten atomically as each notebook starts and ends: an interrupted run shows as one.

`--jobs 2` (what `make course` uses) runs two chapters at a time, each in its own process with half the cores: the
small models of most chapters use one core about as well as two, so two of them side by side finish the course
sooner than one after the other. A chapter of ALONE runs by itself with every core; a chapter of READS starts
after the chapters it reads; of the others, the one that took longest last time starts first. Each lane's output
goes to `build/course-logs/<profile>/<stem>.log`.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .params import default_profile, parse_value
from .paths import (
    PREVIOUS_RECORD,
    PROGRESS_ENV,
    REPO_ROOT,
    STAGE_ENV,
    atomic_path,
    environment,
    outputs_root,
    repo_relative,
    write_json,
)
from .report import write_reports

NOTEBOOKS = REPO_ROOT / "notebooks"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


# A chapter that reads another chapter's outputs runs after it: 09 opens 08's ViT and 10's encoder-decoder, 12 the
# saved models of 04, 06, 08, 10 and 11.
READS = {"09_vit_visualised": ("08_vit", "10_stacked_seq2seq"),
         "12_playground": ("04_augmentation", "06_capstone_small", "08_vit", "10_stacked_seq2seq", "11_mlp_int8_qat")}


def course_order(stems: list[str]) -> list[str]:
    """`stems` in chapter order, except that a chapter of READS comes right after the last chapter it reads."""
    order = sorted(stems)
    for reader, sources in READS.items():
        present = [s for s in sources if s in order]
        if reader in order and present:
            order.remove(reader)
            order.insert(max(order.index(s) for s in present) + 1, reader)
    return order


def course_notebooks(only: list[str] | None = None) -> list[Path]:
    books = [NOTEBOOKS / f"{stem}.ipynb" for stem in course_order([p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")])]
    if only:
        books = [p for p in books if any(p.stem.startswith(o) for o in only)]
        if not books:
            raise SystemExit(f"--only {' '.join(only)} matches no notebook in {NOTEBOOKS}")
    return books


def record_relative_paths(executed: Path, source: Path, output: Path) -> None:
    """Keep machine paths out of outputs/: papermill's input/output paths, and any path under the repo
    that a cell printed (a library warning names its file, e.g. inside .venv/), become repo-relative."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    meta = nb.metadata.get("papermill", {})
    meta["input_path"], meta["output_path"] = repo_relative(source, outside="name"), repo_relative(output, outside="name")
    prefix = str(REPO_ROOT.resolve()) + os.sep
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = out["text"].replace(prefix, "")
            if "traceback" in out:
                out["traceback"] = [line.replace(prefix, "") for line in out["traceback"]]
    nbformat.write(nb, executed)


def run_notebook(source: Path, output: Path, parameters: dict, log_output: bool = False,
                 progress_bar: bool = True, recorded_output: Path | None = None) -> float:
    """Execute `source` with papermill into `output` (atomically); returns seconds taken. The executed notebook
    records `recorded_output` (default `output`) as where it was written: where it will stay."""
    import papermill as pm

    start = time.perf_counter()
    # The kernel draws figures inline, whatever backend the calling shell exports (Agg for scripts), so the executed
    # notebook carries them; and its progress is fit's one line per epoch, not a bar's redraws.
    with atomic_path(output) as tmp, environment(MPLBACKEND=INLINE_BACKEND, **{PROGRESS_ENV: "epoch"}):
        try:
            # The kernel's own log warns that it listens on loopback TCP without encryption on every start; from
            # a notebook that runs a chapter (the exercise solutions) it would land in a stderr box. Errors only.
            pm.execute_notebook(str(source), str(tmp), parameters=parameters, kernel_name="python3",
                                cwd=str(source.parent), progress_bar=progress_bar, log_output=log_output,
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except BaseException:
            failed = output.with_name(output.stem + ".failed.ipynb")
            if tmp.exists():
                os.replace(tmp, failed)
                print(f"the partly executed notebook is in {failed}", file=sys.stderr)
            raise
        record_relative_paths(tmp, source, recorded_output or output)
    return time.perf_counter() - start


def run_staged(book: Path, root: Path, parameters: dict, log_output: bool = False) -> float:
    """Run `book` with its outputs staged (see the module's doc), then put them in place as `<root>/<stem>/`."""
    stem = book.stem
    final, staging, previous = root / stem, root / f".{stem}.staging", root / f".{stem}.previous"
    if previous.exists() and not final.exists():  # a swap interrupted between its two renames: undo it
        os.replace(previous, final)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(previous, ignore_errors=True)
    staging.mkdir(parents=True)
    stage = json.dumps({"stem": stem, "staging": str(staging), "final": str(final)})
    with environment(**{STAGE_ENV: stage}):  # the kernel papermill starts inherits it
        seconds = run_notebook(book, staging / book.name, parameters, log_output, recorded_output=final / book.name)
    if final.exists():
        os.replace(final, previous)
    os.replace(staging, final)
    shutil.rmtree(previous, ignore_errors=True)
    return seconds


def cpu_name() -> str:
    """This machine's CPU model ("AMD EPYC ...", from /proc/cpuinfo where there is one)."""
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> dict:
    """What the run ran on: CPU model, cores, torch threads, GPU, torch version."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__}


def git_commit() -> str | None:
    """HEAD's hash, with "+changes" when the working tree differs from it (the run is then not of a commit)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if dirty else "")


def keep_finished_record(root: Path) -> None:
    """Before a course run rewrites `course_run.json`, a finished run's record is kept as `course_run.previous.json`:
    the chapters of the new run read their expected time from it (`chapter.expected_time`), since the new record
    holds them only as "running". An unfinished record is not kept (the older finished one stays)."""
    path = root / "course_run.json"
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if old.get("status") == "ok" and old.get("finished"):
        write_json(root / PREVIOUS_RECORD, old)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# A chapter whose claim is its own training time on the whole machine runs alone, with every core, when the
# course runs chapters side by side: chapter 10's target is under 20 minutes per seed on this 2-core CPU.
ALONE = ("10_stacked_seq2seq", "13_cpu_speedrun")  # 13 times its training: nothing may run beside it


def previous_seconds(root: Path, stem: str) -> float:
    """How long the chapter's last run took (papermill's duration in its executed notebook), 0 if unknown: the
    longest chapters start first, so the lanes end close together."""
    import nbformat

    path = root / stem / f"{stem}.ipynb"
    try:
        return float(nbformat.read(path, as_version=4).metadata.get("papermill", {}).get("duration") or 0)
    except (OSError, ValueError, TypeError):
        return 0.0


def run_lanes(books: list[Path], root: Path, args, record: dict | None) -> str:
    """Run `books` in `args.jobs` lanes (subprocesses of `--chapter`), each with an equal share of the cores;
    ALONE chapters first, each by itself with every core. Records each notebook in `record` as it starts and ends;
    stops starting chapters at the first failure. Returns "ok" or "failed"."""
    cores = os.cpu_count() or 1
    lane_threads = max(1, cores // args.jobs)
    logs = REPO_ROOT / "build" / "course-logs" / args.profile
    logs.mkdir(parents=True, exist_ok=True)
    pending = [b for b in books if b.stem in ALONE] + [b for b in books if b.stem not in ALONE]
    estimate = {b.stem: previous_seconds(root, b.stem) for b in books}
    running: dict[str, tuple[subprocess.Popen, dict, float]] = {}
    status = "ok"

    def startable() -> Path | None:
        waiting = {b.stem for b in pending} | set(running)
        ready = [b for b in pending if not any(s in waiting for s in READS.get(b.stem, ()))]
        alone = [b for b in ready if b.stem in ALONE]
        if alone:  # an ALONE chapter starts only into an empty machine, and nothing starts beside it
            return alone[0] if not running else None
        if any(stem in ALONE for stem in running):
            return None
        return max(ready, key=lambda b: estimate[b.stem], default=None)

    while pending or running:
        while status == "ok" and len(running) < args.jobs and (book := startable()) is not None:
            pending.remove(book)
            threads = cores if book.stem in ALONE else lane_threads
            command = [sys.executable, "-m", "mnistkit.course", "--chapter", str(book), "--profile", args.profile]
            for name, value in args.param:
                command += ["-p", name, value]
            # A lane's chapter does not split its independent runs into more processes than its threads.
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                       MNIST_COURSE_WORKERS=str(threads))
            log = logs / f"{book.stem}.log"
            with open(log, "w") as handle:  # the child keeps its own copy of the descriptor
                process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                           cwd=REPO_ROOT)
            entry = {"stem": book.stem, "seconds": None, "status": "running", "threads": threads}
            if record is not None:
                record["notebooks"].append(entry)
                write_json(root / "course_run.json", record)
            running[book.stem] = (process, entry, time.perf_counter())
            print(f"== {book.name} ({threads} thread(s); log {repo_relative(log)})", flush=True)
        if not running:  # all done, or a failure stopped the run before the rest could start
            break
        time.sleep(0.5)
        for stem, (process, entry, start) in list(running.items()):
            if process.poll() is None:
                continue
            del running[stem]
            entry["seconds"] = round(time.perf_counter() - start, 1)
            entry["status"] = "ok" if process.returncode == 0 else "failed"
            if record is not None:
                write_json(root / "course_run.json", record)
            if entry["status"] == "ok":
                print(f"   {stem} done in {entry['seconds'] / 60:.1f} min", flush=True)
            else:
                status = "failed"
                tail = (logs / f"{stem}.log").read_text(errors="replace")[-3000:]
                print(f"FAILED: {stem} (its previous outputs are untouched; this run's are in "
                      f"{root / f'.{stem}.staging'}); the end of its log:\n{tail}", file=sys.stderr, flush=True)
        if status != "ok" and not running:
            break
    return status


def run_in_order(books: list[Path], root: Path, params: dict, args, record: dict | None) -> str:
    """Run `books` one after the other in this process; stops at the first failure. Returns "ok" or "failed"."""
    threads = machine()["threads"]
    for book in books:
        out = root / book.stem / book.name
        print(f"== {book.name} -> {repo_relative(out)}", flush=True)
        entry = {"stem": book.stem, "seconds": None, "status": "running", "threads": threads}
        if record is not None:
            record["notebooks"].append(entry)
            write_json(root / "course_run.json", record)
        start = time.perf_counter()
        try:
            run_staged(book, root, params, args.log_output)
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
            print(f"FAILED: {book.name} (its previous outputs are untouched; this run's are in "
                  f"{root / f'.{book.stem}.staging'})\n{exc}", file=sys.stderr)
            entry["status"] = "failed"
        else:
            entry["status"] = "ok"
        entry["seconds"] = round(time.perf_counter() - start, 1)
        if record is not None:
            write_json(root / "course_run.json", record)
        if entry["status"] != "ok":
            return "failed"
        print(f"   done in {entry['seconds'] / 60:.1f} min", flush=True)
    return "ok"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=default_profile(),
                        help="'full' (the course's results, into outputs/) or 'quick' (CI-sized, into build/quick/)")
    parser.add_argument("--only", nargs="*", help="notebook prefixes to run, e.g. 03 04")
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra papermill parameter (value parsed as Python literal when possible)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="chapters run side by side, each with cores/jobs threads (chapters in ALONE run by "
                             "themselves with every core); 1: one after the other in this process")
    parser.add_argument("--log-output", action="store_true", help="stream cell output to this terminal")
    parser.add_argument("--chapter", help=argparse.SUPPRESS)  # one lane's chapter (a path), run by `--jobs`
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs} is not allowed: expected a number of chapters at once, 1 or more")

    params = {"profile": args.profile, **{k: parse_value(v) for k, v in args.param}}
    root = outputs_root(args.profile)
    if args.chapter:
        try:
            run_staged(Path(args.chapter), root, params, args.log_output)
        except Exception as exc:
            print(f"FAILED: {Path(args.chapter).name}\n{exc}", file=sys.stderr)
            return 1
        return 0
    # Only a run of every notebook with the profile's own parameters is the course's record; --only and -p runs
    # are trials, and leave the record of the last whole run alone.
    record = None if args.only or args.param else {
        "commit": git_commit(), "started": _now(), "finished": None, "status": "running", "profile": args.profile,
        "jobs": args.jobs, "machine": machine(), "notebooks": []}
    if record is not None:
        keep_finished_record(root)
    books = course_notebooks(args.only)
    status = run_lanes(books, root, args, record) if args.jobs > 1 else run_in_order(books, root, params, args, record)
    if record is not None:
        record.update(finished=_now(), status=status)
        write_json(root / "course_run.json", record)
    write_reports(args.profile)
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
