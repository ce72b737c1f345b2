"""The event screen of the adaptive drivers: every upward crossing inside an accepted step.

Exact root isolation for an affine crossing (Bernstein bounds on the dense output, the
Hermite screen, DOP853's extra stages only when a screen cannot rule a crossing out),
samples at ``theta = i/8`` otherwise; located by :func:`~biosnn.solvers.events.locate_root`
or :func:`~biosnn.solvers.events.locate_boolean`.  A mixin of
:class:`~biosnn.solvers.drivers.adaptive._AdaptiveRun`, kept apart because it is the
longer half of that class and one concept of its own.
"""

from __future__ import annotations

import math

import numpy as np

from biosnn.solvers.drivers.erk import _ERKStep
from biosnn.solvers.events import (
    N_SAMPLES,
    bernstein,
    event_tolerance,
    first_upcrossing,
    locate_boolean,
    locate_root,
    split_bernstein,
)


class _EventScreen:
    """The crossings of the threshold inside accepted steps: a part of :class:`_AdaptiveRun`.

    Its methods run on the state of the adaptive run (``self.prob``, ``self.stepper``,
    ``self.refractory``, ``self.spikes``, ...); ``_event_setup`` (called from the run's
    ``__init__``) decides how crossings are searched, ``_events`` finds, records and
    applies them after a step (see :mod:`biosnn.solvers.events`, "Crossings inside a step").
    """

    def _events(
        self, ta, ha, ya, t_new, y_end, t_end, restart, refr_now, ca, idx_a, dense, Ka, ensure_dense
    ):
        prob = self.prob
        p_new = prob.params(t_new, ca, ta)
        thr_end = np.asarray(prob.kernel.threshold(t_new, y_end, p_new), bool)
        found = self._spike_times(ta, ha, ya, y_end, t_new, ca, Ka, ~refr_now, dense, ensure_dense)
        if found:
            s = np.array(sorted(found), np.int64)
            t_s = np.array([found[j][0] for j in s])
            t_last = np.array([found[j][-1] for j in s])
            for j in s:
                self.spikes.add(np.full(len(found[j]), ca[j]), np.array(found[j]))
            if self.has_reset:
                ys = dense((t_s - ta[s]) / ha[s], s)
                ps = prob.params(t_s, ca[s], ta[s])
                prob.kernel.reset(t_s, ys, ps, np.ones(s.size, bool))
                y_end[:, s] = ys
                t_end[s] = t_s
                restart[s] = True
                thr_end[s] = np.asarray(prob.kernel.threshold(t_s, ys, ps), bool)
            if self.refractory.enabled:
                ps = prob.params(t_end[s], ca[s], ta[s])
                period = np.asarray(prob.kernel.refractory_time(t_end[s], y_end[:, s], ps), float)
                self.refractory.start(ca[s], t_last, np.broadcast_to(period, (s.size,)))
                restart[s] = True
        self.thr_prev[ca] = thr_end
        return t_end, y_end, restart

    # ----------------------------------------------------------------------------------
    def _event_setup(self):
        """How crossings are searched in this run (see :mod:`biosnn.solvers.events`)."""
        prob = self.prob
        spec = prob.spec
        linear = {k for k, st in prob.stimuli if st.kind != "step"}
        aff = spec.crossing_affine if spec.crossing is not None else None
        self.affine = aff is not None and not (set(aff) & linear)
        dense = self.stepper.dense
        self.q = dense.shape[1]
        self.known = self.stepper.s if isinstance(self.stepper, _ERKStep) else dense.shape[0]
        # per stage: the largest |Bernstein coefficient| of its dense weight, a bound of
        # |w_s(theta)| on [0, 1]; their sum over the stages computed only for dense output
        self.w_stage = np.array(
            [max(abs(x) for x in bernstein([0.0] + list(row))) for row in dense]
        )
        self.w_unknown = float(sum(self.w_stage[self.known :]))
        # slope of the cubic Hermite interpolant at the known stages' c: ha*dg + hb*d0 + hc*d1
        x = np.asarray(self.stepper.tab.c[: self.known], float)
        self.hermite = (6.0 * x * (1.0 - x), (1.0 - x) * (1.0 - 3.0 * x), x * (3.0 * x - 2.0))
        self._w_list = self.w_stage[: self.known].tolist()
        self._hermite_lists = [h.tolist() for h in self.hermite]
        # the coefficients c (n_states, n) of an affine crossing g = c.y + d when no
        # stimulus drives its parameters (then they are constant): sigma_s = c.K_s
        self.cross_coef = None
        stimulated = {k for k, _ in prob.stimuli}
        if self.affine and not (set(aff) & stimulated):
            n, ns = prob.n, spec.n_states
            t0 = np.full(n, self.t0)
            g_zero = np.asarray(prob.kernel.crossing(t0, np.zeros((ns, n)), prob.p), float)
            coef = np.empty((ns, n))
            for i in range(ns):
                e = np.zeros((ns, n))
                e[i] = 1.0
                coef[i] = np.asarray(prob.kernel.crossing(t0, e, prob.p), float) - g_zero
            self.cross_coef = coef
            self.cross_zero = g_zero
        self._coef_cache = None
        # a shift of g0 and g1 by m moves the Hermite screen's bounds by at most
        # m*(1 + 3*sum_s Wb_s) (3 = 2*max|6x(1-x)|: dg moves by 2m)
        self._margin_factor = (
            1.0
            if self.known == dense.shape[0]
            else 1.0 + 3.0 * (sum(self._w_list) + 2.0 * self.w_unknown)
        )

    def _spike_times(self, ta, ha, ya, yna, t_new, ca, Ka, live, dense, ensure_dense):
        """Upward crossings inside the accepted steps: {position: [t_s, ...]}."""
        if live.size == 1 and self.affine and self.cross_coef is not None:
            # one instance: the float screen first, before any array work
            if not live[0]:
                return {}
            i = int(ca[0])
            if self._screen_one(0, i, ya, yna, Ka, not self.thr_prev[i]):
                return {}
        pos = np.nonzero(live)[0]
        if pos.size == 0:
            return {}
        armed = ~self.thr_prev[ca[pos]]
        if self.affine:
            return self._affine_spikes(
                pos, armed, ta, ha, ya, yna, t_new, ca, Ka, dense, ensure_dense
            )
        return self._sampled_spikes(pos, armed, ta, ha, ya, yna, t_new, ca, dense, ensure_dense)

    def _affine_bernstein(self, g0, g1, sig, stages):
        """Bernstein coefficients (q+1, m) of the crossing along the dense output, the
        stages ``stages`` with slopes ``sig`` (the others count as zero); end coefficients
        are the crossing at the two end states.
        """
        dense = self.stepper.dense
        mono = [g0] + [dense[list(stages), j] @ sig for j in range(self.q)]
        if g0.size == 1:  # the same arithmetic on Python floats, without array calls
            c = np.array(bernstein([float(x[0]) for x in mono]))[:, None]
        else:
            c = np.array(bernstein(mono))
        c[0], c[-1] = g0, g1
        return c

    def _crossings(self, tt, p0, columns):
        """The (affine) crossing of each state column block, one kernel call: (k, m)."""
        k, m = len(columns), tt.size
        g = self.prob.kernel.crossing(
            np.concatenate([tt] * k),
            np.concatenate(columns, axis=1),
            np.concatenate([p0] * k, axis=1),
        )
        return np.asarray(g, float).reshape(k, m)

    def _slopes(self, tt, p0, pos, Ka, stages, ya, cols):
        """sigma_s = g(K_s) - g(0) of the stages ``stages`` (a range) for positions
        ``pos`` (instances ``cols``): (len(stages), len(pos)).
        """
        if self.cross_coef is not None:
            return np.einsum(
                "im,sim->sm", self.cross_coef[:, cols], Ka[stages.start : stages.stop][:, :, pos]
            )
        g = self._crossings(tt, p0, [np.zeros_like(ya[:, pos])] + [Ka[k][:, pos] for k in stages])
        return g[1:] - g[0]

    def _affine_spikes(self, pos, armed, ta, ha, ya, yna, t_new, ca, Ka, dense, ensure_dense):
        prob = self.prob
        known, total = self.known, self.stepper.dense.shape[0]
        if (
            pos.size == 1
            and ca.size > 1
            and self.cross_coef is not None
            and self._screen_one(int(pos[0]), int(ca[pos[0]]), ya, yna, Ka, bool(armed[0]))
        ):
            return {}
        tt = ta[pos]
        p0 = prob.params(tt, ca[pos], tt)
        # an affine crossing reads no t, and no parameter a linear stimulus drives: the
        # values at the step's end are those with the parameters of its start
        g0, g1 = self._crossings(tt, p0, [ya[:, pos], yna[:, pos]])
        sig = self._slopes(tt, p0, pos, Ka, range(known), ya, ca[pos])
        if (
            pos.size == 1
            and self.cross_coef is None
            and self._skip_one(float(g0[0]), float(g1[0]), sig[:, 0].tolist(), bool(armed[0]))
        ):
            return {}
        up = g1 > 0
        if known == total:  # |P - g0| <= sum_s Wb_s |sigma_s|
            dev = self.w_stage @ np.abs(sig)
            hi, lo = g0 + dev, g0 - dev
        else:  # DOP853: P - H = sum_s w_s e_s (H: cubic Hermite of g)
            d0, d1, dg = sig[0], sig[known - 1], g1 - g0
            wa, wb, wc = self.hermite
            e = np.abs(sig - (wa[:, None] * dg + wb[:, None] * d0 + wc[:, None] * d1))
            dev = self.w_stage[:known] @ e + 2.0 * e.max(axis=0) * self.w_unknown
            hbern = np.array([g0, g0 + d0 / 3.0, g1 - d1 / 3.0, g1])
            hi, lo = hbern.max(axis=0) + dev, hbern.min(axis=0) - dev
        skip = ((hi <= 0) & ~up) | (~armed & (lo > 0) & up)
        if skip.all():
            return {}
        keep = np.nonzero(~skip)[0]
        pos, armed, g0, g1, sig = pos[keep], armed[keep], g0[keep], g1[keep], sig[:, keep]
        if known < total:  # the extra stages of the interpolant
            ensure_dense()
            tt = ta[pos]
            p0 = prob.params(tt, ca[pos], tt)
            sig = np.vstack([sig, self._slopes(tt, p0, pos, Ka, range(known, total), ya, ca[pos])])
        c = self._affine_bernstein(g0, g1, sig, range(total))
        maybe = (c.max(axis=0) > 0) & (armed | (c.min(axis=0) <= 0))
        found = {}
        for m in np.nonzero(maybe)[0]:
            j = int(pos[m])
            times = self._search_polynomial(
                j, c[:, m].tolist(), bool(armed[m]), ta, ha, t_new, ca, yna, dense
            )
            if times:
                found[j] = times
        return found

    def _screen_one(self, j, i, ya, yna, Ka, armed) -> bool:
        """The screen of :meth:`_affine_spikes` for one instance (position ``j``, instance
        ``i``) without a kernel call, all on Python floats: True if the step cannot hold a
        crossing.

        The crossing at the step's ends is rebuilt from its affine form,
        ``g(y) = sum_i c_i*y_i + g(0)``, and ``sigma_s = sum_i c_i*K_s,i`` (summed in the
        order einsum sums it in :meth:`_slopes`).  The rebuilt ends differ from the
        kernel's by rounding (of ``c_i = g(e_i) - g(0)`` and of the sums); the screen
        widens its bounds by ``1e-12*(|g(0)| + sum_i (|y0_i| + |y1_i|)*(|c_i| + |g(0)|))``
        (thousands of times that rounding; a NaN margin skips nothing), so it still skips
        only steps the exact search would find empty.  A step it does not skip goes through
        the array path unchanged.
        """
        cached = self._coef_cache
        if cached is None or cached[0] != i:
            coef, gz = self.cross_coef[:, i].tolist(), float(self.cross_zero[i])
            wabs = [abs(cf) + abs(gz) for cf in coef] + [abs(gz)]
            cached = self._coef_cache = (i, coef, gz, wabs)
        _, coef, gz, wabs = cached
        g0 = g1 = gz
        m = wabs[-1]
        # wabs has one entry more than coef (|g(0)|, taken as m above): zip stops at coef's end
        for cf, w, y0, y1 in zip(coef, wabs, ya[:, j].tolist(), yna[:, j].tolist(), strict=False):
            g0 += cf * y0
            g1 += cf * y1
            m += w * ((y0 if y0 > 0 else -y0) + (y1 if y1 > 0 else -y1))
        # state by state; a zero coefficient adds only zeros (skipped if its stages are
        # finite: 0*inf would be NaN)
        sig = None
        for cf, col in zip(coef, Ka[: self.known, :, j].T.tolist(), strict=True):
            if cf == 0.0 and math.isfinite(sum(col)):
                continue
            sig = (
                [cf * k for k in col]
                if sig is None
                else [a + cf * k for a, k in zip(sig, col, strict=True)]
            )
        if sig is None:
            sig = [0.0] * self.known
        return self._skip_one(g0, g1, sig, armed, 1e-12 * m)

    def _skip_one(self, g0, g1, sig, armed, margin=0.0) -> bool:
        """The screen of :meth:`_affine_spikes` for one instance on floats; ``margin``
        bounds the error of ``g0`` and ``g1`` (the bounds widen by it, times
        :attr:`_margin_factor` for the Hermite screen, whose deviations depend on them).
        """
        known, total = self.known, self.stepper.dense.shape[0]
        up = g1 > 0
        if margin:
            if abs(g1) <= margin:
                return False
            margin *= self._margin_factor
        dev = 0.0
        if known == total:
            for wk, sk in zip(self._w_list, sig, strict=True):
                dev += wk * abs(sk)
            hi, lo = g0 + dev, g0 - dev
        else:
            d0, d1, dg = sig[0], sig[known - 1], g1 - g0
            r = 0.0
            for wk, wa, wb, wc, sk in zip(self._w_list, *self._hermite_lists, sig, strict=True):
                e = abs(sk - (wa * dg + wb * d0 + wc * d1))
                dev += wk * e
                r = e if e > r else r
            dev += 2.0 * r * self.w_unknown
            hb = (g0, g0 + d0 / 3.0, g1 - d1 / 3.0, g1)
            hi, lo = max(hb) + dev, min(hb) - dev
        hi, lo = hi + margin, lo - margin
        return (hi <= 0 and not up) or (not armed and lo > 0 and up)

    def _search_polynomial(self, j, coeffs, armed, ta, ha, t_new, ca, yna, dense):
        """Spike times of position ``j`` from the Bernstein coefficients of its step."""
        h, t0, t1 = float(ha[j]), float(ta[j]), float(t_new[j])
        tol = float(event_tolerance(t1)) / h
        times, lo, c = [], 0.0, coeffs
        until = -np.inf
        while True:
            br = first_upcrossing(c, lo, 1.0, armed, tol)
            if br is None:
                break
            a, b = br
            t_s = t0 + a * h if a == b else self._refine(j, a, b, ta, ha, t_new, ca, dense)
            if t_s >= until:
                times.append(t_s)
                if self.has_reset or self.refractory.kind == "condition":
                    break
                until = self._refractory_until(j, t_s, t1, yna, ta, ca)
            if b >= 1.0:
                break
            _, c = split_bernstein(coeffs, b)
            lo, armed = b, False
        return times

    def _refractory_until(self, j, t_s, t1, yna, ta, ca):
        """End of the refractory period started at ``t_s`` (no reset; -inf without)."""
        if self.refractory.kind != "time":
            return -np.inf
        prob = self.prob
        jj = np.array([j])
        ps = prob.params(np.array([t1]), ca[jj], ta[jj])
        period = np.asarray(prob.kernel.refractory_time(np.array([t1]), yna[:, jj], ps), float)
        return t_s + float(np.reshape(period, -1)[0])

    def _crossing_on_dense(self, j, ta, ha, ca, dense):
        prob = self.prob
        jj = np.array([j])

        def fun(tau, sub):
            yy = dense((tau - ta[jj]) / ha[jj], jj)
            return prob.crossing(tau, yy, ca[jj], ta[jj])

        return fun

    def _refine(self, j, a, b, ta, ha, t_new, ca, dense):
        """Illinois on the interpolant's crossing function in ``[a, b]`` (theta)."""
        fun = self._crossing_on_dense(j, ta, ha, ca, dense)
        t_lo = np.array([ta[j] + a * ha[j]])
        t_hi = np.array([t_new[j] if b >= 1.0 else ta[j] + b * ha[j]])
        fa = np.minimum(fun(t_lo, None), 0.0)
        fb = fun(t_hi, None)
        fb = np.where(fb > 0, fb, np.finfo(float).tiny)
        return float(locate_root(fun, t_lo, t_hi, fa, fb)[0])

    def _sampled_spikes(self, pos, armed, ta, ha, ya, yna, t_new, ca, dense, ensure_dense):
        """Thresholds that are not affine crossings: samples at theta = i/N_SAMPLES."""
        prob = self.prob
        kern = prob.kernel
        ensure_dense()
        tt, hh = ta[pos], ha[pos]
        crossing = prob.spec.crossing is not None
        vals = []
        for i in range(N_SAMPLES + 1):
            if i == 0:
                tau, yy = tt, ya[:, pos]
            elif i == N_SAMPLES:
                tau, yy = t_new[pos], yna[:, pos]
            else:
                th = i / N_SAMPLES
                tau, yy = tt + th * hh, dense(np.full(pos.size, th), pos)
            pp = prob.params(tau, ca[pos], tt)
            if crossing:
                vals.append(np.asarray(kern.crossing(tau, yy, pp), float))
            else:
                vals.append(np.where(np.asarray(kern.threshold(tau, yy, pp), bool), 1.0, -1.0))
        vals = np.array(vals)
        maybe = (vals > 0).any(axis=0) & (armed | (vals <= 0).any(axis=0))
        found = {}
        for m in np.nonzero(maybe)[0]:
            j = int(pos[m])
            h, t0, t1 = float(ha[j]), float(ta[j]), float(t_new[j])
            arm, until, times = bool(armed[m]), -np.inf, []
            for i in range(N_SAMPLES + 1):
                v = vals[i, m]
                if not v > 0:
                    arm = True
                    continue
                if not arm:
                    continue
                arm = False
                if i == 0:
                    t_s = t0
                else:
                    t_lo = np.array([t0 + (i - 1) / N_SAMPLES * h])
                    t_hi = np.array([t1 if i == N_SAMPLES else t0 + i / N_SAMPLES * h])
                    if crossing:
                        fun = self._crossing_on_dense(j, ta, ha, ca, dense)
                        t_s = float(
                            locate_root(
                                fun, t_lo, t_hi, np.minimum([vals[i - 1, m]], 0.0), np.array([v])
                            )[0]
                        )
                    else:
                        jj = np.array([j])

                        def bfun(tau, sub, jj=jj):
                            yy = dense((tau - ta[jj]) / ha[jj], jj)
                            return prob.threshold(tau, yy, ca[jj], ta[jj])

                        t_s = float(locate_boolean(bfun, t_lo, t_hi)[0])
                if t_s < until:
                    continue
                times.append(t_s)
                if self.has_reset or self.refractory.kind == "condition":
                    break
                until = self._refractory_until(j, t_s, t1, yna, ta, ca)
            if times:
                found[j] = times
        return found
