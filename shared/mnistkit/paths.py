"""Where things live (repo root, data, outputs) and how files are written safely.

In a clone of the course every default is resolved from this package's location, never from the current working
directory, so JupyterLab, papermill and pytest agree whatever folder they start in. Installed on its own (a wheel,
`pip install "mnistkit @ git+<repo>#subdirectory=shared"`: one chapter opened outside a clone, on Colab say) there
is no repository: the course's root is then the folder the notebook runs in, with `data/` and `outputs/` beside it.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

# shared/mnistkit/paths.py -> the repository root is two folders up, when the package lives in a clone.
_TWO_UP = Path(__file__).resolve().parents[2]
IN_CLONE = (_TWO_UP / "shared" / "mnistkit").is_dir() and (_TWO_UP / "notebooks").is_dir()
REPO_ROOT = _TWO_UP if IN_CLONE else Path.cwd().resolve()

DATA_ENV = "MNIST_COURSE_DATA"
OUTPUTS_ENV = "MNIST_COURSE_OUTPUTS"
# The last finished course run's record, kept while a new run rewrites course_run.json (`course.keep_finished_record`).
PREVIOUS_RECORD = "course_run.previous.json"
# Set by `mnistkit.course` while it runs a chapter: {"stem", "staging", "final"}. The chapter writes into the staging
# folder, which replaces its outputs only when the whole chapter has run (an interrupted run leaves them whole).
STAGE_ENV = "MNIST_COURSE_STAGE"
PROGRESS_ENV = "MNIST_COURSE_PROGRESS"  # how training shows progress (mnistkit.train.progress_style)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds `MNIST/raw/`: the argument, else $MNIST_COURSE_DATA, else `<repo>/data`."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(DATA_ENV) or REPO_ROOT / "data")


def outputs_root(profile: str = "full") -> Path:
    """Where a chapter saves metrics and figures.

    The full profile writes the course's results to `<repo>/outputs`; any other
    profile (the quick one used by CI) writes to `<repo>/build/<profile>/outputs`
    so trying things never overwrites the committed full run.
    """
    if os.environ.get(OUTPUTS_ENV):
        return Path(os.environ[OUTPUTS_ENV])
    if profile == "full":
        return REPO_ROOT / "outputs"
    return REPO_ROOT / "build" / profile / "outputs"


@contextlib.contextmanager
def environment(**values: str):
    """Set environment variables for the block (a kernel started inside it inherits them), then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def staged() -> dict | None:
    """The chapter `mnistkit.course` is running now and where its outputs go meanwhile, or None."""
    text = os.environ.get(STAGE_ENV)
    return json.loads(text) if text else None


def repo_relative(path: str | os.PathLike, outside: str = "path") -> str:
    """`path` relative to the repository when inside it; outside it, the path as it is (`outside="path"`) or its
    bare name (`outside="name"`, for records that must not carry machine-specific prefixes)."""
    path = Path(path).resolve()
    if path.is_relative_to(REPO_ROOT):
        return str(path.relative_to(REPO_ROOT))
    return path.name if outside == "name" else str(path)


def shown(path: str | os.PathLike) -> str:
    """A path as printed in notebooks: relative to the repo when inside it (no machine-specific prefixes), and
    where it will be once the chapter has run (not the staging folder it is written to meanwhile)."""
    path = Path(path).resolve()
    stage = staged()
    if stage and path.is_relative_to(Path(stage["staging"]).resolve()):
        path = Path(stage["final"]).resolve() / path.relative_to(Path(stage["staging"]).resolve())
    return repo_relative(path)


def chapter_dir(stem: str, profile: str = "full") -> Path:
    """Where chapter `stem` saves metrics and figures: `<outputs>/<stem>/`, or the staging folder while
    `mnistkit.course` runs that chapter."""
    stage = staged()
    path = Path(stage["staging"]) if stage and stage["stem"] == stem else outputs_root(profile) / stem
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; on success rename it into place.

    An interrupted or failed write leaves the old file (or nothing) behind,
    never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, and ending like the target (".tmp.ipynb"), for writers that pick the format from the name.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | os.PathLike, obj) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1) + "\n")
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def replace_marked(path: str | os.PathLike, start: str, end: str, body: str) -> bool:
    """Replace what stands between the markers `start` and `end` of a text file (the README's generated blocks)
    with `body`, keeping the markers; written atomically. False when a marker is missing or nothing changed."""
    text = Path(path).read_text()
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    new = head + start + body + end + rest.split(end, 1)[1]
    if new == text:
        return False
    write_text(path, new)
    return True
