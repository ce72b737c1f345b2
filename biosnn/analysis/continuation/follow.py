"""Following a branch of equilibria: :func:`continue_equilibria`.

The start (an equilibrium found from ``init`` or seeds, or a branch point:
:func:`_switched_branch`), the predictor-corrector loop (:func:`_march`), special points
(:func:`_specials`) and the diagram built from the points (:func:`_diagram`).  The method
is described in :mod:`biosnn.analysis.continuation`.
"""

from __future__ import annotations

import math

import numpy as np

from biosnn.analysis._system import System
from biosnn.analysis.continuation.arclength import (
    _Branch,
    _is_hopf,
    _locate,
    _Point,
)
from biosnn.analysis.continuation.diagram import BifurcationDiagram, SpecialPoint
from biosnn.analysis.continuation.lyapunov import _first_lyapunov
from biosnn.analysis.equilibria import (
    _counts,
    _deduplicate,
    _default_grid,
    _seeds,
    newton,
    sorted_eigenvalues,
)
from biosnn.analysis.options import CONTINUATION_DEFAULTS
from biosnn.equations.files import as_model
from biosnn.errors import BiosnnError
from biosnn.solvers.options import merge

_TESTS = ("fold", "hopf", "bp")


def continue_equilibria(
    model,
    param: str,
    start,
    stop,
    *,
    params=None,
    init=None,
    options=None,
    ds: float | None = None,
    ds_max: float | None = None,
    ds_min: float | None = None,
    max_points: int | None = None,
    tol: float | None = None,
    max_angle: float | None = None,
    from_point=None,
) -> BifurcationDiagram:
    """Continue a branch of equilibria in ``param`` from ``start`` towards ``stop``.

    Parameters
    ----------
    model : Model or str
        A model or the name of a library model.
    param : str
        The continuation parameter.
    start, stop : float or str
        The parameter interval (display unit, or strings with units).  The branch starts
        at ``start`` and ends when the parameter leaves the interval (after any number of
        folds) or after ``max_points`` points.
    params : dict, optional
        Values of the other parameters (display units or strings with units).
    init : dict, optional
        state -> value (display units): a guess of the equilibrium at ``start``; default
        the model's initial state.  If Newton fails from there, the equilibria found from
        the seeds of :func:`find_equilibria` are used (a stable one first).
    options : ContinuationOptions, optional
        Step control (default ``ContinuationOptions()``: ``ds=0.01``, ``ds_max=0.05``,
        ``ds_min=1e-9``, ``max_points=2000``, ``tol=1e-10``, ``max_angle=0.2``;
        docs/options.md).  The keywords below override its fields.
    ds, ds_max, ds_min : float, optional
        Initial, largest and smallest arclength step in scaled coordinates (states divided
        by ``max(|y_start|, 1)`` in internal units, the parameter by ``|stop - start|``).
    max_points : int, optional
    tol : float, optional
        Newton tolerance of the corrector (scaled coordinates).
    max_angle : float, optional
        Largest angle (radians) between successive tangents; larger turns halve the step.
    from_point : SpecialPoint, optional
        A branch point (``"bp"``) of an earlier diagram in the same parameter: switch
        branches there and continue the other branch through it, in both directions,
        until it leaves the interval (``init`` is then not used).  The direction of the
        new branch is a root of the algebraic branching equation (Keller 1977; Govaerts
        2000, sec. 3.3): with ``phi1`` the old tangent, ``phi2`` the other null vector of
        ``[f_y f_lam]`` and ``psi`` its left null vector, the tangents ``a phi1 + b phi2``
        of the branches through the point solve ``psi.G''[a phi1 + b phi2]^2 = 0``; the
        root farthest from ``phi1`` is taken (if the equation is degenerate, ``phi2``).
        The second derivatives are central differences of the exact Jacobian.
        ``diagram.switch(bp)`` does this with the diagram's own interval and options.

    Returns
    -------
    BifurcationDiagram

    Examples
    --------
    >>> import biosnn
    >>> from biosnn.analysis import continue_equilibria
    >>> d = continue_equilibria(biosnn.load_model("izhikevich"), "I_ext", -20, 10,
    ...                         init={"v": -70, "u": -14})
    >>> [(sp.type, round(sp.param, 10)) for sp in d.special_points]
    [('hopf', 3.7975), ('fold', 4.0)]
    """
    opts = merge(
        options,
        CONTINUATION_DEFAULTS["continue_equilibria"],
        "continue_equilibria",
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
    system = System(model, params)
    lam_a = float(model.to_internal(param, start))
    lam_b = float(model.to_internal(param, stop))
    if lam_a == lam_b:
        raise BiosnnError(f"continuation needs an interval: start == stop == {start!r}")
    context = {
        "continue": continue_equilibria,  # for BifurcationDiagram.switch
        "model": model,
        "start": start,
        "stop": stop,
        "params": dict(params or {}),
        "options": opts,
    }
    if from_point is not None:
        branch, points, status = _switched_branch(
            system,
            model,
            param,
            lam_a,
            lam_b,
            from_point,
            ds,
            ds_max,
            ds_min,
            max_points,
            tol,
            max_angle,
        )
        return _diagram(branch, model, param, points, status, context)
    p0 = system.p.copy()
    p0[system.index(param)] = lam_a
    y0 = _start_state(system, model, p0, init, tol)
    branch = _Branch(system, param, lam_a, abs(lam_b - lam_a), np.maximum(np.abs(y0[:, 0]), 1.0))
    direction = np.zeros(system.n + 1)
    direction[-1] = 1.0 if lam_b > lam_a else -1.0
    first = branch.point(branch.pack(y0, lam_a), direction)
    points, status = _march(branch, first, lam_b, ds, ds_max, ds_min, max_points, tol, max_angle)
    return _diagram(branch, model, param, points, status, context)


def _switched_branch(
    system, model, param, lam_a, lam_b, bp, ds, ds_max, ds_min, max_points, tol, max_angle
):
    """The other branch through the branch point ``bp``: (branch, points, status)."""
    if getattr(bp, "type", None) != "bp":
        kind = getattr(bp, "type", type(bp).__name__)
        raise BiosnnError(f"branch switching starts at a branch point ('bp'), not at {kind!r}")
    if getattr(bp, "_tangent", None) is None:
        raise BiosnnError(
            "the branch point carries no tangent: pass a 'bp' point of a "
            "diagram computed by continue_equilibria"
        )
    missing = [s for s in system.spec.states if s not in bp.state]
    if missing:
        raise BiosnnError(
            f"the branch point has no value for state(s) {missing} of "
            f"{model.name}: it comes from another model"
        )
    lam_bp = float(model.to_internal(param, bp.param))
    lo, hi = sorted((lam_a, lam_b))
    if not lo <= lam_bp <= hi:
        raise BiosnnError(
            f"the branch point ({param} = {bp.param:g}) lies outside the continuation interval"
        )
    y_bp = np.array([float(model.to_internal(s, bp.state[s])) for s in system.spec.states])
    branch = _Branch(system, param, lam_a, abs(lam_b - lam_a), np.maximum(np.abs(y_bp), 1.0))
    x_bp = branch.pack(y_bp, lam_bp)
    old = np.asarray(bp._tangent, dtype=float) / np.append(branch.sy, branch.sl)
    old /= np.linalg.norm(old)
    direction = _branch_direction(branch, x_bp, old)
    halves, statuses = [], []
    for sign in (-1.0, 1.0):
        d = sign * direction
        first = None
        step = ds
        while step >= ds_min:
            x, ok, _ = branch.correct(x_bp + step * d, d, tol)
            if ok and np.linalg.norm(x - x_bp) > 0.5 * step:
                first = branch.point(x, d)
                break
            step /= 2
        if first is None:
            halves.append([])
            statuses.append("corrector failed at the branch point")
            continue
        x_end = (lam_b - lam_a) / branch.sl  # +1 or -1
        if not min(0.0, x_end) <= first.x[-1] <= max(0.0, x_end):
            halves.append([])  # this half leaves the interval at once
            statuses.append("reached the end of the interval")
            continue
        pts, status = _march(
            branch, first, lam_b, step, ds_max, ds_min, max_points // 2, tol, max_angle
        )
        halves.append(pts)
        statuses.append(status)
    centre = branch.point(x_bp, direction)
    centre.special = "bp"
    centre.tangent = direction
    backwards = [_reversed(pt) for pt in reversed(halves[0])]
    points = backwards + [centre] + halves[1]
    status = (
        statuses[0]
        if statuses[0] == statuses[1]
        else f"{statuses[0]} (one end); {statuses[1]} (other end)"
    )
    return branch, points, status


def _reversed(pt: _Point) -> _Point:
    return _Point(
        x=pt.x,
        tangent=-pt.tangent,
        jac=pt.jac,
        eigenvalues=pt.eigenvalues,
        tests=pt.tests,
        special=pt.special,
    )


def _branch_direction(branch, x, old, eps=1e-6):
    """Tangent of the other branch through the branch point ``x`` (scaled, unit).

    Null vectors ``phi1`` (the old tangent ``old``), ``phi2`` of ``G_x`` and the left null
    vector ``psi`` (SVD); the quadratic form ``Q_ab = psi.G_xx[phi_a, phi_b]`` (central
    differences of the exact ``G_x``) is zero along the tangents of both branches; of its
    two null directions the one least parallel to ``phi1`` is returned.
    """
    gx, _ = branch.jacobians(x)
    u, _, vh = np.linalg.svd(gx)
    psi = u[:, -1]
    null = vh[-2:].T  # (n+1, 2): the two smallest
    phi1 = null @ (null.T @ old)
    phi1 /= np.linalg.norm(phi1)
    phi2 = null @ np.array([-(null.T @ phi1)[1], (null.T @ phi1)[0]])
    phi2 /= np.linalg.norm(phi2)
    phis = (phi1, phi2)

    def second(a, b):
        plus, _ = branch.jacobians(x + eps * a)
        minus, _ = branch.jacobians(x - eps * a)
        return psi @ ((plus - minus) @ b) / (2 * eps)

    q = np.array([[second(a, b) for b in phis] for a in phis])
    q = (q + q.T) / 2
    values, vectors = np.linalg.eigh(q)  # ascending: values[0] <= values[1]
    scale = float(np.max(np.abs(values)))
    if scale == 0.0 or values[0] * values[1] >= -((1e-8 * scale) ** 2):
        return phi2  # degenerate: no transversal pair
    roots = [
        math.sqrt(-values[0]) * vectors[:, 1] + s * math.sqrt(values[1]) * vectors[:, 0]
        for s in (1.0, -1.0)
    ]
    coef = min(roots, key=lambda c: abs(c[0]) / np.linalg.norm(c))  # least along phi1
    t = coef[0] * phi1 + coef[1] * phi2
    return t / np.linalg.norm(t)


def _start_state(system, model, p0, init, tol):
    """The equilibrium at the start of the interval, internal units (n, 1)."""
    params = {k: float(p0[i, 0]) for i, k in enumerate(system.spec.params)}
    guess = model.initial_state(params)
    guess = [float(guess[s]) for s in system.spec.states]
    for i, s in enumerate(system.spec.states):
        if init and s in init:
            guess[i] = float(model.to_internal(s, init[s]))
    y, ok = newton(system, np.array(guess).reshape(-1, 1), p=p0, tol=tol)
    if ok[0]:
        return y
    seeds = _seeds(system, [], None, _default_grid(system.n), p=p0)
    ys, oks = newton(system, seeds, p=p0, tol=tol)
    if not np.any(oks):
        raise BiosnnError(
            f"no equilibrium of {model.name} found at the start of the "
            "interval; give init={...} (a guess, display units)"
        )
    ys = _deduplicate(ys[:, oks], 1.0 + np.max(np.abs(ys[:, oks]), axis=1), 1e-6)
    # prefer a stable equilibrium, then the lowest first state
    unstable = [_counts(sorted_eigenvalues(j))[0] for j in system.jac(ys, p0)]
    k = min(range(ys.shape[1]), key=lambda i: (unstable[i] > 0, ys[0, i]))
    return ys[:, k : k + 1]


def _march(branch, first, lam_end, ds, ds_max, ds_min, max_points, tol, max_angle):
    """Predictor-corrector loop; returns the points (specials inserted) and a status."""
    points = [first]
    x_end = (lam_end - branch.lam0) / branch.sl  # +1 or -1 (scaled parameter)
    lo, hi = sorted((0.0, x_end))
    cos_max = math.cos(max_angle)
    status = f"reached max_points = {max_points}"
    while len(points) < max_points:
        prev = points[-1]
        x, ok, iters = branch.correct(prev.x + ds * prev.tangent, prev.tangent, tol)
        new = branch.point(x, prev.tangent) if ok else None
        if new is None or new.tangent @ prev.tangent < cos_max:
            if ds <= ds_min:
                status = "step size below ds_min (corrector failed)"
                break
            ds = max(ds / 2, ds_min)
            continue
        out_of_range = not (lo <= new.x[-1] <= hi)
        found = _specials(branch, prev, new, ds, tol)
        if out_of_range:
            bound = hi if new.x[-1] > hi else lo
            s_end, end = _locate(
                branch,
                prev,
                ds,
                lambda pt: pt.x[-1] - bound,
                prev.x[-1] - bound,
                new.x[-1] - bound,
                tol,
            )
            found = [(s, pt) for s, pt in found if s_end is None or s < s_end]
            points.extend(pt for _, pt in found)
            if end is not None:
                points.append(_exactly_at(branch, end, bound, prev.tangent, tol))
            status = "reached the end of the interval"
            break
        points.extend(pt for _, pt in found)
        points.append(new)
        ds = min(ds * 1.5, ds_max) if iters <= 3 else ds * 0.7 if iters >= 6 else ds
    return points, status


def _exactly_at(branch, pt, bound, tangent, tol):
    """The branch point with the parameter exactly at ``bound`` (scaled), near ``pt``."""
    x, ok, _ = branch.correct(pt.x, tangent, tol, fixed_lam=bound)
    return branch.point(x, tangent) if ok else pt


def _specials(branch, prev, new, ds, tol):
    """Located special points between ``prev`` and ``new``: list of (s, point)."""
    found = []
    for name in _TESTS:
        f0, f1 = prev.tests[name], new.tests[name]
        if not (np.isfinite(f0) and np.isfinite(f1)) or f0 * f1 >= 0:
            continue
        s, pt = _locate(branch, prev, ds, lambda p, n=name: p.tests[n], f0, f1, tol)
        if pt is None:
            continue
        if name == "hopf" and not _is_hopf(pt.eigenvalues):
            continue
        pt.special = name
        found.append((s, pt))
    return sorted(found, key=lambda item: item[0])


def _diagram(branch, model, param, points, status, context) -> BifurcationDiagram:
    system = branch.system
    states = system.spec.states
    lam = np.empty(len(points))
    ys = np.empty((len(points), system.n))
    for k, pt in enumerate(points):
        y, lam[k], _ = branch.unpack(pt.x)
        ys[k] = y[:, 0]
    evs = np.array([pt.eigenvalues for pt in points])
    counts = np.array([_counts(ev) for ev in evs])
    shown_lam = model.from_internal(param, lam)
    shown = {s: model.from_internal(s, ys[:, i]) for i, s in enumerate(states)}
    specials = []
    for k, pt in enumerate(points):
        if pt.special is None:
            continue
        extra = {}
        if pt.special == "hopf":
            y, _, p = branch.unpack(pt.x)
            l1, omega = _first_lyapunov(system, y, p, pt.jac)
            extra = dict(l1=l1, omega=omega, period=2 * math.pi / omega)
        tangent = pt.tangent * np.append(branch.sy, branch.sl)  # internal units
        specials.append(
            SpecialPoint(
                type=pt.special,
                param=float(shown_lam[k]),
                state={s: float(shown[s][k]) for s in states},
                eigenvalues=pt.eigenvalues,
                index=k,
                _tangent=tangent / np.linalg.norm(tangent),
                **extra,
            )
        )
    units = {name: model.display_unit(name) for name in (param,) + tuple(states)}
    return BifurcationDiagram(
        model=model.name,
        param=param,
        units=units,
        param_values=shown_lam,
        states=shown,
        stable=counts[:, 0] == 0,
        n_unstable=counts[:, 0],
        eigenvalues=evs,
        special_points=specials,
        status=status,
        _context=context,
    )
