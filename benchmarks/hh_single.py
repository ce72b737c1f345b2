"""Single Hodgkin-Huxley neuron, 1000 ms at I_ext = 10 uA/cm**2: biosnn vs scipy solve_ivp.

Both sides start from the y0 of tests/data/hh_I10_1000ms.json and are judged by the largest
spike-time error against its 69 reference spikes (upward crossings of 0 mV).  For each
solver the tolerance is the loosest of a ladder (rtol = atol = 1e-4, 3e-5, 1e-5, ...) that
reaches an error <= --target (1e-4 ms); that run is then timed (best of --repeat).

* scipy: ``solve_ivp`` with RK45, DOP853 and LSODA on a hand-written scalar right-hand side
  (the ``math`` module, no NumPy per call) and an event for the upward 0 mV crossing (scipy
  locates it with brentq on the step's dense output).
* biosnn: ``biosnn.simulate(..., backend="c", record=[])`` with dop853 and rk45 (spike
  times and final state, no traces - like the anchor).  One warm-up call
  first (it compiles or loads the cached kernel); then the whole simulate call is timed.
* NEURON: the figure of /work/shared/reference/README.md (0.27 s, CVODE atol 1e-10, spike
  error 8.5e-6 ms), quoted, not measured.

Prints the ratios solve_ivp_time / biosnn_time (goal >= 100x) and one ``RESULT {json}`` line.

    .venv/bin/python benchmarks/hh_single.py            # everything (about a minute)
    .venv/bin/python benchmarks/hh_single.py --no-biosnn  # the scipy anchor alone
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import (
    NEURON_HH_SINGLE_ERR_MS,
    NEURON_HH_SINGLE_S,
    biosnn_hh,
    biosnn_init,
    c_backend_ready,
    emit_json,
    load_reference,
    spike_error,
    timed,
)

TOL_LADDER = (
    1e-4,
    3e-5,
    1e-5,
    3e-6,
    1e-6,
    3e-7,
    1e-7,
    3e-8,
    1e-8,
    3e-9,
    1e-9,
    3e-10,
    1e-10,
    3e-11,
    1e-11,
    3e-12,
    1e-12,
)


# ---------------------------------------------------------------------------- scipy anchor


def make_rhs(p: dict, I_ext: float):
    """The hand-written HH right-hand side (what a user would type for solve_ivp)."""
    C, gNa, gK, gL = p["C"], p["gNa"], p["gK"], p["gL"]
    ENa, EK, EL = p["ENa"], p["EK"], p["EL"]
    exp = math.exp

    def rhs(t, y):
        V, m, h, n = y
        if not -1e3 < V < 1e3:  # a wild trial stage of a too-large step: math.exp would
            return [math.inf] * 4  # overflow; inf makes the solver reject the step
        am = 0.1 * (V + 40.0) / (1.0 - exp(-(V + 40.0) / 10.0))
        bm = 4.0 * exp(-(V + 65.0) / 18.0)
        ah = 0.07 * exp(-(V + 65.0) / 20.0)
        bh = 1.0 / (1.0 + exp(-(V + 35.0) / 10.0))
        an = 0.01 * (V + 55.0) / (1.0 - exp(-(V + 55.0) / 10.0))
        bn = 0.125 * exp(-(V + 65.0) / 80.0)
        I_ion = gNa * m**3 * h * (V - ENa) + gK * n**4 * (V - EK) + gL * (V - EL)
        return [
            (I_ext - I_ion) / C,
            am * (1.0 - m) - bm * m,
            ah * (1.0 - h) - bh * h,
            an * (1.0 - n) - bn * n,
        ]

    return rhs


def spike_event(t, y):
    return y[0]


spike_event.direction = 1.0


def run_scipy(method: str, tol: float, ref: dict):
    from scipy.integrate import solve_ivp

    rhs = make_rhs(ref["params"], ref["I_ext"])
    with np.errstate(invalid="ignore", over="ignore"):  # rejected wild trial steps
        sol = solve_ivp(
            rhs,
            (0.0, ref["t_end"]),
            ref["y0"],
            method=method,
            rtol=tol,
            atol=tol,
            events=spike_event,
        )
    if sol.status != 0:
        raise RuntimeError(f"solve_ivp {method} failed: {sol.message}")
    return sol.t_events[0], sol.nfev


# ---------------------------------------------------------------------------- biosnn side


def run_biosnn(method: str, tol: float, ref: dict, model):
    import biosnn

    # record=[]: spike times and the final state only, as the solve_ivp anchor computes
    # (it keeps its own steps, no trace on a grid)
    res = biosnn.simulate(
        model,
        ref["t_end"],
        method=method,
        rtol=tol,
        atol=tol,
        backend="c",
        params={"I_ext": ref["I_ext"]},
        init=biosnn_init(ref),
        record=[],
    )
    return np.asarray(res.spikes[0], dtype=float), res


# ---------------------------------------------------------------------------- driver


def calibrate(run, target: float, ladder=TOL_LADDER):
    """Loosest tolerance of the ladder whose spike error is <= target: (tol, error)."""
    last = (None, float("inf"))
    for tol in ladder:
        err = run(tol)
        last = (tol, err)
        if err <= target:
            return tol, err
    return last


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=float, default=1e-4, help="spike-time error goal (ms)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per solver (best of)")
    ap.add_argument("--scipy-methods", default="RK45,DOP853,LSODA")
    ap.add_argument("--biosnn-methods", default="dop853,rk45")
    ap.add_argument("--no-biosnn", action="store_true", help="run the scipy anchor only")
    args = ap.parse_args(argv)

    ref = load_reference()
    print(
        f"HH, I_ext = {ref['I_ext']} uA/cm2, {ref['t_end']} ms, {len(ref['spike_times'])} "
        f"reference spikes; target spike error <= {args.target:g} ms"
    )

    rows = {}
    for method in args.scipy_methods.split(","):
        tol, err = calibrate(
            lambda tol, method=method: spike_error(
                run_scipy(method, tol, ref)[0], ref["spike_times"]
            ),
            args.target,
        )
        sec, cpu, (_, nfev) = timed(
            lambda method=method, tol=tol: run_scipy(method, tol, ref), args.repeat
        )
        rows[f"scipy_{method}"] = dict(
            tool="scipy.solve_ivp",
            method=method,
            tol=tol,
            spike_error_ms=err,
            time_s=sec,
            cpu_s=cpu,
            nfev=int(nfev),
        )
        print(
            f"  scipy  {method:6s} rtol=atol={tol:<7g} error {err:.2e} ms  "
            f"{sec:8.4f} s (cpu {cpu:7.4f} s)  {nfev} rhs calls"
        )

    biosnn_rows = {}
    status = "skipped (--no-biosnn)"
    if not args.no_biosnn:
        ok, why = c_backend_ready()
        status = "ok" if ok else f"not run: {why}"
        if ok:
            model = biosnn_hh(ref)
            for method in args.biosnn_methods.split(","):
                tol, err = calibrate(
                    lambda tol, method=method: spike_error(
                        run_biosnn(method, tol, ref, model)[0], ref["spike_times"]
                    ),
                    args.target,
                )
                run_biosnn(method, tol, ref, model)  # warm-up: kernel compiled or cached
                sec, cpu, (_, res) = timed(
                    lambda method=method, tol=tol: run_biosnn(method, tol, ref, model), args.repeat
                )
                stats = dict(getattr(res, "stats", {}) or {})
                biosnn_rows[f"biosnn_{method}"] = dict(
                    tool="biosnn C",
                    method=method,
                    tol=tol,
                    spike_error_ms=err,
                    time_s=sec,
                    cpu_s=cpu,
                    n_steps=stats.get("n_steps"),
                    n_rhs=stats.get("n_rhs"),
                    backend=stats.get("backend"),
                )
                print(
                    f"  biosnn {method:6s} rtol=atol={tol:<7g} error {err:.2e} ms  "
                    f"{sec:8.4f} s (cpu {cpu:7.4f} s)  {stats.get('n_rhs', '?')} rhs calls, "
                    f"{stats.get('n_steps', '?')} steps, backend {stats.get('backend', '?')}"
                )
        else:
            print(f"  biosnn: {status}")
    print(
        f"  NEURON 9 CVODE atol 1e-10 (quoted, not measured): {NEURON_HH_SINGLE_S} s, "
        f"error {NEURON_HH_SINGLE_ERR_MS:g} ms"
    )

    ratios = {}
    if biosnn_rows:
        best = min(biosnn_rows.values(), key=lambda r: r["cpu_s"])
        print(
            f"\nratios solve_ivp_time / biosnn_time (biosnn best by cpu: {best['method']}, "
            f"{best['time_s']:.4f} s wall, {best['cpu_s']:.4f} s cpu; goal >= 100x)"
        )
        for key, row in rows.items():
            ratios[key] = row["time_s"] / best["time_s"]
            ratios[key + "_cpu"] = row["cpu_s"] / best["cpu_s"]
            print(
                f"  {row['method']:6s} {ratios[key]:8.1f}x wall  {ratios[key + '_cpu']:8.1f}x cpu"
            )
        for row in rows.values():  # same method on both sides, where biosnn has it
            mine = biosnn_rows.get(f"biosnn_{row['method'].lower()}")
            if mine is not None:
                ratios[f"same_method_{row['method']}"] = row["time_s"] / mine["time_s"]
                ratios[f"same_method_{row['method']}_cpu"] = row["cpu_s"] / mine["cpu_s"]
                print(
                    f"  {row['method']:6s} vs biosnn {mine['method']:6s} "
                    f"{row['time_s'] / mine['time_s']:8.1f}x wall  "
                    f"{row['cpu_s'] / mine['cpu_s']:8.1f}x cpu  (same method)"
                )
        ratios["NEURON_quoted"] = NEURON_HH_SINGLE_S / best["time_s"]
        ratios["NEURON_quoted_cpu"] = NEURON_HH_SINGLE_S / best["cpu_s"]
        print(
            f"  NEURON (quoted 0.27 s, not measured) {ratios['NEURON_quoted']:8.1f}x wall  "
            f"{ratios['NEURON_quoted_cpu']:8.1f}x cpu"
        )

    emit_json(
        "hh_single",
        dict(
            target_ms=args.target,
            biosnn_status=status,
            anchors=rows,
            biosnn=biosnn_rows,
            ratios=ratios,
            neuron_quoted_s=NEURON_HH_SINGLE_S,
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
