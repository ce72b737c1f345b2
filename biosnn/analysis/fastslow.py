"""Fast-slow analysis: the fast subsystem's bifurcation diagram in a slow variable, with the
full trajectory overlaid (Rinzel 1985; Izhikevich, *Dynamical Systems in Neuroscience*,
ch. 9).

In a burster a slow state (Hindmarsh-Rose's ``z``, an adaptation current, a calcium
concentration) moves the fast spiking subsystem back and forth across its bifurcations.
:func:`fast_slow` freezes the slow state into a parameter - the *fast subsystem* is a new
:class:`~biosnn.equations.model.Model` built from the same equation text without the slow
state's equation - and

* continues the fast subsystem's equilibria in it
  (:func:`~biosnn.analysis.continuation.continue_equilibria`: the S- or Z-shaped curve
  with its folds and Hopf points);
* optionally (``cycles=K``) finds the fast subsystem's stable oscillations by brute force:
  one vectorized simulation at ``K`` values of the slow variable started on the
  trajectory's spiking orbit, recording each oscillation's max and min (a stable cycle
  branch; continuation of cycles is the business of periodic-orbit continuation);
* simulates the full model and returns its trajectory, to be drawn over the diagram in
  the (slow, fast) plane.

Examples
--------
>>> import biosnn
>>> from biosnn.analysis import fast_slow
>>> fs = fast_slow(biosnn.load_model("hindmarsh_rose"), "z", duration=2000, transient=1000)
>>> [(sp.type, round(sp.param, 4)) for sp in fs.diagram.special("fold")]
[('fold', 3.0), ('fold', 1.8148)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from biosnn.analysis.options import CONTINUATION_DEFAULTS, SOLVER_DEFAULTS
from biosnn.equations.files import as_model
from biosnn.errors import BiosnnError
from biosnn.solvers.options import merge
from biosnn.units import parse_time

__all__ = ["FastSlow", "fast_slow", "fast_subsystem"]


@dataclass(frozen=True)
class FastSlow:
    """The fast subsystem's diagram in the slow variable and the full trajectory.

    Attributes
    ----------
    model, slow : str
        Model name and the slow state.
    fast_model : Model
        The fast subsystem (the slow state as a parameter).
    diagram : BifurcationDiagram
        Equilibria of the fast subsystem against the slow variable.
    t : ndarray (T,)
        Times of the trajectory (after the transient).
    trajectory : dict
        state -> ndarray (T,) of the full model (display units).
    spikes : ndarray
        Spike times of the full model in the recorded window.
    cycles : dict or None
        Brute-force stable oscillations of the fast subsystem: ``{"slow": values,
        "max": {state: array}, "min": {state: array}, "oscillating": bool array}``.
    """

    model: str
    slow: str
    fast_model: object
    diagram: object
    t: np.ndarray
    trajectory: dict
    spikes: np.ndarray
    cycles: dict | None = None

    @property
    def folds(self) -> list:
        """Slow-variable values of the folds of the fast subsystem's equilibria."""
        return [sp.param for sp in self.diagram.special("fold")]

    def to_dict(self) -> dict:
        """JSON-ready dict (diagram, trajectory, cycles)."""
        out = {
            "model": self.model,
            "slow": self.slow,
            "diagram": self.diagram.to_dict(),
            "t": self.t.tolist(),
            "trajectory": {k: v.tolist() for k, v in self.trajectory.items()},
            "spikes": self.spikes.tolist(),
            "cycles": None,
        }
        if self.cycles is not None:
            c = self.cycles
            out["cycles"] = {
                "slow": c["slow"].tolist(),
                "max": {k: v.tolist() for k, v in c["max"].items()},
                "min": {k: v.tolist() for k, v in c["min"].items()},
                "oscillating": c["oscillating"].tolist(),
            }
        return out

    def plot(self, var: str | None = None, ax=None):
        """The diagram in the (slow, ``var``) plane with the trajectory over it."""
        import matplotlib.pyplot as plt

        var = var or next(s for s in self.trajectory if s != self.slow)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        self.diagram.plot(var, ax=ax)
        if self.cycles is not None:
            c, ok = self.cycles, self.cycles["oscillating"]
            ax.plot(
                c["slow"][ok],
                c["max"][var][ok],
                "o",
                color="tab:green",
                ms=2.5,
                label="fast cycles (max/min)",
            )
            ax.plot(c["slow"][ok], c["min"][var][ok], "o", color="tab:green", ms=2.5)
        ax.plot(
            self.trajectory[self.slow],
            self.trajectory[var],
            color="tab:red",
            lw=0.6,
            alpha=0.8,
            label="trajectory",
        )
        ax.legend(frameon=False, loc="best")
        return ax


def _without_equation(text: str, state: str) -> str:
    """Equation text with the differential equation of ``state`` removed."""
    lines, out, skipping, depth = text.splitlines(), [], False, 0
    head = re.compile(rf"^\s*d\s*{re.escape(state)}\s*/\s*dt\s*=")
    for line in lines:
        code = line.split("#", 1)[0]
        if not skipping and head.match(code):
            skipping, depth = True, 0
        if skipping:
            depth += code.count("(") - code.count(")")
            if depth <= 0:
                skipping = False
            continue
        out.append(line)
    return "\n".join(out)


def _value_string(model, name, value) -> str:
    unit = model.display_unit(name)
    return repr(float(value)) if unit == "1" else f"{float(value)!r} {unit}"


def fast_subsystem(model, slow: str, value=None):
    """The fast subsystem of ``model``: ``slow`` (a state) frozen into a parameter.

    Parameters
    ----------
    model : Model or str
    slow : str
        The slow state.
    value : float, optional
        Its value as a parameter (display unit; default: its initial value).

    Returns
    -------
    Model
        Named ``<model>_fast``; no events; the other initial values as in the model.
    """
    import biosnn

    model = as_model(model)
    if slow not in model.states:
        raise BiosnnError(
            f"{slow!r} is not a state of {model.name} (states: {', '.join(model.states)})"
        )
    if len(model.states) < 2:
        raise BiosnnError("a fast subsystem needs at least one other state")
    args = model.arguments
    text = _without_equation(args["equations"], slow)
    if value is None:
        value = model.initial[slow]
    params = {k: _value_string(model, k, v) for k, v in model.params.items()}
    params[slow] = _value_string(model, slow, value)
    initial = {k: _value_string(model, k, v) for k, v in model.initial.items() if k != slow}
    # a name of at most biosnn.names.MAX_LENGTH (64) characters
    return biosnn.Model(
        text, params=params, init=initial, name=f"{model.name[:59]}_fast", time=args.get("time")
    )


def fast_slow(
    model,
    slow: str,
    *,
    duration,
    transient=0.0,
    params=None,
    init=None,
    slow_range=None,
    cycles: int = 0,
    options=None,
    method: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    record_dt=None,
    backend: str | None = None,
    continuation=None,
    ds_max: float | None = None,
) -> FastSlow:
    """Fast-slow analysis of ``model`` with the slow state ``slow``.

    Parameters
    ----------
    model : Model or str
    slow : str
        The slow state.
    duration : float
        Simulated time of the full model (ms or time units).
    transient : float
        Start of the recorded trajectory.
    params, init : dict, optional
        Parameters and initial values of the full model (display units).
    slow_range : (float, float), optional
        Interval of the continuation in the slow variable (default: the trajectory's range
        widened by twice its span and half its largest magnitude on each side).
    cycles : int
        Values of the slow variable for the brute-force fast oscillations (0: none).
    options : SolverOptions, optional
        Solver settings of the simulations (default
        ``analysis.options.SOLVER_DEFAULTS["fast_slow"]``: ``dop853``, ``rtol=1e-8``,
        ``atol=1e-10``; docs/options.md).
    method, rtol, atol, backend : optional
        Override the fields of ``options``.
    record_dt : float, optional
        Recording interval of the simulation (:func:`biosnn.simulate`).
    continuation : ContinuationOptions, optional
        Of the fast subsystem's equilibria (``continue_equilibria``; default
        ``analysis.options.CONTINUATION_DEFAULTS["fast_slow"]``: ``ds_max=0.02``).
    ds_max : float, optional
        Overrides ``continuation.ds_max`` (largest step, scaled).

    Returns
    -------
    FastSlow
    """
    import biosnn
    from biosnn.analysis.continuation import continue_equilibria

    model = as_model(model, params=params)
    fast = fast_subsystem(model, slow)
    duration = parse_time(duration, "duration", model=model)
    transient = parse_time(transient, "transient", model=model)
    if not 0 <= transient < duration:
        raise BiosnnError("fast_slow: need 0 <= transient < duration")
    opts = merge(
        options,
        SOLVER_DEFAULTS["fast_slow"],
        "fast_slow",
        method=method,
        rtol=rtol,
        atol=atol,
        backend=backend,
    )
    cont = merge(continuation, CONTINUATION_DEFAULTS["fast_slow"], "fast_slow", ds_max=ds_max)
    kw = dict(init=init, **opts.simulate_kwargs())
    if record_dt is not None:
        kw["record_dt"] = record_dt
    res = biosnn.simulate(model, duration, **kw)
    keep = res.t >= transient
    t = res.t[keep]
    traj = {s: np.asarray(res[s][0])[keep] for s in model.states}
    spikes = res.spikes[0][res.spikes[0] >= transient]

    zs = traj[slow]
    if slow_range is None:
        span = float(np.ptp(zs))
        w = max(2.0 * span, 0.5 * float(np.max(np.abs(zs))), 1e-6)
        slow_range = (float(zs.min()) - w, float(zs.max()) + w)
    lo, hi = float(slow_range[0]), float(slow_range[1])
    others = [s for s in model.states if s != slow]
    i_lo = int(np.argmin(zs))
    guess = {s: float(traj[s][i_lo]) for s in others}
    diagram = continue_equilibria(fast, slow, lo, hi, init=guess, options=cont)

    found = None
    if cycles:
        found = _fast_cycles(
            fast, slow, others, traj, np.linspace(lo, hi, int(cycles)), duration - transient, kw
        )
    return FastSlow(
        model=model.name,
        slow=slow,
        fast_model=fast,
        diagram=diagram,
        t=t,
        trajectory=traj,
        spikes=spikes,
        cycles=found,
    )


def _fast_cycles(fast, slow, others, traj, values, duration, kw):
    """Max/min of the fast subsystem's oscillations, all slow values in one run."""
    import biosnn

    first = others[0]
    k = int(np.argmax(traj[first]))  # a point on the spiking orbit
    init = {s: np.full(values.size, traj[s][k]) for s in others}
    run = dict(kw)
    run["init"] = init
    res = biosnn.simulate(fast, duration, n=values.size, params={slow: values}, **run)
    keep = res.t >= 0.5 * duration
    mx = {s: res[s][:, keep].max(axis=1) for s in others}
    mn = {s: res[s][:, keep].min(axis=1) for s in others}
    scale = np.ptp(traj[first]) + 1e-300
    oscillating = (mx[first] - mn[first]) > 1e-3 * scale
    return {"slow": values, "max": mx, "min": mn, "oscillating": oscillating}
