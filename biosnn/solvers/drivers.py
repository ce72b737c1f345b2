"""NumPy drivers: ``run(spec, kernel, request) -> RawRun``, one driver per method family.

Every driver follows the solver semantics of docs/architecture.md; the C drivers of
:mod:`biosnn.codegen.c_backend` implement the same, and the tests compare them.  Details
the contract leaves open are fixed here (and in :mod:`biosnn.solvers.events`,
:mod:`biosnn.solvers.controllers`, :mod:`biosnn.solvers.tableaux`):

Fixed step (``euler``, ``midpoint``, ``heun``, ``rk4``: one generic explicit RK stepper)
    ``t_k = t0 + k*dt`` for ``k = 0 .. round((t1 - t0)/dt)``; stage ``i`` of step ``k``
    sees the parameters (stimuli) at ``t_k + c_i*dt``.  After the step: threshold (upward
    crossing, spike time by linear interpolation of ``crossing``), reset of the end state,
    refractoriness update, blow-up check, recording every ``record_every`` steps.
``exponential_euler``
    ``y_i <- y_i + (A_i y_i + B_i) * expm1(A_i dt)/A_i`` with ``(A, B)`` evaluated at
    ``(t_k, y_k)`` for all states at once (``dt`` where ``A_i == 0``); a state without
    such a split (``exp_euler[i] is None``; simulate() refuses these models) takes a
    forward Euler step, as in the C driver.
``exact``
    ``[y; 1] <- P [y; 1]`` with the propagator ``P = expm([[A, b], [0, 0]]*dt)`` of the
    request.  States held while refractory keep their value.
``euler_maruyama``
    ``y <- y + f dt + g dW`` with ``dW_k = sqrt(dt) * z(key, k, instance*n_noises + kk)``
    (``key = seed_key(seed)``, ``k`` the step index).
``stochastic_heun``
    ``Y = y + f(t, y) dt + g(t, y) dW``;
    ``y <- y + (f(t, y) + f(t + dt, Y)) dt/2 + (g(t, y) + g(t + dt, Y)) dW/2``
    (Brian2's ``heun``: the Stratonovich solution for multiplicative noise, identical to
    Ito for additive noise).
Adaptive (``rk23``, ``rk45``, ``dop853``) and stiff (``rodas4``)
    Every instance has its own ``t`` and ``h``; one loop iteration attempts one step for
    every unfinished instance (masked lock-step).  A step stops exactly at the next
    breakpoint: ``t1``, a stimulus time, the end of a refractory period.  Piecewise-constant
    (``step``) stimuli take their value at the step's start (they are constant on the step,
    which never straddles a breakpoint); ``linear`` ones at each stage time.  FSAL stages
    are reused unless the step ended on a breakpoint, a reset happened or the refractory
    state changed (restart).  Error norm and PI control: :mod:`controllers`.  The first step
    is ``request.dt`` if given, else Hairer's heuristic.  After an accepted step of an
    instance not refractory at its start: every upward crossing inside the step is found
    on its dense output (:mod:`events`, "Crossings inside a step": exact root isolation
    for an affine crossing, DOP853's extra stages only when a screen cannot rule a
    crossing out; samples at ``theta = i/8`` otherwise) and located there
    (:func:`events.locate_root` for a single relation, :func:`events.locate_boolean` for
    compound ones); with reset statements, the state at the first spike time is reset and
    the instance restarts from there (records after the spike time then come from the
    following steps); without, every crossing of the step is a spike (except while
    refractory) and integration continues from the end of the step.  Records at
    ``t0 + j*record_dt`` inside ``(t, t_end]`` come from the interpolant.  A trial step
    with a non-finite result counts as rejected; when the step size underflows
    (``h < 10*eps*max(1, |t|)``) the run ends with a SimulationError naming
    time, instance and variable.  ``rodas4`` uses the symbolic Jacobian and ``df/dt`` of the
    kernel at the step's start (the time dependence through linear stimuli inside a step is
    not part of ``df/dt``); held states have zero rows.  The small dense iteration matrix
    ``W = I/(gamma h) - J`` is inverted once per attempt (batched over instances); a
    singular ``W`` rejects the step.

Statistics: ``n_steps`` (accepted steps), ``n_rejected``, ``n_rhs`` (drift evaluations),
``n_jac`` (Jacobian evaluations), each summed over instances.
"""

from __future__ import annotations

import math

import numpy as np

from biosnn.errors import SimulationError
from biosnn.solvers.controllers import PIController, initial_step
from biosnn.solvers.events import (
    N_SAMPLES,
    Refractory,
    SpikeLog,
    bernstein,
    crossing_time_linear,
    event_tolerance,
    first_upcrossing,
    locate_boolean,
    locate_root,
    split_bernstein,
)
from biosnn.solvers.noise import normal, seed_key
from biosnn.solvers.request import ADAPTIVE, METHODS, STIFF, RawRun, RunRequest
from biosnn.solvers.tableaux import ROSENBROCK, TABLEAUX

__all__ = ["Problem", "run", "stimulus_values"]

_EPS = np.finfo(float).eps


# --------------------------------------------------------------------------------------
# the problem: kernel + parameters + stimuli + held states, with counters
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------
def run(spec, kernel, request: RunRequest) -> RawRun:
    """Integrate ``request`` with the NumPy kernel ``kernel`` of ``spec``.

    Parameters
    ----------
    spec : KernelSpec
    kernel : NumpyKernel
    request : RunRequest
        In internal units.

    Returns
    -------
    RawRun
    """
    if request.method not in METHODS:
        raise SimulationError(f"unknown method {request.method!r}; methods: " + ", ".join(METHODS))
    prob = Problem(spec, kernel, request)
    with np.errstate(all="ignore"):
        if request.method in ADAPTIVE + STIFF:
            return _AdaptiveRun(prob).run()
        return _run_fixed(prob)


# --------------------------------------------------------------------------------------
# fixed step
# --------------------------------------------------------------------------------------
def _refractory_kind(spec):
    if spec.refractory_time is not None:
        return "time"
    if spec.refractory_condition is not None:
        return "condition"
    return None


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


# --------------------------------------------------------------------------------------
# adaptive and stiff: steppers
# --------------------------------------------------------------------------------------
class _ERKStep:
    """One attempt of an embedded explicit RK method for a set of instances.

    Increments ``K[i] = h*k_i`` live in one array ``K`` of shape (s_total, n_states, m), so
    every stage combination is one matrix product.
    """

    def __init__(self, prob: Problem, tableau):
        self.prob, self.tab = prob, tableau
        self.order = tableau.error_exponent_order
        self.s = tableau.n_stages
        self.new_point = tableau.new_point_stage
        self.rows = [tableau.A[i, :i].copy() for i in range(tableau.n_stages_total)]
        self.dense = tableau.dense

        def nz(w):
            return [(m, float(a)) for m, a in enumerate(w) if a != 0.0]

        self._unrolled = None
        self.rows_list = [nz(r) for r in self.rows]
        self.b_list = nz(tableau.b)
        self.err_list = nz(tableau.b_err)
        self.low_list = nz(tableau.b_err_low) if tableau.b_err_low is not None else []

    def attempt(self, t, h, y, idx, refr, k0):
        """Stages of the step: returns ``(y_new, err_norm, K)``.

        ``k0`` is f(t, y) (FSAL reuse) or None.
        """
        if y.shape[1] == 1 and self.prob.scalar_ok(refr):
            return self._attempt_one(t, h, y, idx, k0)
        prob, tab = self.prob, self.tab
        rtol, atol = prob.request.rtol, prob.request.atol
        ns, m = y.shape
        K = np.empty((tab.n_stages_total, ns, m))
        Kf = K.reshape(tab.n_stages_total, ns * m)
        K[0] = h * (k0 if k0 is not None else prob.f(t, y, idx, refr, t))
        c = tab.c
        for i in range(1, self.s):
            yi = y + (self.rows[i] @ Kf[:i]).reshape(ns, m)
            K[i] = h * prob.f(t + c[i] * h, yi, idx, refr, t)
        s = self.s
        y_new = y + (tab.b @ Kf[:s]).reshape(ns, m)
        scale = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
        err = (tab.b_err @ Kf[:s]).reshape(ns, m) / scale
        e5 = np.einsum("ij,ij->j", err, err)
        if tab.b_err_low is None:
            norm = np.sqrt(e5 / ns)
        else:
            err3 = (tab.b_err_low @ Kf[:s]).reshape(ns, m) / scale
            e3 = np.einsum("ij,ij->j", err3, err3)
            den = e5 + 0.01 * e3
            norm = np.where(den > 0, e5 / np.sqrt(ns * np.where(den > 0, den, 1.0)), 0.0)
        if not np.isfinite(y_new).all():
            norm = np.where(np.isfinite(y_new).all(axis=0), norm, np.inf)
        self.filled = s
        return y_new, norm, K

    def _attempt_one(self, t, h, y, idx, k0):
        """The same step for one instance on Python floats (``kernel.f1``).

        The stage combinations are unrolled once per tableau into a small Python function
        (:func:`_unrolled_stages`, printed from the tableau's numbers).
        """
        prob, tab = self.prob, self.tab
        ns = y.shape[0]
        if self._unrolled is None:
            self._unrolled = _unrolled_stages(tab)
        tt, hh = float(t[0]), float(h[0])
        y0 = y[:, 0].tolist()
        yn, err, low, Ks = self._unrolled(
            prob.f_one, tt, hh, y0, None if k0 is None else k0[:, 0].tolist(), idx
        )
        rtol, atol = prob.request.rtol, prob.request.atol
        sc = [atol + rtol * max(abs(a), abs(b)) for a, b in zip(y0, yn, strict=True)]
        e5 = sum((e / c) ** 2 for e, c in zip(err, sc, strict=True))
        if low is None:
            norm = math.sqrt(e5 / ns)
        else:
            den = e5 + 0.01 * sum((e / c) ** 2 for e, c in zip(low, sc, strict=True))
            norm = e5 / math.sqrt(ns * den) if den > 0 else 0.0
        K = np.zeros((tab.n_stages_total, ns, 1))
        K[: self.s, :, 0] = Ks
        y_new = np.array(yn, dtype=float).reshape(ns, 1)
        if not (math.isfinite(norm) and np.isfinite(y_new).all()):
            norm = math.inf
        return y_new, np.array([norm]), K

    def finish(self, t, h, y, y_new, idx, refr, K):
        """After acceptance: f(t + h, y_new) (the next k0), from the new-point stage."""
        i = self.new_point
        if i is None:
            return self.prob.f(t + h, y_new, idx, refr, t)
        if i >= self.s:
            K[i] = h * self.prob.f(t + h, y_new, idx, refr, t)
        return K[i] / h

    def dense_increments(self, t, h, y, idx, refr, K):
        """Complete the extra stages (DOP853) in place."""
        tab, prob = self.tab, self.prob
        start = self.s + (1 if self.new_point == self.s else 0)
        for i in range(start, tab.n_stages_total):
            # K may be a non-contiguous selection: combine on K itself, never on a reshape
            yi = y + np.tensordot(self.rows[i], K[:i], axes=1)
            K[i] = h * prob.f(t + tab.c[i] * h, yi, idx, refr, t)
        return K


class _RosenbrockStep:
    """One attempt of a Rosenbrock method (Hairer & Wanner's form, see tableaux)."""

    def __init__(self, prob: Problem, tableau):
        self.prob, self.tab = prob, tableau
        self.order = tableau.error_exponent_order
        self._jac_cache = None

    def attempt(self, t, h, y, idx, refr, k0):
        prob, tab = self.prob, self.tab
        rtol, atol = prob.request.rtol, prob.request.atol
        f0 = k0 if k0 is not None else prob.f(t, y, idx, refr, t)
        J, ft = self._jacobian(t, y, idx, refr)
        m, ns = y.shape[1], y.shape[0]
        W = np.eye(ns)[None, :, :] / (tab.gamma * h)[:, None, None] - J
        # W is small and dense: invert it once per attempt, then one product per stage
        try:
            Winv = np.linalg.inv(W)
        except np.linalg.LinAlgError:  # singular iteration matrix: reject, smaller step
            return y.copy(), np.full(m, np.inf), np.zeros((tab.n_stages, ns, m))
        if m == 1:
            W1 = Winv[0]

            def solve(rhs):
                return W1 @ rhs
        else:

            def solve(rhs):
                return np.einsum("mij,jm->im", Winv, rhs)

        U = np.empty((tab.n_stages, ns, m))
        Uf = U.reshape(tab.n_stages, ns * m)
        for i in range(tab.n_stages):
            if i == 0:
                fi = f0
            else:
                yi = y + (tab.a[i, :i] @ Uf[:i]).reshape(ns, m)
                fi = prob.f(t + tab.c[i] * h, yi, idx, refr, t)
            rhs = fi + (h * tab.d[i]) * ft
            if i:
                rhs = rhs + (tab.C[i, :i] @ Uf[:i]).reshape(ns, m) / h
            U[i] = solve(rhs)
        y_new = y + (tab.m @ Uf).reshape(ns, m)
        scale = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
        err = (tab.m_err @ Uf).reshape(ns, m) / scale
        norm = np.sqrt(np.mean(err * err, axis=0))
        norm = np.where(np.isfinite(y_new).all(axis=0), norm, np.inf)
        return y_new, norm, U

    def _jacobian(self, t, y, idx, refr):
        key = (
            np.asarray(t).tobytes(),
            y.tobytes(),
            None if idx is None else idx.tobytes(),
            None if refr is None else refr.tobytes(),
        )
        if self._jac_cache is not None and self._jac_cache[0] == key:
            return self._jac_cache[1]
        J = self.prob.jac(t, y, idx, refr, t)
        ft = self.prob.dfdt(t, y, idx, refr, t)
        self._jac_cache = (key, (J, ft))
        return J, ft

    def finish(self, t, h, y, y_new, idx, refr, U):
        return self.prob.f(t + h, y_new, idx, refr, t)

    def dense_increments(self, t, h, y, idx, refr, U):
        return U

    @property
    def dense(self):
        return self.tab.dense


def _unrolled_stages(tab):
    """A Python function computing one step of ``tab`` on lists of floats.

    ``fun(f1, t, h, y0, k0, idx) -> (y1, err, err_low or None, [h*k_0, ..., h*k_{s-1}])``;
    the source is printed from the tableau's coefficients (``repr`` of each float), so the
    arithmetic is that of the tableau, term by term.
    """

    def comb(weights, base):
        terms = [(m, repr(float(w))) for m, w in enumerate(weights) if w != 0.0]
        names = [f"k{m}" for m, _ in terms]
        expr = " + ".join(f"{w}*k{m}" for m, w in terms) or "0.0"
        if base:
            return (
                (
                    f"[y + ({expr}) for y, {', '.join(names)} in zip(y0, "
                    f"{', '.join(f'K{m}' for m, _ in terms)})]"
                )
                if terms
                else "list(y0)"
            )
        if not terms:
            return "[0.0]*len(y0)"
        return (
            f"[{expr} for {', '.join(names)}{',' if len(names) == 1 else ''} in "
            f"zip({', '.join(f'K{m}' for m, _ in terms)})]"
        )

    lines = [
        "def _stages(f1, t, h, y0, k0, idx):",
        "    if k0 is None:",
        "        k0 = f1(t, y0, t, idx)",
        "    K0 = [h*v for v in k0]",
    ]
    for i in range(1, tab.n_stages):
        lines.append(
            f"    K{i} = [h*v for v in f1(t + {float(tab.c[i])!r}*h, "
            f"{comb(tab.A[i, :i], True)}, t, idx)]"
        )
    lines.append(f"    y1 = {comb(tab.b, True)}")
    lines.append(f"    err = {comb(tab.b_err, False) if tab.b_err is not None else 'None'}")
    low = comb(tab.b_err_low, False) if tab.b_err_low is not None else "None"
    lines.append(f"    low = {low}")
    lines.append(f"    return y1, err, low, [{', '.join(f'K{i}' for i in range(tab.n_stages))}]")
    source = "\n".join(lines) + "\n"
    namespace: dict = {}
    exec(compile(source, f"<biosnn stages {tab.name}>", "exec"), namespace)  # noqa: S102
    fun = namespace["_stages"]
    fun.source = source
    return fun


def _dense_eval(dense, y0, K, theta):
    """y0 + sum_i K_i * b_i(theta): y0 (ns, m), K (s_total, ns, m), theta (m,)."""
    powers = theta[None, :] ** np.arange(1, dense.shape[1] + 1)[:, None]  # (q, m)
    w = dense @ powers  # (s_total, m)
    return y0 + np.einsum("sm,sim->im", w, K)


# --------------------------------------------------------------------------------------
# adaptive and stiff: the loop
# --------------------------------------------------------------------------------------
class _AdaptiveRun:
    """Masked lock-step integration of all instances (see the module docstring)."""

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
