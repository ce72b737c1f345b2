"""Following a fold or Hopf curve in two parameters: :func:`continue_curve`.

Pseudo-arclength continuation of a defining system (:mod:`.defining`) in scaled
coordinates (:func:`_march`, :func:`_correct`), with the location of codimension-2 points
(:func:`_specials`, :func:`_locate`) and the :class:`~.results.Curve` built from the points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from biosnn.analysis._system import System
from biosnn.analysis.codim2.defining import _Fold, _Hopf
from biosnn.analysis.codim2.results import Codim2Point, Curve
from biosnn.analysis.continuation.arclength import (
    _illinois,
    newton_bordered,
    unit_tangent,
)
from biosnn.analysis.equilibria import sorted_eigenvalues
from biosnn.analysis.options import CONTINUATION_DEFAULTS
from biosnn.equations.files import as_model
from biosnn.errors import BiosnnError
from biosnn.solvers.options import merge


@dataclass
class _Pt:
    x: np.ndarray
    tangent: np.ndarray
    info: dict
    special: str | None = None


def _tangent(dg, previous) -> np.ndarray:
    return unit_tangent(dg, previous)


def _correct(sys_, xp, t, tol, max_iter=12):
    def bordered(x):
        r, dg = sys_.residual_and_jacobian(x)
        return np.vstack([dg, t]), -np.append(r, t @ (x - xp))

    return newton_bordered(bordered, xp.copy(), tol, max_iter)


def _point(sys_, x, previous_tangent) -> _Pt:
    _, dg = sys_.residual_and_jacobian(x)
    return _Pt(x=x, tangent=_tangent(dg, previous_tangent), info=sys_.info(x))


def _march(sys_, first, box, ds, ds_max, ds_min, max_points, tol, max_angle):
    """Follow the curve from ``first`` along its tangent; (points, status)."""
    n = sys_.n
    points = [first]
    cos_max = math.cos(max_angle)
    status = f"reached max_points = {max_points}"
    travelled = 0.0
    while len(points) < max_points:
        prev = points[-1]
        x, ok, iters = _correct(sys_, prev.x + ds * prev.tangent, prev.tangent, tol)
        new = _point(sys_, x, prev.tangent) if ok else None
        if new is None or new.tangent @ prev.tangent < cos_max:
            if ds <= ds_min:
                status = "step size below ds_min (corrector failed)"
                break
            ds = max(ds / 2, ds_min)
            continue
        travelled += np.linalg.norm(sys_.key(new.x) - sys_.key(prev.x))
        found = _specials(sys_, prev, new, ds, tol)
        outside = [
            (i, b)
            for i in range(2)
            for b, out in (
                (box[i][0], new.x[n + i] < box[i][0]),
                (box[i][1], new.x[n + i] > box[i][1]),
            )
            if out
        ]
        if outside:
            i, b = outside[0]
            status = "left the parameter box"
            if prev.x[n + i] == b:  # started on the boundary, going out
                break
            s_end, end = _locate(
                sys_,
                prev,
                ds,
                lambda pt, i=i, b=b: pt.x[n + i] - b,
                prev.x[n + i] - b,
                new.x[n + i] - b,
                tol,
            )
            points.extend(pt for s, pt in found if s_end is None or s < s_end)
            if end is not None:
                points.append(end)
            break
        points.extend(pt for _, pt in found)
        points.append(new)
        sys_.adapt(new.info)
        step = np.linalg.norm(sys_.key(new.x) - sys_.key(prev.x))
        if travelled > 10 * step and np.linalg.norm(sys_.key(new.x) - sys_.key(first.x)) < step:
            status = "closed curve"
            break
        ds = min(ds * 1.5, ds_max) if iters <= 3 else ds * 0.7 if iters >= 6 else ds
    return points, status


def _locate(sys_, prev, ds, fun, f0, f1, tol):
    cache = {}

    def phi(s):
        x, ok, _ = _correct(sys_, prev.x + s * prev.tangent, prev.tangent, tol)
        if not ok:
            return None
        cache[s] = _point(sys_, x, prev.tangent)
        return fun(cache[s])

    s = _illinois(phi, 0.0, ds, f0, f1, xtol=1e-12 * max(ds, 1e-300))
    if s is None or (s not in cache and phi(s) is None):
        return None, None
    return s, cache[s]


def _specials(sys_, prev, new, ds, tol):
    """Codimension-2 points between ``prev`` and ``new`` (sign changes of the tests)."""
    found = []
    for name, f0 in prev.info["tests"].items():
        f1 = new.info["tests"][name]
        if not (np.isfinite(f0) and np.isfinite(f1)) or f0 * f1 >= 0:
            continue
        s, pt = _locate(sys_, prev, ds, lambda q, k=name: q.info["tests"][k], f0, f1, tol)
        if pt is None:
            continue
        pt.special = name
        found.append((s, pt))
    return sorted(found, key=lambda item: item[0])


def _point_fields(point):
    if isinstance(point, dict):
        return point["type"], point["param"], point["state"]
    return point.type, point.param, point.state


def continue_curve(
    model,
    point,
    param1: str,
    param2: str,
    bounds: dict,
    *,
    params=None,
    options=None,
    ds: float | None = None,
    ds_max: float | None = None,
    ds_min: float | None = None,
    max_points: int | None = None,
    tol: float | None = None,
    max_angle: float | None = None,
) -> Curve:
    """Continue the fold or Hopf curve through ``point`` in ``(param1, param2)``.

    Parameters
    ----------
    model : Model or str
    point : SpecialPoint or dict
        A ``"fold"`` or ``"hopf"`` point of a one-parameter diagram in ``param1`` (or a
        dict with ``type``, ``param`` - the value of ``param1`` - and ``state``, display
        units).
    param1, param2 : str
        The parameter of the one-parameter diagram and the second parameter.
    bounds : dict
        ``{param1: (a, b), param2: (c, d)}`` (display units): the curve is followed in
        both directions until it leaves this box (or closes, or ``max_points``).  The
        lengths of the intervals scale the parameters.
    params : dict, optional
        Values of the other parameters, and of ``param2`` at the start (default: the
        model's).
    options : ContinuationOptions, optional
        Step control (default ``analysis.options.CONTINUATION_DEFAULTS["continue_curve"]``:
        as :func:`~biosnn.analysis.continue_equilibria` but ``max_points=1000`` per
        direction; docs/options.md).
    ds, ds_max, ds_min, max_points, tol, max_angle : optional
        Override the fields of ``options`` (scaled coordinates).

    Returns
    -------
    Curve

    Examples
    --------
    Bogdanov-Takens normal form: Hopf curve ``b1 = 0, b2 < 0``, BT at the origin.

    >>> from biosnn import Model
    >>> from biosnn.analysis import continue_equilibria, continue_curve
    >>> m = Model('''dx/dt = y : 1
    ...              dy/dt = b1 + b2*x + x**2 - x*y : 1''', params={"b1": 0, "b2": -1})
    >>> d = continue_equilibria(m, "b1", -0.5, 0.5, init={"x": 0.5})
    >>> hopf = d.special("hopf")[0]
    >>> c = continue_curve(m, hopf, "b1", "b2", {"b1": (-1, 1), "b2": (-1, 1)})
    >>> [(p.type, abs(round(p.params["b2"], 8))) for p in c.codim2]
    [('bt', 0.0)]
    """
    opts = merge(
        options,
        CONTINUATION_DEFAULTS["continue_curve"],
        "continue_curve",
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
    kind, value1, state = _point_fields(point)
    if kind not in ("fold", "hopf"):
        raise BiosnnError(
            f"two-parameter continuation starts at a fold or Hopf point, not {kind!r}"
        )
    if param1 == param2:
        raise BiosnnError("param1 and param2 must differ")
    values = dict(params or {})
    values[param1] = value1
    system = System(model, values)
    box = {}
    for name in (param1, param2):
        if name not in bounds:
            raise BiosnnError(f"bounds needs an interval for {name!r}")
        a, b = (float(model.to_internal(name, v)) for v in bounds[name])
        if a == b:
            raise BiosnnError(f"the interval of {name} is empty: {bounds[name]!r}")
        box[name] = (min(a, b), max(a, b))
    lam0 = np.array([system.p[system.index(name), 0] for name in (param1, param2)])
    for name, value in zip((param1, param2), lam0):
        if not box[name][0] <= value <= box[name][1]:
            shown = float(model.from_internal(name, value))
            raise BiosnnError(
                f"the starting value {name} = {shown:g} is outside its interval {bounds[name]!r}"
            )
    scales = [box[name][1] - box[name][0] for name in (param1, param2)]
    y0 = np.array([float(model.to_internal(s, state[s])) for s in system.spec.states])
    cls = _Fold if kind == "fold" else _Hopf
    sys_ = cls(system, (param1, param2), lam0, scales, np.maximum(np.abs(y0), 1.0))
    jac0 = system.jac(y0.reshape(-1, 1))[0]
    x0 = sys_.pack_yp(y0, lam0)
    if kind == "hopf":
        v0, kappa0 = sys_.start(jac0)
        x0 = sys_.pack(y0, lam0, v0, kappa0)
    else:
        sys_.start(jac0)
    scaled_box = [
        tuple((b - c) / s for b in box[name]) for name, c, s in zip((param1, param2), lam0, scales)
    ]
    # onto the curve (the special point is located to the one-parameter tolerance)
    _, dg = sys_.residual_and_jacobian(x0)
    t0 = np.linalg.svd(dg)[2][-1]
    x0, ok, _ = _correct(sys_, x0, t0, tol)
    if not ok:
        raise BiosnnError(f"could not start the {kind} curve at {param1} = {value1!r}")
    _, dg = sys_.residual_and_jacobian(x0)
    t0 = np.linalg.svd(dg)[2][-1]
    halves, statuses = [], []
    saved = dict(vars(sys_))
    for sign in (1.0, -1.0):
        vars(sys_).update(saved)
        first = _Pt(x=x0, tangent=sign * t0, info=sys_.info(x0))
        first.tangent = _tangent(dg, sign * t0)
        pts, status = _march(
            sys_, first, scaled_box, ds, ds_max, ds_min, max_points, tol, max_angle
        )
        halves.append(pts)
        statuses.append(status)
        if status == "closed curve":
            break
    if len(halves) == 1:  # closed: end where it started
        points = halves[0] + [_Pt(x=x0, tangent=t0, info=halves[0][0].info)]
    else:
        points = halves[1][::-1] + halves[0][1:]
    return _curve(model, sys_, points, "; ".join(statuses))


def _curve(model, sys_, points, status) -> Curve:
    system = sys_.system
    states = system.spec.states
    names = sys_.names
    ys = np.empty((len(points), system.n))
    lam = np.empty((len(points), 2))
    for k, pt in enumerate(points):
        y, lam[k], _ = sys_.unpack(pt.x)
        ys[k] = y[:, 0]
    shown = {
        s: np.asarray(model.from_internal(s, ys[:, i]), dtype=float) for i, s in enumerate(states)
    }
    v1 = np.asarray(model.from_internal(names[0], lam[:, 0]), dtype=float)
    v2 = np.asarray(model.from_internal(names[1], lam[:, 1]), dtype=float)
    codim2 = []
    for k, pt in enumerate(points):
        if pt.special is None:
            continue
        codim2.append(
            Codim2Point(
                type=pt.special,
                curve=sys_.type,
                params={names[0]: float(v1[k]), names[1]: float(v2[k])},
                state={s: float(shown[s][k]) for s in states},
                eigenvalues=sorted_eigenvalues(pt.info["jac"]),
            )
        )
    extra = {}
    if sys_.type == "hopf":
        extra = dict(
            kappa=np.array([pt.info["kappa"] for pt in points]),
            omega=np.array([pt.info["omega"] for pt in points]),
            l1=np.array([pt.info["l1"] for pt in points]),
        )
    return Curve(
        type=sys_.type,
        param1=names[0],
        param2=names[1],
        values1=v1,
        values2=v2,
        states=shown,
        codim2=codim2,
        status=status,
        **extra,
    )
