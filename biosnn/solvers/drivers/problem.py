"""The problem a NumPy driver integrates: kernel, parameters, stimuli, held states.

:class:`Problem` (with the counters of drift and Jacobian evaluations),
:func:`stimulus_values` (the parameters a stimulus drives, at given times) and
:func:`_refractory_kind` (how a model's refractoriness is timed).
"""

from __future__ import annotations

import numpy as np

from biosnn.errors import SimulationError
from biosnn.solvers.request import RunRequest


def stimulus_values(stim, t, cols) -> np.ndarray:
    """Values of a Stimulus at times ``t`` (scalar or (m,)) for instance columns ``cols``.

    Vectorized version of ``Stimulus.__call__`` (same semantics): ``step`` takes the
    last value with ``times[j] <= t``, ``linear`` interpolates and is constant outside.
    """
    times, values = stim.times, stim.values
    t = np.asarray(t, float)
    j = np.searchsorted(times, t, side="right") - 1
    if stim.kind == "step" or times.size == 1:
        j = np.maximum(j, 0)
        return values[j] if values.ndim == 1 else values[j, cols]
    j = np.clip(j, 0, times.size - 2)
    t0, t1 = times[j], times[j + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(np.isfinite(t0) & (t1 > t0), (t - t0) / (t1 - t0), 1.0)
    frac = np.clip(frac, 0.0, 1.0)
    if values.ndim == 1:
        return values[j] * (1 - frac) + values[j + 1] * frac
    return values[j, cols] * (1 - frac) + values[j + 1, cols] * frac


class Problem:
    """A kernel with its parameters, stimuli and held states (what a driver integrates).

    ``idx`` arguments select instances: ``None`` for all of them, else an index array.
    """

    def __init__(self, spec, kernel, request: RunRequest):
        self.spec, self.kernel, self.request = spec, kernel, request
        self.n = request.n
        params = np.asarray(request.params, float)
        if params.ndim == 1:
            params = params[:, None]
        self.p = np.array(np.broadcast_to(params, (spec.n_params, self.n)), float)
        self.stimuli = sorted(request.stimuli.items())
        self.step_stimuli = [(k, s) for k, s in self.stimuli if s.kind == "step"]
        held = tuple(spec.unless_refractory) or (False,) * spec.n_states
        self.hold = np.array(held, bool)
        self.any_hold = bool(self.hold.any())
        self.cols = np.arange(self.n)
        self.fast = hasattr(kernel, "f1")
        pairs = tuple(spec.exp_euler) or (None,) * spec.n_states
        self.exp_euler_fallback = [i for i, pr in enumerate(pairs) if pr is None]
        self._p_list = self.p[:, 0].tolist() if self.n == 1 else None
        self.n_rhs = 0
        self.n_jac = 0
        bps = [s.breakpoints for _, s in self.stimuli]
        self.breakpoints = np.unique(np.concatenate(bps)) if bps else np.zeros(0)

    # parameters -----------------------------------------------------------------------
    def params(self, t, idx=None, t_start=None) -> np.ndarray:
        """Parameters at time ``t``; ``step`` stimuli at ``t_start`` when given."""
        p = self.p if idx is None else self.p[:, idx]
        if not self.stimuli:
            return p
        p = p.copy()
        cols = self.cols if idx is None else idx
        for k, stim in self.stimuli:
            tt = t_start if (t_start is not None and stim.kind == "step") else t
            p[k] = stimulus_values(stim, tt, cols)
        return p

    # model functions ------------------------------------------------------------------
    def f(self, t, y, idx=None, refr=None, t_start=None) -> np.ndarray:
        """Drift with held states zeroed for refractory instances (``refr`` mask)."""
        m = y.shape[1]
        self.n_rhs += m
        p = self.params(t, idx, t_start)
        if m == 1 and self.fast:
            out = self._f_single(t, y, p)
        else:
            out = self.kernel.f(t, y, p)
        self._zero_held(out, refr)
        return out

    def scalar_ok(self, refr) -> bool:
        """Whether the single-instance float path applies (no held states to zero)."""
        return self.fast and (refr is None or not refr.any())

    def f_one(self, t: float, y: list, t_start: float, idx=None) -> list:
        """Drift of one instance (``idx``: None when n = 1, else a 1-element index array)
        on Python floats (``kernel.f1``).
        """
        self.n_rhs += 1
        if self.stimuli:
            p = self.params(np.array([t]), idx, np.array([t_start]))[:, 0].tolist()
        elif idx is None:
            p = self._p_list
        else:
            p = self.p[:, int(idx[0])].tolist()
        try:
            return self.kernel.f1(t, y, p)
        except (ArithmeticError, ValueError, TypeError):
            out = self.kernel.f(
                t, np.array(y, float).reshape(-1, 1), np.array(p, float).reshape(-1, 1)
            )
            return out[:, 0].tolist()

    def _f_single(self, t, y, p) -> np.ndarray:
        """One instance on Python floats (``kernel.f1``), NumPy where floats raise."""
        try:
            vals = self.kernel.f1(float(np.reshape(t, -1)[0]), y[:, 0].tolist(), p[:, 0].tolist())
            return np.array(vals, dtype=float).reshape(-1, 1)
        except (ArithmeticError, ValueError, TypeError):
            return self.kernel.f(t, y, p)

    def g(self, t, y, idx=None, refr=None) -> np.ndarray:
        out = self.kernel.g(t, y, self.params(t, idx))
        if refr is not None and self.any_hold and refr.any():
            out[np.ix_(self.hold, np.arange(out.shape[1]), np.nonzero(refr)[0])] = 0.0
        return out

    def jac(self, t, y, idx=None, refr=None, t_start=None) -> np.ndarray:
        self.n_jac += y.shape[1]
        out = self.kernel.jac(t, y, self.params(t, idx, t_start))
        if refr is not None and self.any_hold and refr.any():
            out[np.ix_(np.nonzero(refr)[0], np.nonzero(self.hold)[0])] = 0.0
        return out

    def dfdt(self, t, y, idx=None, refr=None, t_start=None) -> np.ndarray:
        out = self.kernel.dfdt(t, y, self.params(t, idx, t_start))
        self._zero_held(out, refr)
        return out

    def _zero_held(self, out, refr):
        if refr is not None and self.any_hold and refr.any():
            out[np.ix_(self.hold, np.nonzero(refr)[0])] = 0.0

    def threshold(self, t, y, idx=None, t_start=None) -> np.ndarray:
        return np.asarray(self.kernel.threshold(t, y, self.params(t, idx, t_start)), bool)

    def crossing(self, t, y, idx=None, t_start=None) -> np.ndarray:
        return np.asarray(self.kernel.crossing(t, y, self.params(t, idx, t_start)), float)

    # blow-up --------------------------------------------------------------------------
    def check_finite(self, t, y, idx=None) -> None:
        """Raise SimulationError if ``y`` has a non-finite entry."""
        if np.isfinite(y).all():
            return
        bad_state, bad_col = np.argwhere(~np.isfinite(y))[0]
        inst = int(bad_col if idx is None else np.asarray(idx)[bad_col])
        tt = float(np.broadcast_to(t, (y.shape[1],))[bad_col])
        raise SimulationError(
            f"The solution blew up at t = {tt:.6g}{self.time_unit} in instance {inst}: "
            f"variable {self.spec.states[bad_state]!r} became {float(y[bad_state, bad_col])}. "
            "Try a smaller dt, or an adaptive method (e.g. method='rk45', rtol=1e-6, "
            "atol=1e-9), or check the parameters."
        )

    @property
    def time_unit(self) -> str:
        return "" if self.spec.time_dimensionless else " ms"


def _refractory_kind(spec):
    if spec.refractory_time is not None:
        return "time"
    if spec.refractory_condition is not None:
        return "condition"
    return None
