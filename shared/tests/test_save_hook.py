"""Opening and saving a notebook in JupyterLab changes nothing (the browser check saves one for real)."""
import json

import nbformat
import pytest

from mnistkit.paths import REPO_ROOT
from mnistkit.save_hook import KERNELSPEC, LANGUAGE_INFO, normalize_metadata, pre_save_hook

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").rglob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_carry_the_metadata_the_save_hook_writes(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"] == KERNELSPEC and nb["metadata"]["language_info"] == LANGUAGE_INFO
    assert normalize_metadata(json.loads(path.read_text())) == nb


def test_save_hook_undoes_what_jupyterlab_writes_on_opening():
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                                     "mimetype": "text/x-python", "name": "python", "version": "3.11.7"},
                   "celltoolbar": "Tags"}
    model = {"type": "notebook", "content": json.loads(nbformat.writes(nb))}
    pre_save_hook(model, path="x.ipynb", contents_manager=None)
    assert model["content"]["metadata"] == {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO,
                                            "celltoolbar": "Tags"}


def test_save_hook_leaves_other_kernels_and_files_alone():
    r_notebook = {"metadata": {"kernelspec": {"display_name": "R", "language": "R", "name": "ir"},
                               "language_info": {"name": "R"}}}
    assert normalize_metadata(json.loads(json.dumps(r_notebook))) == r_notebook
    model = {"type": "file", "content": "text"}
    pre_save_hook(model)
    assert model == {"type": "file", "content": "text"}


def test_make_install_configures_the_hook_and_names_the_kernel_as_the_notebooks_do():
    config = json.loads((REPO_ROOT / "ci" / "jupyter_server_config.json").read_text())
    assert config["ContentsManager"]["pre_save_hook"] == "mnistkit.save_hook.pre_save_hook"
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert f'--display-name "{KERNELSPEC["display_name"]}"' in makefile
    assert "ci/jupyter_server_config.json" in makefile
    # JupyterLab's kernels draw inline only without MPLBACKEND, which the Makefile sets to Agg for everything else.
    assert "env -u MPLBACKEND MNIST_COURSE_PROGRESS=widget $(VENV)/bin/jupyter lab notebooks" in makefile


def test_jupyter_server_reads_the_hook_from_where_make_install_puts_it():
    """The server's config as it loads it in this environment (the course's virtual environment, which `make install`
    configures): a file in jupyter_server_config.d/ is read for extension switches only, so a hook configured there
    never runs, and JupyterLab's first save writes the kernel's Python version into the notebook."""
    serverapp = pytest.importorskip("jupyter_server.serverapp")
    app = serverapp.ServerApp()
    app.load_config_file()
    assert app.config.get("ContentsManager", {}).get("pre_save_hook") == "mnistkit.save_hook.pre_save_hook"
