"""Settings shared by the whole test suite.

**One isolated kernel cache per test run.**  Unless ``BIOSNN_TEST_CACHE_DIR`` names a
directory, the run creates a private temporary directory, points ``BIOSNN_CACHE_DIR`` at it
before any test (and any pytest-xdist worker) starts, and removes it at the end.  So a test
run never reads kernels, manifests or unit tables that an earlier run, another checkout or
the user's own work left in ``~/.cache/biosnn``, and never writes there.  While editing, set
``BIOSNN_TEST_CACHE_DIR=/tmp/some-dir`` to keep compiled kernels between runs (it is then
kept, and used as given).

Helpers shared by several test modules live in ``tests/support/`` (the ``support``
package); the benchmark networks of Brette et al. (2007) in ``benchmarks/_networks.py``
are shared with the benchmarks.  Both directories are on the import path through
``pythonpath`` in pyproject.toml's ``[tool.pytest.ini_options]``; no test edits
``sys.path``.
"""

from __future__ import annotations

import os
import shutil
import tempfile

_OWN = "_BIOSNN_TEST_OWN_CACHE"


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return  # an xdist worker: it inherited the controller's environment
    given = os.environ.get("BIOSNN_TEST_CACHE_DIR")
    if given:
        os.environ["BIOSNN_CACHE_DIR"] = given
        return
    path = tempfile.mkdtemp(prefix="biosnn-test-cache-")
    os.environ["BIOSNN_CACHE_DIR"] = path
    os.environ[_OWN] = path


def pytest_unconfigure(config):
    if hasattr(config, "workerinput"):
        return
    path = os.environ.pop(_OWN, None)
    if path:
        shutil.rmtree(path, ignore_errors=True)
