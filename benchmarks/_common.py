"""Shared pieces of the benchmarks: the HH reference data and the anchors' equations.

Everything here is written by hand, independently of biosnn, on purpose: the anchors are
what a user would write without biosnn (a scalar right-hand side for ``solve_ivp``, a
vectorized NumPy loop for an ensemble).  The equations are the classic Hodgkin-Huxley
model of ``tests/data/hh_I10_1000ms.json`` (modern voltage convention, EL = -54.387 mV);
units mV, ms, uA/cm**2, mS/cm**2, uF/cm**2.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "data" / "hh_I10_1000ms.json"

# Quoted, not measured: /work/shared/reference/README.md (NEURON 9, CVODE atol 1e-10,
# el_hh = -54.387, usetable_hh = 0, same machine class).
NEURON_HH_SINGLE_S = 0.27
NEURON_HH_SINGLE_ERR_MS = 8.5e-6
NEURON_HH_ENSEMBLE_S = 10.8  # 10,000 cells x 200 ms, fixed dt 0.025 ms
NUMPY_RK4_ENSEMBLE_QUOTED_S = 28.0


def load_reference() -> dict:
    """The reference run: params, I_ext, t_end, y0 (V, m, h, n), spike_times (ms)."""
    with open(REFERENCE) as fh:
        ref = json.load(fh)
    ref["y0"] = np.array(ref["y0 (V, m, h, n)"], dtype=float)
    ref["spike_times"] = np.array(ref["spike_times"], dtype=float)
    return ref


def spike_error(spikes, reference) -> float:
    """Max |t - t_ref| over spikes, or inf if the spike counts differ."""
    spikes = np.asarray(spikes, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if spikes.shape != reference.shape:
        return float("inf")
    return float(np.max(np.abs(spikes - reference))) if spikes.size else 0.0


def timed(fn, repeat: int = 3):
    """Run ``fn`` ``repeat`` times; return (best wall s, best CPU s, last return value).

    The CPU time (``time.process_time``: this process, all threads) is reported next to the
    wall time because the machines we run on are shared: when other jobs compete for the
    cores, wall time grows but the CPU time of single-threaded work does not.
    """
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(max(1, repeat)):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def emit_json(name: str, payload: dict) -> None:
    """Print the one JSON line of results every benchmark ends with."""
    record = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
    }
    record.update(payload)
    print("RESULT " + json.dumps(record, sort_keys=False, default=_jsonable))


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


# --------------------------------------------------------------------------- biosnn side


def biosnn_hh(ref: dict | None = None):
    """HH from the biosnn library with the reference's parameters (display units)."""
    import biosnn

    ref = ref or load_reference()
    model = biosnn.load_model("hodgkin_huxley")
    overrides = {k: v for k, v in ref["params"].items() if k in model.params}
    return model.with_params(**overrides) if overrides else model


def biosnn_init(ref: dict) -> dict:
    return dict(zip(("V", "m", "h", "n"), (float(v) for v in ref["y0"]), strict=True))


def c_backend_ready() -> tuple[bool, str]:
    """Can biosnn run HH on the C backend?  (ok, reason)."""
    try:
        import biosnn

        model = biosnn_hh()
        res = biosnn.simulate(model, 1.0, method="rk4", dt=0.01, backend="c")
        backend = str(res.stats.get("backend", "?")) if hasattr(res, "stats") else "?"
        if "c" != backend.lower() and not backend.lower().startswith("c"):
            return False, f"simulate ran on backend {backend!r}, not C"
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - we report, not hide
        return False, f"{type(exc).__name__}: {exc}"
