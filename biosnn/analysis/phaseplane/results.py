"""The result of :func:`~biosnn.analysis.phaseplane.phase_plane`: :class:`PhasePlane`.

With its parts: :class:`FixedPoint`, :class:`Manifold`, :class:`LimitCycle`,
:class:`Trajectory` (display units); :meth:`PhasePlane.plot` draws it
(:mod:`biosnn.analysis.phaseplane.plot`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PhasePlane", "FixedPoint", "Manifold", "LimitCycle", "Trajectory"]


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
        from biosnn.analysis.phaseplane.plot import plot_phase_plane

        return plot_phase_plane(self, ax=ax, streamlines=streamlines, legend=legend)
