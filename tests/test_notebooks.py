"""Execute every notebook in notebooks/ and fail on any error.

The notebooks are teaching material; a notebook that no longer runs is a bug.  Each one runs
top to bottom with nbclient in a kernel started from the *current* interpreter
(``sys.executable``, so the kernel sees the same biosnn and the same packages as pytest), in
a temporary working directory, with matplotlib's inline backend (figures are rendered, as
for a student) and a temporary kernel cache (``BIOSNN_CACHE_DIR``, unless one is set
already).  Nothing is written back to the notebook files.  No timing assertions: the
per-cell timeout only stops a hung kernel.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def _kernel_manager(tmp_path: Path, env: dict):
    """A KernelManager whose only kernelspec runs ``sys.executable -m ipykernel_launcher``."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kdir = tmp_path / "kernels" / "biosnn-test"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "biosnn test kernel",
                "language": "python",
                "env": env,
            }
        )
    )
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return KernelManager(kernel_name="biosnn-test", kernel_spec_manager=ksm)


def test_notebooks_found():
    assert NOTEBOOKS, "no notebooks in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name}: stored outputs (clear them)"
    env = {
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "BIOSNN_CACHE_DIR": os.environ.get("BIOSNN_CACHE_DIR") or str(tmp_path / "cache"),
    }
    workdir = tmp_path / "run"
    workdir.mkdir()
    client = nbclient.NotebookClient(
        nb,
        km=_kernel_manager(tmp_path, env),
        timeout=600,
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
