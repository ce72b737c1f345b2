"""Build cost against model size: a chain of n coupled linear states.

    dx0/dt = -x0/tau,   dx_i/dt = (x_{i-1} - x_i)/tau   (i = 1 .. n-1)

For each n, in a fresh process with a fresh ``BIOSNN_CACHE_DIR`` (nothing cached), the
phases of a first ``simulate(..., backend="c")`` of one rk4 step:

* ``model``: ``Model(text)`` (parsing and the checking pass, no sympy);
* ``spec``: ``model.kernel_spec()`` (sympy: right-hand sides, Jacobian, exp-Euler and
  linear splits, numerically safe rewrites, key);
* ``layout``: ``model.layout`` (flags and generated numeric source, stored in the cache);
* ``c_gen``: printing the C translation unit; ``c_compile``: the compiler (wall, and the
  CPU time of the compiler processes, which a loaded machine inflates much less) - both
  timed inside the first ``simulate(..., backend="c")`` of one rk4 step;
* ``first_step``: the rest of that call (arguments, loading the library, one step);
* ``numpy_kernel``: printing and compiling the NumPy kernel (``--numpy``).

Per-state cost = (total at the largest n - total at the smallest n) / (difference in n).

    .venv/bin/python benchmarks/model_size.py                 # 100 300 1000 3000
    .venv/bin/python benchmarks/model_size.py 100 300 --numpy
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chain_text(n: int) -> str:
    """The equations of a chain of ``n`` linear states (x0 decays, each feeds the next)."""
    lines = ["dx0/dt = -x0/tau : 1"]
    lines += [f"dx{i}/dt = (x{i - 1} - x{i})/tau : 1" for i in range(1, n)]
    return "\n".join(lines)


def child(n: int, numpy: bool) -> None:
    """Runs in a fresh process; prints one JSON object with its timings."""
    out = {"n": n}
    t = time.perf_counter()
    from biosnn import Model, simulate
    from biosnn.codegen import c_backend, c_build

    out["import_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = Model(
        chain_text(n), params={"tau": 1.0}, initial={"x0": 1.0}, time="1", name=f"chain{n}"
    )
    out["model_s"] = time.perf_counter() - t
    t = time.perf_counter()
    spec = model.kernel_spec()
    out["spec_s"] = time.perf_counter() - t
    t = time.perf_counter()
    _ = model.layout  # the names and flags without sympy (the warm start's part)
    out["layout_s"] = time.perf_counter() - t
    # the first simulate: C printing and compiling timed inside it (no second printing)
    generate, build = c_backend.generate_source, c_build.build
    out["c_gen_s"] = out["c_compile_s"] = out["c_compile_cpu_s"] = 0.0
    sizes = []

    def timed_generate(*a, **kw):
        t = time.perf_counter()
        source = generate(*a, **kw)
        out["c_gen_s"] += time.perf_counter() - t
        sizes.append(len(source))
        return source

    def timed_build(*a, **kw):
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        path = build(*a, **kw)
        out["c_compile_s"] += time.perf_counter() - t
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["c_compile_cpu_s"] += (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        return path

    c_backend.generate_source, c_build.build = timed_generate, timed_build
    t = time.perf_counter()
    res = simulate(model, 0.01, method="rk4", dt=0.01, backend="c")
    out["first_step_s"] = time.perf_counter() - t - out["c_gen_s"] - out["c_compile_s"]
    c_backend.generate_source, c_build.build = generate, build
    assert res.stats["backend"] == "c"
    if numpy:
        from biosnn.codegen.numpy_backend import NumpyKernel

        t = time.perf_counter()
        NumpyKernel(spec)
        out["numpy_kernel_s"] = time.perf_counter() - t
    out["total_s"] = sum(
        v
        for k, v in out.items()
        if k.endswith("_s") and k not in ("import_s", "c_compile_cpu_s", "numpy_kernel_s")
    )
    out["c_source_chars"] = sum(sizes)
    print("RESULT " + json.dumps(out), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 300, 1000, 3000])
    parser.add_argument("--numpy", action="store_true", help="also time the NumPy kernel")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.numpy)
        return 0
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="biosnn-size-") as cache:
            env = dict(
                os.environ,
                BIOSNN_CACHE_DIR=cache,
                PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            )
            cmd = [sys.executable, __file__, "--child", str(n)] + (
                ["--numpy"] if args.numpy else []
            )
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                print(proc.stdout + proc.stderr)
                return 1
            row = json.loads(line[0][len("RESULT ") :])
            rows.append(row)
            phases = " ".join(
                f"{k[:-2]} {v:.2f}" for k, v in row.items() if k.endswith("_s") and k != "total_s"
            )
            print(
                f"n = {n:5d}: total {row['total_s']:7.2f} s ({phases}); "
                f"{1000 * row['total_s'] / n:.1f} ms per state",
                flush=True,
            )
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        per = (b["total_s"] - a["total_s"]) / (b["n"] - a["n"])
        print(
            f"marginal cost per state between n = {a['n']} and {b['n']}: "
            f"{1000 * per:.1f} ms (load average {os.getloadavg()[0]:.1f})"
        )
    print("RESULT " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
