"""Every fold and Hopf curve of a one-parameter diagram: :func:`two_parameter_diagram`."""

from __future__ import annotations

import numpy as np

from biosnn.analysis._system import System
from biosnn.analysis.codim2.curves import continue_curve
from biosnn.analysis.codim2.results import TwoParameterDiagram
from biosnn.equations.files import as_model


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
    model = as_model(model)
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
    """Whether ``curve`` passes through the one-parameter special point ``sp``.

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
