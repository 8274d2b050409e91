"""One chapter opened outside a clone (issue: the course where students are): the helper built as a wheel and
installed into a new virtual environment in a temporary folder that holds one copied chapter and nothing of the
repository; the chapter then runs there with papermill in the quick profile.

The new environment reuses the course's installed packages (torch, Jupyter, papermill) through one `.pth` line
instead of a second multi-gigabyte install; `.pth` files inside that folder are not read, so the clone's editable
`mnistkit` stays out and the wheel's is the one imported."""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from mnistkit.paths import REPO_ROOT, data_root

CHAPTER = "00_data_tour"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of `shared/`, built as pip builds one for `pip install "mnistkit @ git+...#subdirectory=shared"`."""
    folder = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(folder), str(REPO_ROOT / "shared")], check=True)
    return next(folder.glob("mnistkit-*.whl"))


def new_environment(interpreter: str, folder: Path) -> Path:
    """A virtual environment of `interpreter` without pip of its own (the course's pip installs into it)."""
    subprocess.run([interpreter, "-m", "venv", "--without-pip", str(folder)], check=True)
    return folder / "bin" / "python"


def pip_install(python: Path, wheel: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                           str(wheel)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def student(tmp_path_factory, wheel):
    """A folder with the chapter and a virtual environment whose mnistkit comes from a wheel of `shared/`."""
    if not (data_root() / "MNIST" / "raw").is_dir():
        pytest.skip("MNIST is not fetched (make data)")
    root = tmp_path_factory.mktemp("outside")
    python = new_environment(sys.executable, root / "venv")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "course-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    assert pip_install(python, wheel).returncode == 0
    work = root / "student"
    work.mkdir()
    shutil.copy(REPO_ROOT / "notebooks" / f"{CHAPTER}.ipynb", work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MNIST_COURSE_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(MNIST_COURSE_DATA=str(data_root()), MNIST_COURSE_PROFILE="quick", MNIST_COURSE_PROGRESS="epoch")
    return python, work, env


def test_the_wheel_is_what_the_new_environment_imports(student):
    python, work, env = student
    where = subprocess.run([python, "-c", "import mnistkit, mnistkit.paths as p; print(mnistkit.__file__, p.IN_CLONE, "
                            "p.REPO_ROOT)"], cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert not Path(where[0]).is_relative_to(REPO_ROOT) and where[1:] == ["False", str(work.resolve())]


def test_a_chapter_runs_there_in_the_quick_profile(student):
    python, work, env = student
    run = subprocess.run([python, "-m", "papermill", f"{CHAPTER}.ipynb", "executed.ipynb", "-k", "python3", "--cwd",
                          str(work)], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    executed = nbformat.read(work / "executed.ipynb", as_version=4)
    assert not [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    # Its outputs land beside the notebook, not in the clone.
    assert list((work / "build" / "quick" / "outputs").rglob("*")), "the chapter wrote nothing beside itself"


def find_python(version: str) -> str | None:
    """An interpreter of `version` that runs: `pythonX.Y` on the PATH, else one that pyenv keeps (its shims run only
    the version a folder selects)."""
    found = [shutil.which(f"python{version}")]
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        found += sorted(str(p) for p in Path(root).glob(f"versions/{version}.*/bin/python{version}")) if root else []
    for interpreter in filter(None, found):
        if subprocess.run([interpreter, "-c", "pass"], capture_output=True).returncode == 0:
            return interpreter
    return None


@pytest.mark.parametrize("version", ["3.10", "3.12", "3.13"])
def test_the_wheel_installs_and_compiles_on_each_python_the_package_declares(tmp_path, wheel, version):
    """The versions `requires-python` admits (>= 3.10) that this machine has besides the course's own: the wheel
    installs and every module byte-compiles (no syntax of a later Python). Importing it needs torch, which those
    interpreters do not have here: a second multi-gigabyte install per version, left to the Python the course pins."""
    interpreter = find_python(version)
    if interpreter is None:
        pytest.skip(f"no python{version} on this machine")
    python = new_environment(interpreter, tmp_path / "venv")
    installed = pip_install(python, wheel)
    assert installed.returncode == 0, installed.stderr[-2000:]
    check = ("import compileall, importlib.metadata as m, pathlib, sysconfig; "
             "root = pathlib.Path(sysconfig.get_paths()['purelib']) / 'mnistkit'; "
             "assert compileall.compile_dir(str(root), quiet=1), 'a module does not compile'; "
             "print(m.version('mnistkit'))")
    run = subprocess.run([python, "-c", check], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip(), run.stderr[-2000:]


def test_a_python_below_the_declared_minimum_is_refused(tmp_path, wheel):
    interpreter = find_python("3.9")
    if interpreter is None:
        pytest.skip("no python3.9 on this machine")
    refused = pip_install(new_environment(interpreter, tmp_path / "venv"), wheel)
    assert refused.returncode != 0 and "requires a different Python" in refused.stderr
