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
def student(tmp_path_factory):
    """A folder with the chapter and a virtual environment whose mnistkit comes from a wheel of `shared/`."""
    if not (data_root() / "MNIST" / "raw").is_dir():
        pytest.skip("MNIST is not fetched (make data)")
    root = tmp_path_factory.mktemp("outside")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(root / "wheels"), str(REPO_ROOT / "shared")], check=True)
    wheel = next((root / "wheels").glob("mnistkit-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "course-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True)
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
