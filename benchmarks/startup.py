"""Start-up: a whole new process that imports biosnn, loads a model and simulates it once.

    import biosnn; m = biosnn.load_model(MODEL); biosnn.simulate(m, ...)

Every worker of a sweep, every CLI call and every test pays this (docs/architecture.md,
"Warm start").  Each measurement is a fresh ``python -c`` process with ``BIOSNN_CACHE_DIR``
set to a new temporary directory: the first process is *cold* (pint, sympy, the C
compiler), the next ``--repeat`` ones are *warm* (everything found by key in the cache).
Reported: the whole process (wall and CPU of the child, interpreter start included), the
time of ``import biosnn; load_model`` and of the first ``simulate`` inside it, and which
of sympy, pint, scipy the process imported.  Median of the warm runs.  Bytecode is
written (to the temporary directory) by the cold run and read by the warm ones, as in an
installed package.

``--code DIR`` runs another checkout of the package (e.g. the last commit, unpacked with
``git archive HEAD biosnn models | tar -x -C DIR``) for a before/after comparison at
the same moment.  Goal: warm whole process < 0.25 s of in-process time for lif and HH.

    .venv/bin/python benchmarks/startup.py
    .venv/bin/python benchmarks/startup.py --model hodgkin_huxley --method rk4 --dt 0.01
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
import biosnn
m = biosnn.load_model({model!r})
t1 = time.perf_counter()
r = biosnn.simulate(m, {duration!r}, method={method!r}, dt={dt!r}, backend={backend!r})
t2 = time.perf_counter()
print(json.dumps({{"load": t1 - t0, "simulate": t2 - t1, "backend": r.stats["backend"],
                  "heavy": sorted(k for k in ("sympy", "pint", "scipy") if k in sys.modules)}}))
"""


def _one(code: str, cache: str, cwd: Path) -> dict:
    # bytecode as in a normal installation, kept in the temporary directory (this
    # machine's environment sets PYTHONDONTWRITEBYTECODE, which would recompile every
    # module of every process)
    env = dict(os.environ, BIOSNN_CACHE_DIR=cache, PYTHONPYCACHEPREFIX=os.path.join(cache, "pyc"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(
        wall=wall, cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    )
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="lif")
    ap.add_argument("--method", default="exact")
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--duration", type=float, default=100.0)
    ap.add_argument("--backend", default="c")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--code", default=str(ROOT), help="directory holding the biosnn package")
    args = ap.parse_args(argv)
    code = _CHILD.format(
        model=args.model,
        duration=args.duration,
        method=args.method,
        dt=args.dt,
        backend=args.backend,
    )
    with tempfile.TemporaryDirectory(prefix="biosnn-startup-") as cache:
        cold = _one(code, cache, Path(args.code))
        warm = [_one(code, cache, Path(args.code)) for _ in range(args.repeat)]
    med = {k: statistics.median(w[k] for w in warm) for k in ("wall", "cpu", "load", "simulate")}
    print(f"{args.model}, {args.method}, backend {warm[0]['backend']} ({args.code})")
    for label, r in (("cold", cold), (f"warm (median of {args.repeat})", {**warm[0], **med})):
        print(
            f"  {label:22s} process {r['wall']:.3f} s wall / {r['cpu']:.3f} s CPU; "
            f"import+load_model {r['load']:.3f} s, first simulate {r['simulate']:.3f} s; "
            f"imported: {', '.join(r['heavy']) or 'none of sympy, pint, scipy'}"
        )
    return {"cold": cold, "warm": warm, "median": med}


if __name__ == "__main__":
    main()
