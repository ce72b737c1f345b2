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

The package, one concept per module: :mod:`.slices` (the 2-D slice of a model and the
window), :mod:`.nullclines` (nullclines and the fixed points at their intersections),
:mod:`.orbits` (integration, manifolds, limit cycles, trajectories), :mod:`.results` (the
:class:`PhasePlane` result object and its parts) and :mod:`.plot` (its figure); this
module holds :func:`phase_plane`, which checks the arguments and composes them.

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

import numpy as np

from biosnn.analysis.phaseplane.nullclines import _fixed_points, _nullclines, _symbolic_nullclines
from biosnn.analysis.phaseplane.orbits import (
    _check_solver,
    _cycles,
    _integrate,
    _manifolds,
    _time_scale,
    _trajectories,
)
from biosnn.analysis.phaseplane.results import (
    FixedPoint,
    LimitCycle,
    Manifold,
    PhasePlane,
    Trajectory,
)
from biosnn.analysis.phaseplane.slices import (
    _check_vars,
    _fixed_report,
    _Slice,
    _vector_field,
    _Window,
)
from biosnn.equations.files import as_model
from biosnn.errors import ModelError

__all__ = ["phase_plane", "PhasePlane", "FixedPoint", "Manifold", "LimitCycle", "Trajectory"]


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


def _check_lim(lim, what):
    try:
        a, b = (float(v) for v in lim)
    except (TypeError, ValueError):
        raise ModelError(f"{what} must be two numbers (low, high), got {lim!r}") from None
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise ModelError(f"{what} must be two finite numbers with low < high, got {lim!r}")
    return a, b


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
