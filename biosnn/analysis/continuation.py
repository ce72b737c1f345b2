"""One-parameter continuation of equilibria, with fold, Hopf and branch-point detection.

:func:`continue_equilibria` follows a branch of equilibria ``f(y, lam) = 0`` of a Model in
one parameter ``lam`` by pseudo-arclength continuation (Keller): an Euler predictor along
the tangent, then Newton's method on ``f = 0`` plus the arclength hyperplane, with the
exact Jacobian of the model's kernel and the exact ``d f / d lam`` printed from the sympy
right-hand side.  It works in scaled coordinates (each state divided by
``max(|y0|, 1)``, the parameter by the length of the interval), adapts the step to the
number of Newton iterations and to the turning angle of the tangent, and passes folds.

Along the branch three test functions are watched (Govaerts, *Numerical methods for
bifurcations of dynamical equilibria*, 2000; as in MatCont):

* fold (limit point, ``"fold"``): the parameter component of the tangent;
* Hopf (``"hopf"``): ``prod_{i<j} (mu_i + mu_j)`` over the eigenvalues (the bialternate
  product's determinant); a zero with a real pair ``mu, -mu`` is a neutral saddle and is
  not reported;
* branch point (``"bp"``): ``det([f_y f_lam; tangent])``.

A sign change between two points is located by the Illinois (modified regula falsi)
method on the arclength of the step, each trial point corrected onto the branch, to
``1e-12`` of the step: the parameter value is accurate to the corrector's tolerance.  At a
Hopf point the first Lyapunov coefficient ``l1`` is computed with Kuznetsov's formula
(*Elements of Applied Bifurcation Theory*, 3rd ed., eq. (3.20)) from the exact second and
third derivatives of the right-hand side (sympy, printed as kernels)::

    l1 = Re[<p, C(q,q,qb)> - 2 <p, B(q, A^-1 B(q,qb))> + <p, B(qb, (2iw - A)^-1 B(q,q))>] / (2w)

with ``A q = i w q``, ``A^T p = -i w p``, ``<q, q> = 1``, ``<p, q> = 1`` (``<a, b> =
conj(a).b``; the normalisation of MatCont).  ``l1 < 0``: supercritical (a stable cycle is
born); ``l1 > 0``: subcritical.  Its value is in internal units (states in mV, ..., time
in ms); its sign is what matters.  The period at onset is ``2 pi / w``.

At a branch point, :meth:`BifurcationDiagram.switch` (or ``continue_equilibria(...,
from_point=bp)``) continues the other branch through it, in a direction given by the
algebraic branching equation (see :func:`continue_equilibria`).

Examples
--------
>>> import biosnn
>>> from biosnn.analysis import continue_equilibria
>>> fhn = biosnn.load_model("fitzhugh_nagumo")
>>> diagram = continue_equilibria(fhn, "I_ext", 0, 2)
>>> [(sp.type, round(sp.param, 4)) for sp in diagram.special_points]
[('hopf', 0.3313), ('hopf', 1.4187)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biosnn.analysis._system import System
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

__all__ = ["BifurcationDiagram", "SpecialPoint", "continue_equilibria", "lyapunov_coefficient"]

#: Labels of special points in figures (AUTO's abbreviations).
LABELS = {"fold": "LP", "hopf": "HB", "bp": "BP"}

_TESTS = ("fold", "hopf", "bp")


# -- result objects ---------------------------------------------------------------------


@dataclass(frozen=True)
class SpecialPoint:
    """A bifurcation point on an equilibrium branch.

    Attributes
    ----------
    type : str
        ``"fold"`` (saddle-node, limit point), ``"hopf"`` or ``"bp"`` (branch point).
    param : float
        Parameter value (display unit).
    state : dict
        state -> value (display units).
    eigenvalues : ndarray of complex
        Eigenvalues of the Jacobian (1/ms or 1/time unit), by decreasing real part.
    index : int
        Index of this point in the diagram's points.
    l1 : float or None
        Hopf only: first Lyapunov coefficient (internal units; < 0 supercritical).
    omega, period : float or None
        Hopf only: angular frequency at onset (rad/ms) and ``2 pi / omega`` (ms, or time
        units).
    """

    type: str
    param: float
    state: dict
    eigenvalues: np.ndarray
    index: int
    l1: float | None = None
    omega: float | None = None
    period: float | None = None
    _tangent: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def criticality(self) -> str | None:
        """Hopf only: ``"supercritical"`` (l1 < 0), ``"subcritical"`` (l1 > 0)."""
        if self.l1 is None:
            return None
        return "supercritical" if self.l1 < 0 else "subcritical" if self.l1 > 0 else "degenerate"

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        out = {
            "type": self.type,
            "param": float(self.param),
            "state": {k: float(v) for k, v in self.state.items()},
            "eigenvalues": [[float(z.real), float(z.imag)] for z in self.eigenvalues],
            "index": int(self.index),
        }
        if self.type == "hopf":
            out.update(
                l1=_num(self.l1),
                omega=_num(self.omega),
                period=_num(self.period),
                criticality=self.criticality,
            )
        return out


def _num(x):
    return None if x is None or not np.isfinite(x) else float(x)


@dataclass(frozen=True)
class BifurcationDiagram:
    """An equilibrium branch and its special points (display units).

    Attributes
    ----------
    model : str
        Model name.
    param : str
        The continuation parameter.
    units : dict
        name -> display unit, for the parameter and every state.
    param_values : ndarray (N,)
    states : dict
        state -> ndarray (N,) along the branch.
    stable : ndarray of bool (N,)
    n_unstable : ndarray of int (N,)
        Eigenvalues with positive real part, per point.
    eigenvalues : ndarray of complex (N, n_states)
    special_points : list of SpecialPoint
        In the order met along the branch.
    status : str
        Why continuation stopped (``"reached the end of the interval"``, ...).

    ``diagram["I_ext"]`` and ``diagram["V"]`` give the arrays.
    """

    model: str
    param: str
    units: dict
    param_values: np.ndarray
    states: dict
    stable: np.ndarray
    n_unstable: np.ndarray
    eigenvalues: np.ndarray
    special_points: list = field(default_factory=list)
    status: str = ""
    _context: dict = field(default_factory=dict, repr=False, compare=False)

    def __getitem__(self, name: str) -> np.ndarray:
        if name == self.param:
            return self.param_values
        return self.states[name]

    def __len__(self) -> int:
        return len(self.param_values)

    def special(self, type: str | None = None) -> list:
        """Special points, all or those of one type (``"fold"``, ``"hopf"``, ``"bp"``)."""
        return [sp for sp in self.special_points if type is None or sp.type == type]

    def switch(self, point, **options) -> BifurcationDiagram:
        """Continue the other branch of equilibria through a branch point of this diagram.

        Parameters
        ----------
        point : SpecialPoint
            A ``"bp"`` point of this diagram (``diagram.special("bp")[0]``).
        **options
            Continuation options of :func:`continue_equilibria` (``options=`` a
            :class:`~biosnn.analysis.options.ContinuationOptions`, or ``ds``, ``ds_max``,
            ``max_points``, ...); default those this diagram was computed with.

        Returns
        -------
        BifurcationDiagram
            The new branch over the same parameter interval, continued from the branch
            point in both directions; the branch point is one of its special points.
            See :func:`continue_equilibria` (``from_point``) for the method.

        Examples
        --------
        >>> from biosnn import Model
        >>> from biosnn.analysis import continue_equilibria
        >>> m = Model("dx/dt = r*x - x**3 : 1", params={"r": -1})
        >>> d = continue_equilibria(m, "r", -1, 1, init={"x": 0})
        >>> other = d.switch(d.special("bp")[0])
        >>> round(float(other["x"].max()), 10), round(float(other["x"].min()), 10)
        (1.0, -1.0)
        """
        if not self._context:
            raise BiosnnError(
                "this diagram was not computed by continue_equilibria: "
                "call continue_equilibria(..., from_point=point) instead"
            )
        ctx = self._context
        kwargs = dict(options)
        kwargs.setdefault("options", ctx["options"])
        return continue_equilibria(
            ctx["model"],
            self.param,
            ctx["start"],
            ctx["stop"],
            params=ctx["params"],
            from_point=point,
            **kwargs,
        )

    def __repr__(self) -> str:
        lines = [
            f"BifurcationDiagram({self.model!r}, {self.param!r}: {len(self)} points, "
            f"{self.param_values.min():.6g} .. {self.param_values.max():.6g} "
            f"{self.units[self.param]}; {self.status})"
        ]
        for sp in self.special_points:
            extra = ""
            if sp.type == "hopf":
                extra = f", l1 = {sp.l1:.4g} ({sp.criticality}), period {sp.period:.6g}"
            lines.append(f"  {LABELS[sp.type]} {sp.type} at {self.param} = {sp.param:.8g}{extra}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready dict: the branch points and the special points."""
        return {
            "model": self.model,
            "param": self.param,
            "units": dict(self.units),
            "status": self.status,
            "points": {
                "param": self.param_values.tolist(),
                "states": {k: v.tolist() for k, v in self.states.items()},
                "stable": self.stable.tolist(),
                "n_unstable": self.n_unstable.tolist(),
                "eigenvalues": [
                    [[float(z.real), float(z.imag)] for z in row] for row in self.eigenvalues
                ],
            },
            "special_points": [sp.to_dict() for sp in self.special_points],
        }

    def plot(self, var: str | None = None, ax=None, color="k", label_points: bool = True):
        """Plot the branch in the AUTO/XPPAUT convention: stable solid, unstable dashed.

        Parameters
        ----------
        var : str, optional
            State on the vertical axis (default: the first).
        ax : matplotlib Axes, optional
        color : matplotlib colour
        label_points : bool
            Mark and label special points (``LP``, ``HB``, ``BP``).

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        var = var or next(iter(self.states))
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        x, y = self.param_values, self.states[var]
        for start, stop, stable in _runs(self.stable):
            sl = slice(start, min(stop + 1, len(x)))
            ax.plot(
                x[sl],
                y[sl],
                color=color,
                linestyle="-" if stable else "--",
                linewidth=1.5 if stable else 1.0,
            )
        if label_points:
            for sp in self.special_points:
                ax.plot(
                    sp.param,
                    sp.state[var],
                    "o",
                    color="r" if sp.type == "hopf" else "b",
                    markersize=5,
                )
                ax.annotate(
                    LABELS[sp.type],
                    (sp.param, sp.state[var]),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=8,
                )
        ax.set_xlabel(_axis_label(self.param, self.units[self.param]))
        ax.set_ylabel(_axis_label(var, self.units[var]))
        ax.set_title(f"{self.model}: equilibria (solid stable, dashed unstable)", fontsize=9)
        return ax


def _axis_label(name, unit):
    return name if unit in ("1", "") else f"{name} ({unit})"


def _runs(flags):
    """(start, stop, value) of runs of equal values; stop is the last index of the run."""
    flags = np.asarray(flags)
    out, start = [], 0
    for k in range(1, len(flags) + 1):
        if k == len(flags) or flags[k] != flags[start]:
            out.append((start, k, bool(flags[start])))
            start = k
    return out


# -- the branch in scaled coordinates ---------------------------------------------------


@dataclass
class _Point:
    """A corrected point: x (scaled), tangent, and what tests and results need."""

    x: np.ndarray
    tangent: np.ndarray
    jac: np.ndarray  # internal units, n x n
    eigenvalues: np.ndarray
    tests: dict
    special: str | None = None


class _Branch:
    """``G(x) = f(y, lam)`` with ``x = (y / sy, (lam - lam0) / sl)``."""

    def __init__(self, system: System, param: str, lam0: float, lam_scale: float, y_scale):
        self.system, self.param = system, param
        self.k = system.index(param)
        self.lam0, self.sl = lam0, lam_scale
        self.sy = np.asarray(y_scale, dtype=float)
        self.n = system.n

    def unpack(self, x):
        y = (x[:-1] * self.sy).reshape(-1, 1)
        lam = self.lam0 + self.sl * x[-1]
        p = self.system.p.copy()
        p[self.k] = lam
        return y, lam, p

    def pack(self, y, lam):
        return np.append(np.ravel(y) / self.sy, (lam - self.lam0) / self.sl)

    def G(self, x) -> np.ndarray:
        y, _, p = self.unpack(x)
        return self.system.f(y, p)[:, 0]

    def jacobians(self, x):
        """(G_x (n, n+1), J internal (n, n))."""
        y, _, p = self.unpack(x)
        jac = self.system.jac(y, p)[0]
        fp = self.system.dfdp(y, self.param, p)[:, 0]
        gx = np.hstack([jac * self.sy[None, :], (fp * self.sl)[:, None]])
        return gx, jac

    def tangent(self, gx, previous) -> np.ndarray:
        return unit_tangent(gx, previous)

    def correct(self, xp, t, tol, max_iter=10, fixed_lam=None):
        """Newton on ``G = 0`` plus ``t.(x - xp) = 0`` (or ``x_lam = fixed_lam``)."""

        def bordered(x):
            gx, _ = self.jacobians(x)
            if fixed_lam is None:
                row, last = t, t @ (x - xp)
            else:
                row = np.zeros(self.n + 1)
                row[-1] = 1.0
                last = x[-1] - fixed_lam
            return np.vstack([gx, row]), -np.append(self.G(x), last)

        return newton_bordered(bordered, xp.copy(), tol, max_iter)

    def point(self, x, previous_tangent) -> _Point:
        gx, jac = self.jacobians(x)
        t = self.tangent(gx, previous_tangent)
        ev = sorted_eigenvalues(jac)
        tests = {
            "fold": t[-1],
            "hopf": _hopf_test(ev),
            "bp": float(np.linalg.det(np.vstack([gx, t]))),
        }
        return _Point(x=x, tangent=t, jac=jac, eigenvalues=ev, tests=tests)


def unit_tangent(gx, previous) -> np.ndarray:
    """The unit null vector of the (n, n+1) matrix ``gx``, oriented along ``previous``."""
    t = _solve(np.vstack([gx, previous]), np.append(np.zeros(gx.shape[0]), 1.0))
    return t / np.linalg.norm(t)


def newton_bordered(bordered, x, tol, max_iter):
    """Newton's method on a bordered system: ``bordered(x) -> (matrix, rhs)`` of the step.

    Returns ``(x, converged, iterations)``; gives up on a non-finite system or when the
    step grows twice in size after the second iteration (the corrector is diverging and
    the caller should shorten the continuation step).
    """
    previous = np.inf
    for it in range(1, max_iter + 1):
        m, rhs = bordered(x)
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(rhs))):
            return x, False, it
        dx = _solve(m, rhs)
        x = x + dx
        size = float(np.max(np.abs(dx)))
        if size < tol:
            return x, True, it
        if size > 2 * previous and it > 2:
            return x, False, it
        previous = size
    return x, False, max_iter


def _solve(m, rhs) -> np.ndarray:
    """``m^-1 rhs``; least squares where ``m`` is exactly singular (on a branch point)."""
    try:
        return np.linalg.solve(m, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(m, rhs, rcond=None)[0]


def _hopf_test(ev) -> float:
    """``prod_{i<j} (mu_i + mu_j)``: zero at a Hopf point (and at neutral saddles)."""
    n = len(ev)
    if n < 2:
        return 1.0
    i, j = np.triu_indices(n, 1)
    sums = ev[i] + ev[j]
    scale = np.max(np.abs(ev)) or 1.0
    return float(np.prod(sums / scale).real)


def _is_hopf(ev) -> bool:
    """True if the pair closest to summing to zero is a complex-conjugate pair."""
    n = len(ev)
    i, j = np.triu_indices(n, 1)
    k = int(np.argmin(np.abs(ev[i] + ev[j])))
    tol = 1e-6 * max(1.0, float(np.max(np.abs(ev))))
    return abs(ev[i[k]].imag) > tol and abs(ev[j[k]].imag) > tol


# -- locating zeros of test functions ---------------------------------------------------


def _illinois(phi, a, b, fa, fb, xtol, max_iter=100):
    """Zero of ``phi`` in [a, b] (``fa``, ``fb`` of opposite signs): Illinois method.

    Regula falsi that halves the stale end's value when the same end is kept twice, so
    the bracket shrinks from both sides (superlinear).  ``phi`` may return None (no
    point there); then None is returned.
    """
    c = b
    for _ in range(max_iter):
        c = (a * fb - b * fa) / (fb - fa)
        fc = phi(c)
        if fc is None:
            return None
        if fc == 0.0:
            return c
        if fc * fb < 0:
            a, fa = b, fb
        else:
            fa *= 0.5
        b, fb = c, fc
        if abs(b - a) < xtol:
            return c
    return c


def _locate(branch, prev: _Point, ds, fun, f0, f1, tol):
    """Locate the zero of ``fun(point)`` on the step of length ``ds`` from ``prev``."""
    cache = {}

    def phi(s):
        x, ok, _ = branch.correct(prev.x + s * prev.tangent, prev.tangent, tol)
        if not ok:
            return None
        cache[s] = branch.point(x, prev.tangent)
        return fun(cache[s])

    s = _illinois(phi, 0.0, ds, f0, f1, xtol=1e-12 * max(ds, 1e-300))
    if s is None:
        return None, None
    if s not in cache and phi(s) is None:
        return None, None
    return s, cache[s]


# -- the first Lyapunov coefficient ---------------------------------------------------


def _first_lyapunov(system: System, y, p, jac=None):
    """(l1, omega) at a Hopf point ``y`` (internal, (n, 1)) with parameters ``p``."""
    a = system.jac(y, p)[0] if jac is None else jac
    n = a.shape[0]
    ev, vecs = np.linalg.eig(a)
    upper = np.flatnonzero(ev.imag > 0)
    if upper.size == 0:
        return math.nan, math.nan
    k = upper[np.argmin(np.abs(ev[upper].real))]
    omega = float(ev[k].imag)
    q = vecs[:, k] / np.linalg.norm(vecs[:, k])
    evt, vecst = np.linalg.eig(a.T)
    pv = vecst[:, np.argmin(np.abs(evt + 1j * omega))]
    pv = pv / np.conj(np.vdot(pv, q))  # <p, q> = 1

    def b_form(u, v):
        return system.hess_c(y, u, v, p)

    h11 = np.linalg.solve(a.astype(complex), b_form(q, q.conj()))
    h20 = np.linalg.solve(2j * omega * np.eye(n) - a, b_form(q, q))
    value = (
        np.vdot(pv, system.third_c(y, q, q, q.conj(), p))
        - 2 * np.vdot(pv, b_form(q, h11))
        + np.vdot(pv, b_form(q.conj(), h20))
    )
    return float(value.real / (2 * omega)), omega


def lyapunov_coefficient(model, state: dict, params: dict | None = None) -> tuple:
    """First Lyapunov coefficient and angular frequency at a Hopf point.

    Parameters
    ----------
    model : Model or str
    state : dict
        The equilibrium (display units) at the Hopf point.
    params : dict, optional
        Parameter values (display units) at the Hopf point.

    Returns
    -------
    (l1, omega) : tuple of float
        ``l1`` in internal units (see the module docstring; < 0 supercritical), ``omega``
        in rad/ms (or rad per time unit).

    Examples
    --------
    >>> from biosnn import Model
    >>> from biosnn.analysis import lyapunov_coefficient
    >>> m = Model('''dx/dt = mu*x - y - x*(x**2 + y**2) : 1
    ...              dy/dt = x + mu*y - y*(x**2 + y**2) : 1''', params={"mu": 0})
    >>> [round(v, 12) for v in lyapunov_coefficient(m, {"x": 0, "y": 0})]
    [-2.0, 1.0]
    """
    model = as_model(model)
    system = System(model, params)
    y = np.array([[float(model.to_internal(s, state[s]))] for s in system.spec.states])
    return _first_lyapunov(system, y, system.p)


# -- continuation ---------------------------------------------------------------------


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


# -- branch switching ---------------------------------------------------------------------


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
