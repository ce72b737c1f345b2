"""The warm path of the command line imports no sympy (issue 9, section 5).

``biosnn simulate hodgkin_huxley --set I_ext=...`` used to import sympy on every call
because its summary line asked ``model.kernel_spec()`` whether the model has events; the
cached layout answers that (docs/architecture.md, "Warm start").  Measured on a warm
cache, whole process, load 3.6 on 2 cores: 0.81-1.07 s wall before, 0.30-0.37 s after
(docs/benchmarks.md, "start-up, CLI").  No timing is asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from biosnn.codegen import c_build

CODE = """
import io, json, sys
from biosnn.cli import main
out, err = io.StringIO(), io.StringIO()
status = main({argv!r}, out=out, err=err)
print(json.dumps({{"status": status, "out": out.getvalue(), "err": err.getvalue(),
                  "heavy": sorted(m for m in ("sympy", "pint", "scipy", "matplotlib")
                                  if m in sys.modules)}}))
"""


def _run(argv, cache):
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(cache))
    proc = subprocess.run(
        [sys.executable, "-c", CODE.format(argv=argv)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["numpy"] + (["c"] if c_build.compiler_available() else []))
def test_warm_simulate_imports_no_sympy(tmp_path, backend):
    argv = ["simulate", "hodgkin_huxley", "-T", "20", "--set", "I_ext=10", "--backend", backend]
    cold = _run(argv, tmp_path)
    assert cold["status"] == 0, cold["err"]
    warm = _run(argv + ["--set", "I_ext=12"], tmp_path)  # another value: same kernel
    assert warm["status"] == 0, warm["err"]
    assert "sympy" not in warm["heavy"] and "pint" not in warm["heavy"], warm["heavy"]
    assert "spikes:" in warm["out"]  # the summary still knows about events
    # the same run (I_ext=10) cold and warm prints the same summary
    again = _run(argv, tmp_path)
    assert again["out"] == cold["out"]
