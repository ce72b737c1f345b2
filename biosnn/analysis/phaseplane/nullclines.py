"""Nullclines of a 2-D slice and the fixed points at their intersections.

Nullclines are contoured on a grid and projected onto the exact curves by Newton's method
(:func:`_nullclines`); closed forms where sympy solves them (:func:`_symbolic_nullclines`).
Fixed points are seeded at the intersections and near-touches of the two sets of
polylines and refined by Newton's method on the exact Jacobian (:func:`_fixed_points`).
See :mod:`biosnn.analysis.phaseplane` for the method.
"""

from __future__ import annotations

import numpy as np

from biosnn.analysis.equilibria import classify
from biosnn.analysis.phaseplane.results import FixedPoint
from biosnn.analysis.phaseplane.slices import _Slice, _Window

#: Newton stops when a step is shorter than this (in window-normalised coordinates).
_NEWTON_STEP_TOL = 1e-14


#: Window-normalised distance below which two fixed points are the same point.
_SAME_POINT = 1e-7


def _newton_onto(sl: _Slice, i: int, pts: np.ndarray, win: _Window, iters: int = 60):
    """Project points (N, 2) onto ``f_i = 0`` by Newton along the gradient.

    Points on an edge of the window (where contour lines end) move along the edge, so that
    refined branches still reach the edge.  Returns the projected points, the residual
    ``f_i`` and the distance moved (both per point; window-normalised distance).
    """
    u = win.to_u(pts)
    u0 = u.copy()
    on_edge = (np.abs(u0) < 1e-9) | (np.abs(u0 - 1) < 1e-9)  # (N, 2)
    u[on_edge] = np.round(u[on_edge])
    gscale = sl.scale * win.size
    active = np.ones(len(u), bool)
    f = np.full(len(u), np.nan)
    for _ in range(iters):
        if not active.any():
            break
        xy = win.to_xy(u[active]).T
        fa = sl.rhs(xy)[i]
        g = sl.jac(xy)[:, i, :] * gscale
        g[on_edge[active]] = 0.0
        with np.errstate(all="ignore"):
            step = fa[:, None] * g / np.sum(g * g, axis=1)[:, None]
        length = np.hypot(step[:, 0], step[:, 1])
        clip = length > win.cell
        step[clip] *= (win.cell / length[clip])[:, None]
        bad = ~np.isfinite(length)
        step[bad] = 0.0
        idx = np.flatnonzero(active)
        u[idx] -= step
        f[idx] = fa
        done = bad | (length < _NEWTON_STEP_TOL) | (fa == 0)
        active[idx[done]] = False
    f = sl.rhs(win.to_xy(u).T)[i]
    return win.to_xy(u), f, np.hypot(*(u - u0).T)


def _split_runs(keep: np.ndarray) -> list:
    """Index ranges (start, stop) of the runs of True in ``keep``."""
    edges = np.diff(np.concatenate([[0], keep.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _refine_polyline(sl, i, line, win, ftol):
    """Refine one contour polyline onto ``f_i = 0``; split it where it is not a curve."""
    pts, f, moved = _newton_onto(sl, i, line, win)
    keep = np.isfinite(f) & (np.abs(f) <= ftol) & (moved <= 2 * win.cell)
    keep &= win.inside(pts, margin=1e-9)
    pieces = []
    for start, stop in _split_runs(keep):
        piece = pts[start:stop]
        if len(piece) >= 2:
            pieces += _split_at_jumps(sl, i, piece, win, ftol)
    return pieces


def _split_at_jumps(sl, i, piece, win, ftol):
    """Split a refined polyline between neighbours whose midpoint is off the curve.

    On a smooth branch ``|f(midpoint)| ~ |grad f| h^2 kappa / 8`` is far below
    ``|grad f| h / 2``; across a pole ``f`` is huge or not finite there.
    """
    mid = 0.5 * (piece[1:] + piece[:-1])
    fm = sl.rhs(mid.T)[i]
    g = sl.jac(piece.T)[:, i, :] * (sl.scale * win.size)
    gnorm = np.hypot(g[:, 0], g[:, 1])
    h = np.hypot(*win.to_u(piece[1:]).T - win.to_u(piece[:-1]).T)
    with np.errstate(all="ignore"):
        ok = np.isfinite(fm) & (np.abs(fm) <= 0.5 * h * np.maximum(gnorm[1:], gnorm[:-1]) + ftol)
    out, start = [], 0
    for k in np.flatnonzero(~ok):
        out.append(piece[start : k + 1])
        start = k + 1
    out.append(piece[start:])
    return [p for p in out if len(p) >= 2]


def _grid_values(sl, win):
    xs = win.lo[0] + win.size[0] * np.linspace(0, 1, win.grid)
    ys = win.lo[1] + win.size[1] * np.linspace(0, 1, win.grid)
    xx, yy = np.meshgrid(xs, ys)
    f = sl.rhs(np.stack([xx.ravel(), yy.ravel()]))
    return xs, ys, f.reshape(2, win.grid, win.grid)


def _nullclines(sl, win):
    """Refined nullclines ``{0: [polylines of f_x = 0], 1: [...]}`` and the residual scales."""
    import contourpy

    xs, ys, values = _grid_values(sl, win)
    curves, scales = {}, []
    for i in (0, 1):
        z = np.ma.masked_invalid(values[i])
        finite = np.abs(values[i][np.isfinite(values[i])])
        scale = float(np.median(finite)) if finite.size else 1.0
        scale = scale if scale > 0 else 1.0
        scales.append(scale)
        lines = contourpy.contour_generator(xs, ys, z).lines(0.0) if z.count() else []
        ftol = 1e-9 * scale
        curves[i] = [
            p
            for line in lines
            if len(line) >= 2
            for p in _refine_polyline(sl, i, np.asarray(line, float), win, ftol)
        ]
    return curves, scales


def _symbolic_nullclines(model, sl, x, y):
    """Closed forms of ``f_x = 0`` and ``f_y = 0`` (display units) where sympy solves.

    Only equations that are polynomial of degree <= 2 in the solved-for variable are
    attempted (fast and always explicit); slaved slices are skipped.
    """
    import sympy

    out = {x: [], y: []}
    if sl.slaved:
        return out
    spec = model.kernel_spec()
    sym = {s.name: s for e in spec.f for s in e.free_symbols}
    X, Y = sympy.Symbol(x, real=True), sympy.Symbol(y, real=True)
    subs = {sym[k]: float(sl.p[j, 0]) for j, k in enumerate(spec.params) if k in sym}
    for j, name in enumerate(spec.states):
        if name in sym and j not in sl.plane:
            subs[sym[name]] = float(sl.base[j])
    if x in sym:
        subs[sym[x]] = X * float(sl.scale[0])
    if y in sym:
        subs[sym[y]] = Y * float(sl.scale[1])
    for i, var in ((sl.ix, x), (sl.iy, y)):
        expr = spec.f[i].xreplace(subs)
        out[var] = _solve_low_degree(expr, X, Y)
    return out


def _solve_low_degree(expr, X, Y):
    """Solutions ``"y = ..."`` (else ``"x = ..."``) of ``expr = 0``, if of degree <= 2."""
    import sympy

    numer = sympy.numer(sympy.together(expr))
    for target, other in ((Y, X), (X, Y)):
        try:
            poly = sympy.Poly(numer, target)
        except sympy.PolynomialError:
            continue
        if not 1 <= poly.degree() <= 2:
            continue
        if any(target in c.free_symbols for c in poly.all_coeffs()):
            continue
        return [f"{target} = {sympy.N(s, 10)}" for s in sympy.solve(numer, target)]
    return []


def _segment_intersections(a_lines, b_lines, chunk=2_000_000):
    """Intersection points of two sets of polylines (each an (N, 2) array)."""

    def segments(lines):
        if not lines:
            return np.empty((0, 2, 2))
        return np.concatenate([np.stack([p[:-1], p[1:]], axis=1) for p in lines])

    sa, sb = segments(a_lines), segments(b_lines)
    out = []
    step = max(1, chunk // max(len(sb), 1))
    for k in range(0, len(sa), step):
        a = sa[k : k + step, None]
        p, r = a[..., 0, :], a[..., 1, :] - a[..., 0, :]
        q, s = sb[None, :, 0, :], sb[None, :, 1, :] - sb[None, :, 0, :]
        cross = r[..., 0] * s[..., 1] - r[..., 1] * s[..., 0]
        qp = q - p
        with np.errstate(all="ignore"):
            t = (qp[..., 0] * s[..., 1] - qp[..., 1] * s[..., 0]) / cross
            v = (qp[..., 0] * r[..., 1] - qp[..., 1] * r[..., 0]) / cross
        hit = (t >= -1e-9) & (t <= 1 + 1e-9) & (v >= -1e-9) & (v <= 1 + 1e-9)
        ia, ib = np.nonzero(hit)
        out.append(p[ia, 0] + t[ia, ib, None] * r[ia, 0])
    return np.concatenate(out) if out else np.empty((0, 2))


def _near_touches(a_lines, b_lines, win, radius):
    """Points of ``a_lines`` closer than ``radius`` (normalised) to ``b_lines``: tangencies."""
    if not a_lines or not b_lines:
        return np.empty((0, 2))
    from scipy.spatial import cKDTree

    a = np.concatenate(a_lines)
    tree = cKDTree(win.to_u(np.concatenate(b_lines)))
    dist, _ = tree.query(win.to_u(a))
    return a[dist < radius]


def _newton_2d(sl, pts, win, iters=60):
    """Newton's method on ``(f_x, f_y) = 0`` from each seed (N, 2); returns points, ok."""
    u = win.to_u(pts)
    gscale = sl.scale * win.size
    for _ in range(iters):
        xy = win.to_xy(u).T
        f = sl.rhs(xy).T  # (N, 2)
        jac = sl.jac(xy) * gscale[None, None, :]
        with np.errstate(all="ignore"):
            det = jac[:, 0, 0] * jac[:, 1, 1] - jac[:, 0, 1] * jac[:, 1, 0]
            step = np.stack(
                [
                    jac[:, 1, 1] * f[:, 0] - jac[:, 0, 1] * f[:, 1],
                    jac[:, 0, 0] * f[:, 1] - jac[:, 1, 0] * f[:, 0],
                ],
                axis=1,
            )
            step /= det[:, None]
        length = np.hypot(step[:, 0], step[:, 1])
        big = length > 0.1
        step[big] *= (0.1 / length[big])[:, None]
        step[~np.isfinite(length)] = 0.0
        u -= step
        if np.all((length < _NEWTON_STEP_TOL) | ~np.isfinite(length)):
            break
    return win.to_xy(u)


def _fixed_points(sl, win, curves, scales, model):
    """All fixed points in the window, refined, de-duplicated, classified."""
    seeds = [
        _segment_intersections(curves[0], curves[1]),
        _near_touches(curves[0], curves[1], win, 2 * win.cell),
    ]
    seeds = np.concatenate(seeds)
    if not len(seeds):
        return []
    pts = _newton_2d(sl, seeds, win)
    f = sl.rhs(pts.T)
    ok = np.all(np.isfinite(f), axis=0) & win.inside(pts, margin=1e-9)
    ok &= (np.abs(f[0]) <= 1e-8 * scales[0]) & (np.abs(f[1]) <= 1e-8 * scales[1])
    unique = []
    for p in pts[ok]:
        if all(np.hypot(*(win.to_u(p) - win.to_u(q))) > _SAME_POINT for q in unique):
            unique.append(p)
    unique.sort(key=lambda p: (p[0], p[1]))
    return [_describe_point(sl, model, p) for p in unique]


def _describe_point(sl, model, p) -> FixedPoint:
    full = sl.full_state(np.asarray(p)[:, None])[:, 0]
    state = {name: float(model.from_internal(name, full[k])) for k, name in enumerate(sl.names)}
    jd = sl.jac_display(np.asarray(p)[:, None])[0]
    lam, vec = np.linalg.eig(jd)
    order = np.argsort(-lam.real, kind="stable")  # decreasing real part, as equilibria
    lam, vec = lam[order], vec[:, order]
    return FixedPoint(state=state, type=classify(lam), eigenvalues=lam, eigenvectors=np.real(vec))
