"""`mnistkit.course`: a chapter's outputs are replaced only when it has run; the course run is recorded."""
import json
import os
import signal
import subprocess
import sys
import time

import nbformat

from mnistkit import course
from mnistkit.paths import OUTPUTS_ENV


def notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, path)
    return path


WRITE = ('from pathlib import Path\nfrom mnistkit.paths import chapter_dir, shown\nout = chapter_dir("{stem}", "quick")\n'
         '(out / "metrics.json").write_text("{text}")\nprint("outputs in", shown(out))\n')


def test_killed_chapter_leaves_its_previous_outputs_whole(tmp_path):
    root, started = tmp_path / "outputs", tmp_path / "started"
    (root / "ch").mkdir(parents=True)
    (root / "ch" / "metrics.json").write_text("previous run")
    (root / "ch" / "curves.png").write_text("previous figure")
    book = notebook(tmp_path / "ch.ipynb", WRITE.format(stem="ch", text="new run"),
                    f"open({str(started)!r}, 'w').close()\nimport time\ntime.sleep(120)")
    runner = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; from mnistkit.course import "
                               "run_staged; run_staged(Path(sys.argv[1]), Path(sys.argv[2]), {})", str(book), str(root)],
                              start_new_session=True)
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline and runner.poll() is None:
        time.sleep(0.2)
    assert started.exists(), "the notebook never reached its second cell"
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and the kernel it started, mid-chapter
    runner.wait()
    assert (root / "ch" / "metrics.json").read_text() == "previous run"
    assert (root / "ch" / "curves.png").read_text() == "previous figure"
    assert (root / ".ch.staging" / "metrics.json").read_text() == "new run"  # the partial run, set aside

    quick = notebook(tmp_path / "ch.ipynb", WRITE.format(stem="ch", text="new run"))
    course.run_staged(quick, root, {})
    assert (root / "ch" / "metrics.json").read_text() == "new run"
    assert not (root / "ch" / "curves.png").exists()  # nothing of the previous run survives beside the new one
    assert sorted(p.name for p in root.iterdir()) == ["ch"]
    executed = nbformat.read(root / "ch" / "ch.ipynb", as_version=4)
    assert "outputs in" in executed.cells[0].outputs[0]["text"] and ".staging" not in executed.cells[0].outputs[0]["text"]


def test_a_course_run_is_recorded_notebook_by_notebook(tmp_path, monkeypatch):
    books = tmp_path / "notebooks"
    books.mkdir()
    notebook(books / "01_fine.ipynb", WRITE.format(stem="01_fine", text="{}"))
    notebook(books / "02_broken.ipynb", "raise RuntimeError('broken on purpose')")
    notebook(books / "03_never.ipynb", "pass")
    monkeypatch.setattr(course, "NOTEBOOKS", books)
    monkeypatch.setenv(OUTPUTS_ENV, str(tmp_path / "outputs"))
    monkeypatch.setattr(course, "write_reports", lambda profile: None)
    assert course.main(["--profile", "quick"]) == 1
    record = json.loads((tmp_path / "outputs" / "course_run.json").read_text())
    assert record["status"] == "failed" and record["finished"] and record["profile"] == "quick"
    assert set(record["machine"]) == {"cpu", "cores", "threads", "gpu", "torch"}
    assert [(n["stem"], n["status"]) for n in record["notebooks"]] == [("01_fine", "ok"), ("02_broken", "failed")]
    assert all(isinstance(n["seconds"], float) for n in record["notebooks"])
    assert not (tmp_path / "outputs" / "02_broken").exists()  # a failed chapter is not put in place


STAMP = ('import json, os, time\nfrom pathlib import Path\nfrom mnistkit.paths import chapter_dir\nstart = time.time()\n'
         'time.sleep({sleep})\n'
         # A rendezvous, not a race against kernel start-up: each of two lanes marks its start, then waits for the
         # other's mark; run one after the other, the first waits in vain and says so.
         'met = None\nif {meet!r}:\n    Path({meet!r}, "{stem}").touch()\n    deadline = time.time() + 90\n'
         '    while time.time() < deadline and len(list(Path({meet!r}).iterdir())) < 2:\n        time.sleep(0.1)\n'
         '    met = len(list(Path({meet!r}).iterdir())) == 2\n'
         '(chapter_dir("{stem}", "quick") / "metrics.json").write_text(json.dumps({{"start": start, "end": time.time(), '
         '"met": met, "threads": os.environ.get("OMP_NUM_THREADS")}}))\n')


def test_lanes_run_chapters_side_by_side_and_a_lone_chapter_by_itself(tmp_path, monkeypatch):
    books = tmp_path / "notebooks"
    books.mkdir()
    meet = tmp_path / "meet"
    meet.mkdir()
    for stem, sleep in [("01_long", 3), ("02_short", 1), ("03_short", 1), ("04_alone", 1), ("05_reader", 0)]:
        lane = str(meet) if stem in ("01_long", "02_short") else ""
        notebook(books / f"{stem}.ipynb", STAMP.format(stem=stem, sleep=sleep, meet=lane))
    monkeypatch.setattr(course, "NOTEBOOKS", books)
    monkeypatch.setattr(course, "ALONE", ("04_alone",))
    monkeypatch.setattr(course, "READS", {"05_reader": ("04_alone", "01_long")})
    monkeypatch.setenv(OUTPUTS_ENV, str(tmp_path / "outputs"))
    monkeypatch.setattr(course, "write_reports", lambda profile: None)
    assert course.main(["--profile", "quick", "--jobs", "2"]) == 0
    record = json.loads((tmp_path / "outputs" / "course_run.json").read_text())
    assert record["status"] == "ok" and record["jobs"] == 2
    assert sorted(n["stem"] for n in record["notebooks"]) == sorted(p.stem for p in books.iterdir())
    ran = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "outputs").glob("*/metrics.json")}
    cores = os.cpu_count()
    threads = {n["stem"]: n["threads"] for n in record["notebooks"]}
    assert threads["04_alone"] == cores and ran["04_alone"]["threads"] == str(cores)
    assert {threads[s] for s in ("01_long", "02_short", "03_short")} == {max(1, cores // 2)}

    def overlap(a, b):
        return ran[a]["start"] < ran[b]["end"] and ran[b]["start"] < ran[a]["end"]

    assert not any(overlap("04_alone", other) for other in ran if other != "04_alone")  # alone means alone
    assert ran["01_long"]["met"] and ran["02_short"]["met"]  # two lanes at once: each saw the other start
    assert ran["05_reader"]["start"] > max(ran["04_alone"]["end"], ran["01_long"]["end"])  # after what it reads


def test_a_finished_record_is_kept_before_a_new_run_rewrites_it(tmp_path):
    finished = {"status": "ok", "finished": "2026-12-02T07:49:38+00:00", "notebooks": [{"stem": "a", "status": "ok"}]}
    (tmp_path / "course_run.json").write_text(json.dumps(finished))
    course.keep_finished_record(tmp_path)
    assert json.loads((tmp_path / course.PREVIOUS_RECORD).read_text()) == finished
    (tmp_path / "course_run.json").write_text(json.dumps({"status": "running", "finished": None, "notebooks": []}))
    course.keep_finished_record(tmp_path)  # an interrupted run does not replace the finished one
    assert json.loads((tmp_path / course.PREVIOUS_RECORD).read_text()) == finished
    course.keep_finished_record(tmp_path / "nowhere")  # no record yet: nothing to keep, no error


def test_jobs_must_be_positive(capsys):
    import pytest

    with pytest.raises(SystemExit):
        course.main(["--jobs", "0"])
    assert "--jobs 0 is not allowed" in capsys.readouterr().err


def test_an_executed_notebook_carries_its_figures_and_a_line_per_epoch(tmp_path, monkeypatch):
    """Issue 30: papermill's kernels draw inline whatever the shell exports (scripts use Agg), and training prints
    fit's one line per epoch, not a progress bar's redraws."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("MNIST_COURSE_PROGRESS", "text")
    book = notebook(tmp_path / "figs.ipynb",
                    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
                    "from mnistkit.train import _progress\nfor _ in _progress(range(3000), 3000, 'epoch=01'):\n"
                    "    pass\nprint('epoch 01: done')")
    course.run_notebook(book, tmp_path / "out.ipynb", {})
    cells = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    assert any("image/png" in out.get("data", {}) for out in cells[0].outputs)
    assert [out.get("text") for out in cells[1].outputs] == ["epoch 01: done\n"]
