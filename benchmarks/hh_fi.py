"""f-I curve of Hodgkin-Huxley: 200 currents x 1000 ms, biosnn vs a loop of solve_ivp calls.

* biosnn: ``biosnn.analysis.fi_curve`` - ONE vectorized ``simulate`` call over the 200
  currents (C backend, dop853, rtol = 1e-6, atol = 1e-8), rates from the last inter-spike
  interval after a 200 ms transient (no rheobase refinement, no continuation: the curve
  only).
* anchor: what a user would write without biosnn - a Python loop over the currents, one
  ``scipy.integrate.solve_ivp`` call each (DOP853, the same rtol/atol, the hand-written
  scalar right-hand side of ``hh_single.py``, spikes as upward 0 mV events).

Both start from the model's initial state (rest at I = 0, V = -65 mV).  The script prints
both times (wall and CPU), the ratio anchor/biosnn, and the largest rate difference
between the two (Hz).  ``--anchor-every K`` runs the anchor on every K-th current only and
scales its time by K (labelled as such) for a quick run.

    .venv/bin/python benchmarks/hh_fi.py                      # ~2-4 min (the anchor)
    .venv/bin/python benchmarks/hh_fi.py --anchor-every 10    # ~20 s
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import c_backend_ready, emit_json, load_reference, timed
from hh_single import make_rhs, spike_event

RTOL, ATOL = 1e-6, 1e-8


def anchor_rates(params, currents, y0, duration, transient):
    from scipy.integrate import solve_ivp

    rates = np.zeros(currents.size)
    for i, current in enumerate(currents):
        with np.errstate(invalid="ignore", over="ignore"):
            sol = solve_ivp(
                make_rhs(params, float(current)),
                (0.0, duration),
                y0,
                method="DOP853",
                rtol=RTOL,
                atol=ATOL,
                events=spike_event,
            )
        s = sol.t_events[0]
        s = s[s >= transient]
        rates[i] = 1000.0 / (s[-1] - s[-2]) if s.size >= 2 else 0.0
    return rates


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="number of currents")
    ap.add_argument("--duration", type=float, default=1000.0, help="ms")
    ap.add_argument("--transient", type=float, default=200.0, help="ms")
    ap.add_argument("--max-current", type=float, default=20.0, help="uA/cm**2")
    ap.add_argument("--repeat", type=int, default=3, help="timed biosnn runs (best of)")
    ap.add_argument(
        "--anchor-every",
        type=int,
        default=1,
        help="run solve_ivp on every K-th current only (time scaled by K)",
    )
    args = ap.parse_args(argv)

    import biosnn
    from biosnn.analysis import fi_curve

    ok, why = c_backend_ready()
    print(
        f"HH f-I curve: {args.n} currents 0-{args.max_current} uA/cm2 x {args.duration} ms"
        f" (C backend: {'yes' if ok else why})"
    )
    ref = load_reference()
    model = biosnn.load_model("hodgkin_huxley")
    currents = np.linspace(0.0, args.max_current, args.n)
    init = {k: float(v) for k, v in model.initial.items()}
    y0 = np.array([init[s] for s in ("V", "m", "h", "n")])

    def run():
        return fi_curve(
            model,
            "I_ext",
            currents,
            args.duration,
            transient=args.transient,
            rtol=RTOL,
            atol=ATOL,
            backend="c" if ok else "numpy",
            rheobase=False,
            bifurcation=False,
        )

    fi_curve(
        model, "I_ext", currents[:2], 1.0, transient=0.0, rheobase=False, bifurcation=False
    )  # warm-up
    t_b, c_b, curve = timed(run, args.repeat)
    print(f"  biosnn fi_curve ({curve.stats['backend']}, dop853)  {t_b:8.3f} s (cpu {c_b:7.3f} s)")

    sub = slice(None, None, max(1, args.anchor_every))
    t_a, c_a, rates_a = timed(
        lambda: anchor_rates(ref["params"], currents[sub], y0, args.duration, args.transient), 1
    )
    k = max(1, args.anchor_every)
    scaled = "" if k == 1 else f" (measured on {currents[sub].size} currents, x{k})"
    t_a, c_a = t_a * k, c_a * k
    diff = float(np.max(np.abs(rates_a - curve.rates[sub])))
    print(f"  solve_ivp loop (DOP853)       {t_a:8.3f} s (cpu {c_a:7.3f} s){scaled}")
    print(
        f"  ratio solve_ivp/biosnn = {t_a / t_b:.0f}x wall, {c_a / c_b:.0f}x cpu; "
        f"max rate difference {diff:.3g} Hz; firing currents "
        f"{int(np.sum(curve.rates > 0))}/{args.n}"
    )
    emit_json(
        "hh_fi",
        dict(
            n=args.n,
            duration_ms=args.duration,
            transient_ms=args.transient,
            rtol=RTOL,
            atol=ATOL,
            biosnn_time_s=t_b,
            biosnn_cpu_s=c_b,
            biosnn_backend=curve.stats["backend"],
            anchor_time_s=t_a,
            anchor_cpu_s=c_a,
            anchor_every=k,
            ratio=t_a / t_b,
            ratio_cpu=c_a / c_b,
            max_rate_difference_hz=diff,
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
