"""The result of :func:`biosnn.simulate`: times, traces, spikes, final state, statistics.

Traces are in display units (the unit each variable was declared with), time in ms (or
time units for dimensionless models).  Aliases are computed on demand from the recorded
states with the model's NumPy kernel.

Examples
--------
>>> import biosnn
>>> m = biosnn.Model("dv/dt = -v/tau : volt", params={"tau": "10 ms"}, initial={"v": "1 mV"})
>>> res = biosnn.simulate(m, 1, method="rk4", dt=0.1, backend="numpy")
>>> res.t.shape, res["v"].shape, res.units["v"]
((11,), (1, 11), 'mV')
"""

from __future__ import annotations

import numpy as np

__all__ = ["Result"]


class Result:
    """Times, traces (n, T), spikes and the final state of a simulation.

    Attributes
    ----------
    t : ndarray (T,)
        Record times (ms, or time units for dimensionless models).
    spikes : list of n ndarrays
        Spike times of each instance.
    final_state : dict
        state -> (n,) values at the end (display units).
    units : dict
        variable -> display unit string.
    stats : dict
        ``n_steps``, ``n_rejected``, ``n_rhs``, ``n_jac``, ``backend``, ``method``, ``seed``,
        wall times.

    A Result pickles with the standard pickle (for ``multiprocessing``, Dask,
    ``concurrent.futures``): the model (its arguments and manifest), the request and
    the raw arrays; aliases are computed after unpickling from the recorded states, with
    the same numbers.
    """

    def __init__(self, model, spec, request, raw, stats, record):
        self.model, self._spec, self._request, self._raw = model, spec, request, raw
        self.stats = stats
        self.variables = list(record)
        self._cache: dict = {}
        self.t = np.asarray(raw.t, float)
        n = request.n
        self.n = n
        idx, tim = np.asarray(raw.spike_index), np.asarray(raw.spike_time, float)
        # the drivers return spikes sorted by instance, then time: split, don't scan n times
        order = (
            np.argsort(idx, kind="stable") if idx.size and np.any(np.diff(idx) < 0) else slice(None)
        )
        idx, tim = idx[order], tim[order]
        self.spikes = np.split(tim, np.searchsorted(idx, np.arange(1, n)))
        self.final_state = {
            name: np.asarray(model.from_internal(name, raw.y_final[i]))
            for i, name in enumerate(spec.states)
        }
        self.units = {name: model.display_unit(name) for name in self.variables}

    # access -----------------------------------------------------------------------------
    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.variables:
            raise KeyError(f"{name!r} was not recorded; recorded: {', '.join(self.variables)}")
        if name not in self._cache:
            self._cache[name] = self._compute(name)
        return self._cache[name]

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self.__dict__.get("variables", ()):
            raise AttributeError(name)
        return self[name]

    def __contains__(self, name) -> bool:
        return name in self.variables

    def _compute(self, name):
        spec, raw = self._spec, self._raw
        if name in spec.states:
            rec = list(self._request.record_states)
            internal = raw.y[rec.index(spec.states.index(name))]
        else:
            internal = self._alias_internal()[name]
        return np.asarray(self.model.from_internal(name, internal))

    def _alias_internal(self) -> dict:
        """All aliases (internal units), shape (n, T), from the recorded states."""
        if "_aliases" in self._cache:
            return self._cache["_aliases"]
        from biosnn.solvers.drivers import stimulus_values

        spec, req, raw = self._spec, self._request, self._raw
        n, T = self.n, self.t.size
        rec = list(req.record_states)
        y = np.empty((spec.n_states, n * T))
        for i in range(spec.n_states):
            y[i] = raw.y[rec.index(i)].reshape(-1) if i in rec else np.nan
        tt = np.tile(self.t, n)
        p = np.repeat(np.asarray(req.params, float), T, axis=1)
        cols = np.repeat(np.arange(n), T)
        for k, stim in req.stimuli.items():
            p[k] = stimulus_values(stim, tt, cols)
        from biosnn.solvers.simulate import numpy_kernel

        with np.errstate(all="ignore"):
            values = numpy_kernel(self._spec).aliases(tt, y, p)
        out = {k: np.asarray(v, float).reshape(n, T) for k, v in values.items()}
        self._cache["_aliases"] = out
        return out

    # export -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-ready dict (lists of floats)."""
        stats = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self.stats.items()}
        return {
            "model": getattr(self.model, "name", str(self.model)),
            "t": self.t.tolist(),
            "time_unit": "1" if self._spec.time_dimensionless else "ms",
            "traces": {name: self[name].tolist() for name in self.variables},
            "units": dict(self.units),
            "spikes": [s.tolist() for s in self.spikes],
            "final_state": {k: v.tolist() for k, v in self.final_state.items()},
            "stats": stats,
        }

    def plot(self, vars=None, ax=None):
        """Plot traces against time (matplotlib is imported here).

        Parameters
        ----------
        vars : str or list of str, optional
            Variables to plot (default: the first state).
        ax : matplotlib Axes or array of Axes, optional

        Returns
        -------
        The Axes (one per variable).
        """
        import matplotlib.pyplot as plt

        if vars is None:
            vars = [self._spec.states[0]]
        elif isinstance(vars, str):
            vars = [vars]
        if ax is None:
            _, ax = plt.subplots(
                len(vars), 1, sharex=True, squeeze=False, figsize=(7, 2.2 * len(vars) + 0.6)
            )
            axes = list(ax[:, 0])
        else:
            axes = list(np.atleast_1d(ax))
        tunit = "" if self._spec.time_dimensionless else " (ms)"
        for a, name in zip(axes, vars, strict=True):
            data = self[name]
            for i in range(self.n):
                a.plot(self.t, data[i], lw=1)
            unit = self.units.get(name, "1")
            a.set_ylabel(name if unit == "1" else f"{name} ({unit})")
        axes[-1].set_xlabel("t" + tunit)
        return axes if len(axes) > 1 else axes[0]

    def __repr__(self) -> str:
        n_spikes = sum(len(s) for s in self.spikes)
        tunit = "" if self._spec.time_dimensionless else " ms"
        t_end = self.t[-1] if self.t.size else 0.0
        return (
            f"<Result {getattr(self.model, 'name', 'model')!r}: {self.n} instance(s), "
            f"t = 0..{t_end:g}{tunit} ({self.t.size} points), {n_spikes} spike(s), "
            f"method {self.stats.get('method')!r} on {self.stats.get('backend')}; "
            f"variables: {', '.join(self.variables)}>"
        )
