"""The result of :func:`~biosnn.analysis.continuation.continue_equilibria`.

:class:`BifurcationDiagram` (a branch of equilibria in display units, its figure and
branch switching) and :class:`SpecialPoint` (fold, Hopf, branch point); figure helpers
shared with the cycle and two-parameter diagrams (:func:`_axis_label`, :func:`_runs`, :func:`_plot_runs`).
:meth:`BifurcationDiagram.switch` continues through the function stored in the diagram's
context by ``continue_equilibria`` (so this module does not import the module that
imports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from biosnn.errors import BiosnnError

#: Labels of special points in figures (AUTO's abbreviations).
LABELS = {"fold": "LP", "hopf": "HB", "bp": "BP"}


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
        return ctx["continue"](
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
        _plot_runs(ax, x, y, self.stable, color)
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


def _plot_runs(ax, x, y, stable, color) -> None:
    """Draw branch ``(x, y)``: stable runs solid, unstable runs dashed (each run includes
    the first point of the next, so the line has no gaps).
    """
    for start, stop, is_stable in _runs(stable):
        sl = slice(start, min(stop + 1, len(x)))
        ax.plot(
            x[sl],
            y[sl],
            color=color,
            linestyle="-" if is_stable else "--",
            linewidth=1.5 if is_stable else 1.0,
        )


def _runs(flags):
    """(start, stop, value) of runs of equal values; stop is the last index of the run."""
    flags = np.asarray(flags)
    out, start = [], 0
    for k in range(1, len(flags) + 1):
        if k == len(flags) or flags[k] != flags[start]:
            out.append((start, k, bool(flags[start])))
            start = k
    return out
