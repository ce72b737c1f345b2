"""Brute-force (orbit) diagrams by simulation, vectorized over the parameter values.

:func:`orbit_diagram` runs **one** :func:`biosnn.simulate` call with one instance per
parameter value (the parameter passed as an array), discards a transient, and collects
for every instance what it did afterwards:

* ``"isi"``: the inter-spike intervals (spikes as the model's events define them: upward
  threshold crossings, located by the solver);
* ``"max"``: the local maxima of a state (from the recorded trace, each refined by the
  parabola through the sample and its two neighbours);
* ``"section"``: Poincare-section values: the value of a state ``var`` where another
  state ``section[0]`` crosses the level ``section[1]`` upwards (linear interpolation
  between samples).

This is what continuation does not cover: bursting with a varying number of spikes per
burst, chaos, period doubling cascades (e.g. the inter-spike intervals of Hindmarsh-Rose
against ``I_ext``).  The result is a point cloud ``(param, value)``.

Examples
--------
>>> import numpy as np
>>> from biosnn.analysis import orbit_diagram
>>> d = orbit_diagram("fitzhugh_nagumo", "I_ext", np.linspace(0, 2, 5), 300,
...                   transient=150, backend="numpy")
>>> [round(float(np.median(d.values_at(k))), 1) if d.counts[k] else None
...  for k in range(5)]
[None, 39.5, 36.7, None, None]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biosnn.analysis.options import SOLVER_DEFAULTS
from biosnn.equations.files import as_model
from biosnn.errors import BiosnnError, SimulationError
from biosnn.solvers.options import merge
from biosnn.units import parse_time

__all__ = ["OrbitDiagram", "orbit_diagram"]

_QUANTITIES = ("isi", "max", "section")


@dataclass(frozen=True)
class OrbitDiagram:
    """Point cloud of a brute-force diagram.

    Attributes
    ----------
    model, param : str
    quantity : str
        ``"isi"``, ``"max"`` or ``"section"``.
    var : str or None
        The state whose maxima or section values are collected.
    units : dict
        ``param`` and ``"value"`` -> display unit (ms for ISIs).
    param_values : ndarray (K,)
        One per instance.
    params, values : ndarray (M,)
        The point cloud: every collected value with its instance's parameter value.
    counts : ndarray of int (K,)
        Points per parameter value (0: nothing after the transient, e.g. rest).
    """

    model: str
    param: str
    quantity: str
    var: str | None
    units: dict
    param_values: np.ndarray
    params: np.ndarray
    values: np.ndarray
    counts: np.ndarray

    def values_at(self, k: int) -> np.ndarray:
        """The values of instance ``k`` (in time order)."""
        start = int(np.sum(self.counts[:k]))
        return self.values[start : start + int(self.counts[k])]

    def __repr__(self) -> str:
        what = self.quantity if self.var is None else f"{self.quantity} of {self.var}"
        return (
            f"OrbitDiagram({self.model!r}, {what} against {self.param!r}: "
            f"{len(self.param_values)} values, {self.values.size} points)"
        )

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "model": self.model,
            "param": self.param,
            "quantity": self.quantity,
            "var": self.var,
            "units": dict(self.units),
            "param_values": self.param_values.tolist(),
            "counts": self.counts.tolist(),
            "points": {"param": self.params.tolist(), "value": self.values.tolist()},
        }

    def plot(self, ax=None, color="k", markersize=1.0):
        """Scatter the point cloud.  Returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.params, self.values, ".", color=color, markersize=markersize)
        ax.set_xlabel(_label(self.param, self.units[self.param]))
        name = {
            "isi": "inter-spike interval",
            "max": f"maxima of {self.var}",
            "section": f"{self.var} on the section",
        }[self.quantity]
        ax.set_ylabel(_label(name, self.units["value"]))
        ax.set_title(f"{self.model}: orbit diagram", fontsize=9)
        return ax


def _label(name, unit):
    return name if unit in ("1", "") else f"{name} ({unit})"


def orbit_diagram(
    model,
    param: str,
    values,
    duration,
    *,
    transient,
    quantity: str = "isi",
    var: str | None = None,
    section: tuple | None = None,
    params=None,
    init=None,
    options=None,
    method: str | None = None,
    dt=None,
    rtol=None,
    atol=None,
    backend: str | None = None,
    record_dt=None,
) -> OrbitDiagram:
    """Simulate one instance per parameter value and collect ISIs, maxima or sections.

    Parameters
    ----------
    model : Model or str
    param : str
        The parameter to vary.
    values : array_like
        Its values (display unit), one instance each.
    duration : float or str
        Length of each run (ms, or time units), transient included.
    transient : float or str
        What happens before this time is discarded.
    quantity : {"isi", "max", "section"}
    var : str, optional
        ``"max"`` and ``"section"``: the state whose values are collected.
    section : (str, float), optional
        ``"section"``: the state and level (display unit) of the section, crossed upwards.
    params, init : dict, optional
        The other parameters and the initial state (as in :func:`biosnn.simulate`).
    options : SolverOptions, optional
        Solver settings of the run (default: :func:`biosnn.simulate`'s, ``rk4`` with
        ``dt`` 0.01; docs/options.md).
    method, dt, rtol, atol, backend : optional
        Override the fields of ``options``.
    record_dt : float, optional
        Sampling of ``"max"`` and ``"section"`` (default the step ``dt``, or 0.1 when
        the method chooses its steps).

    Returns
    -------
    OrbitDiagram
    """
    from biosnn.solvers.simulate import simulate

    model = as_model(model)
    if quantity not in _QUANTITIES:
        raise BiosnnError(f"quantity must be one of {', '.join(_QUANTITIES)}, not {quantity!r}")
    model.check_param(param)
    states = model.kernel_spec().states
    if quantity != "isi" and var not in states:
        raise BiosnnError(f"quantity {quantity!r} needs var= one of {', '.join(states)}")
    if quantity == "section" and (section is None or section[0] not in states):
        raise BiosnnError("quantity 'section' needs section=(state, level)")
    values = np.atleast_1d(np.asarray(values, dtype=float))
    run_params = dict(params or {})
    run_params[param] = values
    record = []
    if quantity == "max":
        record = [var]
    elif quantity == "section":
        record = list(dict.fromkeys([var, section[0]]))
    opts = merge(
        options,
        SOLVER_DEFAULTS["orbit_diagram"],
        "orbit_diagram",
        method=method,
        dt=dt,
        rtol=rtol,
        atol=atol,
        backend=backend,
    )
    if record and record_dt is None:
        record_dt = opts.dt if opts.dt is not None else 0.1
    result = simulate(
        model,
        duration,
        options=opts,
        n=values.size,
        params=run_params,
        init=init,
        record=record,
        record_dt=record_dt,
    )
    t0 = parse_time(transient, "transient", model=model, error=SimulationError)
    per = []
    if quantity == "isi":
        for spikes in result.spikes:
            s = np.asarray(spikes, dtype=float)
            per.append(np.diff(s[s >= t0]))
        unit = model.time_unit
    else:
        t = np.asarray(result.t, dtype=float)
        keep = t >= t0
        x = np.asarray(result[var], dtype=float).reshape(values.size, -1)[:, keep]
        if quantity == "max":
            per = [_maxima(row) for row in x]
        else:
            s = np.asarray(result[section[0]], dtype=float).reshape(values.size, -1)[:, keep]
            per = [_section(row, srow, float(section[1])) for row, srow in zip(x, s)]
        unit = model.display_unit(var)
    counts = np.array([p.size for p in per], dtype=int)
    params_out = np.repeat(values, counts)
    values_out = np.concatenate(per) if per else np.empty(0)
    return OrbitDiagram(
        model=model.name,
        param=param,
        quantity=quantity,
        var=None if quantity == "isi" else var,
        units={param: model.display_unit(param), "value": unit},
        param_values=values,
        params=params_out,
        values=values_out,
        counts=counts,
    )


def _maxima(x: np.ndarray) -> np.ndarray:
    """Strict interior local maxima, refined by the parabola through three samples."""
    if x.size < 3:
        return np.empty(0)
    k = np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])) + 1
    a, b, c = x[k - 1], x[k], x[k + 1]
    den = a - 2 * b + c
    with np.errstate(all="ignore"):
        shift = np.where(den != 0, 0.5 * (a - c) / den, 0.0)
    return b - 0.25 * (a - c) * shift


def _section(x: np.ndarray, s: np.ndarray, level: float) -> np.ndarray:
    """Values of ``x`` where ``s`` crosses ``level`` upwards (linear interpolation)."""
    k = np.flatnonzero((s[:-1] < level) & (s[1:] >= level))
    w = (level - s[k]) / (s[k + 1] - s[k])
    return x[k] + w * (x[k + 1] - x[k])
