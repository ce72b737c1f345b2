"""Driver packing: a :class:`~biosnn.solvers.request.RunRequest` as a ``bs_args`` struct.

:func:`check` refuses what the C drivers cannot run (one clear line); :func:`build_args`
fills the ctypes :class:`~biosnn.codegen.c_abi.BsArgs` - arrays, tableau, controller,
stimulus tables, seed, buffers - and keeps the NumPy arrays behind its pointers alive
while C runs; :func:`grow_spikes` and :func:`raise_status` handle the return codes of
``bs_run`` (:data:`~biosnn.codegen.c_abi.STATUS`).  :func:`biosnn.codegen.c_backend.run`
puts them together.
"""

from __future__ import annotations

import numpy as np

from biosnn.codegen.c_abi import FIXED_CODES, SMAX, STATUS, BsArgs, family_of
from biosnn.errors import MethodError, SimulationError
from biosnn.solvers.request import FIXED_STEP

__all__ = ["Args", "build_args", "check", "grow_spikes", "n_threads", "raise_status"]


def check(spec, request) -> str:
    """The driver family of ``request.method``, after refusing what it cannot run
    (noise, a missing dt or tolerances, too many steps, a non-finite y0).
    """
    method = request.method
    family = family_of(method)
    if family != "fixed" and spec.n_noises:
        raise MethodError(
            f"method {method!r} cannot integrate a model with noise "
            f"({', '.join(spec.noises)}); use 'euler_maruyama' or "
            "'stochastic_heun'."
        )
    if method in FIXED_STEP and spec.n_noises:
        raise MethodError(
            f"method {method!r} ignores noise; use 'euler_maruyama' or "
            "'stochastic_heun' for a model with "
            f"{', '.join(spec.noises)}."
        )
    if family == "fixed" and not (request.dt and request.dt > 0):
        raise MethodError(f"method {method!r} needs a time step, e.g. dt=0.01.")
    if family != "fixed" and (request.rtol is None or request.atol is None):
        raise MethodError(
            f"method {method!r} is adaptive and needs explicit tolerances, "
            "e.g. rtol=1e-6, atol=1e-9."
        )
    if family == "fixed" and request.n_fixed_steps > request.max_steps:
        steps = request.n_fixed_steps
        raise SimulationError(
            f"{steps if steps < 10**12 else f'{steps:.3g}'} steps of dt = {request.dt:g} "
            "are needed, more than "
            f"max_steps = {request.max_steps}; increase max_steps or dt."
        )
    if not np.isfinite(np.asarray(request.y0, float)).all():
        raise SimulationError("the initial state is not finite.")
    if method == "exact" and request.propagator is None:
        raise MethodError("method 'exact' needs the propagator (computed by simulate).")
    return family


def _controller(k: int) -> dict:
    """Constants of :class:`biosnn.solvers.controllers.PIController` of order ``k``."""
    from biosnn.solvers.controllers import PIController

    pi = PIController(order=k)
    return {
        "safety": pi.safety,
        "fac_min": pi.factor_min,
        "fac_max": pi.factor_max,
        "beta1": pi.alpha,
        "beta2": pi.beta,
        "expo_rej": 1.0 / k,
    }


class Args:
    """Owns the arrays behind a BsArgs struct (keeps them alive while C runs)."""

    def __init__(self):
        self.s = BsArgs()
        self.keep = {}

    def set(self, name, value):
        if isinstance(value, np.ndarray):
            self.keep[name] = value
            value = value.ctypes.data if value.size else None
        setattr(self.s, name, value)


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _i64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.int64)


def _set_stimuli(args: Args, request, n: int) -> None:
    items = sorted(request.stimuli.items())
    toff, voff, times, values = [], [], [], []
    t_at, v_at = 0, 0
    for k, stim in items:
        if stim.n_columns not in (1, n):
            raise SimulationError(
                f"stimulus of parameter {k} has {stim.n_columns} columns; "
                f"expected 1 or {n} (one per instance)."
            )
        toff.append(t_at)
        voff.append(v_at)
        times.append(stim.times)
        values.append(stim.values.reshape(-1))
        t_at += stim.times.size
        v_at += stim.values.size

    def cat(xs):
        return np.concatenate(xs) if xs else np.zeros(0)

    args.set("n_stim", len(items))
    args.set("stim_param", _i64([k for k, _ in items]))
    args.set("stim_kind", _i64([0 if s.kind == "step" else 1 for _, s in items]))
    args.set("stim_ntimes", _i64([s.times.size for _, s in items]))
    args.set("stim_ncols", _i64([s.n_columns for _, s in items]))
    args.set("stim_toff", _i64(toff))
    args.set("stim_voff", _i64(voff))
    args.set("stim_times", _f64(cat(times)))
    args.set("stim_values", _f64(cat(values)))
    bps = [s.breakpoints for _, s in items]
    bp = np.unique(cat(bps)) if bps else np.zeros(0)
    bp = bp[(bp > request.t0) & (bp < request.t1)]
    args.set("n_bp", int(bp.size))
    args.set("bp", _f64(bp))


def _set_method(args: Args, spec, request, family: str) -> None:
    method = request.method
    if method in FIXED_CODES:  # no tableau: skip building the catalogue (start-up)
        ROSENBROCK = TABLEAUX = {}
    else:
        from biosnn.solvers.tableaux import ROSENBROCK, TABLEAUX
    if family == "rodas":
        tab = ROSENBROCK[method]
        s, st, k = tab.n_stages, tab.n_stages, tab.error_exponent_order
        arrays = {
            "c": tab.c,
            "A": tab.a,
            "b": tab.m,
            "b_err": tab.m_err,
            "dense": tab.dense,
            "ros_d": tab.d,
            "ros_C": tab.C,
        }
        args.set("gamma", float(tab.gamma))
        fsal, has_low = 0, 0
    elif method in TABLEAUX:
        tab = TABLEAUX[method]
        s, st = tab.n_stages, tab.n_stages_total
        k = tab.error_exponent_order or 1
        arrays = {"c": tab.c, "A": tab.A, "b": tab.b}
        if family == "adaptive":
            arrays.update(b_err=tab.b_err, dense=tab.dense)
            if tab.b_err_low is not None:
                arrays["b_err_low"] = tab.b_err_low
        npt = tab.new_point_stage
        fsal = npt + 1 if npt is not None else 0
        has_low = int(tab.b_err_low is not None)
    else:
        s = st = 0
        k, arrays, fsal, has_low = 1, {}, 0, 0
        args.set("method", FIXED_CODES[method])
    if max(s, st) > SMAX:
        raise MethodError(f"method {method!r} has more than {SMAX} stages.")
    for name, arr in arrays.items():
        args.set(name, _f64(arr))
    dense = arrays.get("dense")
    args.set("s", s)
    args.set("s_total", st)
    args.set("q", int(dense.shape[1]) if dense is not None else 0)
    args.set("fsal", fsal)
    args.set("has_low", has_low)
    for name, value in _controller(k).items():
        args.set(name, float(value))


def build_args(spec, request, family: str) -> Args:
    """``bs_args`` of ``request`` for ``family``, with the arrays behind it."""
    from biosnn.solvers import noise

    n = request.n
    args = Args()
    y0 = _f64(request.y0)
    params = np.asarray(request.params, dtype=np.float64)
    if params.ndim == 1:
        params = params[:, None]
    params = _f64(np.broadcast_to(params, (spec.n_params, n)))  # rows may broadcast
    if y0.shape != (spec.n_states, n):
        raise SimulationError(f"y0 must have shape ({spec.n_states}, n), got {y0.shape}.")
    t_rec = request.record_times()
    rec = _i64(request.record_states)
    args.set("n", n)
    args.set("i_start", 0)
    args.set("method", 0)
    for name in ("t0", "t1", "rtol", "atol"):
        v = getattr(request, name)
        args.set(name, float(v) if v is not None else 0.0)
    args.set("dt", float(request.dt) if request.dt else 0.0)
    args.set("n_steps", request.n_fixed_steps if family == "fixed" else 0)
    args.set("record_every", max(int(request.record_every), 1))
    args.set("record_dt", float(request.record_dt))
    args.set("n_rec", int(t_rec.size))
    args.set("n_record", int(rec.size))
    args.set("record_states", rec)
    args.set("y0", y0)
    args.set("params", params)
    args.set("y_rec", np.zeros((rec.size, n, t_rec.size)))
    args.set("y_final", np.zeros((spec.n_states, n)))
    args.set("stats", np.zeros((n, 4), dtype=np.int64))
    _set_stimuli(args, request, n)
    seed = request.seed if request.seed is not None else 0  # as the NumPy driver
    args.set("key", int(noise.seed_key(seed)))
    args.set("max_steps", int(request.max_steps))
    if request.propagator is not None:
        prop = _f64(request.propagator)
        args.set("prop", prop)
        args.set("prop_ncols", int(prop.shape[0]))
    _set_method(args, spec, request, family)
    cap = max(1024, 4 * n)
    args.set("spike_cap", cap)
    args.set("n_spikes", 0)
    args.set("spike_index", np.zeros(cap, dtype=np.int64))
    args.set("spike_time", np.zeros(cap))
    args.set("n_threads", n_threads() if family == "fixed" else 1)
    args.set("stop", np.zeros(1, np.int64))
    args.keep["t_rec"] = t_rec
    return args


_THREADS_PID: list = []  # pid of the process that started OpenMP threads


def n_threads() -> int:
    """Threads of the fixed-step driver: ``$BIOSNN_NUM_THREADS``, default all usable cores.

    A process forked after OpenMP threads were started uses one thread (libgomp's thread
    pool does not survive ``fork``).  Results do not depend on the thread count.
    """
    import os

    env = os.environ.get("BIOSNN_NUM_THREADS", "").strip()
    try:
        nt = max(1, int(env)) if env else 0
    except ValueError:
        nt = 0
    if not nt:
        try:
            nt = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            nt = os.cpu_count() or 1
    if _THREADS_PID and _THREADS_PID[0] != os.getpid():
        return 1
    if nt > 1 and not _THREADS_PID:
        _THREADS_PID.append(os.getpid())
    return nt


def grow_spikes(args: Args) -> None:
    """A spike buffer of twice the size (or ``spike_need``), the spikes kept."""
    cap = max(2 * args.s.spike_cap, int(args.s.spike_need))
    for name, dtype in (("spike_index", np.int64), ("spike_time", np.float64)):
        new = np.zeros(cap, dtype=dtype)
        new[: args.s.n_spikes] = args.keep[name][: args.s.n_spikes]
        args.set(name, new)
    args.set("spike_cap", cap)


def raise_status(spec, args: Args, status: int) -> None:
    """Raise the SimulationError of a failed ``bs_run`` (naming time, instance, variable)."""
    a = args.s
    where = f"at t = {a.fail_time:.10g} in instance {a.fail_instance}"
    if status == 2:
        var = spec.states[a.fail_var] if 0 <= a.fail_var < spec.n_states else "?"
        raise SimulationError(
            f"the state became non-finite {where}: variable {var!r} "
            "(blow-up; try a smaller dt or tighter tolerances)."
        )
    if status == 3:
        raise SimulationError(
            f"more than max_steps = {a.max_steps} steps {where}; "
            "raise max_steps or loosen the tolerances."
        )
    if status == 4:
        var = spec.states[a.fail_var] if 0 <= a.fail_var < spec.n_states else "?"
        raise SimulationError(
            f"the step size underflowed {where} (variable {var!r} changed fastest): the "
            "solution blows up or the model is too stiff for this method (try "
            "method='rodas4')."
        )
    raise SimulationError(f"{STATUS.get(status, 'error')} {where}.")
