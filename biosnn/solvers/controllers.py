"""Step-size controllers: separate objects the drivers compose (vectorized over instances).

* :class:`ConstantStep` - fixed step ``dt`` (every fixed-step and stochastic method).
* :class:`PIController` - the PI controller of Gustafsson (1991) as given by Hairer &
  Wanner (Solving ODEs II, IV.2, eq. (2.43c)), for adaptive and stiff methods.
* :func:`initial_step` - Hairer's starting step heuristic (Solving ODEs I, II.4).

PI control, as implemented (both backends)
------------------------------------------
With ``k`` the power of ``h`` in the error norm (``error_exponent_order`` of the tableau:
5 for rk45, 3 for rk23, 8 for dop853's combined estimator, 4 for rodas4), the error norm
``err`` of a step (RMS, see :mod:`biosnn.solvers.tableaux`) and ``err_old`` that of the
previous accepted step (initially 1)::

    accepted (err <= 1):  fac = safety * err**(-alpha) * err_old**beta,
                          alpha = 0.7/k, beta = 0.4/k;  fac = 10 if err == 0
                          fac = clip(fac, 0.2, 10); fac = min(fac, 1) right after a rejection
                          err_old = max(err, 1e-4)
    rejected (err > 1 or not finite):
                          fac = clip(safety * err**(-1/k), 0.2, 1)   (0.2 if err is not finite)
    h_new = h * fac,  safety = 0.9

Examples
--------
>>> import numpy as np
>>> from biosnn.solvers.controllers import PIController
>>> pi = PIController(order=5)
>>> accept, h_new = pi.propose(np.array([1.0]), np.array([0.5]), np.array([1.0]),
...                            np.array([False]))
>>> bool(accept[0]), round(float(h_new[0]), 4)
(True, 0.9917)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FACTOR_MAX",
    "FACTOR_MIN",
    "SAFETY",
    "ConstantStep",
    "PIController",
    "initial_step",
]

SAFETY = 0.9
FACTOR_MIN = 0.2
FACTOR_MAX = 10.0


@dataclass(frozen=True)
class ConstantStep:
    """A fixed step: ``n_steps = round((t1 - t0)/dt)`` steps, ``t_k = t0 + k*dt``."""

    dt: float

    def __post_init__(self):
        if not (self.dt > 0 and np.isfinite(self.dt)):
            raise ValueError(f"the step dt must be a positive number, not {self.dt!r}")

    def n_steps(self, t0: float, t1: float) -> int:
        return round((t1 - t0) / self.dt)

    def time(self, t0: float, k) -> float:
        """Time of step ``k`` (computed, never accumulated)."""
        return t0 + k * self.dt


@dataclass(frozen=True)
class PIController:
    """PI step-size controller (see the module docstring).

    Parameters
    ----------
    order : int
        ``k``, the power of ``h`` of the error norm.
    safety, factor_min, factor_max : float
        0.9, 0.2 and 10 by the solver contract.
    """

    order: int
    safety: float = SAFETY
    factor_min: float = FACTOR_MIN
    factor_max: float = FACTOR_MAX

    @property
    def alpha(self) -> float:
        return 0.7 / self.order

    @property
    def beta(self) -> float:
        return 0.4 / self.order

    def propose(self, h, err, err_old, rejected_before):
        """Accept or reject steps and propose the next step sizes.

        Parameters
        ----------
        h, err, err_old : ndarray (m,)
            Step taken, its error norm, the error norm of the previous accepted step.
        rejected_before : ndarray of bool (m,)
            The previous attempt of this instance was rejected.

        Returns
        -------
        accept : ndarray of bool (m,)
        h_new : ndarray (m,)
            Next step to try (after an accepted step: the next step; after a rejected one:
            the retry).
        """
        err = np.asarray(err, float)
        finite = np.isfinite(err)
        accept = finite & (err <= 1.0)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            e = np.where(finite & (err > 0), err, 1.0)
            fac_acc = self.safety * e ** (-self.alpha) * np.asarray(err_old, float) ** self.beta
            fac_acc = np.where(err == 0, self.factor_max, fac_acc)
            fac_acc = np.clip(fac_acc, self.factor_min, self.factor_max)
            fac_acc = np.where(rejected_before, np.minimum(fac_acc, 1.0), fac_acc)
            fac_rej = np.clip(self.safety * e ** (-1.0 / self.order), self.factor_min, 1.0)
            fac_rej = np.where(finite, fac_rej, self.factor_min)
        return accept, h * np.where(accept, fac_acc, fac_rej)

    def propose_one(self, h: float, err: float, err_old: float, rejected_before: bool):
        """:meth:`propose` for one instance on Python floats (same formula)."""
        if math.isfinite(err) and err <= 1.0:
            if err == 0.0:
                fac = self.factor_max
            else:
                fac = self.safety * err ** (-self.alpha) * err_old**self.beta
                fac = min(max(fac, self.factor_min), self.factor_max)
            if rejected_before:
                fac = min(fac, 1.0)
            return True, h * fac
        if not math.isfinite(err):
            return False, h * self.factor_min
        fac = min(max(self.safety * err ** (-1.0 / self.order), self.factor_min), 1.0)
        return False, h * fac

    @staticmethod
    def next_err_old(err, accept, err_old):
        """``err_old`` after this attempt."""
        return np.where(accept, np.maximum(err, 1e-4), err_old)


def initial_step(fun, t0, y0, f0, order: int, rtol: float, atol: float, t_span) -> np.ndarray:
    """Hairer's initial step size (Hairer, Norsett & Wanner I, II.4, p. 169), per instance.

    Parameters
    ----------
    fun : callable
        ``fun(t, y) -> (n_states, m)`` (the drift of the instances concerned).
    t0 : ndarray (m,)
    y0, f0 : ndarray (n_states, m)
        State and drift at ``t0``.
    order : int
        ``k``: power of h of the error norm.
    rtol, atol : float
    t_span : ndarray (m,)
        Distance to the end of the integration (the step never exceeds it).

    Returns
    -------
    ndarray (m,)
    """
    scale = atol + rtol * np.abs(y0)
    d0 = np.sqrt(np.mean((y0 / scale) ** 2, axis=0))
    d1 = np.sqrt(np.mean((f0 / scale) ** 2, axis=0))
    h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.where(d1 > 0, d1, 1.0))
    h0 = np.minimum(h0, t_span)
    y1 = y0 + h0 * f0
    f1 = fun(t0 + h0, y1)
    d2 = np.sqrt(np.mean(((f1 - f0) / scale) ** 2, axis=0)) / h0
    dmax = np.maximum(d1, d2)
    with np.errstate(divide="ignore", invalid="ignore"):
        h1 = np.where(
            dmax <= 1e-15,
            np.maximum(1e-6, h0 * 1e-3),
            (0.01 / np.where(dmax > 0, dmax, 1.0)) ** (1.0 / order),
        )
    h1 = np.where(np.isfinite(h1), h1, 1e-6)
    return np.minimum(np.minimum(100 * h0, h1), t_span)
