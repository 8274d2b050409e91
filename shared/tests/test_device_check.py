"""ci/device_check.py's table, from a fabricated quick course run: each chapter's status and what its runs recorded."""
import importlib.util

from mnistkit.metrics import run_record, save_metrics
from mnistkit.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("device_check", REPO_ROOT / "ci" / "device_check.py")
device_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(device_check)

HISTORY = [{"epoch": 1, "train_loss": 1.0, "train_acc": 50.0, "test_loss": 1.0, "test_acc": 60.0, "seconds": 2.0}]


def test_the_table_names_each_chapters_status_and_the_devices_and_precisions_its_runs_recorded(tmp_path):
    save_metrics(tmp_path / "01_skeleton", "01_skeleton", [
        run_record("a", 10, HISTORY, device="cuda", precision="bf16"),
        run_record("b", 10, HISTORY, device="cuda", precision="fp32")])
    course_run = {"started": "2026-12-04T15:00:00+00:00", "commit": "abcdef123", "notebooks": [
        {"stem": "00_data_tour", "status": "ok", "seconds": 12.4},
        {"stem": "01_skeleton", "status": "ok", "seconds": 30.0},
        {"stem": "08_vit", "status": "failed", "seconds": 3.0}],
        "machine": {"gpu": "NVIDIA H200", "torch": "2.11.0", "cores": 16}}
    text = device_check.table(course_run, tmp_path)
    assert "2 of 3 chapters ran to the end" in text and "GPU NVIDIA H200, torch 2.11.0" in text
    assert "| 01_skeleton | ok | 30 | 2 | cuda | bf16, fp32 |" in text
    assert "| 00_data_tour | ok | 12 | 0 | – | – |" in text and "| 08_vit | failed | 3 | 0 | – | – |" in text
    assert "(commit abcdef1)" in text


def test_a_run_of_a_changed_working_tree_says_so():
    assert device_check.commit_text("3dda35e44a4e+changes") == "commit 3dda35e with uncommitted changes"
    assert device_check.commit_text(None) == "commit not recorded"
