"""Real anchors of the network benchmarks: Brian2 2.9 and NEST 3.10, run side by side.

Each anchor runs the Brette et al. (2007) network as Brian2's own examples define it
(``examples/CUBA.py``, ``examples/COBAHH.py``; the script text below is written for this
file, not copied) in a *fresh* process of the benchmark environment ``.venv-bench``
(``make bench-env``; Brian2 needs numpy < 2.4, which must not enter ``.venv``), and prints
one JSON line::

    .venv-bench/bin/python benchmarks/_anchors.py cuba --tool brian2 --target cpp_standalone
    .venv-bench/bin/python benchmarks/_anchors.py cuba --tool brian2 --target cython
    .venv-bench/bin/python benchmarks/_anchors.py cuba --tool brian2 --target numpy
    .venv-bench/bin/python benchmarks/_anchors.py cuba --tool nest
    .venv-bench/bin/python benchmarks/_anchors.py cobahh --tool brian2 --target cpp_standalone
    .venv-bench/bin/python benchmarks/_anchors.py cobahh --tool nest

and, to run biosnn's own ``benchmarks/<model>.py`` interleaved with the anchors, repeated
(best and median of each time, ratios anchor / biosnn)::

    BIOSNN_CACHE_DIR=/tmp/c .venv-bench/bin/python benchmarks/_anchors.py compare cuba --repeat 3

and ``.venv-bench/bin/python benchmarks/_anchors.py check-psp`` checks NEST's CUBA weights.

What is measured (all times in seconds, wall clock unless the name ends in ``_cpu_s``):

``whole_process_s`` / ``whole_process_cpu_s``
    The fresh child process from interpreter start to results (imports, building,
    compiling, running, reading the spikes back), measured by the parent; the CPU time
    includes every descendant (compiler, the standalone binary).
``build_s``
    Creating the neurons and synapses (``connect`` included); for ``cpp_standalone``
    plus the code generation of ``device.build`` (its time less ``make``).
``compile_s``
    ``cpp_standalone`` only: ``make`` of the generated project, in a fresh directory (a
    cold compile; Brian2's own ``device.timers``).  Runtime targets compile inside ``run``
    (``run_call_s - loop_s``); with a warm cache that is loading cached modules.
``loop_s``
    The simulation loop only, as Brian2 itself measures it (``device._last_run_time``:
    in C++ for standalone, around the step loop after ``before_run`` for runtime targets),
    or NEST's ``Simulate``.
``loop_cpu_s``
    CPU time of the loop where it can be separated: NEST's ``Simulate``; for standalone the
    CPU time of the binary (loop plus loading its arrays); for runtime targets the CPU time
    of the whole ``run`` call (``run_call_cpu_s``) is given instead.
``peak_MiB``
    Peak resident memory of the Python process; for ``cpp_standalone`` also of the binary
    (``binary_peak_MiB``).

``--warm`` (default for ``cython``) runs the same child once before the measured one so that
Brian2's Cython cache is warm; the cache lives in ``$BIOSNN_CACHE_DIR/anchors`` (or the
system temp directory) so it does not touch the user's ``~/.cython``.

The same functions are importable from any interpreter (this module imports only the
standard library at top level): ``run_anchor`` starts the child with
``.venv-bench/bin/python``, and ``measured_anchors`` returns the figures in the form of
``_netbench.ANCHORS`` so that ``cuba.py``/``cobahh.py`` can print ratios against them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
MARK = "ANCHOR_RESULT "
DURATION_MS = 1000.0
TARGETS = ("cpp_standalone", "cython", "numpy")
MODELS = ("cuba", "cobahh")


# ------------------------------------------------------------------ parent side


def bench_python() -> Path | None:
    """The benchmark environment's interpreter, or None if ``make bench-env`` was not run."""
    return BENCH_PYTHON if BENCH_PYTHON.exists() else None


def cache_dir() -> Path:
    """Private cache of the anchors (Brian2's Cython modules, standalone projects)."""
    base = os.environ.get("BIOSNN_CACHE_DIR") or tempfile.gettempdir()
    path = Path(base) / "anchors"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _child(python, args: list) -> tuple[dict, float, float]:
    """Run ``python _anchors.py --inner args`` in a fresh process: (row, wall, CPU)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--inner", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYNEST_QUIET="1"),
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"anchor {' '.join(args)} failed (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-2000:]}"
        )
    return json.loads(lines[-1][len(MARK) :]), wall, cpu


def run_anchor(
    model: str,
    tool: str,
    target: str | None = None,
    n: int = 4000,
    seed: int = 1,
    warm: bool | None = None,
    python=None,
) -> dict:
    """Run one anchor in a fresh process of the benchmark environment; its JSON row.

    Parameters
    ----------
    model : "cuba" or "cobahh"
    tool : "brian2" or "nest"
    target : Brian2's device/target: "cpp_standalone", "cython" or "numpy" (not for NEST)
    n : number of neurons (80 % excitatory); p = 0.02 at 4000, else p = 80/n (CUBA scaling,
        as ``_netbench.measure``)
    seed : random seed of connectivity and initial values
    warm : run the child once before the measured run (default: only for ``cython``)
    python : interpreter to use (default ``.venv-bench/bin/python``)
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if tool == "brian2":
        if target not in TARGETS:
            raise ValueError(f"Brian2 target must be one of {TARGETS}, got {target!r}")
    elif tool == "nest":
        if target not in (None, "nest"):
            raise ValueError(f"NEST takes no --target, got {target!r}")
        target = "nest"
    else:
        raise ValueError(f"tool must be 'brian2' or 'nest', got {tool!r}")
    python = python or bench_python()
    if python is None:
        raise RuntimeError(f"{BENCH_PYTHON} does not exist: run `make bench-env` first")
    if n < 10:
        raise ValueError(f"n must be at least 10 neurons, got {n}")
    args = [model, tool, target, str(n), str(seed)]
    if warm is None:
        warm = target == "cython"
    if warm:
        _child(python, args)
    row, wall, cpu = _child(python, args)
    row["whole_process_s"], row["whole_process_cpu_s"] = round(wall, 3), round(cpu, 3)
    row["warm_cache"] = bool(warm)
    extra = "" if n == 4000 else f" --n {n}"
    tgt = "" if tool == "nest" else f" --target {target}"
    row["command"] = (
        f".venv-bench/bin/python benchmarks/_anchors.py {model} --tool {tool}{tgt}{extra}"
    )
    return row


# the anchors in the form of _netbench.ANCHORS, measured: (key, model, tool, target, field)
_ANCHOR_KEYS = {
    "cuba": [
        ("brian2_cpp_standalone_loop_s", "brian2", "cpp_standalone", "loop_s"),
        ("brian2_cpp_compile_s", "brian2", "cpp_standalone", "compile_s"),
        ("brian2_cython_whole_process_s", "brian2", "cython", "whole_process_s"),
        ("nest_loop_s", "nest", None, "loop_s"),
        ("nest_whole_process_s", "nest", None, "whole_process_s"),
    ],
    "cobahh": [
        ("brian2_cpp_standalone_loop_s", "brian2", "cpp_standalone", "loop_s"),
        ("brian2_cython_loop_s", "brian2", "cython", "loop_s"),
        ("nest_loop_s", "nest", None, "loop_s"),
    ],
}


def measured_anchors(model: str, n: int = 4000, repeat: int = 1, nest: bool = True) -> dict:
    """Measure the anchors of ``model`` now; ``{key: seconds}`` as ``_netbench.ANCHORS``.

    Each figure is the best of ``repeat`` fresh runs.  Returns {} when the benchmark
    environment does not exist.  ``nest=False`` leaves NEST out (its COBAHH takes ~40 s).
    """
    if bench_python() is None:
        return {}
    rows, out = {}, {}
    for key, tool, target, field in _ANCHOR_KEYS[model]:
        if tool == "nest" and not nest:
            continue
        if (tool, target) not in rows:
            rows[(tool, target)] = [
                run_anchor(model, tool, target, n=n) for _ in range(max(1, repeat))
            ]
        out[key] = min(r[field] for r in rows[(tool, target)])
    return out


# what `compare` runs by default for each model: (tool, target)
COMPARE_SET = {
    "cuba": [
        ("brian2", "cpp_standalone"),
        ("brian2", "cython"),
        ("brian2", "numpy"),
        ("nest", None),
    ],
    "cobahh": [("brian2", "cpp_standalone"), ("brian2", "cython"), ("nest", None)],
}
_FIELDS = (
    "loop_s",
    "loop_cpu_s",
    "run_call_cpu_s",
    "build_s",
    "compile_s",
    "whole_process_s",
    "whole_process_cpu_s",
    "peak_MiB",
    "binary_peak_MiB",
)


def _ours(model: str, python) -> dict:
    """Biosnn's own benchmark script (benchmarks/<model>.py) in a fresh process."""
    proc = subprocess.run(
        [str(python), str(HERE / f"{model}.py")],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmarks/{model}.py failed: {proc.stderr.strip()[-2000:]}")
    row = json.loads(lines[-1])
    row["loop_s"], row["loop_cpu_s"] = row["run_s"], row["run_cpu_s"]
    return row


def compare(model: str, repeat: int = 3, tools=None, ours_python=None) -> dict:
    """Run biosnn's ``benchmarks/<model>.py`` and the anchors interleaved, ``repeat`` rounds.

    Each round runs every entry once in a fresh process (biosnn first, then the anchors in
    the order of ``tools``), so that all of them see the same machine load; the Cython
    cache is warmed before the first round only.  Returns, per entry, the best and the
    median of each time over the rounds, the rates of the last round, and the ratios
    anchor / biosnn of the best loop and whole-process times, wall and CPU.
    """
    tools = COMPARE_SET[model] if tools is None else tools
    ours_python = ours_python or ROOT / ".venv" / "bin" / "python"
    names = ["biosnn"] + [t if g is None else f"{t}_{g}" for t, g in tools]
    rounds = {name: [] for name in names}
    for r in range(max(1, repeat)):
        rounds["biosnn"].append(_ours(model, ours_python))
        for (tool, target), name in zip(tools, names[1:], strict=True):
            rounds[name].append(
                run_anchor(model, tool, target, warm=(target == "cython" and r == 0))
            )
    out = {"model": model, "repeat": repeat, "entries": {}}
    for name, rows in rounds.items():
        entry = {
            "rate_Hz": rows[-1]["rate_Hz"],
            "n_synapses": rows[-1]["n_synapses"],
            "command": rows[-1].get("command", f".venv/bin/python benchmarks/{model}.py"),
        }
        for f in _FIELDS:
            vals = sorted(row[f] for row in rows if row.get(f) is not None)
            if vals:
                entry[f] = {"best": vals[0], "median": round(statistics.median(vals), 4)}
        entry["rounds"] = [{f: row[f] for f in _FIELDS if row.get(f) is not None} for row in rows]
        out["entries"][name] = entry
    ours = out["entries"]["biosnn"]
    for name in names[1:]:
        e = out["entries"][name]
        e["ratio_vs_biosnn"] = {
            f"{f}": round(e[f]["best"] / ours[f]["best"], 3)
            for f in ("loop_s", "loop_cpu_s", "whole_process_s", "whole_process_cpu_s")
            if f in e and f in ours and ours[f]["best"] > 0
        }
    return out


# ------------------------------------------------------------------ child side


def _rates(counts, ne: int, duration_s: float) -> dict:
    c = [int(x) for x in counts]
    exc, inh = c[:ne], c[ne:]
    return {
        "spikes": {"exc": sum(exc), "inh": sum(inh)},
        "rate_Hz": {
            "exc": round(sum(exc) / len(exc) / duration_s, 3),
            "inh": round(sum(inh) / len(inh) / duration_s, 3),
        },
    }


def _peak_mib(who=resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024.0, 1)


# A wrapper around the standalone binary that records its own peak memory and CPU time
# (RUSAGE_CHILDREN of this wrapper sees only ./main, not the compiler).
_RUN_WRAPPER = """
import json, resource, subprocess, sys
code = subprocess.call(["./main"] + sys.argv[1:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
with open("binary_rusage.json", "w") as fh:
    json.dump({"maxrss_kib": r.ru_maxrss, "cpu_s": r.ru_utime + r.ru_stime}, fh)
sys.exit(code)
"""


def _brian2_setup(target: str, seed: int):
    """Import Brian2 and select the device/target; returns (brian2 module, directory)."""
    import brian2 as b2

    b2.prefs.logging.file_log = False
    b2.prefs.logging.std_redirection = False
    directory = None
    if target == "cpp_standalone":
        directory = tempfile.mkdtemp(prefix="standalone_", dir=cache_dir())
        b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
        b2.prefs.devices.cpp_standalone.run_cmd_unix = [sys.executable, "-c", _RUN_WRAPPER]
    else:
        b2.prefs.codegen.target = target
        if target == "cython":
            b2.prefs.codegen.runtime.cython.cache_dir = str(cache_dir() / "brian2_cython")
    b2.seed(seed)
    return b2, directory


def _brian2_run(b2, target: str, directory, net_objects) -> dict:
    """Run 1 s and time it the way each Brian2 target allows."""
    row = {}
    net = b2.Network(*net_objects)
    c0, t0 = time.process_time(), time.perf_counter()
    net.run(DURATION_MS * b2.ms)
    row["run_call_s"] = round(time.perf_counter() - t0, 4)
    row["run_call_cpu_s"] = round(time.process_time() - c0, 4)
    if target == "cpp_standalone":
        device = b2.get_device()
        t0 = time.perf_counter()
        device.build(directory=directory, compile=True, run=False, with_output=False)
        row["compile_s"] = round(device.timers["compile"]["make"], 4)
        row["build_s"] = round(
            time.perf_counter() - t0 - row["compile_s"] + row.pop("run_call_s"), 4
        )
        row.pop("run_call_cpu_s")
        device.run(directory, "results", with_output=False, run_args=[])
        row["binary_wall_s"] = round(device.timers["run_binary"], 4)
        with open(os.path.join(directory, "binary_rusage.json")) as fh:
            ru = json.load(fh)
        row["loop_cpu_s"] = round(ru["cpu_s"], 4)
        row["binary_peak_MiB"] = round(ru["maxrss_kib"] / 1024.0, 1)
    row["loop_s"] = round(float(b2.get_device()._last_run_time), 4)
    return row


def _brian2_ei_row(b2, target, directory, P, Ce, Ci, ne, t0, t_start) -> dict:
    """Monitor, run and measure a Brian2 E/I network built since ``t0`` (``ne``
    excitatory neurons first): the row of brian2_cuba and brian2_cobahh.
    """
    mon = b2.SpikeMonitor(P)
    build_s = time.perf_counter() - t0
    row = _brian2_run(b2, target, directory, [P, Ce, Ci, mon])
    row["build_s"] = round(row.get("build_s", 0.0) + build_s, 4)
    row["n_synapses"] = int(len(Ce) + len(Ci))
    row.update(_rates(mon.count[:], ne, DURATION_MS / 1000.0))
    row["in_process_s"] = round(time.perf_counter() - t_start, 4)
    row["peak_MiB"] = _peak_mib()
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
    return row


def brian2_cuba(target: str, n: int = 4000, seed: int = 1) -> dict:
    """Brian2's examples/CUBA.py: LIF, exact ('linear') integration, current-like
    exponential synapses in volts, no delays, dt = 0.1 ms (Brian2's default), 1 s.
    """
    t_start = time.perf_counter()
    b2, directory = _brian2_setup(target, seed)
    ms, mV = b2.ms, b2.mV
    p = 0.02 if n == 4000 else min(1.0, 80.0 / n)
    ne = int(0.8 * n)
    t0 = time.perf_counter()
    namespace = {
        "taum": 20 * ms,
        "taue": 5 * ms,
        "taui": 10 * ms,
        "Vt": -50 * mV,
        "Vr": -60 * mV,
        "El": -49 * mV,
        "we": (60 * 0.27 / 10) * mV,  # excitatory weight, 1.62 mV
        "wi": (-20 * 4.5 / 10) * mV,
    }  # inhibitory weight, -9 mV
    eqs = """
    dv/dt  = (ge + gi - (v - El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = b2.NeuronGroup(
        n,
        eqs,
        threshold="v > Vt",
        reset="v = Vr",
        refractory=5 * ms,
        method="linear",
        namespace=namespace,
    )
    P.v = "Vr + rand()*(Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV
    Ce = b2.Synapses(P, P, on_pre="ge += we", namespace=namespace)
    Ci = b2.Synapses(P, P, on_pre="gi += wi", namespace=namespace)
    Ce.connect(f"i < {ne}", p=p)
    Ci.connect(f"i >= {ne}", p=p)
    return _brian2_ei_row(b2, target, directory, P, Ce, Ci, ne, t0, t_start)


def brian2_cobahh(target: str, n: int = 4000, seed: int = 1) -> dict:
    """Brian2's examples/COBAHH.py: Traub-Miles HH, exponential conductance synapses,
    exponential Euler, threshold v > -20 mV with 3 ms refractoriness, dt = 0.1 ms, 1 s.
    """
    t_start = time.perf_counter()
    b2, directory = _brian2_setup(target, seed)
    ms, mV, nS = b2.ms, b2.mV, b2.nS
    ne = int(0.8 * n)
    t0 = time.perf_counter()
    area = 20000 * b2.umetre**2
    namespace = {
        "Cm": (1 * b2.ufarad * b2.cm**-2) * area,
        "gl": (5e-5 * b2.siemens * b2.cm**-2) * area,
        "El": -60 * mV,
        "EK": -90 * mV,
        "ENa": 50 * mV,
        "g_na": (100 * b2.msiemens * b2.cm**-2) * area,
        "g_kd": (30 * b2.msiemens * b2.cm**-2) * area,
        "VT": -63 * mV,
        "taue": 5 * ms,
        "taui": 10 * ms,
        "Ee": 0 * mV,
        "Ei": -80 * mV,
        "we": 6 * nS,
        "wi": 67 * nS,
    }
    eqs = b2.Equations("""
    dv/dt = (gl*(El - v) + ge*(Ee - v) + gi*(Ei - v)
             - g_na*(m*m*m)*h*(v - ENa) - g_kd*(n*n*n*n)*(v - EK))/Cm : volt
    dm/dt = alpha_m*(1 - m) - beta_m*m : 1
    dn/dt = alpha_n*(1 - n) - beta_n*n : 1
    dh/dt = alpha_h*(1 - h) - beta_h*h : 1
    dge/dt = -ge*(1./taue) : siemens
    dgi/dt = -gi*(1./taui) : siemens
    alpha_m = 0.32*(mV**-1)*(13*mV - v + VT)/(exp((13*mV - v + VT)/(4*mV)) - 1.)/ms : Hz
    beta_m = 0.28*(mV**-1)*(v - VT - 40*mV)/(exp((v - VT - 40*mV)/(5*mV)) - 1)/ms : Hz
    alpha_h = 0.128*exp((17*mV - v + VT)/(18*mV))/ms : Hz
    beta_h = 4./(1 + exp((40*mV - v + VT)/(5*mV)))/ms : Hz
    alpha_n = 0.032*(mV**-1)*(15*mV - v + VT)/(exp((15*mV - v + VT)/(5*mV)) - 1.)/ms : Hz
    beta_n = .5*exp((10*mV - v + VT)/(40*mV))/ms : Hz
    """)
    P = b2.NeuronGroup(
        n,
        model=eqs,
        threshold="v > -20*mV",
        refractory=3 * ms,
        method="exponential_euler",
        namespace=namespace,
    )
    Ce = b2.Synapses(P[:ne], P, on_pre="ge += we", namespace=namespace)
    Ci = b2.Synapses(P[ne:], P, on_pre="gi += wi", namespace=namespace)
    Ce.connect(p=0.02)
    Ci.connect(p=0.02)
    P.v = "El + (randn()*5 - 5)*mV"
    P.ge = "(randn()*1.5 + 4)*10.*nS"
    P.gi = "(randn()*12 + 20)*10.*nS"
    return _brian2_ei_row(b2, target, directory, P, Ce, Ci, ne, t0, t_start)


def _nest_setup(seed: int):
    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner on stdout
    import nest

    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 0.1, "rng_seed": seed, "local_num_threads": 1})
    return nest


def _nest_finish(nest, nodes, ne: int, t_start: float, t_built: float) -> dict:
    rec = nest.Create("spike_recorder")
    nest.Connect(nodes, rec)
    row = {"build_s": round(time.perf_counter() - t_built, 4)}
    c0, t0 = time.process_time(), time.perf_counter()
    nest.Simulate(DURATION_MS)
    row["loop_s"] = round(time.perf_counter() - t0, 4)
    row["loop_cpu_s"] = round(time.process_time() - c0, 4)
    senders = rec.get("events", "senders")
    first = nodes[0].global_id
    counts = [0] * len(nodes)
    for s in senders:
        counts[int(s) - first] += 1
    row["n_synapses"] = len(nest.GetConnections(source=nodes, target=nodes))
    row.update(_rates(counts, ne, DURATION_MS / 1000.0))
    row["in_process_s"] = round(time.perf_counter() - t_start, 4)
    row["peak_MiB"] = _peak_mib()
    return row


def nest_cuba(n: int = 4000, seed: int = 1) -> dict:
    """NEST's equivalent of Brian2's CUBA: ``iaf_psc_exp`` with the same parameters.

    Brian2 (examples/CUBA.py) writes, with ge, gi in volts::

        taum dv/dt = -(v - El) + ge + gi,    dge/dt = -ge/taue,   ge += we at a spike,

    we = 60*0.27/10 mV = 1.62 mV, wi = -20*4.5/10 mV = -9 mV.  NEST's ``iaf_psc_exp`` is::

        C_m dV/dt = -(C_m/tau_m) (V - E_L) + I_ex + I_in,  dI_ex/dt = -I_ex/tau_syn_ex,
        I_ex += w (pA) at a spike.

    Multiplying Brian2's equation by C_m/tau_m gives NEST's with I_ex = (C_m/tau_m) ge, so
    a jump we of ge is a jump ``w = C_m we / tau_m`` of I_ex; the decay constants carry
    over unchanged (tau_syn_ex = taue = 5 ms, tau_syn_in = taui = 10 ms).  C_m is free
    (it cancels); with NEST's default C_m = 250 pF and tau_m = 20 ms::

        w_e = 250 pF * 1.62 mV / 20 ms = 20.25 pA,   w_i = 250 pF * (-9 mV) / 20 ms = -112.5 pA

    (pF * mV / ms = pA).  E_L = -49 mV, V_th = -50 mV, V_reset = -60 mV, t_ref = 5 ms
    (during which V is clamped and the currents go on decaying, as Brian2's
    ``(unless refractory)``); V_m starts uniform in [-60, -50) mV; both integrate the
    subthreshold dynamics exactly.  Connectivity: ``pairwise_bernoulli`` with p = 0.02,
    autapses allowed, as Brian2's ``connect(p=...)``.  Brian2's example has no delay (a
    spike acts from the next step); NEST's smallest delay is one step, 0.1 ms.
    ``check_cuba_psp`` (``_anchors.py check-psp``) checks the conversion: a single PSP in
    NEST equals the analytic solution of Brian2's equations to ~1e-15 mV.
    """
    t_start = time.perf_counter()
    nest = _nest_setup(seed)
    t_built = time.perf_counter()
    p = 0.02 if n == 4000 else min(1.0, 80.0 / n)
    ne = int(0.8 * n)
    C_m, tau_m = 250.0, 20.0  # pF, ms
    w_e = C_m * (60 * 0.27 / 10) / tau_m  # 20.25 pA
    w_i = C_m * (-20 * 4.5 / 10) / tau_m  # -112.5 pA
    nodes = nest.Create(
        "iaf_psc_exp",
        n,
        params={
            "C_m": C_m,
            "tau_m": tau_m,
            "E_L": -49.0,
            "V_th": -50.0,
            "V_reset": -60.0,
            "t_ref": 5.0,
            "tau_syn_ex": 5.0,
            "tau_syn_in": 10.0,
            "I_e": 0.0,
            "V_m": nest.random.uniform(-60.0, -50.0),
        },
    )
    rule = {"rule": "pairwise_bernoulli", "p": p, "allow_autapses": True}
    nest.Connect(
        nodes[:ne], nodes, rule, {"synapse_model": "static_synapse", "weight": w_e, "delay": 0.1}
    )
    nest.Connect(
        nodes[ne:], nodes, rule, {"synapse_model": "static_synapse", "weight": w_i, "delay": 0.1}
    )
    return _nest_finish(nest, nodes, ne, t_start, t_built)


def nest_cobahh(n: int = 4000, seed: int = 1) -> dict:
    """NEST's equivalent of Brian2's COBAHH: ``hh_cond_exp_traub``.

    Same parameters as Brian2's example (area 20000 um**2): C_m = 200 pF, g_L = 10 nS,
    g_Na = 20 uS, g_K = 6 uS, E_L = -60, E_Na = 50, E_K = -90, V_T = -63 mV, E_ex = 0,
    E_in = -80 mV, tau_syn 5 / 10 ms, weights 6 nS and 67 nS (NEST routes a negative weight
    to the inhibitory conductance), t_ref = 3 ms, delay 0.1 ms, gating variables starting
    at 0 and V, g_ex, g_in drawn as the example does.  Differences NEST keeps: the
    equations are integrated by GSL's adaptive RKF45 (not exponential Euler), and a spike
    is the crossing of V_T + 30 mV = -33 mV *at the peak* (V falling), not v > -20 mV.
    NEST does not let one set g_ex, g_in, so the initial conductances arrive as one input
    spike per neuron at 0.2 ms with the drawn weight (times exp(0.2 ms/tau) for the decay
    it missed); NEST cannot hold a negative conductance, so the draws below zero (0.4 % of
    g_ex, 5 % of g_in in Brian2's example) are set to zero.
    """
    t_start = time.perf_counter()
    import numpy as np

    nest = _nest_setup(seed)
    t_built = time.perf_counter()
    ne = int(0.8 * n)
    nodes = nest.Create(
        "hh_cond_exp_traub",
        n,
        params={
            "C_m": 200.0,
            "g_L": 10.0,
            "g_Na": 20000.0,
            "g_K": 6000.0,
            "E_L": -60.0,
            "E_Na": 50.0,
            "E_K": -90.0,
            "V_T": -63.0,
            "E_ex": 0.0,
            "E_in": -80.0,
            "tau_syn_ex": 5.0,
            "tau_syn_in": 10.0,
            "t_ref": 3.0,
            "I_e": 0.0,
            "Act_m": 0.0,
            "Act_n": 0.0,
            "Inact_h": 0.0,
            "V_m": nest.random.normal(-65.0, 5.0),
        },
    )
    # g_ex, g_in are not settable in NEST: one input spike at 0.1 ms (arriving at 0.2 ms)
    # gives each neuron its initial conductance, scaled up by the decay it misses
    rng = np.random.default_rng(seed)
    arrive = 0.2
    g_ex0 = np.clip(rng.normal(40.0, 15.0, n), 0.0, None) * np.exp(arrive / 5.0)
    g_in0 = np.clip(rng.normal(200.0, 120.0, n), 0.0, None) * np.exp(arrive / 10.0)
    kick = nest.Create("spike_generator", params={"spike_times": [0.1]})
    nest.Connect(kick, nodes, "all_to_all", {"weight": g_ex0[:, None], "delay": 0.1})
    nest.Connect(kick, nodes, "all_to_all", {"weight": -g_in0[:, None], "delay": 0.1})
    rule = {"rule": "pairwise_bernoulli", "p": 0.02, "allow_autapses": True}
    nest.Connect(nodes[:ne], nodes, rule, {"weight": 6.0, "delay": 0.1})
    nest.Connect(nodes[ne:], nodes, rule, {"weight": -67.0, "delay": 0.1})
    return _nest_finish(nest, nodes, ne, t_start, t_built)


def check_cuba_psp(t_end: float = 60.0) -> dict:
    """Check the weight conversion of ``nest_cuba``: one input spike of w = C_m we / tau_m
    into NEST's ``iaf_psc_exp`` against the analytic solution of Brian2's CUBA equations.

    With ge(0) = we, taum dv/dt = -v + ge, dge/dt = -ge/taue, the PSP is
    v(t) = we taue/(taum - taue) (exp(-t/taum) - exp(-t/taue)), peak 0.2551 mV at
    t = ln(taum/taue) taue taum/(taum - taue) = 9.24 ms for we = 1.62 mV.  Returns the
    largest difference over [0, t_end] ms (NEST integrates exactly: ~1e-15 mV).
    """
    import math

    nest = _nest_setup(1)
    we, tau_m, tau_e, C_m = 60 * 0.27 / 10, 20.0, 5.0, 250.0
    cell = nest.Create(
        "iaf_psc_exp",
        params={
            "C_m": C_m,
            "tau_m": tau_m,
            "E_L": 0.0,
            "V_m": 0.0,
            "V_reset": 0.0,
            "V_th": 1e9,
            "tau_syn_ex": tau_e,
        },
    )
    kick = nest.Create("spike_generator", params={"spike_times": [1.0]})
    meter = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 0.1})
    nest.Connect(kick, cell, syn_spec={"weight": C_m * we / tau_m, "delay": 0.1})
    nest.Connect(meter, cell)
    nest.Simulate(t_end + 1.1)
    events = meter.get("events")
    err, peak = 0.0, 0.0
    for t, v in zip(events["times"], events["V_m"], strict=True):
        s = t - 1.1  # the current jumps at 1.0 + 0.1 ms
        ref = (
            we * tau_e / (tau_m - tau_e) * (math.exp(-s / tau_m) - math.exp(-s / tau_e))
            if s > 0
            else 0.0
        )
        err, peak = max(err, abs(v - ref)), max(peak, v)
    return {
        "check": "cuba_psp",
        "max_abs_error_mV": err,
        "peak_mV": round(peak, 6),
        "analytic_peak_mV": round(
            we
            * tau_e
            / (tau_m - tau_e)
            * (
                (tau_e / tau_m) ** (tau_e / (tau_m - tau_e))
                - (tau_e / tau_m) ** (tau_m / (tau_m - tau_e))
            ),
            6,
        ),
    }


def _inner(model: str, tool: str, target: str, n: int, seed: int) -> None:
    if tool == "brian2":
        fn = brian2_cuba if model == "cuba" else brian2_cobahh
        row = fn(target, n=n, seed=seed)
        import brian2

        version = brian2.__version__
    else:
        fn = nest_cuba if model == "cuba" else nest_cobahh
        row = fn(n=n, seed=seed)
        import nest

        version = nest.__version__
    head = {
        "model": model,
        "N": n,
        "tool": tool,
        "version": version,
        "target": target,
        "seed": seed,
    }
    print(MARK + json.dumps({**head, **row}), flush=True)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--inner":
        model, tool, target, n, seed = argv[1:6]
        _inner(model, tool, target, int(n), int(seed))
        return
    if argv and argv[0] == "check-psp":
        print(json.dumps(check_cuba_psp()))
        return
    if argv and argv[0] == "compare":
        cp = argparse.ArgumentParser(
            prog="_anchors.py compare", description=compare.__doc__.split("\n\n")[0]
        )
        cp.add_argument("model", choices=MODELS)
        cp.add_argument("--repeat", type=int, default=3)
        cp.add_argument("--no-numpy", action="store_true", help="leave Brian2 numpy out")
        cp.add_argument("--no-nest", action="store_true", help="leave NEST out")
        a = cp.parse_args(argv[1:])
        tools = [
            (t, g)
            for t, g in COMPARE_SET[a.model]
            if not (a.no_numpy and g == "numpy") and not (a.no_nest and t == "nest")
        ]
        print(json.dumps(compare(a.model, a.repeat, tools)))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=MODELS)
    ap.add_argument("--tool", choices=("brian2", "nest"), required=True)
    ap.add_argument(
        "--target", choices=TARGETS, help="Brian2 device/target (required for --tool brian2)"
    )
    ap.add_argument("--n", type=int, default=4000, help="neurons (default 4000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--warm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run once untimed first (default: only for cython)",
    )
    ap.add_argument(
        "--python", default=None, help="interpreter of the anchor (default .venv-bench/bin/python)"
    )
    a = ap.parse_args(argv)
    if a.tool == "brian2" and a.target is None:
        ap.error("--tool brian2 needs --target cpp_standalone, cython or numpy")
    if a.tool == "nest" and a.target is not None:
        ap.error("--target applies to Brian2 only")
    python = a.python or bench_python() or sys.executable
    print(
        json.dumps(
            run_anchor(a.model, a.tool, a.target, n=a.n, seed=a.seed, warm=a.warm, python=python)
        )
    )


if __name__ == "__main__":
    main()
