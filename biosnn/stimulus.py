"""Time-dependent inputs: a parameter that changes with time.

A :class:`Stimulus` replaces a parameter's constant value by a table over time, either
piecewise constant (``kind="step"``: current steps, pulses) or piecewise linear
(``kind="linear"``: ramps, sampled waveforms).  Values are in the parameter's display unit
(the unit of its default in the model file) unless given as strings with units.

Semantics (the same in every backend)
-------------------------------------
* ``step``: value at time t is ``values[j]`` with ``j`` the last index with
  ``times[j] <= t``; before ``times[0]`` it is ``values[0]``.
* ``linear``: linear interpolation between the points, constant beyond both ends.
* Every time in ``times`` is a *breakpoint*: adaptive solvers step exactly onto it and
  restart there (no step straddles a discontinuity); fixed-step solvers see the value at
  each stage time.
* ``values`` has shape (n_times,) (the same for all instances) or (n_times, n) (one
  column per instance).

Examples
--------
>>> from biosnn.stimulus import Stimulus
>>> s = Stimulus.pulse(start=10, stop=60, amplitude=10)   # e.g. uA/cm**2 for HH's I_ext
>>> float(s(5.0)), float(s(10.0)), float(s(59.9)), float(s(60.0))
(0.0, 10.0, 10.0, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Stimulus"]


@dataclass(frozen=True, eq=False)
class Stimulus:
    """A parameter given as a function of time by a table (see module docstring)."""

    times: np.ndarray
    values: np.ndarray
    kind: str = "step"

    def __post_init__(self):
        times = np.ascontiguousarray(self.times, dtype=np.float64)
        values = np.ascontiguousarray(self.values, dtype=np.float64)
        if times.ndim != 1 or times.size == 0:
            raise ValueError("Stimulus times must be a non-empty 1-D array.")
        if np.any(np.isnan(times)) or np.any(np.diff(times) < 0):
            raise ValueError(
                "Stimulus times must be non-decreasing numbers "
                "(-inf is allowed as the first time of a step stimulus)."
            )
        if values.ndim not in (1, 2) or values.shape[0] != times.size:
            raise ValueError(
                f"Stimulus values must have shape ({times.size},) or ({times.size}, n); "
                f"got {values.shape}."
            )
        if self.kind not in ("step", "linear"):
            raise ValueError(f"Stimulus kind must be 'step' or 'linear', not {self.kind!r}.")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values", values)

    # constructors ---------------------------------------------------------------------
    @classmethod
    def step(cls, times, values) -> Stimulus:
        """Piecewise-constant input: ``values[j]`` from ``times[j]`` on."""
        return cls(np.asarray(times, float), np.asarray(values, float), "step")

    @classmethod
    def linear(cls, times, values) -> Stimulus:
        """Piecewise-linear input through the points (times[j], values[j])."""
        return cls(np.asarray(times, float), np.asarray(values, float), "linear")

    @classmethod
    def pulse(cls, start: float, stop: float, amplitude, baseline=0.0) -> Stimulus:
        """A rectangular pulse: ``amplitude`` on [start, stop), ``baseline`` elsewhere.

        ``amplitude`` may be an array (one value per instance).
        """
        amp = np.asarray(amplitude, float)
        base = np.broadcast_to(np.asarray(baseline, float), amp.shape)
        values = np.stack([base, amp, base])
        return cls(np.array([-np.inf, start, stop], float), values, "step")

    # evaluation -----------------------------------------------------------------------
    @property
    def n_columns(self) -> int:
        """1 for a shared input, n for one column per instance."""
        return 1 if self.values.ndim == 1 else self.values.shape[1]

    @property
    def breakpoints(self) -> np.ndarray:
        """Finite times a solver must step onto exactly."""
        return self.times[np.isfinite(self.times)]

    def __call__(self, t):
        """Value(s) at time ``t`` (scalar t): shape () or (n,)."""
        if self.kind == "step":
            j = max(int(np.searchsorted(self.times, t, side="right")) - 1, 0)
            return self.values[j]
        if self.values.ndim == 1:
            return np.interp(t, self.times, self.values)
        return np.array([np.interp(t, self.times, col) for col in self.values.T])

    def scaled(self, factor: float) -> Stimulus:
        """The same stimulus with values multiplied by ``factor`` (unit conversion)."""
        return Stimulus(self.times, self.values * factor, self.kind)
