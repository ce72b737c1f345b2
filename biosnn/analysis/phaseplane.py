"""Phase plane of a 2-D model, or of a 2-D slice of a larger one.

:func:`phase_plane` takes a :class:`~biosnn.equations.model.Model`, two of its states and a
window (in display units) and returns a :class:`PhasePlane`: nullclines, vector field, fixed
points with eigenvalues and type, stable and unstable manifolds of saddles, limit cycles
with their period, and trajectories.  ``PhasePlane.to_dict()`` is JSON-ready and
``PhasePlane.plot()`` draws the labelled figure.

How each part is computed
-------------------------
* **The slice.** States other than ``x`` and ``y`` are held at given values (default: the
  model's initial values) or *slaved* to their steady state (``fixed={"m": "steady"}``:
  ``f_m(x, y, m) = 0`` solved by Newton at every point).  The flow and the exact Jacobian
  come from the model's NumPy kernel (internal units); a slaved slice uses the Schur
  complement ``J_PP - J_PS J_SS^-1 J_SP`` as its Jacobian.  Time is the model's (ms, or
  dimensionless); noise, events and resets are ignored: this is the phase plane of the drift.
* **Nullclines.** ``f_x = 0`` and ``f_y = 0`` are contoured on a grid (contourpy, the
  contour generator of matplotlib), then every contour point is projected onto the exact
  curve by Newton's method with the gradient from the symbolic Jacobian.  Points whose
  projection fails or moves further than two grid cells are dropped and the polyline is
  split there, and so is every segment whose midpoint is far from the curve (``|f|`` large
  or not finite): the spurious contour a sign change through a pole (``w = 1/(v - 1)``)
  produces never survives, and branches are never joined across an asymptote.  Where sympy
  solves ``f = 0`` for one variable as a polynomial of degree <= 2, the closed forms are
  kept in :attr:`PhasePlane.formulas` (a cross-check; display units).
* **Fixed points.** Seeds are the intersections of the two sets of nullcline polylines (and
  near-touches, for tangencies); each is refined by Newton's method on the exact Jacobian,
  kept if it converges inside the window and de-duplicated.  The type comes from the
  eigenvalues of the slice's Jacobian (:func:`biosnn.analysis.equilibria.classify`, shared
  with the rest of the analysis package).
* **Manifolds.** From each saddle, small offsets along its eigenvectors are integrated
  forward (unstable manifold) or backward (stable manifold) until they leave the window,
  come close to a fixed point or the time runs out.
* **Limit cycles.** Trajectories started next to each unstable node/focus (forward: stable
  cycles) and next to each stable node/focus (backward: unstable cycles), and from
  ``cycle_seeds``, are integrated for a long time; their crossings of the Poincare section
  ``f_x = 0`` (the x-nullcline) are located on the dense output, and when a crossing returns
  to an earlier one the orbit is closed: the period is the time between them.  The
  non-trivial Floquet multiplier of a planar cycle is ``exp(integral of div f over one
  period)``.

Integration uses :func:`scipy.integrate.solve_ivp` (DOP853) on the 2-D slice, which can run
backward in time (``biosnn.simulate`` cannot).  Fixed points are found with a Newton solver
on the slice (``biosnn.analysis.equilibria.find_equilibria`` works on the full state and
seeds from a grid; here the seeds are the nullcline intersections and fixed or slaved
states must stay out of the unknowns).

Examples
--------
>>> import biosnn
>>> from biosnn.analysis.phaseplane import phase_plane
>>> fhn = biosnn.load_model("fitzhugh_nagumo")
>>> pp = phase_plane(fhn, "v", "w", (-2.5, 2.5), (-1, 2), params={"I_ext": 0.5})
>>> [fp.type for fp in pp.fixed_points]
['unstable focus']
>>> round(pp.cycles[0].period, 2)
39.47
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biosnn.analysis.equilibria import classify
from biosnn.analysis.options import SOLVER_DEFAULTS
from biosnn.equations.files import as_model
from biosnn.errors import MethodError, ModelError
from biosnn.solvers.options import DEFAULT_MAX_STEPS, merge

__all__ = ["phase_plane", "PhasePlane", "FixedPoint", "Manifold", "LimitCycle", "Trajectory"]

#: Newton stops when a step is shorter than this (in window-normalised coordinates).
_NEWTON_STEP_TOL = 1e-14
#: Window-normalised distance below which two fixed points are the same point.
_SAME_POINT = 1e-7


# ---------------------------------------------------------------------------------------
# data
@dataclass
class FixedPoint:
    """A fixed point of the slice.

    Attributes
    ----------
    state : dict
        Every state -> value (display units), including the fixed or slaved ones.
    type : str
        ``stable node``, ``unstable node``, ``stable focus``, ``unstable focus``,
        ``saddle``, ``centre`` or ``degenerate`` (see
        :func:`biosnn.analysis.equilibria.classify`).
    eigenvalues : ndarray of complex, shape (2,)
        Of the slice's Jacobian, per unit of model time (1/ms, or 1/time unit).
    eigenvectors : ndarray, shape (2, 2)
        Columns, in display units of (x, y); real parts for a focus.
    """

    state: dict
    type: str
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray

    def xy(self, x: str, y: str) -> tuple:
        return self.state[x], self.state[y]

    def to_dict(self) -> dict:
        return {
            "state": {k: float(v) for k, v in self.state.items()},
            "type": self.type,
            "eigenvalues": [[float(e.real), float(e.imag)] for e in self.eigenvalues],
        }


@dataclass
class Manifold:
    """One branch of a stable or unstable manifold of a saddle.

    Attributes
    ----------
    saddle : int
        Index of the saddle in :attr:`PhasePlane.fixed_points`.
    kind : str
        ``"stable"`` or ``"unstable"``.
    points : ndarray, shape (N, 2)
        The curve in display units, starting next to the saddle.
    """

    saddle: int
    kind: str
    points: np.ndarray

    def to_dict(self) -> dict:
        return {"saddle": self.saddle, "kind": self.kind, "points": self.points.tolist()}


@dataclass
class LimitCycle:
    """A periodic orbit found by simulation.

    Attributes
    ----------
    period : float
        In model time units (ms, or dimensionless).
    points : ndarray, shape (N, 2)
        One period of the orbit (display units), starting on the section ``f_x = 0``.
    multiplier : float
        Non-trivial Floquet multiplier ``exp(integral of div f dt)``; < 1: stable.
    stable : bool
        Whether the orbit attracts (found forward in time) or repels (found backward).
    residual : float
        Window-normalised distance between the two section crossings that closed the orbit.
    """

    period: float
    points: np.ndarray
    multiplier: float
    stable: bool
    residual: float

    def to_dict(self) -> dict:
        return {
            "period": float(self.period),
            "multiplier": float(self.multiplier),
            "stable": bool(self.stable),
            "residual": float(self.residual),
            "points": self.points.tolist(),
        }


@dataclass
class Trajectory:
    """A trajectory through ``start``: ``forward`` and ``backward`` in time (display units).

    Both arrays start at ``start``; ``t_forward`` (>= 0) and ``t_backward`` (<= 0) are the
    times of their points.
    """

    start: tuple
    forward: np.ndarray
    backward: np.ndarray
    t_forward: np.ndarray
    t_backward: np.ndarray

    def to_dict(self) -> dict:
        return {
            "start": [float(v) for v in self.start],
            "forward": self.forward.tolist(),
            "backward": self.backward.tolist(),
            "t_forward": self.t_forward.tolist(),
            "t_backward": self.t_backward.tolist(),
        }


@dataclass
class PhasePlane:
    """Everything :func:`phase_plane` computed, in display units.

    Attributes
    ----------
    model : str
        Model name.
    x, y : str
        The two states of the plane.
    units : dict
        ``x``, ``y`` and ``t`` -> display unit.
    xlim, ylim : tuple of float
        The window.
    params : dict
        Parameter values used (display units).
    fixed : dict
        The other states: name -> value (display units) or ``"steady"``.
    nullclines : dict
        ``x`` and ``y`` -> list of polylines (arrays of shape (N, 2)): ``f_x = 0`` and
        ``f_y = 0``; each polyline is one unbroken piece of a branch.
    formulas : dict
        Closed forms of nullcline branches sympy found (``"w = 1.25*v + 0.875"``), per
        variable; empty where sympy did not solve.
    fixed_points : list of FixedPoint
    manifolds : list of Manifold
    cycles : list of LimitCycle
    trajectories : list of Trajectory
    field : tuple of ndarray
        ``(X, Y, U, V)``: grid and velocities (display units per unit of model time).
    """

    model: str
    x: str
    y: str
    units: dict
    xlim: tuple
    ylim: tuple
    params: dict
    fixed: dict
    nullclines: dict
    formulas: dict
    fixed_points: list
    manifolds: list
    cycles: list
    trajectories: list
    field: tuple = field(repr=False, default=())

    def to_dict(self) -> dict:
        """The phase plane as plain JSON types (lists, floats, strings)."""
        return {
            "model": self.model,
            "x": self.x,
            "y": self.y,
            "units": dict(self.units),
            "xlim": [float(v) for v in self.xlim],
            "ylim": [float(v) for v in self.ylim],
            "params": {k: float(v) for k, v in self.params.items()},
            "fixed": {k: (v if isinstance(v, str) else float(v)) for k, v in self.fixed.items()},
            "nullclines": {k: [p.tolist() for p in v] for k, v in self.nullclines.items()},
            "formulas": {k: list(v) for k, v in self.formulas.items()},
            "fixed_points": [fp.to_dict() for fp in self.fixed_points],
            "manifolds": [m.to_dict() for m in self.manifolds],
            "cycles": [c.to_dict() for c in self.cycles],
            "trajectories": [t.to_dict() for t in self.trajectories],
        }

    def label(self, name: str) -> str:
        """Axis label of ``name``: ``"V (mV)"``, or ``"v"`` when dimensionless."""
        unit = self.units[name]
        return name if unit == "1" else f"{name} ({unit})"

    def plot(self, ax=None, *, streamlines: bool = False, legend: bool = True):
        """Draw the phase plane; returns the matplotlib Axes.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw (default: a new figure).
        streamlines : bool
            Streamlines instead of a direction field (arrows of equal length).
        legend : bool
            Draw a legend naming nullclines, fixed-point types, manifolds and cycles.
        """
        from biosnn.analysis._phaseplane_plot import plot_phase_plane

        return plot_phase_plane(self, ax=ax, streamlines=streamlines, legend=legend)


# ---------------------------------------------------------------------------------------
# the 2-D slice
class _Slice:
    """The flow of a model on the plane of states ``x``, ``y`` (others fixed or slaved).

    Points are arrays of shape (2, N) in display units; ``rhs`` and ``jac`` are in internal
    units (``f`` and ``df/dy`` of the model), ``velocity`` and ``jac_display`` in display
    units per unit of model time.
    """

    def __init__(self, model, x: str, y: str, fixed: dict):
        from biosnn.solvers.simulate import numpy_kernel

        spec = model.kernel_spec()
        if any(spec.t in e.free_symbols for e in spec.f):
            raise ModelError(
                f"model {model.name} depends on t explicitly; a phase plane "
                "needs an autonomous model"
            )
        self.kernel = numpy_kernel(spec)
        names = list(spec.states)
        self.ix, self.iy = names.index(x), names.index(y)
        self.plane = [self.ix, self.iy]
        self.p = np.array([float(model.to_internal(k, model.params[k])) for k in spec.params])
        self.p = self.p.reshape(-1, 1)
        self.scale = np.array([float(model.to_internal(x, 1.0)), float(model.to_internal(y, 1.0))])
        base = model.initial_state({k: self.p[i, 0] for i, k in enumerate(spec.params)})
        self.base = np.array([float(base[s]) for s in names])
        self.slaved = []
        for name, value in fixed.items():
            i = names.index(name)
            if isinstance(value, str) and value.strip() == "steady":
                self.slaved.append(i)
            else:
                self.base[i] = float(model.to_internal(name, value))
        self.names = names
        self.closed_form = self._closed_form_slaved(spec)

    def _closed_form_slaved(self, spec) -> bool:
        """Whether every slaved state solves as ``-B/A`` (``f_i = A_i y_i + B_i``, gates).

        True when each slaved equation is linear in its own state and its ``A``, ``B`` do
        not involve the other slaved states; then one kernel call gives the steady state.
        """
        if not self.slaved or not spec.exp_euler:
            return False
        slaved = {spec.states[i] for i in self.slaved}
        for i in self.slaved:
            ab = spec.exp_euler[i]
            if ab is None:
                return False
            names = {s.name for e in ab for s in e.free_symbols}
            if names & slaved:
                return False
        return True

    def full_state(self, xy: np.ndarray) -> np.ndarray:
        """States (n_states, N), internal units, with slaved states solved."""
        xy = np.asarray(xy, dtype=float).reshape(2, -1)
        ys = np.repeat(self.base[:, None], xy.shape[1], axis=1)
        ys[self.ix] = xy[0] * self.scale[0]
        ys[self.iy] = xy[1] * self.scale[1]
        if self.slaved:
            self._solve_slaved(ys)
        return ys

    def _solve_slaved(self, ys: np.ndarray) -> None:
        s = self.slaved
        with np.errstate(all="ignore"):
            if self.closed_form:
                a, b = self.kernel.exp_euler_AB(0.0, ys, self.p)
                ys[s] = -b[s] / a[s]
                return
            for _ in range(50):
                f = self.kernel.f(0.0, ys, self.p)[s]  # (k, N)
                jss = self.kernel.jac(0.0, ys, self.p)[:, s][:, :, s]  # (N, k, k)
                step = np.linalg.solve(jss, f.T[:, :, None])[:, :, 0].T
                ys[s] -= step
                if not np.any(np.abs(step) > 1e-13 * (1 + np.abs(ys[s]))):
                    break

    def rhs(self, xy) -> np.ndarray:
        """``(f_x, f_y)``, internal units, shape (2, N)."""
        with np.errstate(all="ignore"):
            return self.kernel.f(0.0, self.full_state(xy), self.p)[self.plane]

    def jac(self, xy) -> np.ndarray:
        """Jacobian of ``(f_x, f_y)`` w.r.t. internal ``(x, y)``, shape (N, 2, 2)."""
        with np.errstate(all="ignore"):
            full = self.kernel.jac(0.0, self.full_state(xy), self.p)
            a = full[:, self.plane][:, :, self.plane]
            if not self.slaved:
                return a
            s = self.slaved
            b, c, d = (
                full[:, self.plane][:, :, s],
                full[:, s][:, :, self.plane],
                full[:, s][:, :, s],
            )
            return a - b @ np.linalg.solve(d, c)

    def velocity(self, xy) -> np.ndarray:
        """``(dx/dt, dy/dt)`` in display units, shape (2, N)."""
        return self.rhs(xy) / self.scale[:, None]

    def jac_display(self, xy) -> np.ndarray:
        """Jacobian of the display-unit velocity w.r.t. display ``(x, y)``: (N, 2, 2)."""
        return self.jac(xy) * self.scale[None, None, :] / self.scale[None, :, None]

    def divergence(self, xy) -> np.ndarray:
        """Trace of the Jacobian (1/time), shape (N,)."""
        return np.trace(self.jac(xy), axis1=1, axis2=2)


# ---------------------------------------------------------------------------------------
# nullclines
class _Window:
    """The window and its normalised coordinates ``u = (p - lo) / size`` in [0, 1]^2."""

    def __init__(self, xlim, ylim, grid: int):
        self.lo = np.array([xlim[0], ylim[0]], dtype=float)
        self.size = np.array([xlim[1] - xlim[0], ylim[1] - ylim[0]], dtype=float)
        self.grid = grid
        self.cell = 1.0 / (grid - 1)

    def to_u(self, pts):
        return (np.asarray(pts, float) - self.lo) / self.size

    def to_xy(self, u):
        return self.lo + np.asarray(u, float) * self.size

    def inside(self, pts, margin: float = 0.0):
        u = self.to_u(pts)
        return np.all((u >= -margin) & (u <= 1 + margin), axis=-1)


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


# ---------------------------------------------------------------------------------------
# fixed points
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


# ---------------------------------------------------------------------------------------
# integration
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


# ---------------------------------------------------------------------------------------
# manifolds, cycles, trajectories
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


def _vector_field(sl, win, arrows):
    xs = win.lo[0] + win.size[0] * np.linspace(0, 1, arrows)
    ys = win.lo[1] + win.size[1] * np.linspace(0, 1, arrows)
    xx, yy = np.meshgrid(xs, ys)
    v = sl.velocity(np.stack([xx.ravel(), yy.ravel()]))
    return xx, yy, v[0].reshape(xx.shape), v[1].reshape(xx.shape)


# ---------------------------------------------------------------------------------------
# the public function
def phase_plane(
    model,
    x: str,
    y: str,
    xlim=None,
    ylim=None,
    *,
    params=None,
    preset=None,
    fixed=None,
    grid: int = 201,
    arrows: int = 21,
    trajectories=(),
    duration=None,
    manifolds: bool = True,
    cycles: bool = True,
    cycle_seeds=(),
    options=None,
) -> PhasePlane:
    """The phase plane of ``model`` on states ``x`` and ``y``.

    Parameters
    ----------
    model : Model or str
        A :class:`~biosnn.equations.model.Model` or the name of a library model.
    x, y : str
        Two different states of the model (horizontal, vertical axis).
    xlim, ylim : (float, float), optional
        The window in display units.  Default: the range a trajectory from the model's
        initial state covers, enlarged by a quarter on each side.
    params : dict, optional
        Parameter values (numbers in the display unit or strings with a unit).
    preset : str, optional
        A named parameter set of the model, applied before ``params``.
    fixed : dict, optional
        The other states: name -> value (display unit, or a string with a unit) or
        ``"steady"`` (slaved to ``f = 0``, e.g. a fast gate).  Default: initial values.
    grid : int
        Points per side of the grid the nullclines are contoured on.
    arrows : int
        Arrows per side of the vector field.
    trajectories : sequence of (x, y)
        Initial conditions of trajectories, each integrated forward and backward.
    duration : float, optional
        Integration time of manifolds, cycle searches and trajectories (model time units;
        default: 60 times the time the flow takes to cross the window).
    manifolds, cycles : bool
        Trace the manifolds of saddles; search for limit cycles.
    cycle_seeds : sequence of (x, y)
        Extra initial conditions for the limit-cycle search (forward in time).
    options : SolverOptions, optional
        Method and tolerances of the trajectories, manifolds and cycle searches (default
        ``analysis.options.SOLVER_DEFAULTS["phase_plane"]``: ``dop853``,
        ``rtol=atol=1e-10``; docs/options.md).  ``method`` is one of ``rk23, rk45,
        dop853`` (scipy's ``solve_ivp`` on the 2-D slice, which runs backward in time
        too); ``atol`` is relative to the window's size (per axis); ``dt``, ``seed``
        and ``max_steps`` are not used and must stay unset, ``backend`` is not used
        (the slice runs on NumPy).

    Returns
    -------
    PhasePlane

    Raises
    ------
    ModelError
        ``x`` or ``y`` is not a state, they are the same, a window is empty, or the model
        depends on time explicitly.

    Examples
    --------
    >>> import biosnn
    >>> fhn = biosnn.load_model("fitzhugh_nagumo")
    >>> pp = phase_plane(fhn, "v", "w", (-2.5, 2.5), (-1, 2))
    >>> pp.fixed_points[0].type, round(pp.fixed_points[0].state["v"], 5)
    ('stable focus', -1.19941)
    """
    solver = _check_solver(options)
    model = as_model(model, preset=preset, params=params)
    fixed = _check_vars(model, x, y, fixed)
    if grid < 5 or arrows < 2:
        raise ModelError(f"grid must be >= 5 and arrows >= 2, got {grid} and {arrows}")
    sl = _Slice(model, x, y, fixed)
    if xlim is None or ylim is None:
        xlim, ylim = _default_window(sl, xlim, ylim, solver)
    win = _Window(_check_lim(xlim, "xlim"), _check_lim(ylim, "ylim"), grid)
    curves, scales = _nullclines(sl, win)
    fps = _fixed_points(sl, win, curves, scales, model)
    duration = float(duration) if duration is not None else 60 * _time_scale(sl, win, fps)
    return PhasePlane(
        model=model.name,
        x=x,
        y=y,
        units={x: model.display_unit(x), y: model.display_unit(y), "t": model.time_unit},
        xlim=tuple(map(float, xlim)),
        ylim=tuple(map(float, ylim)),
        params=dict(model.params),
        fixed=_fixed_report(model, sl, fixed),
        nullclines={x: curves[0], y: curves[1]},
        formulas=_symbolic_nullclines(model, sl, x, y),
        fixed_points=fps,
        manifolds=_manifolds(sl, win, fps, duration, solver) if manifolds else [],
        cycles=_cycles(sl, win, fps, duration, cycle_seeds, solver) if cycles else [],
        trajectories=_trajectories(sl, win, trajectories, duration, solver),
        field=_vector_field(sl, win, arrows),
    )


def _check_vars(model, x, y, fixed) -> dict:
    for name in (x, y):
        if name not in model.states:
            raise ModelError(
                f"{name!r} is not a state of model {model.name} (states: {', '.join(model.states)})"
            )
    if x == y:
        raise ModelError(f"x and y must be two different states, both are {x!r}")
    fixed = dict(fixed or {})
    for name in fixed:
        if name not in model.states or name in (x, y):
            raise ModelError(
                f"fixed: {name!r} is not one of the other states of model "
                f"{model.name} ({', '.join(s for s in model.states if s not in (x, y)) or 'none'})"
            )
    return fixed


def _check_lim(lim, what):
    try:
        a, b = (float(v) for v in lim)
    except (TypeError, ValueError):
        raise ModelError(f"{what} must be two numbers (low, high), got {lim!r}") from None
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise ModelError(f"{what} must be two finite numbers with low < high, got {lim!r}")
    return a, b


def _fixed_report(model, sl, fixed):
    out = {}
    for k, name in enumerate(sl.names):
        if k in sl.plane:
            continue
        out[name] = "steady" if k in sl.slaved else float(model.from_internal(name, sl.base[k]))
    return out


def _default_window(sl, xlim, ylim, solver):
    """A window around the initial state that holds the trajectories started there.

    Trajectories from the initial state and from the four corners of a box of half-width
    ``max(|value|, 1)/2`` around it are integrated; the window is their range (at most four
    half-widths from the initial state), enlarged by a tenth on each side.
    """
    z0 = np.array([sl.base[sl.ix] / sl.scale[0], sl.base[sl.iy] / sl.scale[1]])
    span = np.maximum(np.abs(z0), 1.0)
    win = _Window(z0 - span, z0 + span, 5)
    duration = 20 * _time_scale(sl, win, [])
    pts = [z0[None, :]]
    for corner in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        start = z0 + 0.5 * span * np.array(corner)
        sol = _integrate(sl, win, start, duration, margin=3.0, rtol=1e-6, solver=solver)
        pts.append(sol.y.T)
    pts = np.concatenate([p for p in pts if len(p)])
    pts = np.clip(pts[np.all(np.isfinite(pts), axis=1)], z0 - 4 * span, z0 + 4 * span)
    lims = []
    for k, given in enumerate((xlim, ylim)):
        if given is None:
            lo, hi = float(pts[:, k].min()), float(pts[:, k].max())
            pad = 0.1 * (hi - lo) if hi > lo else 0.5 * span[k]
            given = (lo - pad, hi + pad)
        lims.append(given)
    return tuple(lims)
