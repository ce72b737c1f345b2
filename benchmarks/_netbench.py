"""Shared runner of the network benchmarks: one JSON line per network (see
docs/benchmarks.md, "Networks").
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

# figures quoted in the network issue for this class of machine (2 cores)
ANCHORS = {
    ("cuba", 4000): {
        "brian2_cpp_standalone_loop_s": 0.06,
        "brian2_cpp_compile_s": 6.0,
        "brian2_cython_whole_process_s": 3.6,
        "nest_whole_process_s": 1.7,
    },
    ("cobahh", 4000): {
        "brian2_cpp_standalone_loop_s": 2.3,
        "brian2_cython_loop_s": 5.1,
        "nest_loop_s": 36.0,
    },
    ("cuba", 64000): {"brian2_cpp_standalone_loop_s": 1.2},
}


def measure(kind: str, n: int, duration: str = "1 s") -> dict:
    """Build, compile and run one network in this process; the figures of one row."""
    t0 = time.perf_counter()
    from _networks import coba, cobahh, cuba

    factory = {"cuba": cuba, "coba": coba, "cobahh": cobahh}[kind]
    net, mon, ne = factory(
        n=n, p=min(1.0, 80.0 / n) if kind == "cuba" and n != 4000 else 0.02, backend="c"
    )
    net.run(0.0)  # compile / load the library
    cpu0 = time.process_time()
    net.run(duration)
    run_cpu = time.process_time() - cpu0  # all threads of this process
    c = mon.count
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    row = {
        "model": kind,
        "N": n,
        "backend": net.stats["backend"],
        "build_s": round(net.stats["build_s"], 4),
        "compile_s": round(net.stats["compile_s"], 4),
        "run_s": round(net.stats["run_s"], 4),
        "run_cpu_s": round(run_cpu, 4),
        "in_process_s": round(time.perf_counter() - t0, 4),
        "peak_MiB": round(peak, 1),
        "n_synapses": net.stats["n_synapses"],
        "bytes_per_synapse": round(net.stats["bytes_per_synapse"], 2),
        "spikes": {"exc": int(c[:ne].sum()), "inh": int(c[ne:].sum())},
        "rate_Hz": {"exc": round(float(c[:ne].mean()), 3), "inh": round(float(c[ne:].mean()), 3)},
    }
    return row


def whole_process(script: str, args: list) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of ``python script --inner args`` in a
    fresh process (warm cache).
    """
    # As an installed package runs: with bytecode (this machine sets
    # PYTHONDONTWRITEBYTECODE=1, which would recompile every module in every process);
    # the bytecode goes to a private directory, not into the tree.
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault(
        "PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "biosnn-bench-pycache")
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, script, "--inner", *args], check=True, stdout=subprocess.DEVNULL, env=env
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def report(row: dict, script: str, args: list) -> None:
    whole_process(script, args)  # make sure the cache is warm
    wall, cpu = whole_process(script, args)
    row["whole_process_s"], row["whole_process_cpu_s"] = round(wall, 3), round(cpu, 3)
    anchors = ANCHORS.get((row["model"], row["N"]), {})
    row["anchors"] = anchors
    ratios = {}
    for name, value in anchors.items():
        if name.endswith("loop_s"):
            ratios[name[:-2] + "/ours"] = round(value / row["run_s"], 3)
            ratios[name[:-2] + "/ours_cpu"] = round(value / row["run_cpu_s"], 3)
        elif name.endswith("whole_process_s"):
            ratios[name[:-2] + "/ours"] = round(value / row["whole_process_s"], 3)
    row["ratios"] = ratios
    print(json.dumps(row))
