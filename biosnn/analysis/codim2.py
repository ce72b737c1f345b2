"""Two-parameter continuation of fold and Hopf curves, with codimension-2 points.

:func:`continue_curve` follows the curve of fold (saddle-node) or Hopf points through a
fold or Hopf :class:`~biosnn.analysis.continuation.SpecialPoint` of a one-parameter
diagram as two parameters change; :func:`two_parameter_diagram` does it for every fold and
Hopf point of a :class:`~biosnn.analysis.continuation.BifurcationDiagram` and returns a
:class:`TwoParameterDiagram`.

Defining systems (Govaerts, *Numerical methods for bifurcations of dynamical equilibria*,
2000; Kuznetsov, *Elements of Applied Bifurcation Theory*, 3rd ed., sect. 10.2), unknowns
``x = (y, p1, p2, ...)``:

* fold, minimally extended: ``f(y, p) = 0`` and ``g(y, p) = 0``, where ``g`` is the last
  component of the solution of the bordered system ``[[J, b], [c^T, 0]] (v, g) = (0, 1)``
  (``g = 0`` exactly when ``J`` is singular; ``v`` is then its null vector, and the
  adjoint system gives the left null vector ``w``).  ``g_z = -w^T J_z v``.  The borders
  ``b, c`` are set to the current ``w, v`` after every accepted point.
* Hopf, standard augmented: ``f = 0``, ``(J^2 + kappa I) v = 0``, ``<v, v> = 1``,
  ``<v, l> = 0`` with the extra unknowns ``v`` and ``kappa`` (``kappa = omega^2`` on a
  Hopf curve; ``l`` is the vector of the invariant plane orthogonal to ``v`` at the
  previous point).  The system stays regular through a Bogdanov-Takens point, where
  ``kappa`` changes sign and the curve goes on as a curve of neutral saddles
  (``kappa < 0``: real eigenvalues ``+-sqrt(-kappa)``).

Derivatives are exact: ``J_y u`` is the bilinear form ``B(u, .)`` of the second
derivatives, ``J_p u = d(J u)/dp`` is printed from sympy's mixed second derivatives of the
right-hand side (both are kernels compiled once per model; no finite differences).  The
curve is followed by pseudo-arclength continuation in scaled coordinates (states by
``max(|y0|, 1)``, each parameter by the length of its interval, ``kappa`` by its starting
value), in both directions from the start, until it leaves the parameter box, closes on
itself, or reaches ``max_points``.

Codimension-2 points (MatCont's test functions), each located by the Illinois method on
the arclength:

* cusp (``"cusp"``, CP) on a fold curve: ``a = <w, B(v, v)>`` (the quadratic normal-form
  coefficient up to a positive factor) changes sign;
* Bogdanov-Takens (``"bt"``, BT): on a fold curve ``<w, v>`` changes sign (the zero
  eigenvalue becomes double, with a Jordan block); on a Hopf curve ``kappa = omega^2``
  does;
* Bautin / generalized Hopf (``"bautin"``, GH) on a Hopf curve: the first Lyapunov
  coefficient ``l1`` (Kuznetsov's formula, as in continuation.py) changes sign.

Examples
--------
>>> from biosnn import Model
>>> from biosnn.analysis import continue_equilibria, continue_curve
>>> m = Model("dx/dt = a + b*x - x**3 : 1", params={"a": 0, "b": 1})
>>> d = continue_equilibria(m, "a", -1, 1, init={"x": -1.5})
>>> curve = continue_curve(m, d.special("fold")[0], "a", "b", {"a": (-1, 1), "b": (-1, 1)})
>>> [(p.type, round(p.params["a"], 8) + 0, round(p.params["b"], 8) + 0) for p in curve.codim2]
[('cusp', 0.0, 0.0)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biosnn.analysis._system import System
from biosnn.analysis.continuation.arclength import (
    _illinois,
    _solve,
    newton_bordered,
    unit_tangent,
)
from biosnn.analysis.continuation.lyapunov import _first_lyapunov
from biosnn.analysis.equilibria import _as_model, sorted_eigenvalues
from biosnn.analysis.options import CONTINUATION_DEFAULTS
from biosnn.errors import BiosnnError
from biosnn.solvers.options import merge

__all__ = ["Codim2Point", "Curve", "TwoParameterDiagram", "continue_curve", "two_parameter_diagram"]

#: Labels of codimension-2 points in figures (MatCont's abbreviations).
LABELS = {"cusp": "CP", "bt": "BT", "bautin": "GH"}


# -- result objects ---------------------------------------------------------------------


@dataclass(frozen=True)
class Codim2Point:
    """A codimension-2 point on a fold or Hopf curve.

    Attributes
    ----------
    type : str
        ``"cusp"``, ``"bt"`` (Bogdanov-Takens) or ``"bautin"`` (generalized Hopf).
    curve : str
        ``"fold"`` or ``"hopf"``: the curve it was found on.
    params : dict
        The two parameters' values (display units).
    state : dict
        state -> value (display units).
    eigenvalues : ndarray of complex
        By decreasing real part.
    """

    type: str
    curve: str
    params: dict
    state: dict
    eigenvalues: np.ndarray

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "type": self.type,
            "curve": self.curve,
            "params": {k: float(v) for k, v in self.params.items()},
            "state": {k: float(v) for k, v in self.state.items()},
            "eigenvalues": [[float(z.real), float(z.imag)] for z in self.eigenvalues],
        }


@dataclass(frozen=True)
class Curve:
    """A fold or Hopf curve in two parameters (display units).

    Attributes
    ----------
    type : str
        ``"fold"`` or ``"hopf"``.
    param1, param2 : str
    values1, values2 : ndarray (N,)
        The parameters along the curve.
    states : dict
        state -> ndarray (N,).
    kappa : ndarray (N,) or None
        Hopf curves: ``omega^2`` (internal units, 1/ms**2); negative on the
        neutral-saddle part beyond a Bogdanov-Takens point.
    omega, l1 : ndarray (N,) or None
        Hopf curves: angular frequency (rad/ms; NaN where ``kappa < 0``) and first
        Lyapunov coefficient (internal units; NaN where ``kappa < 0``).
    codim2 : list of Codim2Point
    status : str
        Why continuation stopped, in each direction.
    """

    type: str
    param1: str
    param2: str
    values1: np.ndarray
    values2: np.ndarray
    states: dict
    kappa: np.ndarray | None = None
    omega: np.ndarray | None = None
    l1: np.ndarray | None = None
    codim2: list = field(default_factory=list)
    status: str = ""

    def __len__(self) -> int:
        return len(self.values1)

    def __getitem__(self, name: str) -> np.ndarray:
        if name == self.param1:
            return self.values1
        if name == self.param2:
            return self.values2
        return self.states[name]

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        out = {
            "type": self.type,
            "param1": self.param1,
            "param2": self.param2,
            "status": self.status,
            self.param1: self.values1.tolist(),
            self.param2: self.values2.tolist(),
            "states": {k: v.tolist() for k, v in self.states.items()},
            "codim2": [c.to_dict() for c in self.codim2],
        }
        if self.type == "hopf":
            out.update(
                kappa=self.kappa.tolist(), omega=_nan_none(self.omega), l1=_nan_none(self.l1)
            )
        return out


def _nan_none(a) -> list:
    return [None if not np.isfinite(v) else float(v) for v in a]


@dataclass(frozen=True)
class TwoParameterDiagram:
    """Fold and Hopf curves in a parameter plane, with their codimension-2 points.

    Attributes
    ----------
    model : str
    param1, param2 : str
    units : dict
        name -> display unit (both parameters and every state).
    curves : list of Curve
    codim2 : list of Codim2Point
        All codimension-2 points (a Bogdanov-Takens point found on both a fold and a Hopf
        curve is listed once).
    """

    model: str
    param1: str
    param2: str
    units: dict
    curves: list = field(default_factory=list)
    codim2: list = field(default_factory=list)

    def __repr__(self) -> str:
        lines = [
            f"TwoParameterDiagram({self.model!r}, {self.param1!r} x {self.param2!r}: "
            f"{len(self.curves)} curve(s))"
        ]
        for c in self.curves:
            lines.append(
                f"  {c.type} curve: {len(c)} points, {self.param1} "
                f"{c.values1.min():.6g} .. {c.values1.max():.6g}, {self.param2} "
                f"{c.values2.min():.6g} .. {c.values2.max():.6g} ({c.status})"
            )
        for p in self.codim2:
            lines.append(
                f"  {LABELS[p.type]} {p.type} at {self.param1} = "
                f"{p.params[self.param1]:.8g}, {self.param2} = "
                f"{p.params[self.param2]:.8g}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready dict: ``curves`` and ``codim2`` points."""
        return {
            "model": self.model,
            "param1": self.param1,
            "param2": self.param2,
            "units": dict(self.units),
            "curves": [c.to_dict() for c in self.curves],
            "codim2": [p.to_dict() for p in self.codim2],
        }

    def plot(self, ax=None, label_points: bool = True):
        """Draw the curves in the (param1, param2) plane.

        Fold curves blue, Hopf curves red (the neutral-saddle continuation of a Hopf curve
        dotted), codimension-2 points marked and labelled (``CP``, ``BT``, ``GH``).

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4.5))
        drawn = set()
        for c in self.curves:
            color = "b" if c.type == "fold" else "r"
            label = None if c.type in drawn else c.type
            drawn.add(c.type)
            if c.type == "hopf":
                hopf = c.kappa > 0
                ax.plot(
                    np.where(hopf, c.values1, np.nan),
                    np.where(hopf, c.values2, np.nan),
                    color=color,
                    label=label,
                )
                if not hopf.all():
                    ax.plot(
                        np.where(~hopf, c.values1, np.nan),
                        np.where(~hopf, c.values2, np.nan),
                        ":",
                        color=color,
                        label="neutral saddle" if "ns" not in drawn else None,
                    )
                    drawn.add("ns")
            else:
                ax.plot(c.values1, c.values2, color=color, label=label)
        if label_points:
            for k, p in enumerate(self.codim2):
                x, y = p.params[self.param1], p.params[self.param2]
                ax.plot(x, y, "ko", markersize=5)
                ax.annotate(
                    LABELS[p.type],
                    (x, y),
                    textcoords="offset points",
                    xytext=(4, 4 if k % 2 == 0 else -11),
                    fontsize=8,
                )
        ax.set_xlabel(_axis_label(self.param1, self.units[self.param1]))
        ax.set_ylabel(_axis_label(self.param2, self.units[self.param2]))
        ax.set_title(f"{self.model}: two-parameter diagram", fontsize=9)
        ax.legend(fontsize=8)
        return ax


def _axis_label(name, unit):
    return name if unit in ("1", "") else f"{name} ({unit})"


# -- exact derivatives of the Jacobian ------------------------------------------------


def _jac_y_times(system, y, p, *vs):
    """``M[:, k] = (d J / d y_k) v = B(v, e_k)``, shape (n, n), for each ``v`` of ``vs``.

    One vectorized call of the bilinear-form kernel for all of them; returns one matrix
    per vector (a tuple if several).
    """
    n = system.n
    u = np.hstack([np.repeat(np.reshape(v, (n, 1)), n, axis=1) for v in vs])
    out = system.hess(y, u, np.tile(np.eye(n), len(vs)), p=p)
    mats = tuple(out[:, k * n : (k + 1) * n] for k in range(len(vs)))
    return mats if len(vs) > 1 else mats[0]


def _jac_p_times(system, y, p, name, v) -> np.ndarray:
    """``(d J / d name) v``: exact (sympy mixed second derivatives), shape (n,)."""
    import sympy

    def build():
        u = system._vectors("u")["u"]
        sym = sympy.Symbol(name, real=True)
        exprs = [
            sum((sympy.diff(e, sym) * u[j] for j, e in enumerate(row)), sympy.S(0))
            for row in system.spec.full_spec().jac
        ]
        return exprs, u

    fun = system._derived_function(f"dJd_{name}", build)
    return system._call(fun, y, p, [np.reshape(v, (system.n, 1))])[:, 0]


# -- defining systems -------------------------------------------------------------------


class _Defining:
    """Scaled unknowns ``x = (y / sy, (p1 - c1) / s1, (p2 - c2) / s2, extras)``."""

    type = ""

    def __init__(self, system: System, names, centres, scales, y_scale):
        self.system = system
        self.names = tuple(names)
        self.k = [system.index(name) for name in names]
        self.c = np.asarray(centres, dtype=float)
        self.s = np.asarray(scales, dtype=float)
        self.sy = np.asarray(y_scale, dtype=float)
        self.n = system.n

    def unpack(self, x):
        n = self.n
        y = (x[:n] * self.sy).reshape(-1, 1)
        lam = self.c + self.s * x[n : n + 2]
        p = self.system.p.copy()
        p[self.k, 0] = lam
        return y, lam, p

    def pack_yp(self, y, lam):
        return np.concatenate([np.ravel(y) / self.sy, (np.asarray(lam) - self.c) / self.s])

    def key(self, x):
        """The components that identify a point (not the null vector's sign)."""
        return x[: self.n + 2]

    def base(self, x):
        """f, its Jacobian in x's (y, p1, p2) columns, J, y, p."""
        y, _, p = self.unpack(x)
        f = self.system.f(y, p)[:, 0]
        jac = self.system.jac(y, p)[0]
        fp = np.stack([self.system.dfdp(y, name, p)[:, 0] for name in self.names], axis=1)
        return f, np.hstack([jac * self.sy[None, :], fp * self.s[None, :]]), jac, y, p


class _Fold(_Defining):
    """Minimally extended fold system: ``f = 0``, ``g = 0`` (bordered determinant)."""

    type = "fold"

    def start(self, jac):
        u, _, vt = np.linalg.svd(jac)
        self.c_border, self.b_border = vt[-1], u[:, -1]

    def _bordered(self, jac):
        n = self.n
        m = np.zeros((n + 1, n + 1))
        m[:n, :n] = jac
        m[:n, n] = self.b_border
        m[n, :n] = self.c_border
        rhs = np.zeros(n + 1)
        rhs[n] = 1.0
        vg = _solve(m, rhs)
        wg = _solve(m.T, rhs)
        return vg[:n], wg[:n], vg[n]

    def residual_and_jacobian(self, x):
        f, fx, jac, y, p = self.base(x)
        v, w, g = self._bordered(jac)
        gy = -w @ _jac_y_times(self.system, y, p, v) * self.sy
        gp = np.array([-w @ _jac_p_times(self.system, y, p, name, v) for name in self.names])
        row = np.concatenate([gy, gp * self.s])
        return np.append(f, g), np.vstack([fx, row])

    def info(self, x):
        y, _, p = self.unpack(x)
        jac = self.system.jac(y, p)[0]
        v, w, _ = self._bordered(jac)
        nv, nw = np.linalg.norm(v), np.linalg.norm(w)
        v, w = v / nv, w / nw
        b = self.system.hess(y, v.reshape(-1, 1), v.reshape(-1, 1), p=p)[:, 0]
        tests = {"cusp": float(w @ b), "bt": float(w @ v)}
        return {"jac": jac, "v": v, "w": w, "tests": tests}

    def adapt(self, info):
        self.c_border, self.b_border = info["v"], info["w"]


class _Hopf(_Defining):
    """Standard augmented Hopf system in ``(y, p1, p2, v, kappa)``."""

    type = "hopf"

    def start(self, jac):
        ev, vecs = np.linalg.eig(jac)
        upper = np.flatnonzero(ev.imag > 0)
        if upper.size == 0:
            raise BiosnnError("no complex pair of eigenvalues at the Hopf point")
        k = upper[np.argmin(np.abs(ev[upper].real))]
        omega = float(ev[k].imag)
        q = vecs[:, k]
        q = q * np.exp(-0.5j * np.angle(np.sum(q * q)))  # Re q, Im q orthogonal, Re larger
        v = q.real / np.linalg.norm(q.real)
        lvec = q.imag - (q.imag @ v) * v
        self.l_vec = lvec / np.linalg.norm(lvec)
        self.sk = omega**2
        return v, omega**2

    def pack(self, y, lam, v, kappa):
        return np.concatenate([self.pack_yp(y, lam), v, [kappa / self.sk]])

    def key(self, x):
        return np.append(x[: self.n + 2], x[-1])

    def split(self, x):
        n = self.n
        return x[n + 2 : 2 * n + 2], x[-1] * self.sk

    def residual_and_jacobian(self, x):
        n = self.n
        f, fx, jac, y, p = self.base(x)
        v, kappa = self.split(x)
        jv = jac @ v
        r2 = jac @ jv + kappa * v
        m1, m2 = _jac_y_times(self.system, y, p, jv, v)
        d2y = (m1 + jac @ m2) * self.sy[None, :]
        d2p = (
            np.stack(
                [
                    _jac_p_times(self.system, y, p, name, jv)
                    + jac @ _jac_p_times(self.system, y, p, name, v)
                    for name in self.names
                ],
                axis=1,
            )
            * self.s[None, :]
        )
        size = 2 * n + 3
        dg = np.zeros((2 * n + 2, size))
        dg[:n, : n + 2] = fx
        dg[n : 2 * n, :n] = d2y
        dg[n : 2 * n, n : n + 2] = d2p
        dg[n : 2 * n, n + 2 : 2 * n + 2] = jac @ jac + kappa * np.eye(n)
        dg[n : 2 * n, -1] = v * self.sk
        dg[2 * n, n + 2 : 2 * n + 2] = 2 * v
        dg[2 * n + 1, n + 2 : 2 * n + 2] = self.l_vec
        res = np.concatenate([f, r2, [v @ v - 1.0, v @ self.l_vec]])
        return res, dg

    def info(self, x):
        y, _, p = self.unpack(x)
        jac = self.system.jac(y, p)[0]
        v, kappa = self.split(x)
        l1 = omega = math.nan
        if kappa > 0:
            l1, omega = _first_lyapunov(self.system, y, p, jac)
        tests = {"bt": kappa / self.sk, "bautin": l1}
        return {"jac": jac, "v": v, "kappa": kappa, "l1": l1, "omega": omega, "tests": tests}

    def adapt(self, info):
        v, jac = info["v"], info["jac"]
        lvec = jac @ v
        lvec = lvec - (lvec @ v) * v
        norm = np.linalg.norm(lvec)
        if norm > 1e-12 * max(1.0, np.linalg.norm(jac)):
            self.l_vec = lvec / norm


# -- pseudo-arclength continuation ------------------------------------------------------


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


# -- public functions -------------------------------------------------------------------


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
    model = _as_model(model)
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


def two_parameter_diagram(
    model, diagram, param2: str, start2, stop2, *, params=None, bounds1=None, options=None, **kwargs
) -> TwoParameterDiagram:
    """Continue every fold and Hopf point of a one-parameter diagram in a second parameter.

    Parameters
    ----------
    model : Model or str
        The model of ``diagram``.
    diagram : BifurcationDiagram
        A one-parameter diagram (its parameter is ``param1``).
    param2 : str
    start2, stop2 : float or str
        Interval of ``param2`` (display unit); ``param2``'s value in the one-parameter
        diagram must lie in it.
    params : dict, optional
        The other parameters, as given to :func:`continue_equilibria`.
    bounds1 : (float, float), optional
        Interval of ``param1``; default that of ``diagram``.
    options : ContinuationOptions, optional
        Step control of every curve (default as :func:`continue_curve`).
    **kwargs
        ``ds``, ``ds_max``, ``max_points``, ... of :func:`continue_curve` (override
        ``options``).

    Returns
    -------
    TwoParameterDiagram
        A point of the diagram that lies on a curve already computed (two Hopf points on
        one curve) starts no second curve.
    """
    model = _as_model(model)
    param1 = diagram.param
    if bounds1 is None:
        bounds1 = (float(diagram.param_values.min()), float(diagram.param_values.max()))
    bounds = {
        name: tuple(sorted(_display(model, name, v) for v in pair))
        for name, pair in ((param1, bounds1), (param2, (start2, stop2)))
    }
    system = System(model, params)
    value2 = float(model.from_internal(param2, system.p[system.index(param2), 0]))
    curves = []
    for sp in diagram.special_points:
        if sp.type not in ("fold", "hopf"):
            continue
        if any(c.type == sp.type and _on_curve(c, sp, bounds, value2) for c in curves):
            continue
        curves.append(
            continue_curve(
                model, sp, param1, param2, bounds, params=params, options=options, **kwargs
            )
        )
    codim2 = []
    for c in curves:
        for p in c.codim2:
            if not any(q.type == p.type and _close(q.params, p.params, bounds) for q in codim2):
                codim2.append(p)
    units = {
        name: model.display_unit(name)
        for name in (param1, param2) + tuple(model.kernel_spec().states)
    }
    return TwoParameterDiagram(
        model=model.name, param1=param1, param2=param2, units=units, curves=curves, codim2=codim2
    )


def _display(model, name, value) -> float:
    """A parameter value (number in the display unit or string with a unit) -> float."""
    return float(model.from_internal(name, model.to_internal(name, value)))


def _close(a: dict, b: dict, bounds, tol=1e-4) -> bool:
    return all(abs(a[k] - b[k]) <= tol * (bounds[k][1] - bounds[k][0]) for k in a)


def _on_curve(curve, sp, bounds, value2) -> bool:
    """Does ``curve`` pass through the one-parameter special point ``sp``?

    Distance from the point to the curve's polyline in the box-scaled plane (a chord of
    a step of at most ``ds_max`` deviates from the curve by far less than 1e-2).
    """
    w1 = bounds[curve.param1][1] - bounds[curve.param1][0]
    w2 = bounds[curve.param2][1] - bounds[curve.param2][0]
    pts = np.stack([(curve.values1 - sp.param) / w1, (curve.values2 - value2) / w2], axis=1)
    if len(pts) < 2:
        return bool(np.hypot(*pts[0]) < 1e-2)
    a, b = pts[:-1], pts[1:]
    d = b - a
    t = np.clip(-np.sum(a * d, axis=1) / np.maximum(np.sum(d * d, axis=1), 1e-300), 0, 1)
    return bool(np.min(np.hypot(*(a + t[:, None] * d).T)) < 1e-2)
