"""The first Lyapunov coefficient at a Hopf point (:func:`lyapunov_coefficient`).

Kuznetsov's formula with the exact second and third derivatives of the model (the
formula, its normalisation and units: :mod:`biosnn.analysis.continuation`); ``l1 < 0``:
supercritical, ``l1 > 0``: subcritical.
"""

from __future__ import annotations

import math

import numpy as np

from biosnn.analysis._system import System
from biosnn.equations.files import as_model


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
        ``l1`` in internal units (see :mod:`biosnn.analysis.continuation`; < 0 supercritical), ``omega``
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
