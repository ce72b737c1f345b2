"""The adaptive and stiff driver: masked lock-step integration of all instances.

:class:`_AdaptiveRun` (semantics in :mod:`biosnn.solvers.drivers`): step-size control,
breakpoints, acceptance, recording from the dense output; the search for crossings inside
a step is its mixin :class:`~biosnn.solvers.drivers.screen._EventScreen`.
"""

from __future__ import annotations

import numpy as np

from biosnn.errors import SimulationError
from biosnn.solvers.controllers import PIController, initial_step
from biosnn.solvers.drivers.erk import _dense_eval, _ERKStep
from biosnn.solvers.drivers.problem import Problem, _refractory_kind
from biosnn.solvers.drivers.rosenbrock import _RosenbrockStep
from biosnn.solvers.drivers.screen import _EventScreen
from biosnn.solvers.events import (
    Refractory,
    SpikeLog,
    event_tolerance,
)
from biosnn.solvers.request import STIFF, RawRun
from biosnn.solvers.tableaux import ROSENBROCK, TABLEAUX

_EPS = np.finfo(float).eps


class _AdaptiveRun(_EventScreen):
    """Masked lock-step integration of all instances (see :mod:`biosnn.solvers.drivers`)."""

    def __init__(self, prob: Problem):
        self.prob = prob
        req = prob.request
        if req.rtol is None or req.atol is None:
            raise SimulationError("adaptive methods need rtol and atol, e.g. rtol=1e-6, atol=1e-9")
        method = req.method
        self.stepper = (
            _RosenbrockStep(prob, ROSENBROCK[method])
            if method in STIFF
            else _ERKStep(prob, TABLEAUX[method])
        )
        self.controller = PIController(order=self.stepper.order)
        n = prob.n
        self.t0, self.t1 = float(req.t0), float(req.t1)
        self.t = np.full(n, self.t0)
        self.y = np.array(req.y0, float)
        self.h = np.zeros(n)
        self.err_old = np.ones(n)
        self.rejected = np.zeros(n, bool)
        self.k0 = np.zeros_like(self.y)
        self.k0_ok = np.zeros(n, bool)
        self.k0_refr = np.zeros(n, bool)
        self.done = np.zeros(n, bool) if self.t1 > self.t0 else np.ones(n, bool)
        self.n_steps = np.zeros(n, np.int64)
        self.n_rejected = np.zeros(n, np.int64)
        self.refractory = Refractory(_refractory_kind(prob.spec), n)
        self.spikes = SpikeLog()
        self.has_threshold = prob.spec.threshold is not None
        self.has_reset = bool(prob.spec.reset)
        self.thr_prev = (
            prob.threshold(self.t0, self.y, None, self.t0) if self.has_threshold else None
        )
        self.rec = list(req.record_states)
        self.times = req.record_times()
        self.out = np.empty((len(self.rec), n, self.times.size))
        self.next_rec = np.ones(n, np.int64)
        if self.has_threshold:
            self._event_setup()

    # ----------------------------------------------------------------------------------
    def run(self) -> RawRun:
        prob = self.prob
        prob.check_finite(self.t0, self.y)
        self.out[:, :, 0] = self.y[self.rec]
        if not self.done.all():
            self._initial_steps()
        while not self.done.all():
            self._iteration()
        self._record_remaining()
        spike_index, spike_time = self.spikes.arrays()
        stats = {
            "n_steps": int(self.n_steps.sum()),
            "n_rejected": int(self.n_rejected.sum()),
            "n_rhs": prob.n_rhs,
            "n_jac": prob.n_jac,
        }
        return RawRun(
            t=self.times,
            y=self.out,
            spike_index=spike_index,
            spike_time=spike_time,
            y_final=self.y,
            stats=stats,
        )

    def _initial_steps(self):
        prob, req = self.prob, self.prob.request
        span = self.t1 - self.t0
        if req.dt is not None:
            self.h[:] = min(float(req.dt), span)
            return
        refr = self.refractory.adaptive_mask(self.t)
        f0 = prob.f(self.t, self.y, None, refr, self.t)
        self.k0, self.k0_ok[:] = f0, True
        self.k0_refr[:] = False if refr is None else refr
        t_stop = self._stop_times(self.t, None)

        def fun(tt, yy):
            return prob.f(tt, yy, None, refr, self.t)

        self.h = initial_step(
            fun, self.t, self.y, f0, self.stepper.order, req.rtol, req.atol, t_stop - self.t
        )

    # ----------------------------------------------------------------------------------
    def _stop_times(self, t, idx):
        """Next breakpoint after t: t1, stimulus times, end of refractoriness."""
        stop = np.full(t.shape, self.t1)
        bps = self.prob.breakpoints
        if bps.size:
            j = np.searchsorted(bps, t + event_tolerance(t), side="right")
            nxt = np.where(j < bps.size, bps[np.minimum(j, bps.size - 1)], np.inf)
            stop = np.minimum(stop, nxt)
        if self.refractory.kind == "time":
            until = self.refractory.until if idx is None else self.refractory.until[idx]
            stop = np.where(until > t + event_tolerance(t), np.minimum(stop, until), stop)
        return stop

    def _iteration(self):
        prob = self.prob
        act = ~self.done
        if self._one_left(act):
            return
        idx = None if act.all() else np.nonzero(act)[0]
        sel = slice(None) if idx is None else idx
        t, y, h = self.t[sel], self.y[:, sel], self.h[sel]
        refr = self.refractory.adaptive_mask(t, sel)
        refr_now = np.zeros(t.shape, bool) if refr is None else refr
        if refr is not None and not refr.any():
            refr = None
        t_stop = self._stop_times(t, idx)
        floor = 10 * _EPS * np.maximum(1.0, np.abs(t))
        if (t_stop - t < floor).any():
            self._snap(t, t_stop, floor, idx)
            return
        lands = h >= (t_stop - t) * (1 - 4 * _EPS)
        h_eff = np.where(lands, t_stop - t, h)
        tiny = h_eff < floor
        if tiny.any():
            self._underflow(t, y, h_eff, tiny, idx)
        k0_ok = self.k0_ok[sel] & (self.k0_refr[sel] == refr_now)
        k0 = None
        if k0_ok.all():
            k0 = self.k0[:, sel]
        y_new, err, K = self.stepper.attempt(t, h_eff, y, idx, refr, k0)
        accept, h_next = self.controller.propose(h_eff, err, self.err_old[sel], self.rejected[sel])
        self._store_last_bad(y_new, err, idx)
        # bookkeeping for all attempted instances
        cols = self._cols(idx)
        self.err_old[cols] = self.controller.next_err_old(err, accept, self.err_old[cols])
        self.rejected[cols] = ~accept
        self.n_rejected[cols] += ~accept
        self.n_steps[cols] += accept
        if (self.n_steps[cols] + self.n_rejected[cols] > prob.request.max_steps).any():
            raise SimulationError(
                f"more than max_steps = {prob.request.max_steps} steps; the model may be "
                "stiff (try method='rodas4') or the tolerances too strict."
            )
        # rejected: retry with the smaller step (k0 stays valid: same t, y)
        if not accept.all():
            rej = cols[~accept]
            self.h[rej] = h_next[~accept]
            if k0 is None:
                self.k0[:, rej] = 0.0
                self.k0_ok[rej] = False
            else:
                self.k0[:, rej] = k0[:, ~accept]
                self.k0_ok[rej] = True
                self.k0_refr[rej] = refr_now[~accept]
        if accept.any():
            self._accept(
                accept, cols, t, y, h_eff, y_new, h_next, lands, t_stop, K, refr, refr_now, idx
            )

    def _one_left(self, act) -> bool:
        """Fast path when one instance is left: the same logic on Python floats.

        Returns False (and does nothing) when it does not apply.
        """
        if self.prob.n == 1:
            i = 0
            if not act[0]:
                return False
        else:
            nz = np.flatnonzero(act)
            if nz.size != 1:
                return False
            i = int(nz[0])
        idx = None if self.prob.n == 1 else np.array([i])
        sel = slice(None) if idx is None else idx
        t = float(self.t[i])
        refr = self.refractory.adaptive_mask(self.t[sel], sel)
        refr_now = bool(refr[0]) if refr is not None else False
        if not refr_now:
            refr = None
        t_stop = float(self._stop_times(self.t[sel], idx)[0])
        floor = 10 * _EPS * max(1.0, abs(t))
        if t_stop - t < floor:
            self._snap(self.t[sel], np.array([t_stop]), np.array([floor]), idx)
            return True
        h = float(self.h[i])
        lands = h >= (t_stop - t) * (1 - 4 * _EPS)
        h_eff = t_stop - t if lands else h
        if h_eff < floor:
            self._underflow(np.array([t]), None, np.array([h_eff]), np.array([True]), idx)
        k0 = None
        if self.k0_ok[i] and self.k0_refr[i] == refr_now:
            k0 = self.k0[:, sel]
        ta, ha = np.array([t]), np.array([h_eff])
        y = self.y[:, sel]
        y_new, err, K = self.stepper.attempt(ta, ha, y, idx, refr, k0)
        e = float(err[0])
        accept, h_next = self.controller.propose_one(
            h_eff, e, float(self.err_old[i]), bool(self.rejected[i])
        )
        self._last_trial = (y_new, idx)
        if accept:
            self.err_old[i] = max(e, 1e-4)
        self.rejected[i] = not accept
        self.n_rejected[i] += not accept
        self.n_steps[i] += accept
        if self.n_steps[i] + self.n_rejected[i] > self.prob.request.max_steps:
            raise SimulationError(
                f"more than max_steps = {self.prob.request.max_steps} steps; the model may "
                "be stiff (try method='rodas4') or the tolerances too strict."
            )
        if not accept:
            self.h[i] = h_next
            if k0 is None:
                self.k0_ok[i] = False
            else:
                self.k0_ok[i] = True
                self.k0_refr[i] = refr_now
            return True
        self._accept(
            np.ones(1, bool),
            np.array([i]),
            ta,
            y,
            ha,
            y_new,
            np.array([h_next]),
            np.array([lands]),
            np.array([t_stop]),
            K,
            refr,
            np.array([refr_now]),
            idx,
        )
        return True

    def _snap(self, t, t_stop, floor, idx):
        """Instances within round-off of their next breakpoint move onto it (restart)."""
        near = t_stop - t < floor
        cols = self._cols(idx)[near]
        self.t[cols] = t_stop[near]
        self.k0_ok[cols] = False
        self.done[cols] |= self.t[cols] >= self.t1

    def _cols(self, idx):
        return np.arange(self.prob.n) if idx is None else idx

    def _store_last_bad(self, y_new, err, idx):
        self._last_trial = (y_new, idx)

    def _underflow(self, t, y, h, tiny, idx):
        j = int(np.nonzero(tiny)[0][0])
        inst = int(j if idx is None else idx[j])
        var = ""
        last = getattr(self, "_last_trial", None)
        if last is not None:
            y_new, last_idx = last
            col = j if last_idx is None or idx is None else None
            if col is not None and col < y_new.shape[1]:
                bad = np.nonzero(~np.isfinite(y_new[:, col]))[0]
                if bad.size:
                    var = (
                        f"; variable {self.prob.spec.states[int(bad[0])]!r} became "
                        f"{y_new[int(bad[0]), col]!r} in the last trial step"
                    )
        raise SimulationError(
            f"The step size underflowed (h = {h[j]:.3g}) at t = {t[j]:.9g}"
            f"{self.prob.time_unit} in instance {inst}{var}. The solution blows up or the "
            "model is too stiff for this method (try method='rodas4')."
        )

    # ----------------------------------------------------------------------------------
    def _accept(self, accept, cols, t, y, h, y_new, h_next, lands, t_stop, K, refr, refr_now, idx):
        """Events, recording and state update for the accepted instances."""
        prob = self.prob
        a = np.nonzero(accept)[0]  # positions within the attempted set
        ca = cols[a]  # instance indices
        all_acc = a.size == t.size
        pick = (lambda arr: arr) if all_acc else (lambda arr: arr[..., a])
        ta, ha, ya, yna = pick(t), pick(h), pick(y), pick(y_new)
        t_new = np.where(pick(lands), pick(t_stop), ta + ha)
        idx_a = None if (idx is None and all_acc) else ca
        refr_a = None if refr is None else pick(refr)
        stepper = self.stepper
        Ka = K if all_acc else np.ascontiguousarray(K[:, :, a])
        k_new = stepper.finish(ta, ha, ya, yna, idx_a, refr_a, Ka)
        dense_ready = [False]

        def dense(theta, sub):
            if not dense_ready[0]:
                stepper.dense_increments(ta, ha, ya, idx_a, refr_a, Ka)
                dense_ready[0] = True
            return _dense_eval(stepper.dense, ya[:, sub], Ka[:, :, sub], theta)

        t_end = t_new.copy()
        y_end = yna.copy()
        restart = pick(lands) & (pick(t_stop) < self.t1)
        if self.has_threshold:

            def ensure_dense():
                if not dense_ready[0]:
                    stepper.dense_increments(ta, ha, ya, idx_a, refr_a, Ka)
                    dense_ready[0] = True

            t_end, y_end, restart = self._events(
                ta,
                ha,
                ya,
                t_new,
                y_end,
                t_end,
                restart,
                pick(refr_now),
                ca,
                idx_a,
                dense,
                Ka,
                ensure_dense,
            )
        self._record(ta, ha, t_end, ca, dense)
        if self.refractory.kind == "condition":
            act = self.refractory.active[ca]
            if act.any():
                holds = np.asarray(
                    prob.kernel.refractory_condition(t_end, y_end, prob.params(t_end, ca, ta)), bool
                )
                before = self.refractory.active[ca].copy()
                self.refractory.check_condition(ca, holds)
                restart |= before != self.refractory.active[ca]
        self.t[ca] = t_end
        self.y[:, ca] = y_end
        self.h[ca] = pick(h_next)
        self.k0[:, ca] = k_new
        self.k0_ok[ca] = ~restart
        self.k0_refr[ca] = pick(refr_now)
        self.done[ca] = t_end >= self.t1

    # ----------------------------------------------------------------------------------
    def _record(self, ta, ha, t_end, ca, dense):
        """Record points t_j in (t, t_end] from the interpolant."""
        times = self.times
        last = times.size
        if ca.size == 1:  # common case: nothing due in this step
            j0 = int(self.next_rec[ca[0]])
            if j0 >= last or times[j0] > float(t_end[0]) + 1e-12 * max(1.0, abs(t_end[0])):
                return
        while True:
            j = self.next_rec[ca]
            valid = j < last
            tj = times[np.minimum(j, last - 1)]
            due = valid & (tj <= t_end + event_tolerance(t_end))
            if not due.any():
                return
            d = np.nonzero(due)[0]
            theta = np.clip((tj[d] - ta[d]) / ha[d], 0.0, 1.0)
            yy = dense(theta, d)
            self.out[:, ca[d], j[d]] = yy[self.rec]
            self.next_rec[ca[d]] += 1

    def _record_remaining(self):
        """Record points not reached (only possible at t1 within round-off)."""
        for i in range(self.prob.n):
            for j in range(int(self.next_rec[i]), self.times.size):
                self.out[:, i, j] = self.y[self.rec, i]
