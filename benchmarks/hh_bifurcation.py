"""The whole Hodgkin-Huxley bifurcation diagram in I_ext: biosnn against scipy shooting.

biosnn: ``continue_equilibria(hh, "I_ext", 0, 200)`` (both Hopf points with l1), then
``continue_cycles`` from the first (subcritical) Hopf point through the folds of cycles to
the second Hopf point (collocation, Floquet multipliers, LPC/PD/NS detection).  Timed in
one process twice: "cold" (the first call: KernelSpec, sympy derivatives printed into
NumPy kernels, scipy.sparse import) and "warm" (the same calls again, best of --repeat).

``--fresh-process`` measures what a user waits for: a new Python process that imports
biosnn and computes the diagram once, with a warm cache directory ($BIOSNN_CACHE_DIR; one
unmeasured run fills it first).  Whole-process wall time and CPU time (user + system of
the child, from ``resource.getrusage``), best of --repeat processes.  Such a process imports
neither sympy nor pint (docs/architecture.md, "Warm start").

Anchor: what a careful user writes with scipy alone (everything below is independent of
biosnn): a hand-written HH right-hand side (vectorized over columns), the equilibrium
branch by ``fsolve`` on a grid of 201 currents with the Hopf points located by ``brentq``
on the largest real part of the eigenvalues (central-difference Jacobian), then
pseudo-arclength continuation of the cycles by single shooting: unknowns (x0, T, I),
equations ``phi_T(x0; I) - x0 = 0``, the phase condition ``f(x0_prev).(x0 - x0_prev) = 0``
and the arclength; each Newton step integrates the state with its variational equations
(monodromy matrix, d/dI) by ``solve_ivp`` DOP853 at rtol = atol = 1e-10; the fold of cycles
is located by the secant method on the I component of the tangent.  The anchor's LPC and
period are printed next to biosnn's as an independent check.

    .venv/bin/python benchmarks/hh_bifurcation.py
    .venv/bin/python benchmarks/hh_bifurcation.py --no-anchor
    .venv/bin/python benchmarks/hh_bifurcation.py --fresh-process
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit_json  # noqa: E402

# -- the anchor: HH by hand (mV, ms, uA/cm**2) ------------------------------------------
C, GNA, GK, GL, ENA, EK, EL = 1.0, 120.0, 36.0, 0.3, 50.0, -77.0, -54.387


def hh_f(x, current):
    """Right-hand side, x of shape (4, k) (columns vectorized)."""
    v, m, h, n = x
    am = 0.1 * (v + 40) / (1 - np.exp(-(v + 40) / 10))
    bm = 4 * np.exp(-(v + 65) / 18)
    ah = 0.07 * np.exp(-(v + 65) / 20)
    bh = 1 / (1 + np.exp(-(v + 35) / 10))
    an = 0.01 * (v + 55) / (1 - np.exp(-(v + 55) / 10))
    bn = 0.125 * np.exp(-(v + 65) / 80)
    dv = (current - GNA * m**3 * h * (v - ENA) - GK * n**4 * (v - EK) - GL * (v - EL)) / C
    return np.array([dv, am * (1 - m) - bm * m, ah * (1 - h) - bh * h, an * (1 - n) - bn * n])


def hh_jac(x, current, eps=1e-6):
    """Central-difference Jacobian (4, 4) at one state."""
    x = np.asarray(x, dtype=float)
    steps = eps * np.maximum(np.abs(x), 1.0)
    plus = x[:, None] + np.diag(steps)
    minus = x[:, None] - np.diag(steps)
    return (hh_f(plus, current) - hh_f(minus, current)) / (2 * steps)


def anchor_equilibria():
    from scipy.optimize import brentq, fsolve

    def equilibrium(current, guess):
        return fsolve(lambda x: hh_f(x[:, None], current)[:, 0], guess, xtol=1e-12)

    def growth(current, guess):
        y = equilibrium(current, guess)
        return float(np.max(np.linalg.eigvals(hh_jac(y, current)).real)), y

    currents = np.linspace(0, 200, 201)
    guess = np.array([-65.0, 0.05, 0.6, 0.32])
    values = []
    for current in currents:
        g, guess = growth(current, guess)
        values.append((g, guess))
    hopf = []
    for k in range(len(currents) - 1):
        if values[k][0] * values[k + 1][0] < 0:
            i_h = brentq(
                lambda c, k=k: growth(c, values[k][1])[0], currents[k], currents[k + 1], xtol=1e-12
            )
            hopf.append((i_h, equilibrium(i_h, values[k][1])))
    return hopf


def anchor_flow(x0, period, current):
    """phi_T(x0), the monodromy matrix, d phi / d I and the V range of the orbit."""
    from scipy.integrate import solve_ivp

    def rhs(_t, z):
        x = z[:4]
        jac = hh_jac(x, current)
        phi = z[4:20].reshape(4, 4)
        sens = z[20:]
        return np.concatenate(
            [
                hh_f(x[:, None], current)[:, 0],
                (jac @ phi).ravel(),
                jac @ sens + np.array([1 / C, 0, 0, 0]),
            ]
        )

    z0 = np.concatenate([x0, np.eye(4).ravel(), np.zeros(4)])
    sol = solve_ivp(rhs, (0, period), z0, method="DOP853", rtol=1e-10, atol=1e-10)
    z = sol.y[:, -1]
    return z[:4], z[4:20].reshape(4, 4), z[20:], float(np.ptp(sol.y[0]))


SCALE = np.array([100.0, 1.0, 1.0, 1.0, 10.0, 100.0])  # x (V mV, gates), T ms, I


def anchor_cycles(i_h, y_h, max_steps=400):
    """Shooting pseudo-arclength continuation from the Hopf point (i_h, y_h)."""
    jac = hh_jac(y_h, i_h)
    ev, vecs = np.linalg.eig(jac)
    k = int(np.argmax(ev.imag))
    q = vecs[:, k] / np.linalg.norm(vecs[:, k] / SCALE[:4])
    z = np.concatenate([y_h, [2 * math.pi / ev[k].imag, i_h]])
    t = np.concatenate([q.real, [0.0, 0.0]]) / SCALE
    t /= np.linalg.norm(t)
    f_ref = -q.imag  # orbit direction at t = 0
    ds, amp_first, lpc = 0.02, None, []
    status = "max steps"

    def correct(zp, t, f_ref, z_ref):
        zz = zp.copy()
        for it in range(12):
            x_end, mono, sens, ptp = anchor_flow(zz[:4], zz[4], zz[5])
            f_end = hh_f(x_end[:, None], zz[5])[:, 0]
            g = np.concatenate(
                [x_end - zz[:4], [f_ref @ (zz[:4] - z_ref[:4]), t @ ((zz - zp) / SCALE)]]
            )
            m = np.zeros((6, 6))
            m[:4, :4] = mono - np.eye(4)
            m[:4, 4] = f_end
            m[:4, 5] = sens
            m[4, :4] = f_ref
            m[5] = t / SCALE
            dz = np.linalg.solve(m, -g)
            zz = zz + dz
            if np.max(np.abs(dz / SCALE)) < 1e-9:
                tan = np.linalg.solve(m, np.eye(6)[5]) / SCALE  # scaled tangent
                tan /= np.linalg.norm(tan)
                return zz, tan if tan @ t > 0 else -tan, ptp, it + 1
        return None, None, None, 12

    steps = 0
    while steps < max_steps:
        zn, tn, ptp, iters = correct(z + ds * t * SCALE, t, f_ref, z)
        if zn is None:
            ds /= 2
            if ds < 1e-8:
                status = "corrector failed"
                break
            continue
        steps += 1
        amp_first = ptp if amp_first is None else amp_first
        if t[5] * tn[5] < 0:  # fold of cycles: Illinois on dI/ds over the step
            a, b, fa, fb, zc = 0.0, ds, t[5], tn[5], zn
            for _ in range(30):
                c = (a * fb - b * fa) / (fb - fa)
                zc_new, tc, _, _ = correct(z + c * t * SCALE, t, f_ref, z)
                if zc_new is None:
                    break
                zc = zc_new
                if tc[5] * fb < 0:
                    a, fa = b, fb
                else:
                    fa *= 0.5
                b, fb = c, tc[5]
                if abs(b - a) < 1e-9 * ds:
                    break
            lpc.append((float(zc[5]), float(zc[4])))
        f_ref = hh_f(zn[:4, None], zn[5])[:, 0]
        z, t = zn, tn
        if ptp < 0.5 * amp_first and z[5] > 100:
            status = "reached the second Hopf point"
            break
        ds = min(ds * 1.5, 0.3) if iters <= 3 else ds * 0.7 if iters >= 6 else ds
    return {"lpc": lpc, "status": status, "steps": steps, "end_I": float(z[5])}


# -- biosnn ------------------------------------------------------------------------------


def biosnn_diagram():
    import biosnn
    from biosnn.analysis import continue_cycles, continue_equilibria

    hh = biosnn.load_model("hodgkin_huxley")
    d = continue_equilibria(hh, "I_ext", 0, 200)
    cycles = continue_cycles(hh, d.special("hopf")[0], "I_ext", start=0, stop=200)
    return d, cycles


_CHILD = """
import json, sys
sys.path.insert(0, {here!r})
from hh_bifurcation import biosnn_diagram
d, cycles = biosnn_diagram()
lpc = min(cycles.special("lpc"), key=lambda sp: sp.param)
print(json.dumps({{"hopf": [sp.param for sp in d.special("hopf")], "lpc_I": lpc.param,
                  "lpc_period": lpc.period, "cycle_points": len(cycles),
                  "modules": sorted(m for m in ("sympy", "pint", "scipy.sparse")
                                    if m in sys.modules)}}))
"""


def fresh_process(repeat: int) -> dict:
    """Whole-process wall and CPU time of ``import biosnn`` + the diagram (warm cache)."""
    import json
    import resource
    import subprocess

    code = _CHILD.format(here=str(Path(__file__).resolve().parent))

    def run():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, json.loads(proc.stdout.strip().splitlines()[-1])

    first = run()  # fills the cache if it is cold
    best = (math.inf, math.inf)
    for _ in range(max(1, repeat)):
        wall, cpu, result = run()
        best = (min(best[0], wall), min(best[1], cpu))
    out = {
        "first_process_wall_s": first[0],
        "first_process_cpu_s": first[1],
        "fresh_process_wall_s": best[0],
        "fresh_process_cpu_s": best[1],
        **result,
    }
    print(
        f"first process: {first[0]:.3f} s wall / {first[1]:.3f} s CPU; fresh process, "
        f"warm cache (best of {max(1, repeat)}): {best[0]:.3f} s wall / {best[1]:.3f} s "
        f"CPU; imported: {', '.join(result['modules']) or 'none of sympy, pint'}; LPC "
        f"at I = {result['lpc_I']:.7f}, period {result['lpc_period']:.5f}"
    )
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="warm biosnn runs (best is kept)")
    ap.add_argument("--no-anchor", action="store_true", help="skip the scipy anchor")
    ap.add_argument(
        "--fresh-process",
        action="store_true",
        help="time whole new processes on a warm cache (no anchor)",
    )
    args = ap.parse_args(argv)
    if args.fresh_process:
        emit_json("hh_bifurcation_fresh_process", fresh_process(args.repeat))
        return

    c0, t0 = time.process_time(), time.perf_counter()
    d, cycles = biosnn_diagram()
    cold = (time.perf_counter() - t0, time.process_time() - c0)
    warm = (math.inf, math.inf)
    for _ in range(max(1, args.repeat)):
        c0, t0 = time.process_time(), time.perf_counter()
        d, cycles = biosnn_diagram()
        warm = (min(warm[0], time.perf_counter() - t0), min(warm[1], time.process_time() - c0))
    lpc = min(cycles.special("lpc"), key=lambda sp: sp.param)
    out = {
        "biosnn_cold_wall_s": cold[0],
        "biosnn_cold_cpu_s": cold[1],
        "biosnn_warm_wall_s": warm[0],
        "biosnn_warm_cpu_s": warm[1],
        "hopf": [sp.param for sp in d.special("hopf")],
        "cycle_points": len(cycles),
        "cycle_status": cycles.status,
        "cycle_end_I": cycles.end_param,
        "lpc_I": lpc.param,
        "lpc_period": lpc.period,
        "specials": [(sp.type, sp.param) for sp in cycles.special_points],
    }
    print(
        f"biosnn: cold {cold[0]:.3f} s wall / {cold[1]:.3f} s CPU; warm {warm[0]:.3f} s "
        f"/ {warm[1]:.3f} s ({len(cycles)} cycle points, {cycles.status} at "
        f"{cycles.end_param:.5f}); LPC at I = {lpc.param:.7f}, period {lpc.period:.5f}"
    )
    if not args.no_anchor:
        c0, t0 = time.process_time(), time.perf_counter()
        hopf = anchor_equilibria()
        res = anchor_cycles(*hopf[0])
        anchor = (time.perf_counter() - t0, time.process_time() - c0)
        a_lpc = min(res["lpc"]) if res["lpc"] else (math.nan, math.nan)
        out.update(
            anchor_wall_s=anchor[0],
            anchor_cpu_s=anchor[1],
            anchor_hopf=[h[0] for h in hopf],
            anchor_lpc_I=a_lpc[0],
            anchor_lpc_period=a_lpc[1],
            anchor_steps=res["steps"],
            anchor_status=res["status"],
            anchor_end_I=res["end_I"],
            ratio_wall_cold=anchor[0] / cold[0],
            ratio_cpu_cold=anchor[1] / cold[1],
            ratio_wall_warm=anchor[0] / warm[0],
            ratio_cpu_warm=anchor[1] / warm[1],
        )
        print(
            f"scipy shooting: {anchor[0]:.1f} s wall / {anchor[1]:.1f} s CPU "
            f"({res['steps']} steps, {res['status']} at I = {res['end_I']:.3f}); "
            f"LPC at I = {a_lpc[0]:.7f}, period {a_lpc[1]:.5f}"
        )
        print(
            f"ratio anchor/biosnn: cold {anchor[0] / cold[0]:.0f}x wall, "
            f"{anchor[1] / cold[1]:.0f}x CPU; warm {anchor[0] / warm[0]:.0f}x wall, "
            f"{anchor[1] / warm[1]:.0f}x CPU"
        )
    emit_json("hh_bifurcation", out)


if __name__ == "__main__":
    main()
