"""The results of two-parameter continuation: :class:`Curve`, :class:`TwoParameterDiagram`.

With the codimension-2 points on them (:class:`Codim2Point`: cusp, Bogdanov-Takens,
Bautin) and their figure labels (MatCont's abbreviations).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Labels of codimension-2 points in figures (MatCont's abbreviations).
LABELS = {"cusp": "CP", "bt": "BT", "bautin": "GH"}


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
