"""Orbits of a 2-D slice: integration, manifolds of saddles, limit cycles, trajectories.

:func:`_integrate` runs scipy's ``solve_ivp`` on the slice (forward or backward in time,
stopping at the window's edge or near a fixed point); :func:`_manifolds` traces the stable
and unstable manifolds of saddles; :func:`_cycles` finds limit cycles by returns to the
Poincare section ``f_x = 0``; :func:`_trajectories` integrates given starts both ways.
"""

from __future__ import annotations

import math

import numpy as np

from biosnn.analysis.options import SOLVER_DEFAULTS
from biosnn.analysis.phaseplane.results import LimitCycle, Manifold, Trajectory
from biosnn.errors import MethodError
from biosnn.solvers.options import DEFAULT_MAX_STEPS, merge


def _integrate(
    sl,
    win,
    z0,
    duration,
    *,
    backward=False,
    stop_near=(),
    margin=0.05,
    sections=False,
    max_points=20_000,
    rtol=None,
    solver=None,
):
    """Integrate the slice from ``z0`` (display) for ``duration`` (sign set by ``backward``).

    Stops when the orbit leaves the window enlarged by ``margin`` or comes within 1e-4
    (normalised) of a point of ``stop_near``.  Returns the scipy solution (dense output).
    ``solver`` (SolverOptions, checked by :func:`_check_solver`; default
    ``SOLVER_DEFAULTS["phase_plane"]``) gives the method, ``rtol`` and ``atol``, the latter
    relative to the window's size; ``rtol`` given here sets both tolerances (the coarse
    search of a default window).
    """
    from scipy.integrate import solve_ivp

    solver = SOLVER_DEFAULTS["phase_plane"] if solver is None else solver
    atol_rel = solver.atol if rtol is None else rtol
    rtol = solver.rtol if rtol is None else rtol

    sign = -1.0 if backward else 1.0
    fun = _flow_function(sl)
    near_u = [win.to_u(q) for q in stop_near]

    def leave(t, z):
        u = (z - win.lo) / win.size
        return min(u[0] + margin, 1 + margin - u[0], u[1] + margin, 1 + margin - u[1])

    def near(t, z):
        u = (z - win.lo) / win.size
        return min(math.hypot(*(u - q)) for q in near_u) - 1e-4

    events = [leave]
    leave.terminal = True
    if near_u:
        near.terminal = True
        events.append(near)
    if sections:

        def section(t, z):
            return fun(t, z)[0]

        events.append(section)
    atol = atol_rel * np.abs(win.size)
    return solve_ivp(
        fun,
        (0.0, sign * duration),
        np.asarray(z0, float),
        method=_SCIPY_METHODS[solver.method],
        rtol=rtol,
        atol=atol,
        events=events,
        dense_output=True,
        max_step=abs(duration) / 50,
    )


#: biosnn's adaptive methods -> scipy's names (the same tableaux: Bogacki-Shampine,
#: Dormand-Prince, Hairer's DOP853).
_SCIPY_METHODS = {"rk23": "RK23", "rk45": "RK45", "dop853": "DOP853"}


def _check_solver(options):
    """The SolverOptions of the phase plane's integrations (one error if not usable)."""
    opts = merge(options, SOLVER_DEFAULTS["phase_plane"], "phase_plane")
    if opts.method not in _SCIPY_METHODS:
        raise MethodError(
            f"phase_plane integrates with an adaptive method (rk23, rk45 or dop853; "
            f"backward in time too), not {opts.method!r}"
        )
    for name, default in (("dt", None), ("seed", None), ("max_steps", DEFAULT_MAX_STEPS)):
        if getattr(opts, name) != default:
            raise MethodError(
                f"phase_plane does not use {name} (its integrations choose their steps); "
                f"leave it at {default!r}"
            )
    return opts


def _flow_function(sl):
    """``fun(t, z)`` for solve_ivp: the display velocity (scalar fast path when possible)."""
    if sl.slaved:
        return lambda t, z: sl.velocity(z[:, None])[:, 0]
    f1, p = sl.kernel.f1, list(sl.p[:, 0])
    state = list(sl.base)
    ix, iy = sl.ix, sl.iy
    cx, cy = float(sl.scale[0]), float(sl.scale[1])

    def fun(t, z):
        state[ix] = z[0] * cx
        state[iy] = z[1] * cy
        try:
            out = f1(0.0, state, p)
        except (ArithmeticError, ValueError):
            return np.array([np.nan, np.nan])
        return np.array([out[ix] / cx, out[iy] / cy])

    return fun


def _sample(sol, n=400):
    """Points (n, 2) and times of a solution, from its dense output."""
    t = np.linspace(sol.t[0], sol.t[-1], n)
    return sol.sol(t).T if len(sol.t) > 1 else np.asarray(sol.y).T, t


def _time_scale(sl, win, fixed_points):
    """A time the flow needs to cross the window (model time units)."""
    xs = win.lo + win.size * np.linspace(0.05, 0.95, 15)[:, None]
    xx, yy = np.meshgrid(xs[:, 0], xs[:, 1])
    v = sl.velocity(np.stack([xx.ravel(), yy.ravel()])) / win.size[:, None]
    speed = np.hypot(*v)
    speed = speed[np.isfinite(speed) & (speed > 0)]
    cross = 1.0 / float(np.median(speed)) if speed.size else 1.0
    rates = [abs(e) for fp in fixed_points for e in fp.eigenvalues if abs(e) > 0]
    if rates:
        cross = max(cross, 1.0 / float(np.median(rates)))
    return cross


def _manifolds(sl, win, fixed_points, duration, solver, offset=1e-5):
    out = []
    points = [np.array(fp_xy) for fp_xy in (_fp_xy(sl, fp) for fp in fixed_points)]
    for k, fp in enumerate(fixed_points):
        if fp.type != "saddle":
            continue
        others = [q for j, q in enumerate(points) if j != k]
        for lam, vec in zip(fp.eigenvalues, fp.eigenvectors.T):
            kind = "unstable" if lam.real > 0 else "stable"
            direction = vec / win.size
            direction = direction / np.hypot(*direction) * win.size
            for sign in (1.0, -1.0):
                z0 = points[k] + sign * offset * direction
                sol = _integrate(
                    sl,
                    win,
                    z0,
                    duration,
                    backward=(kind == "stable"),
                    stop_near=others,
                    solver=solver,
                )
                curve = np.vstack([points[k], _sample(sol, 600)[0]])
                out.append(Manifold(saddle=k, kind=kind, points=curve))
    return out


def _fp_xy(sl, fp):
    return fp.state[sl.names[sl.ix]], fp.state[sl.names[sl.iy]]


def _section_hits(sl, sol):
    """Crossings of ``f_x = 0`` on which ``dy/dt > 0``: times and points (display)."""
    t_ev, z_ev = sol.t_events[-1], sol.y_events[-1]
    if not len(t_ev):
        return np.empty(0), np.empty((0, 2))
    vy = sl.velocity(z_ev.T)[1]
    keep = vy > 0
    return t_ev[keep], z_ev[keep]


def _close_orbit(win, times, pts, tol):
    """The last section point that returns to an earlier one: (i, j, residual) or None."""
    if len(times) < 2:
        return None
    u = win.to_u(pts)
    last = len(u) - 1
    for j in range(last - 1, max(-1, last - 12), -1):
        residual = float(np.hypot(*(u[last] - u[j])))
        if residual < tol:
            return j, last, residual
    return None


def _find_cycle(sl, win, z0, duration, backward, fixed_xy, solver):
    """A limit cycle reached from ``z0`` (forward: stable, backward: unstable), or None."""
    sol = _integrate(
        sl,
        win,
        z0,
        duration,
        backward=backward,
        stop_near=fixed_xy,
        sections=True,
        solver=solver,
    )
    times, pts = _section_hits(sl, sol)
    found = None
    for tol in (1e-7, 1e-5, 1e-3):
        found = _close_orbit(win, times, pts, tol)
        if found:
            break
    if not found:
        return None
    j, last, residual = found
    period = abs(times[last] - times[j])
    start = pts[last]
    orbit = _integrate(sl, win, start, period, margin=0.5, solver=solver)
    if orbit.status != 0 and orbit.t[-1] < period * (1 - 1e-9):
        return None
    t = np.linspace(0.0, period, 2001)
    curve = orbit.sol(t).T
    u = win.to_u(curve)
    extent = float(np.max(u.max(axis=0) - u.min(axis=0)))
    gap = float(np.hypot(*(u[-1] - u[0])))
    if residual > 1e-2 * extent or gap > max(10 * residual, 1e-6) + 1e-3 * extent:
        return None  # a slow spiral, not a closed orbit
    div = sl.divergence(curve.T)
    multiplier = float(np.exp(np.trapezoid(div, t)))
    return LimitCycle(
        period=float(period),
        points=curve[::5].copy(),
        multiplier=multiplier,
        stable=not backward,
        residual=residual,
    )


def _cycles(sl, win, fixed_points, duration, seeds, solver, offset=1e-3):
    fixed_xy = [np.array(_fp_xy(sl, fp)) for fp in fixed_points]
    starts = []
    for fp, p in zip(fixed_points, fixed_xy):
        if fp.type in ("saddle", "degenerate", "centre"):
            continue
        kick = offset * win.size
        starts.append((p + kick, fp.type.startswith("stable")))
    starts += [(np.asarray(s, float), False) for s in seeds]
    cycles = []
    for z0, backward in starts:
        others = [q for q in fixed_xy if np.hypot(*win.to_u(q) - win.to_u(z0)) > 10 * offset]
        cycle = _find_cycle(sl, win, z0, duration, backward, others, solver)
        if cycle is not None and not any(_same_cycle(cycle, c, win) for c in cycles):
            cycles.append(cycle)
    return cycles


def _same_cycle(a, b, win):
    if abs(a.period - b.period) > 1e-3 * max(a.period, b.period):
        return False
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(win.to_u(b.points)).query(win.to_u(a.points))
    return float(dist.max()) < 1e-2


def _trajectories(sl, win, starts, duration, solver):
    out = []
    for z0 in starts:
        z0 = np.asarray(z0, float)
        fwd = _integrate(sl, win, z0, duration, margin=0.5, solver=solver)
        bwd = _integrate(sl, win, z0, duration, margin=0.5, backward=True, solver=solver)
        (pf, tf), (pb, tb) = _sample(fwd, 1000), _sample(bwd, 1000)
        out.append(
            Trajectory(start=tuple(z0), forward=pf, backward=pb, t_forward=tf, t_backward=tb)
        )
    return out
