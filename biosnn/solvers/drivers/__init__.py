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

The package, one concept per module: :mod:`.problem` (the problem and its stimuli),
:mod:`.fixed` (fixed-step steppers and the fixed run), :mod:`.sde` (the SDE steppers),
:mod:`.erk` (the explicit RK step with error estimate and dense output),
:mod:`.rosenbrock` (the stiff step), :mod:`.adaptive` (the adaptive run) and
:mod:`.screen` (its search for crossings inside a step); this module holds :func:`run`.
"""

from __future__ import annotations

import numpy as np

from biosnn.errors import SimulationError
from biosnn.solvers.drivers.adaptive import _AdaptiveRun
from biosnn.solvers.drivers.fixed import _run_fixed
from biosnn.solvers.drivers.problem import Problem, stimulus_values
from biosnn.solvers.request import ADAPTIVE, METHODS, STIFF, RawRun, RunRequest

__all__ = ["Problem", "run", "stimulus_values"]


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
