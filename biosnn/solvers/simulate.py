"""``simulate()``: check the arguments, convert units, dispatch to a backend, wrap the result.

Everything is converted to the internal unit system here (through the Model's
``to_internal`` / ``time_to_internal``), packed into a
:class:`~biosnn.solvers.request.RunRequest` and handed to the NumPy driver
(:func:`biosnn.solvers.drivers.run`) or the C backend (:func:`biosnn.codegen.c_backend.run`).

Examples
--------
>>> import biosnn
>>> m = biosnn.Model("dv/dt = (El - v)/tau : volt", params={"El": "-65 mV", "tau": "10 ms"},
...                  init={"v": "-50 mV"})
>>> res = biosnn.simulate(m, 10, method="rk4", dt=0.01, backend="numpy")
>>> round(float(res["v"][0, -1]), 4)    # -65 + 15*exp(-1)
-59.4818
"""

from __future__ import annotations

import time as _time
import warnings

import numpy as np

from biosnn.codegen.numpy_backend import numpy_kernel
from biosnn.equations.files import as_model
from biosnn.errors import MethodError, SimulationError
from biosnn.solvers.options import SolverOptions, merge
from biosnn.solvers.request import ADAPTIVE, STIFF, STOCHASTIC, RunRequest
from biosnn.stimulus import Stimulus
from biosnn.units import parse_time

__all__ = ["numpy_kernel", "simulate"]

#: Default fixed step and record interval (ms, or time units for dimensionless models).
DEFAULT_DT = 0.01
DEFAULT_RECORD_DT = 0.1

#: The options of a call that gives none (rk4; dt None: DEFAULT_DT for fixed-step methods).
_DEFAULT_OPTIONS = SolverOptions()


def simulate(
    model,
    duration,
    *,
    options=None,
    method: str | None = None,
    dt=None,
    rtol=None,
    atol=None,
    backend: str | None = None,
    n: int = 1,
    params=None,
    init=None,
    record=None,
    record_dt=None,
    seed=None,
    max_steps=None,
):
    """Simulate ``n`` instances of ``model`` for ``duration``.

    Parameters
    ----------
    model : Model or str
        A :class:`~biosnn.equations.model.Model` or the name of a library model.
    duration : float or str
        In ms (or time units for dimensionless models), or a string with a unit ("1 s").
    options : SolverOptions, optional
        The solver settings (method, dt, rtol, atol, backend, max_steps, seed); default
        ``SolverOptions()`` (rk4, dt 0.01 ms, backend auto).  The keywords below win over
        it when they are given (not None).
    method : str, optional
        One of ``euler, midpoint, heun, rk4, exponential_euler, exact`` (fixed step, ``dt``),
        ``euler_maruyama, stochastic_heun`` (noise), ``rk23, rk45, dop853`` (adaptive,
        need ``rtol`` and ``atol``), ``rodas4`` (stiff, needs ``rtol`` and ``atol``).
        Default ``rk4``.
    dt : float or str, optional
        Fixed step (default 0.01 ms); for adaptive methods the first step (default: chosen).
    rtol, atol : float, optional
        Tolerances of adaptive and stiff methods (required there; ``atol`` in internal
        units of the states).
    backend : {"auto", "numpy", "c"}, optional
        ``auto`` (the default): compiled C when a compiler works, else NumPy with one
        warning; ``c``: compiled C or a CompilerError (see :mod:`biosnn.codegen.backend`).
    n : int
        Number of instances.
    params : dict, optional
        name -> value: a number (display unit), a string with a unit, an array of length
        ``n``, or a :class:`~biosnn.stimulus.Stimulus` (values in the display unit).
        A Python function of time ``f(t)`` (t in ms; values in the display unit) is
        tabulated before the run (at every half step for fixed-step methods, so every
        stage time is exact; every 0.005 ms for adaptive ones) - see
        ``_tabulate_functions``.
    init : dict, optional
        state -> initial value (number in the display unit, string with unit, array of n).
    record : list of str, optional
        States and aliases to return (default: all states and aliases).
    record_dt : float or str, optional
        Recording interval (default 0.1 ms).
    seed : int, optional
        Seed of the noise (default: drawn at random, reported in ``stats["seed"]``).
    max_steps : int, optional
        Steps per instance before giving up (default 10 000 000).

    Returns
    -------
    Result

    Raises
    ------
    MethodError
        Unknown method, missing tolerances, or a method that cannot integrate the model.
    SimulationError
        Bad run arguments (negative duration, dt <= 0) or a failed run (blow-up).
    CompilerError
        ``backend="c"`` and no working C compiler (the message names the one tried).
    """
    wall0 = _time.perf_counter()
    opts = merge(
        options,
        _DEFAULT_OPTIONS,
        "simulate",
        method=method,
        dt=dt,
        rtol=rtol,
        atol=atol,
        backend=backend,
        seed=seed,
        max_steps=max_steps,
    )
    method, dt, rtol, atol, backend = opts.method, opts.dt, opts.rtol, opts.atol, opts.backend
    seed, max_steps = opts.seed, opts.max_steps
    model = as_model(model, what="simulate()", error=SimulationError)
    # the layout: names and flags without sympy after a warm start (architecture.md)
    spec = model.layout if hasattr(model, "layout") else model.kernel_spec()
    n = _check_n(n)
    t1 = parse_time(duration, "duration", model=model, error=SimulationError)
    if t1 < 0:
        raise SimulationError(f"the duration must not be negative, got {duration!r}.")
    dt_i = _dt_value(model, method, dt)
    rec_dt = _record_dt(model, record_dt)
    fixed = method not in ADAPTIVE + STIFF
    record = _check_record(model, spec, record)
    _check_run_memory(spec, n, t1, dt_i if fixed else None, rec_dt, record)
    params = _tabulate_functions(params, t1, dt_i, method)
    p, stimuli = _params(model, spec, params, n)
    y0 = _initial(model, spec, init, p, stimuli, n)
    _warn_if_above_threshold(model, spec, y0, p)
    _check_method_model(method, spec, stimuli)
    if method in STOCHASTIC and seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    request = RunRequest(
        method=method,
        t0=0.0,
        t1=_fixed_end(t1, dt_i, duration, dt) if fixed else t1,
        dt=dt_i,
        rtol=None if rtol is None else float(rtol),
        atol=None if atol is None else float(atol),
        y0=np.ascontiguousarray(y0),
        params=np.ascontiguousarray(p),
        stimuli=stimuli,
        record_states=_record_states(spec, record),
        record_every=_record_every(rec_dt, dt_i, record_dt) if fixed else 1,
        record_dt=rec_dt,
        seed=seed,
        max_steps=max_steps,
        propagator=_propagator(spec, p, dt_i) if method == "exact" else None,
    )
    wall1 = _time.perf_counter()
    raw, used = _dispatch(spec, request, backend)
    wall2 = _time.perf_counter()
    from biosnn.solvers.result import Result

    stats = dict(raw.stats)
    stats.update(
        backend=used, method=method, seed=seed, wall_setup=wall1 - wall0, wall_run=wall2 - wall1
    )
    return Result(model=model, spec=spec, request=request, raw=raw, stats=stats, record=record)


# --------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------


def _check_method_model(method, spec, stimuli) -> None:
    if spec.n_noises and method not in STOCHASTIC:
        kind = "adaptive and stiff methods" if method in ADAPTIVE + STIFF else f"method {method!r}"
        raise MethodError(
            f"model {spec.name!r} has noise ({', '.join(spec.noises)}); {kind} cannot "
            "integrate it. Use method='euler_maruyama' or method='stochastic_heun' "
            "with a dt."
        )
    if method == "exponential_euler":
        for name, pair in zip(spec.states, spec.exp_euler or (None,) * spec.n_states):
            if pair is None:
                raise MethodError(
                    f"exponential_euler needs every equation to be linear in its own state "
                    f"(d{name}/dt = A*{name} + B with A and B free of {name}); the equation "
                    f"of {name!r} is not. Use method='rk4' or an adaptive method."
                )
    if method == "exact":
        if spec.linear is None:
            raise MethodError(
                f"method 'exact' needs a linear model with constant coefficients "
                f"(dy/dt = A*y + b, A and b free of the states and of t); model "
                f"{spec.name!r} is not. Use method='exponential_euler', 'rk4' or an "
                "adaptive method."
            )
        if stimuli:
            raise MethodError(
                "method 'exact' needs constant parameters; with a Stimulus "
                "use method='exponential_euler', 'rk4' or an adaptive method."
            )


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise SimulationError(f"n (the number of instances) must be a positive integer, not {n!r}.")
    return int(n)


def _dt_value(model, method, dt):
    if dt is None:
        return None if method in ADAPTIVE + STIFF else DEFAULT_DT
    return parse_time(dt, "dt", positive=True, model=model, error=SimulationError)


def _whole_steps(span: float, dt: float) -> int | None:
    """``span/dt`` if it is a whole number (to 1e-9 relative), else None."""
    k = round(span / dt)
    return k if abs(span / dt - k) <= 1e-9 * max(1.0, abs(span / dt)) else None


def _fixed_end(t1: float, dt: float, duration, dt_given) -> float:
    """The end time of a fixed-step run, which must be a whole number of steps."""
    k = _whole_steps(t1, dt)
    if k is None:
        raise SimulationError(
            f"the duration {duration!r} is not a whole number of steps of dt = {dt_given!r} "
            f"({t1 / dt:.6g} steps); choose a dt that divides the duration."
        )
    return k * dt


def _record_every(rec_dt: float, dt: float, record_dt_given) -> int:
    """Record every this many fixed steps; an explicit record_dt must be a multiple of dt."""
    k = _whole_steps(rec_dt, dt)
    if record_dt_given is not None and (k is None or k < 1):
        raise SimulationError(
            f"record_dt = {record_dt_given!r} is not a whole multiple of dt; fixed-step "
            f"methods record at step ends (record_dt = k*dt with k >= 1)."
        )
    return max(1, round(rec_dt / dt))


def _record_dt(model, record_dt) -> float:
    if record_dt is None:
        return DEFAULT_RECORD_DT
    return parse_time(record_dt, "record_dt", positive=True, model=model, error=SimulationError)


def _record_states(spec, record) -> tuple:
    """The states the drivers must record: the requested ones, or all if an alias is asked
    for (aliases are computed afterwards from the states).  ``record=[]`` records nothing,
    so a large ensemble costs no trace memory.
    """
    if any(name not in spec.states for name in record):
        return tuple(range(spec.n_states))
    return tuple(spec.states.index(name) for name in record)


def _check_record(model, spec, record):
    names = list(spec.states) + [a for a, _ in spec.aliases]
    if record is None:
        return names
    if isinstance(record, str):
        record = [record]
    for name in record:
        if name not in names:
            raise SimulationError(
                f"cannot record {name!r}: it is not a state or alias of "
                f"model {spec.name!r} (these are: {', '.join(names)})."
            )
    return list(record)


#: Arrays of n values per state that a driver holds besides the recording (stages of
#: dop853, y, y_new, error, interpolation data): a generous count for the estimate.
WORK_ARRAYS_PER_STATE = 24


def _check_run_memory(spec, n, t1, dt, rec_dt, record) -> None:
    """Refuse a run whose arrays cannot fit (estimate, before anything is allocated).

    Recorded samples: fixed step (``dt`` given) every ``round(rec_dt/dt)`` steps, adaptive
    every ``rec_dt``, plus the initial state; the states recorded (all of them if an alias
    is asked for) and the aliases computed from them afterwards; parameters, initial state
    and the driver's working arrays (:data:`WORK_ARRAYS_PER_STATE` per state).
    """
    from biosnn._memory import check_memory

    if dt is not None:
        samples = (t1 / dt) // max(1, round(rec_dt / dt)) + 1
    else:
        samples = t1 // rec_dt + 1
    traces = len(_record_states(spec, record)) + sum(name not in spec.states for name in record)
    per_instance = samples * traces + len(spec.params) + WORK_ARRAYS_PER_STATE * len(spec.states)
    check_memory(
        8.0 * n * per_instance,
        f"simulating {n} instance(s) and recording {traces} trace(s) of {samples:.6g} samples",
        "use fewer instances, record fewer variables or at a larger interval "
        "(record, record_dt), or run shorter pieces",
    )


# --------------------------------------------------------------------------------------
# parameters, initial state, propagator
# --------------------------------------------------------------------------------------
def _row(model, name, value, n) -> np.ndarray:
    arr = np.asarray(model.to_internal(name, value), float)
    if arr.ndim == 0 or arr.size == 1:
        return np.full(n, float(arr.reshape(-1)[0]))
    if arr.shape != (n,):
        raise SimulationError(
            f"the value of {name} has shape {arr.shape}; give one number "
            f"or an array of n = {n} values."
        )
    return arr


#: Sampling interval of a parameter given as a function of time for adaptive methods.
FUNCTION_INPUT_DT = 0.005


def _tabulate_functions(params, t1, dt, method):
    """Turn parameters given as Python functions of t into linear Stimulus tables.

    The C kernels cannot call Python, so a function ``f(t)`` (t in ms, or dimensionless
    time; values in the parameter's display unit) is sampled once before the run: at every
    half step for fixed-step methods (so every Runge-Kutta stage time of euler, midpoint,
    heun and rk4 is a sample point and the value there is exact), and every
    ``FUNCTION_INPUT_DT`` for adaptive methods (linear interpolation in between).  Inputs
    with discontinuities belong in a ``Stimulus.step``: adaptive solvers step onto its
    breakpoints exactly.
    """
    if not params or not any(callable(v) and not isinstance(v, Stimulus) for v in params.values()):
        return params
    h = dt / 2 if method not in ADAPTIVE + STIFF else FUNCTION_INPUT_DT
    grid = np.arange(int(np.ceil(t1 / h)) + 1) * h
    out = dict(params)
    for name, func in params.items():
        if callable(func) and not isinstance(func, Stimulus):
            out[name] = Stimulus.linear(grid, _sample(name, func, grid))
    return out


def _sample(name, func, grid):
    try:
        values = np.asarray(func(grid), dtype=float)
    except Exception:  # noqa: BLE001 - a scalar-only function: call it point by point
        values = None
    if values is None or values.shape[:1] != grid.shape:
        try:
            values = np.array([np.asarray(func(float(t)), float) for t in grid])
        except Exception as exc:  # noqa: BLE001 - report the user's function failing
            raise SimulationError(
                f"the function given for {name} failed at t = {grid[0]}: {exc}"
            ) from exc
    if values.ndim not in (1, 2) or values.size > 50_000_000:
        raise SimulationError(
            f"the function given for {name} must return one value per "
            f"time (or one per instance), at most 5e7 samples in all; got "
            f"shape {values.shape}."
        )
    if not np.isfinite(values).all():
        raise SimulationError(f"the function given for {name} returned a non-finite value.")
    return values


def _params(model, spec, params, n):
    values = dict(model.params)
    given = dict(params or {})
    for name in given:
        if name not in spec.params:
            model.check_param(name) if hasattr(model, "check_param") else None
            raise SimulationError(f"{name} is not a parameter of model {spec.name!r}.")
    values.update(given)
    p = np.empty((spec.n_params, n))
    stimuli = {}
    for k, name in enumerate(spec.params):
        value = values[name]
        if isinstance(value, Stimulus):
            stim = model.to_internal(name, value)
            if stim.n_columns not in (1, n):
                raise SimulationError(
                    f"the Stimulus for {name} has {stim.n_columns} columns; give 1 or n = {n}."
                )
            stimuli[k] = stim
            p[k] = np.broadcast_to(np.asarray(stim(0.0), float), (n,))
        else:
            p[k] = _row(model, name, value, n)
    return p, stimuli


def _initial(model, spec, init, p, stimuli, n):
    init = dict(init or {})
    for name in init:
        if name not in spec.states:
            raise SimulationError(
                f"{name} is not a state of model {spec.name!r} (states: {', '.join(spec.states)})."
            )
    internal = {name: p[k] for k, name in enumerate(spec.params)}
    defaults = model.initial_state(internal, 0.0)
    y0 = np.empty((spec.n_states, n))
    for i, name in enumerate(spec.states):
        if name in init:
            y0[i] = _row(model, name, init[name], n)
        else:
            y0[i] = np.broadcast_to(np.asarray(defaults[name], float), (n,))
    if not np.isfinite(y0).all():
        bad = spec.states[int(np.argwhere(~np.isfinite(y0))[0][0])]
        raise SimulationError(f"the initial value of {bad!r} is not finite.")
    return y0


def _warn_if_above_threshold(model, spec, y0, p):
    """Spikes are upward crossings: an instance that starts with its threshold condition
    already true does not spike until it has dropped below.  Say so, once per call.
    """
    if spec.threshold is None:
        return
    values = {name: y0[i] for i, name in enumerate(spec.states)}
    values.update({name: p[k] for k, name in enumerate(spec.params)})
    values["t"] = 0.0
    try:
        above = np.broadcast_to(
            np.asarray(_numeric(spec, "threshold", values)[0], bool), (y0.shape[1],)
        )
    except Exception:  # noqa: BLE001 - a threshold the evaluator cannot handle: no warning
        return
    if above.any():
        state = ", ".join(
            f"{name} = {float(model.from_internal(name, y0[i, above][0])):g} "
            f"{model.display_unit(name)}"
            for i, name in enumerate(spec.states)
        )
        warnings.warn(
            f"{int(above.sum())} of {above.size} instance(s) of {spec.name!r} start with the "
            f"threshold condition already true ({state}); spikes are upward crossings, so "
            "they will not spike until they have fallen below threshold. Give initial "
            "values below threshold (init=... or the model's initial values).",
            RuntimeWarning,
            stacklevel=3,
        )


def _numeric(spec, name, values) -> tuple:
    """The layout's generated ``linear_Ab`` / ``threshold`` (no sympy), else the same
    numbers from the sympy expressions by ``evaluate``.
    """
    function = spec.numeric(name)
    if function is not None:
        return function(values)
    from biosnn.codegen.numeric_source import evaluate

    full = spec.full_spec()
    if name == "threshold":
        return (evaluate(full.threshold, values),)
    A, b = full.linear
    return tuple(evaluate(e, values) for e in [a for row in A for a in row] + list(b))


def _propagator(spec, p, dt):
    """expm([[A, b], [0, 0]]*dt) per instance (one matrix if the parameters agree)."""
    from biosnn.solvers.expm import expm

    ns = spec.n_states
    uniq, inverse = np.unique(p.T, axis=0, return_inverse=True)
    mats = []
    for row in uniq:
        values = dict(zip(spec.params, row))
        entries = [float(x) for x in _numeric(spec, "linear_Ab", values)]
        M = np.zeros((ns + 1, ns + 1))
        M[:ns, :ns] = np.reshape(entries[: ns * ns], (ns, ns))
        M[:ns, ns] = entries[ns * ns :]
        mats.append(expm(M * dt))
    mats = np.array(mats)
    if len(uniq) == 1:
        return mats
    return np.ascontiguousarray(mats[np.asarray(inverse).reshape(-1)])


# --------------------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------------------
def _dispatch(spec, request, backend):
    """Run ``request`` on C or NumPy by the rule of :mod:`biosnn.codegen.backend`: only a
    CompilerError under ``backend="auto"`` leads to NumPy (with one warning).
    """
    from biosnn.codegen.backend import fall_back, use_c
    from biosnn.errors import CompilerError

    if use_c(backend, stacklevel=3):
        from biosnn.codegen import c_backend

        try:
            return c_backend.run(spec, request), "c"
        except CompilerError as exc:
            if backend == "c":
                raise
            fall_back(exc, stacklevel=3)
    from biosnn.solvers import drivers

    return drivers.run(spec, numpy_kernel(spec), request), "numpy"
