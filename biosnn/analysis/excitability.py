"""Firing-rate (f-I) curves, rheobase and the excitability class of a neuron model.

:func:`fi_curve` simulates the model at every value of one parameter (usually the injected
current) in ONE vectorized :func:`biosnn.simulate` call - one instance per value, on the
compiled backend when a compiler works - and reads the firing rate of each instance from
its spikes after a transient:

* ``rates``: ``1 / (last inter-spike interval)`` (the steady rate; precise even when only
  a few spikes fall in the window, as near a SNIC onset);
* ``rates_count``: ``(spikes after the transient) / (duration - transient)``.

An instance *fires* when at least two spikes fall after the transient (so the single spike
evoked by switching the current on does not count); the rate of an instance that does not
fire is 0.  The model starts from its initial state (or ``init``) at every value.

The rheobase is the smallest value at which the model fires.  It is bracketed by the
curve (the last silent value and the first firing one) and the bracket is shrunk by
further vectorized runs, ``rheobase_points`` values inside the bracket per run, until it
is narrower than ``rheobase_tol`` (relative to the interval).  The rheobase therefore
depends on the duration for class 1 models: a rate below about ``2 / (duration -
transient)`` cannot be seen.

The excitability class (Hodgkin 1948) is read twice:

* from the curve (``class_from_curve``): 1 if the rate at onset (the rate at the upper
  end of the final rheobase bracket) is small - below a quarter of the rate half-way
  between the rheobase and the last value, or below 2.5x the smallest rate the window
  can resolve (``2 / (duration - transient)``) - so the frequency rises continuously from
  zero; 2 if it jumps to a finite frequency.  (Hodgkin's classes are defined by the
  curve; :attr:`FICurve.excitability_class` is this one.);
* from the bifurcation at onset (``class_from_bifurcation``): the equilibrium branch is
  continued over the interval (:func:`~biosnn.analysis.continuation.continue_equilibria`)
  and the first fold or Hopf point met while the rest is stable decides: a fold (the rest
  disappears in a saddle-node, on an invariant circle when the model fires just above
  it: SNIC) -> 1; a Hopf point -> 2; none (an integrate-and-fire model, whose "spike" is
  the threshold) -> ``None``.

Examples
--------
>>> import biosnn
>>> from biosnn.analysis import fi_curve
>>> lif = biosnn.load_model("lif")
>>> fi = fi_curve(lif, "I_ext", [0.1, 0.25, 0.5], duration=300, transient=50)
>>> [round(float(r), 2) for r in fi.rates]         # Hz; the analytic 1/T: 0, 63.04, 165.16
[0.0, 63.04, 165.16]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from biosnn.analysis.options import SOLVER_DEFAULTS
from biosnn.equations.files import as_model
from biosnn.errors import BiosnnError
from biosnn.solvers.options import merge
from biosnn.units import parse_time

__all__ = ["FICurve", "fi_curve", "rates_from_spikes"]


@dataclass(frozen=True)
class FICurve:
    """An f-I curve: firing rates against one parameter, rheobase and excitability class.

    Attributes
    ----------
    model, param : str
        Model name and the varied parameter.
    unit : str
        Display unit of the parameter.
    rate_unit : str
        ``"Hz"`` (time in ms) or ``"1/time"`` (dimensionless time).
    values : ndarray (K,)
        Parameter values (display unit).
    rates : ndarray (K,)
        1 / last inter-spike interval after the transient (0 if fewer than two spikes).
    rates_count : ndarray (K,)
        Spike count after the transient / (duration - transient).
    n_spikes : ndarray of int (K,)
        Spikes after the transient.
    rheobase : float or None
        Smallest firing value (display unit; None if no value fires, or the first does).
    rheobase_bracket : tuple or None
        (last silent value, first firing value) after refinement.
    onset_rate : float or None
        Rate at the upper end of the rheobase bracket.
    class_from_curve, class_from_bifurcation : int or None
        1 or 2 (see the module docstring).
    bifurcation : dict or None
        The onset bifurcation: ``{"type": "fold"|"hopf", "param": value}``.
    duration, transient : float
        Simulated time and the discarded start (ms or time units).
    """

    model: str
    param: str
    unit: str
    rate_unit: str
    values: np.ndarray
    rates: np.ndarray
    rates_count: np.ndarray
    n_spikes: np.ndarray
    rheobase: float | None
    rheobase_bracket: tuple | None
    onset_rate: float | None
    class_from_curve: int | None
    class_from_bifurcation: int | None
    bifurcation: dict | None
    duration: float
    transient: float
    stats: dict = field(default_factory=dict)

    @property
    def excitability_class(self) -> int | None:
        """Hodgkin's class, defined by the curve; from the bifurcation if the curve has
        no onset in the interval.
        """
        if self.class_from_curve is not None:
            return self.class_from_curve
        return self.class_from_bifurcation

    def __repr__(self) -> str:
        unit = "" if self.unit == "1" else f" {self.unit}"
        rh = "none" if self.rheobase is None else f"{self.rheobase:.6g}{unit}"
        onset = (
            ""
            if self.onset_rate is None
            else f", onset rate {self.onset_rate:.4g} {self.rate_unit}"
        )
        bif = (
            ""
            if self.bifurcation is None
            else f"; onset bifurcation {self.bifurcation['type']} at "
            f"{self.bifurcation['param']:.6g}"
        )
        return (
            f"FICurve({self.model!r}, {self.param!r}: {len(self.values)} values "
            f"{self.values.min():.6g} .. {self.values.max():.6g}{unit}; rheobase "
            f"{rh}{onset}; class {self.excitability_class} (curve "
            f"{self.class_from_curve}, bifurcation {self.class_from_bifurcation}){bif})"
        )

    def to_dict(self) -> dict:
        """JSON-ready dict."""

        def num(x):
            return None if x is None or not np.isfinite(x) else float(x)

        return {
            "model": self.model,
            "param": self.param,
            "unit": self.unit,
            "rate_unit": self.rate_unit,
            "values": self.values.tolist(),
            "rates": self.rates.tolist(),
            "rates_count": self.rates_count.tolist(),
            "n_spikes": self.n_spikes.tolist(),
            "rheobase": num(self.rheobase),
            "rheobase_bracket": (
                None if self.rheobase_bracket is None else [float(v) for v in self.rheobase_bracket]
            ),
            "onset_rate": num(self.onset_rate),
            "class": self.excitability_class,
            "class_from_curve": self.class_from_curve,
            "class_from_bifurcation": self.class_from_bifurcation,
            "bifurcation": self.bifurcation,
            "duration": self.duration,
            "transient": self.transient,
        }

    def plot(self, ax=None, color="k", label=None, count_rates: bool = False):
        """Rate against the parameter; the rheobase marked.  Returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        ax.plot(
            self.values,
            self.rates,
            "o-",
            color=color,
            ms=3,
            lw=1.2,
            label=label or f"{self.model} (class {self.excitability_class})",
        )
        if count_rates:
            ax.plot(self.values, self.rates_count, ":", color=color, lw=1)
        if self.rheobase is not None:
            ax.axvline(self.rheobase, color=color, ls="--", lw=0.8)
        unit = "" if self.unit == "1" else f" ({self.unit})"
        ax.set_xlabel(f"{self.param}{unit}")
        ax.set_ylabel(f"rate ({self.rate_unit})")
        ax.legend(frameon=False)
        return ax


def rates_from_spikes(spikes, t0: float, t1: float, scale: float = 1.0):
    """Rates of each spike train in the window ``[t0, t1]``.

    Returns ``(rates, rates_count, n_spikes)``: ``scale / last ISI`` (0 with fewer than two
    spikes in the window), ``scale * count / (t1 - t0)`` and the counts.
    """
    n = len(spikes)
    rates, counts = np.zeros(n), np.zeros(n, dtype=int)
    for i, s in enumerate(spikes):
        s = np.asarray(s, float)
        s = s[(s >= t0) & (s <= t1)]
        counts[i] = s.size
        if s.size >= 2:
            rates[i] = scale / (s[-1] - s[-2])
    rates_count = np.where(counts >= 2, scale * counts / (t1 - t0), 0.0)
    return rates, rates_count, counts


def fi_curve(
    model,
    param: str,
    values,
    duration,
    *,
    transient=None,
    options=None,
    method: str | None = None,
    dt=None,
    rtol: float | None = None,
    atol: float | None = None,
    backend: str | None = None,
    params=None,
    init=None,
    rheobase: bool = True,
    rheobase_tol: float = 1e-3,
    rheobase_points: int = 8,
    bifurcation: bool = True,
) -> FICurve:
    """Firing rate against a parameter by one vectorized simulation.

    Parameters
    ----------
    model : Model or str
        A model with a threshold (spikes are its upward crossings).
    param : str
        The varied parameter (e.g. ``"I_ext"``).
    values : array_like
        Its values (display unit), at least two, increasing.
    duration : float
        Simulated time per value (ms, or time units).
    transient : float, optional
        Start of the counting window (default ``duration / 5``).
    options : SolverOptions, optional
        Solver settings of the runs (default
        ``analysis.options.SOLVER_DEFAULTS["fi_curve"]``: ``dop853`` with ``rtol=1e-6``,
        ``atol=1e-8``; docs/options.md).
    method, dt, rtol, atol, backend : optional
        Override the fields of ``options`` (tolerances are not used by fixed-step
        methods).
    params, init : dict, optional
        Other parameters and initial values (the same for every value).
    rheobase : bool
        Refine the rheobase by further vectorized runs (default True).
    rheobase_tol : float
        Width of the final bracket, relative to ``values.max() - values.min()``.
    rheobase_points : int
        Values simulated per refinement run.
    bifurcation : bool
        Continue the equilibria over the interval to find the onset bifurcation.

    Returns
    -------
    FICurve
    """
    import time

    model = as_model(model)
    model.check_param(param)
    if model.kernel_spec().threshold is None:
        raise BiosnnError(f"model {model.name} has no threshold: an f-I curve counts spikes")
    values = np.asarray(values, dtype=float).ravel()
    if values.size < 2 or not np.all(np.isfinite(values)):
        raise BiosnnError("fi_curve needs at least two finite parameter values")
    if np.any(np.diff(values) <= 0):
        raise BiosnnError("fi_curve: the parameter values must increase")
    duration = parse_time(duration, "duration", model=model)
    transient = (
        duration / 5 if transient is None else parse_time(transient, "transient", model=model)
    )
    if not 0 <= transient < duration:
        raise BiosnnError(
            f"fi_curve: need 0 <= transient < duration, got {transient} and {duration}"
        )
    rate_unit = "Hz" if model.time_unit == "ms" else "1/time"
    scale = 1000.0 if model.time_unit == "ms" else 1.0
    opts = merge(
        options,
        SOLVER_DEFAULTS["fi_curve"],
        "fi_curve",
        method=method,
        dt=dt,
        rtol=rtol,
        atol=atol,
        backend=backend,
    )
    run_kw = dict(params=params, init=init, **opts.simulate_kwargs())

    def run(vals):
        out = _run(model, param, vals, duration, run_kw)
        return rates_from_spikes(out.spikes, transient, duration, scale), out

    t0 = time.perf_counter()
    (rates, rates_count, counts), out = run(values)
    stats = {
        "simulate_s": time.perf_counter() - t0,
        "backend": str(out.stats.get("backend", "?")),
        "method": opts.method,
    }

    bracket, onset = None, None
    firing = counts >= 2
    if firing.any() and not firing[0]:
        k = int(np.argmax(firing))
        lo, hi, onset = values[k - 1], values[k], rates[k]
        if rheobase:
            t1 = time.perf_counter()
            width = rheobase_tol * (values[-1] - values[0])
            while hi - lo > width:
                trial = np.linspace(lo, hi, rheobase_points + 2)[1:-1]
                (r, _, c), _ = run(trial)
                fires = c >= 2
                j = int(np.argmax(fires)) if fires.any() else len(trial)
                new_lo = trial[j - 1] if j > 0 else lo
                new_hi = trial[j] if j < len(trial) else hi
                if j < len(trial):
                    onset = r[j]
                lo, hi = new_lo, new_hi
            stats["rheobase_s"] = time.perf_counter() - t1
        bracket = (float(lo), float(hi))
    rheo = None if bracket is None else bracket[1]

    curve_class = None
    if onset is not None:
        resolvable = scale * 2.0 / (duration - transient)
        f_mid = float(np.interp(0.5 * (bracket[1] + values[-1]), values, rates))
        curve_class = 1 if (onset < 0.25 * f_mid or onset < 2.5 * resolvable) else 2

    bif, bif_class = None, None
    if bifurcation:
        t2 = time.perf_counter()
        bif = _onset_bifurcation(model, param, values[0], values[-1], params, init)
        stats["bifurcation_s"] = time.perf_counter() - t2
        if bif is not None:
            bif_class = 1 if bif["type"] == "fold" else 2

    return FICurve(
        model=model.name,
        param=param,
        unit=model.display_unit(param),
        rate_unit=rate_unit,
        values=values,
        rates=rates,
        rates_count=rates_count,
        n_spikes=counts,
        rheobase=rheo,
        rheobase_bracket=bracket,
        onset_rate=None if onset is None else float(onset),
        class_from_curve=curve_class,
        class_from_bifurcation=bif_class,
        bifurcation=bif,
        duration=duration,
        transient=transient,
        stats=stats,
    )


def _run(model, param, vals, duration, run_kw):
    import biosnn

    params = dict(run_kw.get("params") or {})
    params[param] = np.asarray(vals, dtype=float)
    kw = {k: v for k, v in run_kw.items() if k != "params" and v is not None}
    return biosnn.simulate(
        model, duration, n=len(vals), params=params, record=[], record_dt=duration, **kw
    )


def _onset_bifurcation(model, param, start, stop, params, init):
    """First fold or Hopf point met on the equilibrium branch while the rest is stable."""
    from biosnn.analysis.continuation import continue_equilibria

    others = {k: v for k, v in (params or {}).items() if k != param}
    try:
        diagram = continue_equilibria(model, param, start, stop, params=others, init=init or None)
    except BiosnnError:
        return None
    for sp in diagram.special_points:
        if sp.type not in ("fold", "hopf"):
            continue
        i = sp.index
        before = diagram.stable[max(i - 1, 0)] or diagram.stable[min(i, len(diagram) - 1)]
        if before:
            return {"type": sp.type, "param": float(sp.param)}
    return None
