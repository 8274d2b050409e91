"""What the repository tracks: no links (a link committed from one clone points nowhere, or at itself, in another),
no notebook checkpoints, no data, no virtual environment."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tracked() -> list[tuple[str, str]]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git clone")
    out = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [(line.split()[0], line.split("\t", 1)[1]) for line in out.splitlines()]


def test_the_repository_tracks_no_links_checkpoints_data_or_environments():
    files = tracked()
    assert not [path for mode, path in files if mode == "120000"], "symbolic links are tracked"
    banned = (".ipynb_checkpoints/", "data/", ".venv/", "__pycache__/")
    assert not [path for _, path in files if any(path.startswith(b) or f"/{b}" in path for b in banned)]
    assert "data" not in {path for _, path in files}
