"""Branches of periodic orbits: the result objects, Floquet multipliers and test functions.

:class:`CycleBranch` (the points of a branch in display units) and :class:`CyclePoint`
(a bifurcation of periodic orbits on it); the test functions of the special points read
from the Floquet multipliers (:func:`_tests`, :func:`_candidate`, :func:`_is_ns`); and
:func:`_branch`, which assembles a :class:`CycleBranch` from the continuation's points.
:meth:`CycleBranch.switch` continues through the function stored in the branch's context
by :func:`~biosnn.analysis.cycles.continue_cycles` (so this module does not import the
continuation module, which imports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from biosnn.analysis.continuation.diagram import _axis_label, _plot_runs
from biosnn.analysis.cycles.collocation import _evaluate
from biosnn.errors import BiosnnError

__all__ = ["CycleBranch", "CyclePoint", "LABELS"]

#: Labels of cycle special points in figures.
LABELS = {"lpc": "LPC", "pd": "PD", "ns": "NS"}

_TESTS = ("lpc", "pd", "ns")


# -- result objects ---------------------------------------------------------------------


@dataclass(frozen=True)
class CyclePoint:
    """A bifurcation of periodic orbits on a cycle branch.

    Attributes
    ----------
    type : str
        ``"lpc"`` (fold of cycles), ``"pd"`` (period doubling), ``"ns"`` (torus).
    param : float
        Parameter value (display unit).
    period : float
        Period (ms, or time units).
    min, max : dict
        state -> minimum / maximum over the orbit (display units).
    multipliers : ndarray of complex
        Floquet multipliers (the trivial one included), by decreasing modulus.
    index : int
        Index of this point on the branch.
    """

    type: str
    param: float
    period: float
    min: dict
    max: dict
    multipliers: np.ndarray
    index: int
    _orbit: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def amplitude(self) -> dict:
        """State -> max - min (display units)."""
        return {k: self.max[k] - self.min[k] for k in self.max}

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "type": self.type,
            "param": float(self.param),
            "period": float(self.period),
            "min": {k: float(v) for k, v in self.min.items()},
            "max": {k: float(v) for k, v in self.max.items()},
            "amplitude": {k: float(v) for k, v in self.amplitude.items()},
            "multipliers": [[float(z.real), float(z.imag)] for z in self.multipliers],
            "index": int(self.index),
        }


@dataclass(frozen=True)
class CycleBranch:
    """A branch of periodic orbits (display units).

    Attributes
    ----------
    model, param : str
    units : dict
        name -> display unit (parameter and states).
    param_values, period : ndarray (N,)
    min, max : dict
        state -> ndarray (N,): extremes of each state over the orbit.
    multipliers : ndarray of complex (N, n_states)
        Floquet multipliers, by decreasing modulus (one is the trivial 1).
    stable : ndarray of bool (N,)
    special_points : list of CyclePoint
    status : str
        Why continuation stopped.
    end_param : float or None
        With status ``"reached a Hopf point"``: the parameter value where the amplitude
        vanishes (extrapolated in ``amplitude**2``).
    """

    model: str
    param: str
    units: dict
    param_values: np.ndarray
    period: np.ndarray
    min: dict
    max: dict
    multipliers: np.ndarray
    stable: np.ndarray
    special_points: list = field(default_factory=list)
    status: str = ""
    end_param: float | None = None
    _orbits: list = field(default_factory=list, repr=False)
    _context: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.param_values)

    def switch(self, point, **options) -> CycleBranch:
        """Continue the period-doubled orbits born at a period-doubling point of this branch.

        Parameters
        ----------
        point : CyclePoint
            A ``"pd"`` point of this branch (``branch.special("pd")[0]``).
        **options
            Options of :func:`continue_cycles` (``options=`` a
            :class:`~biosnn.analysis.options.ContinuationOptions`, ``ds``,
            ``max_points``, ``start``, ``stop``, ...); default those of this branch (the mesh is doubled with the
            orbit: ``2 ntst`` intervals).

        Returns
        -------
        CycleBranch
            The branch of period-2 orbits (period about twice this branch's), starting at
            the period-doubling point.  See :func:`continue_cycles` for the method.
        """
        if not self._context:
            raise BiosnnError(
                "this branch was not computed by continue_cycles: call "
                "continue_cycles(model, point, param, ...) instead"
            )
        ctx = self._context
        kwargs = dict(ctx["options"])
        kwargs["ntst"] = 2 * kwargs["ntst"]
        kwargs.update(options)
        return ctx["continue"](ctx["model"], point, self.param, params=ctx["params"], **kwargs)

    def special(self, type: str | None = None) -> list:
        """Special points, all or those of one type (``"lpc"``, ``"pd"``, ``"ns"``)."""
        return [sp for sp in self.special_points if type is None or sp.type == type]

    def orbit(self, index: int, points: int = 200) -> tuple:
        """The orbit of point ``index``: ``(t, {state: values})`` over one period.

        ``t`` in ms (or time units), states in display units, sampled at ``points`` times
        from the collocation polynomials.
        """
        mesh, nodes, ncol = self._orbits[index]
        s = np.linspace(0.0, 1.0, points)
        values = _evaluate(mesh, nodes, ncol, s)
        return s * self.period[index], {k: values[:, i] for i, k in enumerate(self.min)}

    def __repr__(self) -> str:
        lines = [
            f"CycleBranch({self.model!r}, {self.param!r}: {len(self)} points, "
            f"{self.param_values.min():.6g} .. {self.param_values.max():.6g} "
            f"{self.units[self.param]}, period {self.period.min():.6g} .. "
            f"{self.period.max():.6g}; {self.status})"
        ]
        for sp in self.special_points:
            lines.append(
                f"  {LABELS[sp.type]} {sp.type} at {self.param} = {sp.param:.8g}, "
                f"period {sp.period:.6g}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready dict: the points along the branch and the special points."""
        return {
            "model": self.model,
            "param": self.param,
            "units": dict(self.units),
            "status": self.status,
            "end_param": self.end_param,
            "points": {
                "param": self.param_values.tolist(),
                "period": self.period.tolist(),
                "min": {k: v.tolist() for k, v in self.min.items()},
                "max": {k: v.tolist() for k, v in self.max.items()},
                "stable": self.stable.tolist(),
                "multipliers": [
                    [[float(z.real), float(z.imag)] for z in row] for row in self.multipliers
                ],
            },
            "special_points": [sp.to_dict() for sp in self.special_points],
        }

    def plot(self, var: str | None = None, ax=None, color="g", label_points: bool = True):
        """Plot max and min of ``var`` in the AUTO convention: stable solid, unstable dashed.

        Draw on the axes of :meth:`BifurcationDiagram.plot` to get the full diagram::

            ax = diagram.plot("V"); cycles.plot("V", ax=ax)

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        var = var or next(iter(self.min))
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
            ax.set_xlabel(_axis_label(self.param, self.units[self.param]))
            ax.set_ylabel(_axis_label(var, self.units[var]))
        x = self.param_values
        for y in (self.max[var], self.min[var]):
            _plot_runs(ax, x, y, self.stable, color)
        if label_points:
            for sp in self.special_points:
                for y in (sp.max[var], sp.min[var]):
                    ax.plot(sp.param, y, "s", color="m", markersize=4)
                ax.annotate(
                    LABELS[sp.type],
                    (sp.param, sp.max[var]),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=8,
                )
        return ax


# -- Floquet multipliers and test functions -------------------------------------------


def _nontrivial(mu):
    """The multipliers without the one closest to 1."""
    if not np.all(np.isfinite(mu)):
        return mu
    k = int(np.argmin(np.abs(mu - 1.0)))
    return np.delete(mu, k)


def _tests(t, mu):
    rest = _nontrivial(mu)
    pd = float(np.prod(1.0 + rest).real) if rest.size else 1.0
    if rest.size >= 2:
        i, j = np.triu_indices(rest.size, 1)
        ns = float(np.prod(rest[i] * rest[j] - 1.0).real)
    else:
        ns = 1.0
    return {"lpc": float(t[-1]), "pd": pd, "ns": ns}


def _candidate(name, mu) -> bool:
    """Whether ``mu`` can lie on either side of a PD (negative real multiplier) or NS."""
    rest = _nontrivial(mu)
    if name == "pd":
        return bool(np.any((rest.real < 0) & (np.abs(rest.imag) <= 1e-9 * np.abs(rest))))
    return bool(np.any(np.abs(rest.imag) > 1e-9 * np.abs(rest)))


def _is_ns(mu) -> bool:
    rest = _nontrivial(mu)
    i, j = np.triu_indices(rest.size, 1)
    k = int(np.argmin(np.abs(rest[i] * rest[j] - 1.0)))
    return abs(rest[i[k]].imag) > 1e-6 and abs(rest[j[k]].imag) > 1e-6


def _branch(model, param, coll, points, status, end_param, context) -> CycleBranch:
    states = coll.system.spec.states
    n = len(points)
    lam = np.empty(n)
    period = np.empty(n)
    lows = np.empty((n, coll.n))
    highs = np.empty((n, coll.n))
    orbits, internal = [], []
    mesh_now = coll.mesh
    for i, pt in enumerate(points):
        if len(pt.mesh) != len(coll.mesh) or not np.array_equal(pt.mesh, coll.mesh):
            coll.set_mesh(pt.mesh)
        u, period[i], lam[i] = coll.unpack(pt.X)
        lows[i], highs[i] = coll.extremes(pt.X)
        # node values in display units (unit conversion is affine: it commutes with the
        # Lagrange interpolation, whose basis sums to one)
        shown = np.column_stack([model.from_internal(s, u[:, i]) for i, s in enumerate(states)])
        orbits.append((pt.mesh, np.asarray(shown, dtype=float), coll.ncol))
        internal.append((pt.mesh, u, float(period[i]), float(lam[i]), coll.ncol))
    coll.set_mesh(mesh_now)
    mus = np.array([pt.mu for pt in points])
    stable = np.array([bool(np.all(np.abs(_nontrivial(mu)) < 1.0)) for mu in mus])
    shown_lam = np.asarray(model.from_internal(param, lam), dtype=float)
    low = {s: np.asarray(model.from_internal(s, lows[:, i]), float) for i, s in enumerate(states)}
    high = {s: np.asarray(model.from_internal(s, highs[:, i]), float) for i, s in enumerate(states)}
    specials = [
        CyclePoint(
            type=pt.special,
            param=float(shown_lam[i]),
            period=float(period[i]),
            min={s: float(low[s][i]) for s in states},
            max={s: float(high[s][i]) for s in states},
            multipliers=mus[i],
            index=i,
            _orbit=internal[i],
        )
        for i, pt in enumerate(points)
        if pt.special
    ]
    units = {name: model.display_unit(name) for name in (param,) + tuple(states)}
    return CycleBranch(
        model=model.name,
        param=param,
        units=units,
        param_values=shown_lam,
        period=period,
        min=low,
        max=high,
        multipliers=mus,
        stable=stable,
        special_points=specials,
        status=status,
        end_param=end_param,
        _orbits=orbits,
        _context=context,
    )
