"""Fixed-step SDE steppers: Euler-Maruyama and stochastic Heun (docs in
:mod:`biosnn.solvers.drivers`), with the counter-based noise increments shared with C.
"""

from __future__ import annotations

import numpy as np

from biosnn.solvers.drivers.problem import Problem
from biosnn.solvers.noise import normal, seed_key


def _noise_increments(prob: Problem, k: int, dt: float) -> np.ndarray:
    """DW of step k: (n_noises, n)."""
    nn = prob.spec.n_noises
    key = seed_key(prob.request.seed if prob.request.seed is not None else 0)
    stream = prob.cols[None, :] * nn + np.arange(nn)[:, None]
    return np.sqrt(dt) * normal(key, k, stream)


def _em_stepper(prob: Problem):
    def step(t, dt, y, refr, k):
        out = y + dt * prob.f(t, y, refr=refr)
        if prob.spec.n_noises:
            dW = _noise_increments(prob, k, dt)
            out = out + np.einsum("ikn,kn->in", prob.g(t, y, refr=refr), dW)
        return out

    return step


def _heun_sde_stepper(prob: Problem):
    def step(t, dt, y, refr, k):
        f0 = prob.f(t, y, refr=refr)
        if not prob.spec.n_noises:
            y_pred = y + dt * f0
            return y + 0.5 * dt * (f0 + prob.f(t + dt, y_pred, refr=refr))
        dW = _noise_increments(prob, k, dt)
        g0 = np.einsum("ikn,kn->in", prob.g(t, y, refr=refr), dW)
        y_pred = y + dt * f0 + g0
        f1 = prob.f(t + dt, y_pred, refr=refr)
        g1 = np.einsum("ikn,kn->in", prob.g(t + dt, y_pred, refr=refr), dW)
        return y + 0.5 * dt * (f0 + f1) + 0.5 * (g0 + g1)

    return step
