"""Fixed-step drivers: the steppers (explicit RK, exponential Euler, exact, SDE) and the run.

:func:`_fixed_stepper` picks the step of a method; :class:`_FixedEvents` applies
threshold, reset and refractoriness after each step; :func:`_run_fixed` is the loop
(semantics in :mod:`biosnn.solvers.drivers`).
"""

from __future__ import annotations

import numpy as np

from biosnn.errors import SimulationError
from biosnn.solvers.drivers.erk import _unrolled_stages
from biosnn.solvers.drivers.problem import Problem, _refractory_kind
from biosnn.solvers.drivers.sde import _em_stepper, _heun_sde_stepper
from biosnn.solvers.events import (
    Refractory,
    SpikeLog,
    crossing_time_linear,
)
from biosnn.solvers.request import RawRun
from biosnn.solvers.tableaux import TABLEAUX


def _rk_stepper(prob: Problem, tableau):
    c, A, b = tableau.c, tableau.A, tableau.b
    s = tableau.n_stages
    unrolled = _unrolled_stages(tableau) if prob.n == 1 and prob.fast else None

    def f_stage(tt, yy, t_start, idx):  # fixed step: stimuli at the stage time
        return prob.f_one(tt, yy, tt, idx)

    def step(t, dt, y, refr, k):
        if unrolled is not None and refr is None:
            y1 = unrolled(f_stage, t, dt, y[:, 0].tolist(), None, None)[0]
            return np.array(y1, dtype=float).reshape(-1, 1)
        ks = []
        for i in range(s):
            yi = y
            for j in range(i):
                if A[i, j] != 0.0:
                    yi = yi + (dt * A[i, j]) * ks[j]
            ks.append(prob.f(t + c[i] * dt, yi, refr=refr))
        out = y
        for i in range(s):
            if b[i] != 0.0:
                out = out + (dt * b[i]) * ks[i]
        return out

    return step


def _exp_euler_stepper(prob: Problem):
    def step(t, dt, y, refr, k):
        A, B = prob.kernel.exp_euler_AB(t, y, prob.params(t))
        prob.n_rhs += y.shape[1]
        zero = A == 0.0
        phi = np.where(zero, dt, np.expm1(A * dt) / np.where(zero, 1.0, A))
        inc = (A * y + B) * phi
        if prob.exp_euler_fallback:  # states without (A, B): forward Euler (as in C)
            rows = prob.exp_euler_fallback
            inc[rows] = dt * prob.f(t, y)[rows]
        prob._zero_held(inc, refr)
        return y + inc

    return step


def _exact_stepper(prob: Problem):
    P = np.asarray(prob.request.propagator, float)
    ns = prob.spec.n_states
    M, v = P[:, :ns, :ns], P[:, :ns, ns]  # (1 or n, ns, ns), (1 or n, ns)

    def step(t, dt, y, refr, k):
        out = np.einsum("nij,jn->in", M, y) + v.T
        if refr is not None and prob.any_hold and refr.any():
            sel = np.ix_(prob.hold, np.nonzero(refr)[0])
            out[sel] = y[sel]
        return out

    return step


def _fixed_stepper(prob: Problem):
    method = prob.request.method
    if method in TABLEAUX:
        return _rk_stepper(prob, TABLEAUX[method])
    return {
        "exponential_euler": _exp_euler_stepper,
        "exact": _exact_stepper,
        "euler_maruyama": _em_stepper,
        "stochastic_heun": _heun_sde_stepper,
    }[method](prob)


class _FixedEvents:
    """Threshold / reset / refractoriness after each fixed step."""

    def __init__(self, prob: Problem, t0: float, y0: np.ndarray):
        self.prob = prob
        spec = prob.spec
        self.has_threshold = spec.threshold is not None
        self.refractory = Refractory(_refractory_kind(spec), prob.n)
        self.spikes = SpikeLog()
        self.thr_prev = prob.threshold(t0, y0) if self.has_threshold else None

    def refractory_mask(self, t, dt):
        mask = self.refractory.fixed_step_mask(t, dt)
        return mask if (mask is not None and mask.any()) else None

    def after_step(self, t, dt, y, y_new, refr):
        """Spikes in [t, t+dt]; resets ``y_new`` in place."""
        prob = self.prob
        t_new = t + dt
        if self.has_threshold:
            p_new = prob.params(t_new)
            thr_end = np.asarray(prob.kernel.threshold(t_new, y_new, p_new), bool)
            spk = thr_end & ~self.thr_prev
            if refr is not None:
                spk &= ~refr
            if spk.any():
                self._spike(t, dt, y, y_new, spk, p_new)
                thr_end = np.asarray(prob.kernel.threshold(t_new, y_new, p_new), bool)
            self.thr_prev = thr_end
        if self.refractory.kind == "condition" and self.refractory.active.any():
            holds = np.asarray(
                prob.kernel.refractory_condition(t_new, y_new, prob.params(t_new)), bool
            )
            self.refractory.check_condition(slice(None), holds)

    def _spike(self, t, dt, y, y_new, spk, p_new):
        prob = self.prob
        idx = np.nonzero(spk)[0]
        t_new = t + dt
        if prob.spec.crossing is not None:
            c0 = prob.crossing(t, y[:, idx], idx)
            c1 = np.asarray(prob.kernel.crossing(t_new, y_new[:, idx], p_new[:, idx]), float)
            t_s = crossing_time_linear(t, dt, c0, c1)
        else:
            t_s = np.full(idx.size, t_new)
        self.spikes.add(idx, t_s)
        prob.kernel.reset(t_new, y_new, p_new, spk)
        if self.refractory.enabled:
            period = np.asarray(prob.kernel.refractory_time(t_new, y_new, p_new), float)
            self.refractory.start(idx, t_s, np.broadcast_to(period, (prob.n,))[idx])


def _run_fixed(prob: Problem) -> RawRun:
    req = prob.request
    dt, t0 = float(req.dt), float(req.t0)
    n_steps = req.n_fixed_steps
    if n_steps > req.max_steps:
        raise SimulationError(
            f"{n_steps if n_steps < 10**12 else f'{n_steps:.3g}'} steps of dt = {dt:g} are "
            "needed, more than max_steps = "
            f"{req.max_steps}; increase max_steps or dt."
        )
    rec = list(req.record_states)
    every = max(int(req.record_every), 1)
    times = req.record_times()
    out = np.empty((len(rec), prob.n, times.size))
    y = np.array(req.y0, float)
    prob.check_finite(t0, y)
    out[:, :, 0] = y[rec]
    step = _fixed_stepper(prob)
    events = _FixedEvents(prob, t0, y)
    for k in range(n_steps):
        t = t0 + k * dt
        refr = events.refractory_mask(t, dt)
        y_new = step(t, dt, y, refr, k)
        prob.check_finite(t + dt, y_new)
        events.after_step(t, dt, y, y_new, refr)
        y = y_new
        if (k + 1) % every == 0:
            out[:, :, (k + 1) // every] = y[rec]
    spike_index, spike_time = events.spikes.arrays()
    stats = {"n_steps": n_steps * prob.n, "n_rejected": 0, "n_rhs": prob.n_rhs, "n_jac": prob.n_jac}
    return RawRun(
        t=times, y=out, spike_index=spike_index, spike_time=spike_time, y_final=y, stats=stats
    )
