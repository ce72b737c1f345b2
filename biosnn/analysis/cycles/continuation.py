"""Continuation of periodic orbits: :func:`continue_cycles`.

The start at a Hopf point (:func:`_hopf_start`) or at a period doubling
(:func:`_pd_start`), the corrector and tangent (:class:`_Cont`), the predictor-corrector
loop (:func:`_march`) and the location of special points and bounds on the arclength
(:func:`_specials`, :func:`_at_bound`, :func:`_root`).  The method is described in
:mod:`biosnn.analysis.cycles`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from biosnn.analysis._system import System
from biosnn.analysis.cycles.branch import _TESTS, CycleBranch, _branch, _candidate, _is_ns, _tests
from biosnn.analysis.cycles.collocation import _Collocation, _evaluate, _node_times
from biosnn.analysis.options import CONTINUATION_DEFAULTS
from biosnn.equations.files import as_model
from biosnn.errors import BiosnnError
from biosnn.solvers.options import merge

__all__ = ["continue_cycles"]


@dataclass
class _Pt:
    X: np.ndarray
    t: np.ndarray
    mu: np.ndarray
    tests: dict
    special: str | None = None
    mesh: np.ndarray | None = None


class _Cont:
    """Corrector and tangent on one collocation problem."""

    def __init__(self, coll: _Collocation, tol, max_iter=8):
        self.coll, self.tol, self.max_iter = coll, tol, max_iter

    def correct(self, X_pred, t, ref_dot):
        """Newton from ``X_pred`` on the hyperplane normal to ``t``.

        Returns ``(X, ok, iterations, lu)``: ``lu`` is the factorised Jacobian of the last
        iteration (at a point within ``tol`` of ``X``), reused for the tangent.
        """
        coll = self.coll
        row = coll.weights * t
        X = X_pred.copy()
        previous = np.inf
        for it in range(1, self.max_iter + 1):
            res, lu = coll.residual(X, ref_dot, row, X_pred)
            if not np.all(np.isfinite(res)) or not lu.finite():
                return X, False, it, None
            try:
                dx = lu.solve(-res)
            except np.linalg.LinAlgError:
                return X, False, it, None
            if not np.all(np.isfinite(dx)):
                return X, False, it, None
            X = X + dx
            size = float(np.max(np.abs(dx)))
            # converged, or (quadratic convergence) the next correction would be below tol
            if size < self.tol or (it > 1 and size < 1e-3 and size**2 / previous < self.tol):
                return X, True, it, lu
            if size > 2 * previous and it > 2:
                return X, False, it, None
            previous = size
        return X, False, self.max_iter, None

    def point(self, X, lu):
        """The point ``X`` with its tangent (from the corrector's last ``lu``) and tests."""
        rhs = np.zeros(self.coll.size)
        rhs[-1] = 1.0
        t = lu.solve(rhs)
        t /= math.sqrt(t @ (self.coll.weights * t))
        mu = lu.multipliers()
        return _Pt(X=X, t=t, mu=mu, tests=_tests(t, mu), mesh=self.coll.mesh.copy())


def continue_cycles(
    model,
    hopf_point,
    param: str,
    *,
    params=None,
    start=None,
    stop=None,
    ntst: int = 40,
    ncol: int = 4,
    options=None,
    ds: float | None = None,
    ds_max: float | None = None,
    ds_min: float | None = None,
    max_points: int | None = None,
    tol: float | None = None,
    max_angle: float | None = None,
    max_period: float | None = None,
    adapt: bool = True,
) -> CycleBranch:
    """Continue the periodic orbits born at a Hopf point (or at a period doubling).

    Parameters
    ----------
    model : Model or str
    hopf_point : SpecialPoint or CyclePoint
        A ``"hopf"`` point of :func:`continue_equilibria` (its ``state`` and ``param``),
        or a ``"pd"`` point of an earlier :class:`CycleBranch` in the same parameter:
        then the branch of period-doubled orbits is continued (branch switching; see
        below and :meth:`CycleBranch.switch`).
    param : str
        The continuation parameter (the one of the equilibrium diagram).
    params : dict, optional
        The other parameters (display units), as given to :func:`continue_equilibria`.
    start, stop : float or str, optional
        Bounds of the parameter interval (display units); the branch stops when it leaves
        it.  Default: unbounded.
    ntst, ncol : int
        Mesh intervals and collocation points per interval (AUTO's NTST, NCOL).  From a
        period-doubling point the doubled orbit keeps the mesh and ``ncol`` of the point
        (``2 ntst`` intervals of the original branch) and is remeshed to ``ntst``
        intervals when that differs.
    options : ContinuationOptions, optional
        Step control (default ``analysis.options.CONTINUATION_DEFAULTS["continue_cycles"]``:
        ``ds=0.02``, ``ds_max=0.5``, ``ds_min=1e-7``, ``max_points=500``, ``tol=1e-9``,
        ``max_angle=0.3``; docs/options.md).  The keywords below override its fields.
    ds, ds_max, ds_min : float, optional
        First, largest and smallest arclength step (scaled: states divided by
        ``max(|y_H|, 1)`` (from a period doubling: by ``max(max |u|, 1)`` over the
        orbit), the period by its value at the start, the parameter by
        ``max(|lam_start|, 1)``, internal units).
    max_points : int, optional
    tol : float, optional
        Newton tolerance (scaled unknowns).
    max_angle : float, optional
        Largest angle between successive tangents (radians).
    max_period : float, optional
        Stop with status ``"homoclinic"`` when the period exceeds this (ms or time units);
        default 20 times the period at the start.
    adapt : bool
        Redistribute the mesh after every step.

    Returns
    -------
    CycleBranch

    Notes
    -----
    **Period doubling.**  At a ``"pd"`` point the monodromy matrix has the multiplier
    -1; its eigenvector ``v(0)``, carried along the orbit by the transfer matrices of the
    condensed collocation blocks (the linearised equation, interior nodes included),
    gives the Floquet eigenfunction ``v(t)`` with ``v(T) = -v(0)``.  The orbit traversed
    twice (period ``2T``, mesh doubled) is a solution of the doubled problem at which
    the period-2 branch crosses it transversally; the first predictor moves along
    ``(v, -v)`` over the two halves (a ``2T``-periodic perturbation orthogonal to the
    doubled orbit's own tangent) and the corrector, on the hyperplane normal to it,
    lands on the period-2 orbit.  The branch stops like any other, or with status
    ``"reached a period doubling"`` when the difference between the two halves of the
    orbit shrinks to zero again (period halving; ``end_param`` extrapolated in its
    square).
    """
    opts = merge(
        options,
        CONTINUATION_DEFAULTS["continue_cycles"],
        "continue_cycles",
        ds=ds,
        ds_max=ds_max,
        ds_min=ds_min,
        max_points=max_points,
        tol=tol,
        max_angle=max_angle,
    )
    ds, ds_max, ds_min = opts.ds, opts.ds_max, opts.ds_min
    max_points, tol, max_angle = opts.max_points, opts.tol, opts.max_angle
    model = as_model(model)
    kind = getattr(hopf_point, "type", "hopf")
    if kind not in ("hopf", "pd"):
        raise BiosnnError(
            f"continue_cycles starts at a Hopf point or at a period doubling ('pd'), not a {kind!r}"
        )
    system = System(model, params)
    k = system.index(param)
    if kind == "hopf":
        coll, first, ref_first = _hopf_start(system, model, k, param, hopf_point, ntst, ncol)
        size = _Collocation.amplitude
    else:
        coll, first, ref_first = _pd_start(system, model, k, param, hopf_point)
        if ntst != coll.ntst:  # keep the distribution of the point's mesh
            mesh = np.interp(
                np.linspace(0, 1, ntst + 1), np.linspace(0, 1, coll.ntst + 1), coll.mesh
            )
            first = _remeshed(coll, first, mesh)
            ref_first = coll.ref_dot(first.X)
        size = _half_difference
    bounds = [-np.inf, np.inf]
    for b, v in enumerate((start, stop)):
        if v is not None:
            bounds[b] = float(model.to_internal(param, v))
    t0 = coll.ts
    period_cap = (20 * t0) if max_period is None else float(max_period)
    cont = _Cont(coll, tol)
    points, status, end = _march(
        cont,
        first,
        ref_first,
        size,
        min(bounds),
        max(bounds),
        period_cap,
        ds,
        ds_max,
        ds_min,
        max_points,
        max_angle,
        adapt,
        "reached a Hopf point" if kind == "hopf" else "reached a period doubling",
    )
    end_param = None if end is None else float(model.from_internal(param, end))
    context = {
        "continue": continue_cycles,  # for CycleBranch.switch (the branch module is below)
        "model": model,
        "params": dict(params or {}),
        "options": dict(
            start=start,
            stop=stop,
            ntst=ntst,
            ncol=ncol,
            options=opts,
            max_period=max_period,
            adapt=adapt,
        ),
    }
    return _branch(model, param, coll, points, status, end_param, context)


def _hopf_start(system, model, k, param, hopf_point, ntst, ncol):
    """The collocation problem, the Hopf point as first point, and the first phase ref."""
    states = system.spec.states
    lam_h = float(model.to_internal(param, hopf_point.param))
    y_h = np.array([float(model.to_internal(s, hopf_point.state[s])) for s in states])
    p = system.p.copy()
    p[k] = lam_h
    jac = system.jac(y_h.reshape(-1, 1), p)[0]
    ev, vecs = np.linalg.eig(jac)
    upper = np.flatnonzero(ev.imag > 0)
    if upper.size == 0:
        raise BiosnnError("no complex eigenvalue pair at the given Hopf point")
    i_h = upper[np.argmin(np.abs(ev[upper].real))]
    omega = float(ev[i_h].imag)
    q = vecs[:, i_h]
    t0 = 2 * math.pi / omega
    sy = np.maximum(np.abs(y_h), 1.0)
    sl = max(abs(lam_h), 1.0)
    coll = _Collocation(system, k, param, lam_h, sl, sy, t0, np.linspace(0, 1, ntst + 1), ncol)
    # the Hopf point and the critical eigenfunction
    s_nodes = _node_times(coll)
    phi = np.real(q[None, :] * np.exp(2j * math.pi * s_nodes)[:, None]) / sy
    X0 = np.concatenate([np.tile(y_h / sy, coll.nodes), [1.0, 0.0]])
    tan0 = np.concatenate([phi.ravel(), [0.0, 0.0]])
    tan0 /= math.sqrt(tan0 @ (coll.weights * tan0))
    mu0 = coll.residual(X0, coll.ref_dot(tan0), tan0, X0)[1].multipliers()
    first = _Pt(X=X0, t=tan0, mu=mu0, tests=_tests(tan0, mu0), mesh=coll.mesh.copy())
    return coll, first, coll.ref_dot(tan0)


def _pd_start(system, model, k, param, pd):
    """The doubled problem at a period-doubling point: (coll, first point, phase ref)."""
    orbit = getattr(pd, "_orbit", None)
    if orbit is None:
        raise BiosnnError(
            "the period-doubling point carries no orbit: pass a 'pd' point "
            "of a branch computed by continue_cycles"
        )
    mesh, u, period, lam, ncol = orbit
    if u.shape[1] != system.n:
        raise BiosnnError(
            f"the period-doubling point has {u.shape[1]} states, "
            f"{model.name} has {system.n}: it comes from another model"
        )
    n = system.n
    sy = np.maximum(np.max(np.abs(u), axis=0), 1.0)
    sl = max(abs(lam), 1.0)
    single = _Collocation(system, k, param, lam, sl, sy, period, mesh, ncol)
    X1 = np.concatenate([(u / sy).ravel(), [1.0, 0.0]])
    _, lu = single.residual(X1, single.ref_dot(X1), np.zeros(single.size), X1)
    transfer = -np.linalg.solve(lu.C[:, :, n : 2 * n], lu.C[:, :, :n])
    mono = np.eye(n)
    for mat in transfer:
        mono = mat @ mono
    mu, vecs = np.linalg.eig(mono)
    i = int(np.argmin(np.abs(mu + 1.0)))
    if abs(mu[i] + 1.0) > 1e-3:
        raise BiosnnError(
            f"no Floquet multiplier -1 at the given point (closest: "
            f"{complex(mu[i]):.6g}): it is not a period doubling"
        )
    v = np.real(vecs[:, i])
    ends = [v / np.linalg.norm(v)]
    for mat in transfer:  # v at the mesh points
        ends.append(mat @ ends[-1])
    ends = np.array(ends)  # (ntst + 1, n)
    N, m = single.ntst, single.ncol
    interior = np.einsum(
        "jkc,jc->jk", lu.W[:, :, : 2 * n], np.hstack([ends[:-1], ends[1:]])
    )  # (N, (m-1) n)
    V = np.empty((single.nodes, n))
    V[::m] = ends
    V[single.idx[:, 1:-1]] = interior.reshape(N, m - 1, n)
    # the orbit twice over and the perturbation (v, -v): 2T-periodic since v(T) = -v(0)
    mesh2 = np.concatenate([mesh[:-1] / 2, 0.5 + mesh / 2])
    U2 = np.vstack([u[:-1] / sy, u / sy])
    P2 = np.vstack([V[:-1], -V])
    coll = _Collocation(system, k, param, lam, sl, sy, 2 * period, mesh2, ncol)
    X0 = np.concatenate([U2.ravel(), [1.0, 0.0]])
    tan0 = np.concatenate([P2.ravel(), [0.0, 0.0]])
    tan0 /= math.sqrt(tan0 @ (coll.weights * tan0))
    ref = coll.ref_dot(X0)
    mu0 = coll.residual(X0, ref, tan0, X0)[1].multipliers()
    first = _Pt(X=X0, t=tan0, mu=mu0, tests=_tests(tan0, mu0), mesh=coll.mesh.copy())
    return coll, first, ref


def _remeshed(coll, pt, mesh):
    X, t = coll.remesh(pt.X, mesh, pt.t)
    t = t / math.sqrt(t @ (coll.weights * t))
    return _Pt(X=X, t=t, mu=pt.mu, tests=pt.tests, special=pt.special, mesh=coll.mesh.copy())


def _half_difference(coll, X, samples=64):
    """RMS over the orbit of ``u(s + 1/2) - u(s)`` (scaled): zero on a doubled orbit."""
    U = X[: coll.nU].reshape(coll.nodes, coll.n)
    s = np.linspace(0.0, 0.5, samples, endpoint=False)
    first = _evaluate(coll.mesh, U, coll.ncol, s)
    second = _evaluate(coll.mesh, U, coll.ncol, s + 0.5)
    return float(np.sqrt(np.mean((second - first) ** 2)))


def _march(
    cont,
    first,
    ref_first,
    size,
    lo,
    hi,
    period_cap,
    ds,
    ds_max,
    ds_min,
    max_points,
    max_angle,
    adapt,
    vanish_status,
):
    """Predictor-corrector loop on cycles: (points, status, end parameter or None).

    ``size(coll, X)`` measures the orbit's distance from where the branch was born (the
    amplitude from a Hopf point, the half-period difference from a period doubling);
    when it shrinks below half its first value the branch has reached the same kind of
    point again (``vanish_status``), whose parameter is extrapolated in ``size**2``.
    """
    coll = cont.coll
    points = [first]
    status = f"reached max_points = {max_points}"
    end_param = None
    cos_max = math.cos(max_angle)
    size_first = None
    while len(points) < max_points:
        prev = points[-1]
        ref = coll.ref_dot(prev.X) if len(points) > 1 else ref_first
        X, ok, iters, lu = cont.correct(prev.X + ds * prev.t, prev.t, ref)
        new = None
        if ok:
            new = cont.point(X, lu)
            if len(points) > 1 and new.t @ (coll.weights * prev.t) < cos_max:
                new = None
        if new is None:
            if ds <= ds_min:
                status = "step size below ds_min (corrector failed)"
                break
            ds = max(ds / 2, ds_min)
            continue
        found = _specials(cont, prev, new, ds, ref) if len(points) > 1 else []
        points.extend(pt for _, pt in found)
        points.append(new)
        _, T, lam = coll.unpack(new.X)
        amp = size(coll, new.X)
        size_first = amp if size_first is None else size_first
        if not lo <= lam <= hi:
            bound = ((hi if lam > hi else lo) - coll.lam0) / coll.sl  # scaled
            end = _at_bound(cont, prev, ds, ref, bound, new.X[-1] - bound)
            points[-1:] = [end] if end is not None else []
            status = "reached the end of the interval"
            break
        if T > period_cap:
            status = "homoclinic"
            break
        amp_prev = size(coll, prev.X)
        if len(points) > 3 and amp < amp_prev:
            if amp < 0.5 * size_first:
                status = vanish_status
                _, _, lam_prev = coll.unpack(prev.X)
                # lam = lam_end + c a**2 through the last two points
                end_param = lam + (lam_prev - lam) * amp**2 / (amp**2 - amp_prev**2)
                break
        ds = min(ds * 1.5, ds_max) if iters <= 3 else ds * 0.7 if iters >= 6 else ds
        if len(points) > 3 and amp < amp_prev:
            ds = min(ds, 0.6 * amp)  # approach the end geometrically
        if adapt:
            points[-1] = _remeshed(coll, new, coll.adapted_mesh(new.X))
    return points, status, end_param


def _root(phi, a, b, fa, fb, xtol, max_iter=40):
    """Zero of ``phi`` in [a, b] (``fa``, ``fb`` of opposite signs).

    Secant steps from the two latest iterates, kept inside the bracket (Illinois regula
    falsi when a secant step leaves it); stops when an iterate moves less than ``xtol``.
    Returns None where ``phi`` returns None (no point found there).
    """
    x0, f0, x1, f1 = a, fa, b, fb
    for _ in range(max_iter):
        c = x1 - f1 * (x1 - x0) / (f1 - f0)
        lo, hi = min(a, b), max(a, b)
        if not lo < c < hi:
            c = (a * fb - b * fa) / (fb - fa)
        fc = phi(c)
        if fc is None:
            return None
        if fc == 0.0 or abs(c - x1) < xtol:
            return c
        if fc * fb < 0:
            a, fa = b, fb
        else:
            fa *= 0.5
        b, fb = c, fc
        x0, f0, x1, f1 = x1, f1, c, fc
    return c


def _at_bound(cont, prev, ds, ref, bound, f_new):
    """The point of the step from ``prev`` where the scaled parameter equals ``bound``."""
    cache = {}

    def phi(s):
        X, ok, _, lu = cont.correct(prev.X + s * prev.t, prev.t, ref)
        if not ok:
            return None
        cache[s] = cont.point(X, lu)
        return cache[s].X[-1] - bound

    s = _root(phi, 0.0, ds, prev.X[-1] - bound, f_new, xtol=1e-12 * ds)
    return cache.get(s)


def _specials(cont, prev, new, ds, ref):
    found = []
    for name in _TESTS:
        f0, f1 = prev.tests[name], new.tests[name]
        if not (np.isfinite(f0) and np.isfinite(f1)) or f0 * f1 >= 0:
            continue
        if name != "lpc" and not (_candidate(name, prev.mu) and _candidate(name, new.mu)):
            continue  # a real pair mu, 1/mu (ns) or a sign change through infinity
        cache = {}

        def phi(s, name=name):
            X, ok, _, lu = cont.correct(prev.X + s * prev.t, prev.t, ref)
            if not ok:
                return None
            cache[s] = cont.point(X, lu)
            return cache[s].tests[name]

        s = _root(phi, 0.0, ds, f0, f1, xtol=1e-7 * ds, max_iter=40 if name == "lpc" else 15)
        if s is None or (s not in cache and phi(s) is None):
            continue
        pt = cache[s]
        if name == "ns" and not _is_ns(pt.mu):
            continue
        pt.special = name
        found.append((s, pt))
    return sorted(found, key=lambda item: item[0])
