"""``biosnn demo``: simulate a few library models, analyse them, write a figure and a summary.

What it does (in a few seconds with the C backend, well under a minute on NumPy):

1. **Hodgkin-Huxley** tonic firing at ``I_ext = 10 uA/cm**2`` (trace).
2. **HH f-I curve**: one vectorized :func:`biosnn.simulate` call over 40 currents (``n``
   instances, ``params={"I_ext": array}``, rk4 at dt = 0.05 ms), the firing rate (1/mean
   interspike interval) after a 50 ms transient,
   then a second call on a fine grid between the last silent and the first firing current
   for the rheobase (onset of repetitive firing from rest).
3. **Izhikevich** firing patterns from the model's presets (one run per preset).
4. **Leaky integrate-and-fire** f-I curve, simulated with an adaptive method (exact spike
   times, reset at the spike time) against the analytic rate
   ``1/(t_ref + tau*log((v_inf - v_reset)/(v_inf - v_th)))``, whose ingredients are read
   from the model itself (its linear right-hand side, threshold, reset and refractory
   period in the :class:`~biosnn.codegen.spec.KernelSpec`).
5. **FitzHugh-Nagumo** limit cycle in the phase plane with its nullclines (contours of
   the model's own right-hand side).

Output: ``OUT/demo.png`` (six panels) and ``OUT/demo.json`` (every number shown).

Examples
--------
>>> from biosnn.demo import run_demo
>>> summary = run_demo("out")  # doctest: +SKIP
wrote out/demo.png and out/demo.json (4.2 s)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

import biosnn
from biosnn.jsonable import jsonable as _jsonable

__all__ = ["run_demo"]

#: Library names used by the demo.
HH, IZHIKEVICH, LIF, FHN = "hodgkin_huxley", "izhikevich", "lif", "fitzhugh_nagumo"


# -- small helpers ------------------------------------------------------------------------


def _mean_isi(spikes, t_start: float = -np.inf) -> np.ndarray:
    """Mean interspike interval (ms) of each instance's spikes after ``t_start``.

    NaN for instances with fewer than two such spikes.
    """
    out = []
    for s in spikes:
        s = np.asarray(s)
        s = s[s >= t_start]
        out.append(np.mean(np.diff(s)) if s.size > 1 else np.nan)
    return np.asarray(out)


def _rates_hz(spikes, t_start: float = -np.inf) -> np.ndarray:
    """Firing rate (Hz) = 1/(mean interspike interval after ``t_start``); 0 if silent."""
    isi = _mean_isi(spikes, t_start)
    ok = np.isfinite(isi)
    return np.where(ok, 1000.0 / np.where(ok, isi, 1.0), 0.0)


def _first_state(model) -> str:
    """The membrane potential: ``V`` or ``v`` if present, else the first state."""
    for name in ("V", "v"):
        if name in model.states:
            return name
    return model.states[0]


def _input_param(model) -> str:
    """The name of the injected-current parameter of a model."""
    for name in ("I_ext", "I", "I_e", "Ie", "I_app"):
        if name in model.params:
            return name
    raise biosnn.ModelError(f"model {model.name} has no input current parameter")


# -- 1, 2: Hodgkin-Huxley -----------------------------------------------------------------


def hh_trace(duration: float = 100.0, current: float = 10.0) -> dict:
    """HH at a constant current: trace of V, spike times, rate."""
    model = biosnn.load_model(HH)
    res = biosnn.simulate(model, duration, method="rk4", dt=0.01, params={"I_ext": current})
    spikes = np.asarray(res.spikes[0])
    isi = np.diff(spikes)
    return {
        "summary": {
            "I_ext_uA_cm2": current,
            "duration_ms": duration,
            "n_spikes": int(spikes.size),
            "spike_times_ms": spikes,
            "mean_isi_ms": float(isi.mean()) if isi.size else None,
            "backend": res.stats.get("backend"),
        },
        "t": res.t,
        "V": res["V"][0],
    }


def _hh_rates(currents, duration: float, transient: float) -> np.ndarray:
    """One vectorized simulate call: rate (Hz) of HH for each current (uA/cm**2)."""
    model = biosnn.load_model(HH)
    res = biosnn.simulate(
        model,
        duration,
        method="rk4",
        dt=0.05,
        n=len(currents),
        params={"I_ext": np.asarray(currents, float)},
        record=[],
    )
    return _rates_hz(res.spikes, transient)


def hh_fi_curve(
    i_max: float = 20.0, n: int = 40, duration: float = 300.0, transient: float = 50.0
) -> dict:
    """HH f-I curve from rest and the rheobase of repetitive firing (refined once)."""
    currents = np.linspace(i_max / n, i_max, n)
    rates = _hh_rates(currents, duration, transient)
    firing = np.flatnonzero(rates > 0)
    rheobase = None
    if firing.size and firing[0] > 0:
        lo, hi = currents[firing[0] - 1], currents[firing[0]]
        fine = np.linspace(lo, hi, 21)
        fine_rates = _hh_rates(fine, duration, transient)
        rheobase = float(fine[np.flatnonzero(fine_rates > 0)[0]])
    return {
        "summary": {
            "currents_uA_cm2": currents,
            "rates_hz": rates,
            "rheobase_uA_cm2": rheobase,
            "duration_ms": duration,
            "transient_ms": transient,
        },
        "currents": currents,
        "rates": rates,
        "rheobase": rheobase,
    }


# -- 3: Izhikevich --------------------------------------------------------------------------


def izhikevich_patterns(duration: float = 300.0, max_presets: int = 5) -> dict:
    """One run per preset of the Izhikevich model: trace of v and spike counts."""
    base = biosnn.load_model(IZHIKEVICH)
    traces, summary = {}, {}
    for name in list(base.presets)[:max_presets]:
        model = base.with_preset(name)
        res = biosnn.simulate(model, duration, method="rk4", dt=0.05)
        spikes = np.asarray(res.spikes[0])
        var = _first_state(model)
        traces[name] = (res.t, res[var][0])
        summary[name] = {
            "description": base.presets[name],
            "n_spikes": int(spikes.size),
            "first_spikes_ms": spikes[:10],
        }
    return {"summary": summary, "traces": traces}


# -- 4: LIF against the analytic f-I ---------------------------------------------------------


def _internal_params(model) -> dict:
    """Symbol name -> internal value of every parameter (defaults)."""
    return {name: float(model.to_internal(name, value)) for name, value in model.params.items()}


def lif_analytic_rate(model, current_name: str, currents) -> np.ndarray:
    """Analytic firing rate (Hz) of a one-state linear integrate-and-fire model.

    Reads ``dv/dt = a*v + b`` (``spec.linear``), the threshold ``v > v_th``
    (``spec.crossing = v - v_th``), the reset value and the refractory period from the
    model's :class:`~biosnn.codegen.spec.KernelSpec`; ``currents`` are in the display unit
    of ``current_name``.
    """
    import sympy

    spec = model.kernel_spec()
    if spec.n_states != 1 or spec.linear is None or spec.crossing is None or not spec.reset:
        raise biosnn.ModelError(f"{model.name} is not a linear one-state integrate-and-fire model")
    v = model.symbols[spec.states[0]]
    a_expr = sympy.Matrix(spec.linear[0])[0, 0]
    b_expr = sympy.Matrix(spec.linear[1])[0]
    rates = []
    for current in np.asarray(currents, float):
        values = _internal_params(model)
        values[current_name] = float(model.to_internal(current_name, current))
        subs = {model.symbols[k]: val for k, val in values.items()}
        a, b = float(a_expr.subs(subs)), float(b_expr.subs(subs))
        v_th = float(sympy.solve(spec.crossing.subs(subs), v)[0])
        v_reset = float(spec.reset[0][1].subs(subs))
        t_ref = float(sympy.sympify(spec.refractory_time or 0).subs(subs))
        v_inf, tau = -b / a, -1.0 / a
        if v_inf <= v_th:
            rates.append(0.0)
            continue
        period = t_ref + tau * np.log((v_inf - v_reset) / (v_inf - v_th))
        rates.append(1000.0 / period)
    return np.asarray(rates)


def lif_fi_curve(n: int = 25, duration: float = 500.0, i_max: float = 1.0) -> dict:
    """Simulated (dop853, exact spike times) vs analytic f-I curve of the LIF model.

    ``i_max`` is in the display unit of the input current (nA for the library LIF, whose
    rheobase is 0.2 nA; the default grid avoids that point, where the rate is 0 only in
    exact arithmetic).  The simulated rate is 1/(mean interspike interval).
    """
    model = biosnn.load_model(LIF)
    current = _input_param(model)
    currents = np.linspace(0.0, i_max, n)
    res = biosnn.simulate(
        model,
        duration,
        method="dop853",
        rtol=1e-10,
        atol=1e-10,
        n=n,
        params={current: currents},
        record=[],
    )
    isi = _mean_isi(res.spikes)
    simulated = _rates_hz(res.spikes)
    analytic = lif_analytic_rate(model, current, currents)
    firing = analytic > 0
    isi_error = np.abs(isi[firing] - 1000.0 / analytic[firing])
    return {
        "summary": {
            "current": current,
            "unit": model.display_unit(current),
            "currents": currents,
            "simulated_hz": simulated,
            "analytic_hz": analytic,
            "max_isi_error_ms": float(np.max(isi_error)) if isi_error.size else None,
            "max_rate_error_hz": float(np.max(np.abs(simulated - analytic))),
        },
        "currents": currents,
        "simulated": simulated,
        "analytic": analytic,
        "unit": model.display_unit(current),
        "current": current,
    }


# -- 5: FitzHugh-Nagumo ------------------------------------------------------------------------


def _nullcline_grid(model, x_name, y_name, x_range, y_range, size=200):
    """The model's right-hand side on a grid (for nullclines as zero contours)."""
    import sympy

    xs = np.linspace(*x_range, size)
    ys = np.linspace(*y_range, size)
    X, Y = np.meshgrid(xs, ys)
    subs = {model.symbols[k]: v for k, v in _internal_params(model).items()}
    x, y = model.symbols[x_name], model.symbols[y_name]
    fx = sympy.lambdify((x, y), model.rhs[x_name].subs(subs), "numpy")
    fy = sympy.lambdify((x, y), model.rhs[y_name].subs(subs), "numpy")
    return X, Y, np.broadcast_to(fx(X, Y), X.shape), np.broadcast_to(fy(X, Y), X.shape)


def fitzhugh_nagumo(duration: float = 300.0) -> dict:
    """FHN limit cycle (dimensionless time): trajectory, period, nullclines."""
    model = biosnn.load_model(FHN)
    model = (
        model.with_preset("oscillating")
        if "oscillating" in model.presets
        else model.with_params(**{_input_param(model): 0.5})
    )
    x_name, y_name = model.states[:2]
    res = biosnn.simulate(model, duration, method="rk45", rtol=1e-8, atol=1e-8)
    x, y = res[x_name][0], res[y_name][0]
    late = res.t > duration / 2
    spikes = np.asarray(res.spikes[0])[1:]  # threshold crossings after the first
    period = float(np.mean(np.diff(spikes))) if spikes.size > 1 else None
    pad_x, pad_y = 0.3 * np.ptp(x) + 0.1, 0.3 * np.ptp(y) + 0.1
    grid = _nullcline_grid(
        model,
        x_name,
        y_name,
        (x.min() - pad_x, x.max() + pad_x),
        (y.min() - pad_y, y.max() + pad_y),
    )
    return {
        "summary": {
            "states": [x_name, y_name],
            "period": period,
            "amplitude": float(np.ptp(x[late])),
        },
        "t": res.t,
        "x": x,
        "y": y,
        "names": (x_name, y_name),
        "grid": grid,
    }


# -- figure and files --------------------------------------------------------------------------


def _plot_hh(ax, data):
    ax.plot(data["t"], data["V"], lw=0.8)
    ax.set(title="Hodgkin-Huxley, I = 10 uA/cm2", xlabel="t (ms)", ylabel="V (mV)")


def _plot_hh_fi(ax, data):
    ax.plot(data["currents"], data["rates"], "o-", ms=3)
    if data["rheobase"] is not None:
        ax.axvline(data["rheobase"], color="0.6", ls="--", lw=0.8)
        ax.text(data["rheobase"], 0, f" rheobase {data['rheobase']:.2f}", fontsize=8, va="bottom")
    ax.set(title="HH f-I curve (one vectorized run)", xlabel="I_ext (uA/cm2)", ylabel="rate (Hz)")


def _plot_izhikevich(ax, data):
    for k, (name, (t, v)) in enumerate(data["traces"].items()):
        ax.plot(t, v - 120 * k, lw=0.7, label=name)
    ax.set(title="Izhikevich presets (offset)", xlabel="t (ms)", yticks=[])
    ax.legend(fontsize=7, loc="upper right", frameon=False)


def _plot_lif(ax, data):
    ax.plot(data["currents"], data["analytic"], "-", color="0.3", label="analytic")
    ax.plot(data["currents"], data["simulated"], "o", ms=3, label="simulated (dop853)")
    ax.set(
        title="LIF f-I: simulation vs formula",
        xlabel=f"{data['current']} ({data['unit']})",
        ylabel="rate (Hz)",
    )
    ax.legend(fontsize=7, frameon=False)


def _plot_fhn(ax, data):
    X, Y, FX, FY = data["grid"]
    ax.contour(X, Y, FX, levels=[0], colors="tab:orange", linewidths=1)
    ax.contour(X, Y, FY, levels=[0], colors="tab:green", linewidths=1)
    ax.plot(data["x"], data["y"], lw=0.8)
    ax.set(
        title="FitzHugh-Nagumo limit cycle + nullclines",
        xlabel=data["names"][0],
        ylabel=data["names"][1],
    )


def _plot_fhn_trace(ax, data):
    ax.plot(data["t"], data["x"], lw=0.8, label=data["names"][0])
    ax.plot(data["t"], data["y"], lw=0.8, label=data["names"][1])
    ax.set(title="FitzHugh-Nagumo (dimensionless time)", xlabel="t")
    ax.legend(fontsize=7, frameon=False)


def write_figure(path: Path, parts: dict) -> None:
    """The six-panel demo figure (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    _plot_hh(axes[0, 0], parts["hh"])
    _plot_hh_fi(axes[0, 1], parts["hh_fi"])
    _plot_izhikevich(axes[0, 2], parts["izhikevich"])
    _plot_lif(axes[1, 0], parts["lif_fi"])
    _plot_fhn(axes[1, 1], parts["fhn"])
    _plot_fhn_trace(axes[1, 2], parts["fhn"])
    fig.suptitle("biosnn demo")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _timed(func, timings: dict, key: str):
    start = time.perf_counter()
    value = func()
    timings[key] = round(time.perf_counter() - start, 3)
    return value


def run_demo(out_dir="out", *, out=None) -> dict:
    """Run the demo; write ``demo.png`` and ``demo.json`` into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Output directory (created if missing; its parent must exist).  An existing
        ``demo.png`` and ``demo.json`` there are overwritten.
    out : file, optional
        Where the final message goes (default stdout).

    Returns
    -------
    dict
        The JSON summary (also written to ``out_dir/demo.json``), with the paths written.
    """
    from biosnn._outputs import check_output_dir, check_output_file

    out = sys.stdout if out is None else out
    out_dir = check_output_dir(out_dir, "the demo's output directory")
    for name in ("demo.png", "demo.json"):  # before minutes of work, not after
        check_output_file(out_dir / name, "the demo's output", {name.split(".")[1]})
    start = time.perf_counter()
    timings: dict = {}
    parts = {
        "hh": _timed(hh_trace, timings, "hh"),
        "hh_fi": _timed(hh_fi_curve, timings, "hh_fi"),
        "izhikevich": _timed(izhikevich_patterns, timings, "izhikevich"),
        "lif_fi": _timed(lif_fi_curve, timings, "lif_fi"),
        "fhn": _timed(fitzhugh_nagumo, timings, "fhn"),
    }
    png, js = out_dir / "demo.png", out_dir / "demo.json"
    _timed(lambda: write_figure(png, parts), timings, "figure")
    summary = {name: part["summary"] for name, part in parts.items()}
    summary["timings_s"] = timings
    summary["total_s"] = round(time.perf_counter() - start, 3)
    summary["files"] = {"figure": str(png), "summary": str(js)}
    summary["biosnn_version"] = biosnn.__version__
    summary = _jsonable(summary)
    js.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {png} and {js} ({summary['total_s']:.1f} s)", file=out)
    return summary
