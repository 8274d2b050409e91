"""metrics.json schema, statistics, atomic writes, and the generated RESULTS report."""
import json

import pytest

from mnistkit.metrics import history_stats, load_metrics, results_table, run_record, save_metrics
from mnistkit.paths import atomic_path
from mnistkit.report import build_report

ACCS = [98.0, 99.1, 99.41, 99.38, 99.45, 99.5, 99.42]
HISTORY = [{"epoch": i + 1, "train_loss": 0.1, "train_acc": 97.0 + i * 0.1, "test_loss": 0.02, "test_acc": a,
            "lr": 0.01, "seconds": 2.0} for i, a in enumerate(ACCS)]


def test_history_stats():
    s = history_stats(HISTORY)
    assert s["peak"] == 99.5 and s["peak_epoch"] == 6
    assert s["last5_min"] == 99.38 and not s["last5_all_at_target"]
    assert s["first_at_target"] == 3
    assert s["train_test_gap"] == pytest.approx(97.6 - 99.42)
    assert history_stats(HISTORY, last=3)["last3_mean"] == pytest.approx((99.45 + 99.5 + 99.42) / 3)


def test_report_prefers_the_declared_final_number(tmp_path):
    run = run_record("float", 10, HISTORY, final={"test_acc": 99.0})
    save_metrics(tmp_path / "11_x", "11_x", [run])
    assert "| 11_x | float | 10 | 99.00 | 99.50 |" in build_report(tmp_path)


def test_save_load_and_report(tmp_path):
    run = run_record("model4", 5940, HISTORY, writeup={"value": 99.47, "what": "final epoch"})
    path = save_metrics(tmp_path / "04_x", "04_x", [run])
    assert load_metrics(path)["runs"][0]["params"] == 5940
    report = build_report(tmp_path)
    assert "| 04_x | model4 | 5,940 | 99.42 | 99.50 | 99.38 | 3 | 7 | 2.00 | 99.47% (final epoch) |" in report
    assert "model4" in results_table([run])


def test_report_shows_sequence_and_digit_accuracy(tmp_path):
    history = [dict(e, seq_acc=e["test_acc"], digit_acc=99.8) for e in HISTORY]
    save_metrics(tmp_path / "10_x", "10_x", [run_record("seq2seq", 10, history)])
    assert "| 10_x | seq2seq | 10 | 99.42 (whole sequences; 99.80 per digit) |" in build_report(tmp_path)


@pytest.mark.parametrize("bad", [
    {"notebook": "x", "runs": []},
    {"notebook": "x", "runs": [{"name": "a", "params": 1.5, "epochs": HISTORY}]},
    {"notebook": "x", "runs": [{"name": "a", "params": 1, "epochs": [{"epoch": 1}]}]},
    {"notebook": "x", "runs": [{"name": "a", "params": 1, "epochs": HISTORY}, {"name": "a", "params": 1, "epochs": HISTORY}]},
])
def test_schema_violations_are_refused_before_writing(tmp_path, bad):
    with pytest.raises(ValueError):
        save_metrics(tmp_path, bad["notebook"], bad["runs"])
    assert not (tmp_path / "metrics.json").exists()


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "m.json"
    target.write_text(json.dumps({"old": True}))
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"old": True}
    assert list(tmp_path.iterdir()) == [target]


def test_readme_block_is_regenerated_between_markers(tmp_path):
    from mnistkit.report import README_END, README_START, update_readme
    save_metrics(tmp_path / "outputs" / "04_x", "04_x", [run_record("model4", 5940, HISTORY)])
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\nrest\n")
    assert update_readme(readme, tmp_path / "outputs")
    text = readme.read_text()
    assert "old table" not in text and "| [04_x](outputs/04_x/04_x.ipynb) | model4 | 5,940 | 99.42 |" in text
    assert text.startswith("intro\n") and text.endswith("rest\n")
    assert not update_readme(readme, tmp_path / "outputs")  # unchanged the second time


def test_epoch_table_shows_sequence_accuracies_when_recorded():
    from mnistkit.metrics import epoch_table
    base = {"epoch": 1, "train_loss": 0.5, "train_acc": 80.0, "test_loss": 0.4, "test_acc": 90.0, "lr": 0.1,
            "seconds": 2.0}
    assert "sequences %" not in epoch_table([base])
    table = epoch_table([dict(base, seq_acc=90.0, digit_acc=97.25)])
    assert "| sequences % | digits % |" in table and "97.25" in table
