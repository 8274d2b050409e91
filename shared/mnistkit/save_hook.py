"""JupyterLab for the course: opening and saving a notebook leaves `git diff` empty.

When JupyterLab connects a notebook to its kernel it writes the kernel's display name and the full
`language_info` (including the Python version of whoever opened it) into the notebook's metadata, so the first
save of an unchanged notebook would be a diff that differs from machine to machine. `make install` configures
JupyterLab's contents manager with `pre_save_hook` below (ci/jupyter_server_config.json, copied into the virtual
environment), which writes the metadata back as the course keeps it.
"""
from __future__ import annotations

# The metadata every course notebook carries; `make install` names the kernel the same way.
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}


def normalize_metadata(notebook: dict) -> dict:
    """Set a notebook's (nbformat JSON) kernelspec and language_info to the course's; returns it, changed in
    place. Only Python notebooks on the python3 kernel are touched."""
    metadata = notebook.setdefault("metadata", {})
    if metadata.get("kernelspec", {}).get("name", "python3") != "python3":
        return notebook
    if metadata.get("language_info", {}).get("name", "python") != "python":
        return notebook
    metadata["kernelspec"] = dict(KERNELSPEC)
    metadata["language_info"] = dict(LANGUAGE_INFO)
    return notebook


def pre_save_hook(model: dict, **kwargs) -> None:
    """Jupyter server's `ContentsManager.pre_save_hook`: normalize a notebook's metadata before it is written."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        normalize_metadata(model["content"])
