"""The contract between :func:`biosnn.simulate` and the backends' drivers.

``simulate`` checks the user's arguments, converts everything to the internal unit system
and builds a :class:`RunRequest`.  A backend driver (NumPy: ``biosnn.solvers.drivers.run``;
C: ``biosnn.codegen.c_backend.run``) integrates it and returns a :class:`RawRun`.  Both
follow the solver semantics of docs/architecture.md; the tests compare them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RunRequest", "RawRun", "FIXED_STEP", "STOCHASTIC", "ADAPTIVE", "STIFF", "METHODS"]

#: Method names by family (the names are public API).
FIXED_STEP = ("euler", "midpoint", "heun", "rk4", "exponential_euler", "exact")
STOCHASTIC = ("euler_maruyama", "stochastic_heun")
ADAPTIVE = ("rk23", "rk45", "dop853")
STIFF = ("rodas4",)
METHODS = FIXED_STEP + STOCHASTIC + ADAPTIVE + STIFF


@dataclass(eq=False)
class RunRequest:
    """One integration, in internal units.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    t0, t1 : float
        Start and end time.
    dt : float or None
        Step of fixed-step methods; for adaptive ones an optional first step (None: the
        driver picks one, Hairer's initial step heuristic).
    rtol, atol : float or None
        Tolerances of adaptive / stiff methods (required there).
    y0 : ndarray, shape (n_states, n)
        Initial state of every instance (C-contiguous float64).
    params : ndarray, shape (n_params, n)
        Parameter values per instance.  Rows of time-dependent parameters are ignored.
    stimuli : dict of int -> Stimulus
        Time-dependent parameters by parameter index; values in internal units, with 1 or n
        columns.
    record_states : tuple of int
        Indices of the states to record.
    record_every : int
        Fixed step: record every this many steps (>= 1).
    record_dt : float
        Adaptive: record at ``t0 + k*record_dt``.
    seed : int or None
        Seed of the noise (stochastic methods).
    max_steps : int
        Per instance; exceeding it is a SimulationError.
    propagator : ndarray or None
        For ``exact``: shape (1 or n, n_states+1, n_states+1), the matrix exponential of the
        augmented linear system [[A, b], [0, 0]]*dt (computed by simulate with
        :func:`biosnn.solvers.expm.expm`).
    """

    method: str
    t0: float
    t1: float
    dt: float | None
    rtol: float | None
    atol: float | None
    y0: np.ndarray
    params: np.ndarray
    stimuli: dict = field(default_factory=dict)
    record_states: tuple = ()
    record_every: int = 1
    record_dt: float = 0.1
    seed: int | None = None
    max_steps: int = 10_000_000
    propagator: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.y0.shape[1]

    @property
    def n_fixed_steps(self) -> int:
        """Number of fixed steps: round((t1 - t0)/dt)."""
        return int(round((self.t1 - self.t0) / self.dt))

    def record_times(self) -> np.ndarray:
        """Times at which states are recorded (same rule in every backend)."""
        if self.method in ADAPTIVE + STIFF:
            k = int(np.floor((self.t1 - self.t0) / self.record_dt * (1 + 1e-12) + 1e-9))
            return self.t0 + self.record_dt * np.arange(k + 1)
        steps = np.arange(0, self.n_fixed_steps + 1, self.record_every)
        return self.t0 + steps * self.dt


@dataclass(eq=False)
class RawRun:
    """What a driver returns, in internal units.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Record times (``RunRequest.record_times()``).
    y : ndarray, shape (n_record, n, T)
        Recorded states, in the order of ``record_states``.
    spike_index, spike_time : ndarray
        One entry per spike: instance index (int64) and time; sorted by instance, then time.
    y_final : ndarray, shape (n_states, n)
        State at t1.
    stats : dict
        ``n_steps``, ``n_rejected``, ``n_rhs``, ``n_jac`` summed over instances.
    """

    t: np.ndarray
    y: np.ndarray
    spike_index: np.ndarray
    spike_time: np.ndarray
    y_final: np.ndarray
    stats: dict
