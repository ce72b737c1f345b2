"""10,000 Hodgkin-Huxley neurons, I_ext evenly spaced 0-20 uA/cm**2, 200 ms, fixed step.

biosnn (C backend) against a hand-written vectorized NumPy loop with the same equations and
the same method, in one run:

* exponential Euler, dt = 0.025 ms (each state linear in itself, f_i = A_i y_i + B_i, with
  A_i, B_i evaluated at the start of the step: y_i <- y_i + expm1(A_i dt)/A_i * f_i);
* classic RK4, dt = 0.01 ms.

All neurons start from the I = 0 resting state of tests/data/hh_I10_1000ms.json.  A spike is
an upward crossing of 0 mV between two step ends.  Only spikes are recorded on both sides.
Prints time, ratio numpy_time / biosnn_time (goal >= 10x), neuron-steps per second, checks
that both give the same spike count for every neuron, and one ``RESULT {json}`` line.

    .venv/bin/python benchmarks/hh_ensemble.py                 # the full run (~1 min)
    .venv/bin/python benchmarks/hh_ensemble.py --n 500 --duration 50   # quick
    .venv/bin/python benchmarks/hh_ensemble.py --threads 1     # biosnn on one core
    .venv/bin/python benchmarks/hh_ensemble.py --threads 1 --duration 10 --repeat 10 \
        --c-sources before.c after.c                            # C sources against each other

The goal (10x) is wall time on the 2-core machine, biosnn using both cores (the default
thread count is every usable core).  On a shared machine wall times depend on the other
jobs, so each side also prints its CPU time and nanoseconds of CPU per neuron-step, and
biosnn its thread count and parallel efficiency (CPU / (wall * threads)): with both cores
free, wall ratio ~= CPU ratio * threads * efficiency.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import (
    NEURON_HH_ENSEMBLE_S,
    NUMPY_RK4_ENSEMBLE_QUOTED_S,
    biosnn_hh,
    biosnn_init,
    c_backend_ready,
    emit_json,
    load_reference,
    timed,
)

METHODS = {"exponential_euler": 0.025, "rk4": 0.01}


# ---------------------------------------------------------------------------- NumPy anchor


class NumpyHH:
    """The hand-written vectorized NumPy HH ensemble (the anchor)."""

    def __init__(self, p: dict, I_ext: np.ndarray):
        self.C, self.gNa, self.gK, self.gL = p["C"], p["gNa"], p["gK"], p["gL"]
        self.ENa, self.EK, self.EL = p["ENa"], p["EK"], p["EL"]
        self.I = np.asarray(I_ext, dtype=float)

    @staticmethod
    def rates(V):
        am = 0.1 * (V + 40.0) / (1.0 - np.exp(-(V + 40.0) / 10.0))
        bm = 4.0 * np.exp(-(V + 65.0) / 18.0)
        ah = 0.07 * np.exp(-(V + 65.0) / 20.0)
        bh = 1.0 / (1.0 + np.exp(-(V + 35.0) / 10.0))
        an = 0.01 * (V + 55.0) / (1.0 - np.exp(-(V + 55.0) / 10.0))
        bn = 0.125 * np.exp(-(V + 65.0) / 80.0)
        return am, bm, ah, bh, an, bn

    def f(self, V, m, h, n):
        am, bm, ah, bh, an, bn = self.rates(V)
        n2 = n * n  # m*m*m, not m**3: NumPy's power ufunc is ~30x slower than a multiply
        I_ion = (
            self.gNa * (m * m * m) * h * (V - self.ENa)
            + self.gK * (n2 * n2) * (V - self.EK)
            + self.gL * (V - self.EL)
        )
        return (
            (self.I - I_ion) / self.C,
            am * (1.0 - m) - bm * m,
            ah * (1.0 - h) - bh * h,
            an * (1.0 - n) - bn * n,
        )

    def step_rk4(self, y, dt):
        k1 = self.f(*y)
        k2 = self.f(*(yi + 0.5 * dt * ki for yi, ki in zip(y, k1, strict=True)))
        k3 = self.f(*(yi + 0.5 * dt * ki for yi, ki in zip(y, k2, strict=True)))
        k4 = self.f(*(yi + dt * ki for yi, ki in zip(y, k3, strict=True)))
        return tuple(
            yi + dt / 6.0 * (a + 2.0 * b + 2.0 * c + d)
            for yi, a, b, c, d in zip(y, k1, k2, k3, k4, strict=True)
        )

    def step_exponential_euler(self, y, dt):
        V, m, h, n = y
        am, bm, ah, bh, an, bn = self.rates(V)
        n2 = n * n
        gna = self.gNa * (m * m * m) * h
        gk = self.gK * (n2 * n2)
        A_V = -(gna + gk + self.gL) / self.C
        B_V = (self.I + gna * self.ENa + gk * self.EK + self.gL * self.EL) / self.C

        def update(x, A, B):  # x + (e^{A dt} - 1)/A * (A x + B); A < 0 for all HH states
            return x + np.expm1(A * dt) / A * (A * x + B)

        return (
            update(V, A_V, B_V),
            update(m, -(am + bm), am),
            update(h, -(ah + bh), ah),
            update(n, -(an + bn), an),
        )

    def run(self, method: str, y0: np.ndarray, duration: float, dt: float):
        """Integrate all neurons; return spike counts per neuron."""
        step = getattr(self, f"step_{method}")
        n = self.I.size
        y = tuple(np.full(n, float(v)) for v in y0)
        counts = np.zeros(n, dtype=np.int64)
        for _ in range(round(duration / dt)):
            V_old = y[0]
            y = step(y, dt)
            counts += (V_old <= 0.0) & (y[0] > 0.0)
        if not np.all(np.isfinite(y[0])):
            raise FloatingPointError("NumPy loop blew up")
        return counts


# ---------------------------------------------------------------------------- biosnn side


def run_biosnn(method, dt, duration, currents, ref, model):
    import biosnn

    res = biosnn.simulate(
        model,
        duration,
        method=method,
        dt=dt,
        backend="c",
        n=currents.size,
        params={"I_ext": currents},
        init=biosnn_init(ref),
        record=[],
        record_dt=duration,
    )  # spikes only (+ the two end states)
    return np.array([len(s) for s in res.spikes]), res


def compare_sources(paths, methods, duration, currents, ref, model, repeat):
    """CPU time of fixed-family C sources against each other (same model, same run).

    Each file is a complete generated source (e.g. the cached ``<hash>.c`` of a run made
    with an older version of the code, or a hand-edited copy); they are compiled, loaded
    and run in turn, ``repeat`` rounds, and the best process CPU time of each is kept, so
    a loaded machine affects all of them alike.  Use ``--threads 1``.  (Process, not
    thread, CPU time: a compiled run executes in a worker thread, biosnn._interrupt.)
    """
    import time
    from unittest import mock

    from biosnn.codegen import c_backend, c_build

    kernels = {}
    for path in paths:
        text = Path(path).read_text()
        kernels[path] = c_backend.CKernel(path, "fixed", c_build.build(text), text)
    out = {}
    for method in methods:
        dt = METHODS[method]
        work = currents.size * round(duration / dt)
        best = dict.fromkeys(paths, float("inf"))
        spikes = {}
        for _ in range(max(1, repeat)):
            for path in paths:
                with mock.patch.object(c_backend, "kernel", lambda spec, fam, k=kernels[path]: k):
                    c0 = time.process_time()
                    counts, _ = run_biosnn(method, dt, duration, currents, ref, model)
                    best[path] = min(best[path], time.process_time() - c0)
                spikes[path] = int(counts.sum())
        print(f"  {method} dt={dt} ms, best of {repeat} interleaved runs (process CPU time):")
        for path in paths:
            print(
                f"    {Path(path).name:40s} {best[path]:7.3f} s  "
                f"{best[path] / work * 1e9:6.1f} ns/neuron-step  {spikes[path]} spikes"
            )
        out[method] = {str(p): dict(cpu_s=best[p], spikes=spikes[p]) for p in paths}
    return out


# ---------------------------------------------------------------------------- driver


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="number of neurons")
    ap.add_argument("--duration", type=float, default=200.0, help="ms")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--repeat", type=int, default=1, help="timed biosnn runs (best of)")
    ap.add_argument(
        "--anchor-repeat",
        type=int,
        default=1,
        help="timed NumPy runs (best of; on a loaded machine use 3 like --repeat)",
    )
    ap.add_argument("--no-biosnn", action="store_true", help="run the NumPy anchor only")
    ap.add_argument(
        "--c-sources",
        nargs="+",
        metavar="FILE",
        help="compare these generated fixed-family C sources (no NumPy anchor)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="biosnn threads (sets BIOSNN_NUM_THREADS; default: all cores)",
    )
    args = ap.parse_args(argv)
    if args.threads:
        import os

        os.environ["BIOSNN_NUM_THREADS"] = str(args.threads)

    ref = load_reference()
    currents = np.linspace(0.0, 20.0, args.n)
    anchor = NumpyHH(ref["params"], currents)
    print(f"HH ensemble: {args.n} neurons, I_ext 0-20 uA/cm2, {args.duration} ms")

    ok, why = (False, "skipped (--no-biosnn)") if args.no_biosnn else c_backend_ready()
    model = biosnn_hh(ref) if ok else None
    if not ok:
        print(f"  biosnn: not run: {why}")

    if args.c_sources:
        if not ok:
            print(f"  cannot compare C sources: {why}")
            return 1
        out = compare_sources(
            args.c_sources,
            args.methods.split(","),
            args.duration,
            currents,
            ref,
            model,
            args.repeat,
        )
        emit_json("hh_ensemble_sources", dict(n=args.n, duration_ms=args.duration, results=out))
        return 0

    rows = {}
    for method in args.methods.split(","):
        dt = METHODS[method]
        n_steps = round(args.duration / dt)
        t_np, c_np, counts_np = timed(
            lambda method=method, dt=dt: anchor.run(method, ref["y0"], args.duration, dt),
            args.anchor_repeat,
        )
        row = dict(
            method=method,
            dt=dt,
            n_steps=n_steps,
            numpy_time_s=t_np,
            numpy_cpu_s=c_np,
            numpy_neuron_steps_per_s=args.n * n_steps / t_np,
            numpy_total_spikes=int(counts_np.sum()),
        )
        work = args.n * n_steps  # neuron-steps
        row["numpy_cpu_ns_per_neuron_step"] = c_np / work * 1e9
        print(f"  {method} dt={dt} ms ({n_steps} steps)")
        print(
            f"    NumPy loop  {t_np:9.3f} s (cpu {c_np:8.3f} s)  "
            f"{work / t_np:10.3g} neuron-steps/s  {int(counts_np.sum())} spikes  "
            f"{c_np / work * 1e9:6.1f} ns cpu/neuron-step"
        )
        if ok:
            run_biosnn(method, dt, min(args.duration, 1.0), currents[:2], ref, model)  # warm-up
            best, cpu, (counts_b, res) = timed(
                lambda method=method, dt=dt: run_biosnn(
                    method, dt, args.duration, currents, ref, model
                ),
                args.repeat,
            )
            mismatch = np.flatnonzero(counts_b != counts_np)
            from biosnn.codegen.c_backend import n_threads

            threads = n_threads()
            row.update(
                threads=threads,
                biosnn_cpu_ns_per_neuron_step=cpu / work * 1e9,
                parallel_efficiency=cpu / (best * threads),
            )
            row.update(
                biosnn_time_s=best,
                biosnn_cpu_s=cpu,
                biosnn_neuron_steps_per_s=args.n * n_steps / best,
                biosnn_total_spikes=int(counts_b.sum()),
                ratio=t_np / best,
                ratio_cpu=c_np / cpu,
                spike_count_mismatches=int(mismatch.size),
                biosnn_backend=str(res.stats.get("backend", "?")),
            )
            print(
                f"    biosnn C    {best:9.3f} s (cpu {cpu:8.3f} s)  "
                f"{work / best:10.3g} neuron-steps/s  {int(counts_b.sum())} spikes  "
                f"{cpu / work * 1e9:6.1f} ns cpu/neuron-step; {threads} thread(s), "
                f"efficiency {cpu / (best * threads):.2f}"
            )
            print(
                f"    ratio numpy/biosnn = {t_np / best:.1f}x wall, {c_np / cpu:.1f}x cpu "
                f"(goal >= 10x); spike counts "
                + (
                    "identical for every neuron"
                    if mismatch.size == 0
                    else f"DIFFER for {mismatch.size} neurons (e.g. I = "
                    f"{currents[mismatch[:5]].round(4).tolist()}: numpy "
                    f"{counts_np[mismatch[:5]].tolist()} vs biosnn "
                    f"{counts_b[mismatch[:5]].tolist()})"
                )
            )
        rows[method] = row
    print(
        f"  quoted anchors (10,000 x 200 ms, not measured): NEURON 9 dt 0.025 "
        f"{NEURON_HH_ENSEMBLE_S} s; NumPy RK4 dt 0.01 {NUMPY_RK4_ENSEMBLE_QUOTED_S} s"
    )

    emit_json(
        "hh_ensemble",
        dict(n=args.n, duration_ms=args.duration, biosnn_status="ok" if ok else why, results=rows),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
