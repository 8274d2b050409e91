"""Chapters as a student sees them: JupyterLab in headless Chromium, Run All Cells in the quick profile.

    python ci/browser_check.py                       # chapters 04, 10 and the playground (12)
    python ci/browser_check.py 01_skeleton 08_vit    # others (stems of notebooks/)

Starts JupyterLab (as `make lab` does: widget progress bars, the course's save hook) on a free loopback port over
copies of the chapters in build/browser/, drives it with Playwright and the system's Chromium, and fails on:
- an error output or a stderr output (JupyterLab shows stderr in a pink box that reads as a warning),
- a console error in the page,
- a chapter with no plot or no progress widget,
- a braille frame whose digit boxes do not line up (measured in the page),
- a notebook that changes when it is opened and saved without running anything,
- in the playground (12): a digit drawn with the mouse on its canvas that does not reach Python (a blank 28×28
  input), or a press of "read it" that does not show every model's answer and a picture.
Screenshots go to build/browser/. Where no Chromium (or Playwright) is found it says so and exits 0: the check
is skipped, not passed. Chromium: `apt-get install chromium` on Debian, or CHROMIUM=/path/to/chrome.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "browser"
DEFAULT_CHAPTERS = ["04_augmentation", "10_stacked_seq2seq", "12_playground"]
TRAINS_NOTHING = {"00_data_tour", "09_vit_visualised", "12_playground"}  # no progress widget to expect
# Strokes drawn on the playground's canvas, as fractions of its side: a 1, then a 7.
SKETCHES = {"1": [[(0.5, 0.15), (0.5, 0.85)]], "7": [[(0.2, 0.2), (0.8, 0.2), (0.45, 0.85)]]}
# Chromium flags for a machine with no display and no network beyond loopback.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Every cell stays in the page (JupyterLab otherwise renders only what is on screen), so the page can be measured.
# No "get notified about Jupyter news?" toast over the page (and no request for the news).
SETTINGS = {"notebook-extension/tracker": {"windowingMode": "none"},
            "apputils-extension/notification": {"fetchNews": "false"}}

# Measured in the page: the digit boxes of the first braille frame, per sample.
BRAILLE_GEOMETRY_JS = """() => {
  const frame = document.querySelector('.mnistkit-braille');
  if (!frame) return null;
  const samples = [...frame.querySelectorAll('.sample')].map(s =>
    [...s.querySelectorAll('.digit')].map(d => { const r = d.getBoundingClientRect();
      return {left: r.left, top: r.top, width: r.width, height: r.height,
              overflow: d.scrollWidth > d.clientWidth + 1}; }));
  return {samples, frameOverflow: frame.scrollWidth > frame.clientWidth + 1};
}"""


def find_chromium() -> str | None:
    for candidate in [os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]:
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def braille_problems(geometry: dict | None) -> list[str]:
    """What is out of line in a frame measured by BRAILLE_GEOMETRY_JS (empty when the boxes line up)."""
    if geometry is None:
        return ["no braille frame in the page"]
    boxes = [box for sample in geometry["samples"] for box in sample]
    found = []
    if not boxes:
        return ["the braille frame has no digit boxes"]
    for key in ("width", "height"):
        sizes = [box[key] for box in boxes]
        if max(sizes) - min(sizes) > 0.5:
            found.append(f"digit boxes differ in {key}: {min(sizes):.1f} to {max(sizes):.1f} px")
    for i, sample in enumerate(geometry["samples"]):
        if len(sample) != 4:
            found.append(f"sample {i} has {len(sample)} digit boxes, not 4")
            continue
        tl, tr, bl, br = sample
        if abs(tl["top"] - tr["top"]) > 0.5 or abs(bl["top"] - br["top"]) > 0.5:
            found.append(f"sample {i}: the two boxes of a row are not level")
        if abs(tl["left"] - bl["left"]) > 0.5 or abs(tr["left"] - br["left"]) > 0.5:
            found.append(f"sample {i}: the two boxes of a column are not aligned")
        if tr["left"] < tl["left"] + tl["width"] or bl["top"] < tl["top"] + tl["height"]:
            found.append(f"sample {i}: boxes overlap")
    if any(box["overflow"] for box in boxes):
        found.append("braille rows overflow their boxes")
    if geometry["frameOverflow"]:
        found.append("the frame is wider than the output area")
    return found


def notebook_problems(path: Path) -> tuple[list[str], dict]:
    """Error and stderr outputs of a saved notebook, and counts of what it shows."""
    nb = json.loads(path.read_text())
    found, counts = [], {"cells run": 0, "images": 0, "progress widgets": 0}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        counts["cells run"] += cell.get("execution_count") is not None
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            counts["images"] += "image/png" in data
            counts["progress widgets"] += "application/vnd.jupyter.widget-view+json" in data
            if out["output_type"] == "error":
                found.append(f"cell {i}: {out['ename']}: {out['evalue'][:200]}")
            elif out.get("name") == "stderr":
                found.append(f"cell {i} writes to stderr: {''.join(out['text'])[:200]!r}")
    code_cells = sum(c["cell_type"] == "code" for c in nb["cells"])
    if counts["cells run"] < code_cells:
        found.append(f"{counts['cells run']} of {code_cells} code cells ran")
    if not counts["images"]:
        found.append("no plot is shown")
    return found, counts


def start_lab(root: Path, settings: Path, port: int, token: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, MNIST_COURSE_PROFILE="quick", MNIST_COURSE_PROGRESS="widget")
    env.pop("MPLBACKEND", None)  # as `make lab`: the kernel's inline backend draws the plots
    command = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={root.parent / 'workspaces'}", "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")
    server = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"JupyterLab exited with code {server.returncode} before it served; see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit(f"JupyterLab did not answer on port {port} within 120 s; see {log}")


def wait_until_run(page, timeout: float) -> None:
    """Until the kernel is idle and no cell is running or queued ([*])."""
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        busy = page.evaluate("""() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                                     .some(p => p.textContent.includes('*'))""")
        status = page.get_attribute(".jp-Notebook-ExecutionIndicator", "data-status")
        if not busy and status == "idle":
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 2:
                return
        else:
            idle_since = None
        time.sleep(0.5)
    raise TimeoutError(f"the notebook was still running after {timeout:.0f} s")


def save(page) -> None:
    page.keyboard.press("Control+s")
    page.wait_for_selector(".jp-mod-dirty", state="detached", timeout=30000)
    time.sleep(1)  # the save request returns after the file is written; let the page settle


def draw_and_read(page, stem: str) -> list[str]:
    """Draw each of SKETCHES on the playground's canvas with the mouse, press "read it", and check that Python got
    the stroke (a non-blank 28x28 input) and shows every model's answer and a picture."""
    import re

    problems = []
    canvas = page.locator(".mnistkit-sketchpad canvas").first
    for press, (digit, strokes) in enumerate(SKETCHES.items(), start=1):
        page.locator("button.mnistkit-clear").first.click()
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()  # again for each digit: the answers below may have scrolled the page
        for stroke in strokes:
            page.mouse.move(box["x"] + stroke[0][0] * box["width"], box["y"] + stroke[0][1] * box["height"])
            page.mouse.down()
            for x, y in stroke[1:]:
                page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=15)
            page.mouse.up()
        page.locator("button.mnistkit-read").first.click()
        answer = page.locator(f".widget-output p:has-text('read {press}:')").first  # the whole line
        try:
            answer.wait_for(timeout=120000)
        except Exception:  # Playwright's TimeoutError: no answer appeared
            problems.append(f"drawn {digit}: no answer appeared after pressing 'read it'")
            continue
        text = answer.inner_text()
        ink = re.search(r"ink pixels in the 28×28 input: (\d+)", text)
        if not ink or int(ink.group(1)) == 0:
            problems.append(f"drawn {digit}: the stroke did not reach Python (a blank input): {text!r}")
        for name in ("ViT", "int8 MLP"):
            if name not in text:
                problems.append(f"drawn {digit}: no answer from {name}: {text!r}")
        time.sleep(2)  # the figures follow the answer's line
        if not page.locator(".widget-output img").count():
            problems.append(f"drawn {digit}: no picture of the answers")
        page.locator(".mnistkit-sketchpad").first.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]") \
            .screenshot(path=str(OUT / f"{stem}_drew_{digit}.png"))
        print(f"{stem}: drew a {digit}, {text}", flush=True)
    return problems


def check_chapter(page, base: str, stem: str, root: Path) -> list[str]:
    problems = []
    # A workspace of its own: the page shows this notebook alone, so Run All cannot reach the previous chapter's
    # tab, which JupyterLab would otherwise restore beside it (and may still hold as the current notebook).
    page.goto(f"{base}/lab/workspaces/{stem}/tree/{stem}.ipynb")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60000)
    # Opened, connected to its kernel, saved: the file must be what the repository holds.
    save(page)
    saved, source = (root / f"{stem}.ipynb").read_text(), (ROOT / "notebooks" / f"{stem}.ipynb").read_text()
    if saved != source:
        (OUT / f"{stem}.saved.ipynb").write_text(saved)  # kept for the diff below and for a look by hand
        diff = difflib.unified_diff(source.splitlines(), saved.splitlines(), "repository", "saved", n=1, lineterm="")
        problems.append("opening and saving the notebook changed it (git diff would not be empty):\n    "
                        + "\n    ".join(list(diff)[:30]))
    page.click(f".lm-DockPanel-tabBar .lm-TabBar-tab:has-text('{stem}.ipynb')")  # the current notebook, for Run All
    page.click(".lm-MenuBar-item:has-text('Run')")
    page.click("[data-command='runmenu:run-all']")
    page.wait_for_selector(".jp-CodeCell .jp-InputPrompt:has-text('*')", timeout=30000)
    wait_until_run(page, timeout=900)
    page.screenshot(path=str(OUT / f"{stem}.png"))
    plot = page.locator(".jp-RenderedImage img >> visible=true").first
    plot.scroll_into_view_if_needed()
    plot.screenshot(path=str(OUT / f"{stem}_first_plot.png"))
    widgets = page.locator(".jp-OutputArea-output .widget-hprogress").count()
    if not widgets and stem not in TRAINS_NOTHING:
        problems.append("no progress widget in the page")
    if page.locator(".mnistkit-sketchpad").count():
        problems += draw_and_read(page, stem)
    if page.locator(".mnistkit-braille").count():
        frame = page.locator(".mnistkit-braille").first
        frame.scroll_into_view_if_needed()
        frame.screenshot(path=str(OUT / f"{stem}_braille.png"))
        problems += [f"braille: {p}" for p in braille_problems(page.evaluate(BRAILLE_GEOMETRY_JS))]
    save(page)
    found, counts = notebook_problems(root / f"{stem}.ipynb")
    problems += found
    print(f"{stem}: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + f", {widgets} progress widgets in the page",
          flush=True)
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", default=DEFAULT_CHAPTERS, help="notebook stems")
    args = parser.parse_args(argv)
    for stem in args.chapters:
        if not (ROOT / "notebooks" / f"{stem}.ipynb").exists():
            raise SystemExit(f"chapter {stem!r} is not a notebook in notebooks/ (expected a stem like 04_augmentation)")
    chromium = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if chromium is None or sync_playwright is None:
        missing = "Chromium (Debian: apt-get install chromium)" if chromium is None else "Playwright (pip)"
        print(f"browser check SKIPPED: {missing} not found; nothing was checked in a browser")
        return 0

    shutil.rmtree(OUT, ignore_errors=True)
    root, settings = OUT / "notebooks", OUT / "settings"
    root.mkdir(parents=True)
    for stem in args.chapters:
        shutil.copy2(ROOT / "notebooks" / f"{stem}.ipynb", root)
    for plugin, values in SETTINGS.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))

    port, token = free_port(), secrets.token_hex(16)
    server = start_lab(root, settings, port, token, OUT / "jupyterlab.log")
    problems: dict[str, list[str]] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(str(e)))
            base = f"http://127.0.0.1:{port}"
            page.goto(f"{base}/lab?token={token}")  # logs in (cookie); later pages need no token in the address
            for stem in args.chapters:
                before = len(console)
                problems[stem] = check_chapter(page, base, stem, root)
                problems[stem] += [f"console error: {text[:300]}" for text in console[before:]]
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    failed = {stem: p for stem, p in problems.items() if p}
    for stem, found in failed.items():
        print(f"FAILED {stem}:\n  " + "\n  ".join(found))
    print(f"browser check: {len(problems) - len(failed)} of {len(problems)} chapters passed in Chromium "
          f"({Path(chromium).name}); screenshots in {OUT.relative_to(ROOT)}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
