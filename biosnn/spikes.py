"""Spike-train statistics: rates, ISIs, CV, Fano factor, correlograms, synchrony, rasters.

Spike data (times in ms) can be given as

* a tuple ``(indices, times)`` of two arrays of equal length (neuron index and time of each
  spike, in any order), e.g. ``(mon.i, mon.t)`` of a SpikeMonitor;
* a list of per-neuron arrays of spike times, e.g. ``Result.spikes`` of
  :func:`biosnn.simulate`;
* an object with attributes ``i`` and ``t`` (a SpikeMonitor; its ``n`` is used when
  present) or with ``spikes`` (a :class:`~biosnn.solvers.result.Result`).

``n`` (the number of neurons) is needed when silent neurons should count; for
``(indices, times)`` it defaults to ``max(indices) + 1``.

Windows are half-open, ``t_start <= t < t_stop``; a spike within 1e-9 of a bin of a bin edge
counts in the later bin (spike times on a grid ``k*dt`` are not moved to the earlier bin by
rounding).  Rates are in Hz (spikes per second), everything else in ms.

Definitions (see docs/spikes.md)
--------------------------------
* CV of a neuron: ``std(ISI)/mean(ISI)`` with the population standard deviation (ddof=0,
  as elephant's ``cv``); needs at least ``min_spikes`` (default 3) spikes.
* Fano factor of a neuron: ``var(N)/mean(N)`` of its spike counts ``N`` in consecutive
  windows of length ``window``, with the unbiased variance (ddof=1).
* Correlogram of trains ``a``, ``b``: histogram of the lags ``t_b - t_a`` over all pairs
  of spikes, in bins of width ``bin`` centred on multiples of ``bin`` (lag 0 is the centre
  of a bin).  ``normalize``: ``"count"`` (pairs per bin), ``"rate"`` (Hz: the rate of
  ``b`` at lag tau after a spike of ``a``, i.e. count/(n_a*bin)), ``"ratio"`` (count
  divided by its expectation for independent stationary trains,
  ``n_a*n_b*bin*(T - |tau|)/T**2``, so 1 means no correlation).
* Synchrony chi (Golomb & Rinzel 1994; Golomb 2007, Scholarpedia 2(1):1347):
  ``chi**2 = Var_t(mean_i x_i(t)) / mean_i Var_t(x_i(t))`` where ``x_i`` is neuron
  ``i``'s spike count in bins of width ``bin`` or, with ``tau``, those counts filtered by
  a causal exponential kernel ``exp(-t/tau)``.  chi = 1 for identical trains and about
  ``1/sqrt(N)`` for ``N`` independent ones.  :func:`synchrony_from_traces` computes the
  same ratio from membrane potentials (Golomb's original definition).

Examples
--------
>>> import numpy as np
>>> from biosnn import spikes
>>> data = (np.array([0, 1, 0, 1]), np.array([10.0, 20.0, 30.0, 40.0]))
>>> spikes.firing_rates(data, t_stop=1000).tolist()
[2.0, 2.0]
>>> spikes.cv_isi([np.arange(0.0, 100.0, 10.0)]).tolist()
[0.0]
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "trains",
    "spike_counts",
    "firing_rates",
    "mean_rate",
    "population_rate",
    "isi",
    "isi_histogram",
    "cv_isi",
    "mean_cv",
    "fano_factor",
    "correlogram",
    "synchrony",
    "synchrony_from_traces",
    "raster_plot",
    "to_neo",
]

_EDGE = 1e-9  # fraction of a bin: a spike this close below an edge counts in the next bin


# -- input ----------------------------------------------------------------------------------


def _flat(spikes, n=None):
    """``(indices int64, times float64, n)`` sorted by (index, time)."""
    if hasattr(spikes, "i") and hasattr(spikes, "t") and not isinstance(spikes, (tuple, list)):
        if n is None:
            n = getattr(spikes, "n", None)
        spikes = (np.asarray(spikes.i), np.asarray(spikes.t))
    elif hasattr(spikes, "spikes") and isinstance(spikes.spikes, list):
        spikes = spikes.spikes
    if isinstance(spikes, tuple):
        if len(spikes) != 2:
            raise ValueError(
                f"spike data as a tuple must be (indices, times), got a tuple "
                f"of {len(spikes)}; give per-neuron trains as a list"
            )
        idx = np.asarray(spikes[0])
        times = np.asarray(spikes[1], dtype=np.float64)
        if idx.ndim != 1 or times.ndim != 1 or idx.size != times.size:
            raise ValueError(
                f"indices and times must be 1-D arrays of equal length, got "
                f"shapes {idx.shape} and {times.shape}"
            )
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            if not np.all(idx == np.round(idx)):
                raise ValueError("spike indices must be integers")
        idx = idx.astype(np.int64)
        if idx.size and idx.min() < 0:
            raise ValueError("spike indices must not be negative")
        top = int(idx.max()) + 1 if idx.size else 0
        if n is None:
            n = top
        elif top > n:
            raise ValueError(f"a spike index ({top - 1}) is outside the {n} neurons")
    elif isinstance(spikes, list):
        arrays = [np.asarray(s, dtype=np.float64).ravel() for s in spikes]
        if n is None:
            n = len(arrays)
        elif n != len(arrays):
            raise ValueError(f"n = {n} but {len(arrays)} spike trains were given")
        times = np.concatenate(arrays) if arrays else np.zeros(0)
        idx = np.repeat(np.arange(len(arrays), dtype=np.int64), [a.size for a in arrays])
    else:
        raise TypeError(
            "spike data must be a tuple (indices, times), a list of per-neuron "
            f"spike-time arrays or a spike monitor, not {type(spikes).__name__}"
        )
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n (the number of neurons) must be a non-negative integer, not {n!r}")
    if not np.all(np.isfinite(times)):
        raise ValueError("spike times must be finite numbers (ms)")
    order = np.lexsort((times, idx))
    return idx[order], times[order], int(n)


def _window(t_start, t_stop):
    t_start, t_stop = float(t_start), float(t_stop)
    if not (math.isfinite(t_start) and math.isfinite(t_stop)) or t_stop <= t_start:
        raise ValueError(
            f"the time window must have t_stop > t_start, got t_start={t_start}, "
            f"t_stop={t_stop} (ms)"
        )
    return t_start, t_stop


def _positive(value, name):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number (ms), not {value!r}")
    return float(value)


def _split(idx, values, n):
    return np.split(values, np.searchsorted(idx, np.arange(1, n))) if n else []


def trains(spikes, n=None) -> list[np.ndarray]:
    """Per-neuron sorted arrays of spike times (ms) from any accepted spike data.

    Examples
    --------
    >>> [t.tolist() for t in trains((np.array([1, 0, 1]), np.array([5.0, 3.0, 1.0])))]
    [[3.0], [1.0, 5.0]]
    """
    idx, times, n = _flat(spikes, n)
    return _split(idx, times, n)


# -- rates ----------------------------------------------------------------------------------


def spike_counts(spikes, t_stop, t_start=0.0, n=None) -> np.ndarray:
    """Number of spikes of each neuron in ``t_start <= t < t_stop`` (int64 array of n)."""
    idx, times, n = _flat(spikes, n)
    t_start, t_stop = _window(t_start, t_stop)
    inside = (times >= t_start) & (times < t_stop)
    return np.bincount(idx[inside], minlength=n).astype(np.int64)


def firing_rates(spikes, t_stop, t_start=0.0, n=None) -> np.ndarray:
    """Firing rate of each neuron in Hz: spike count / window length.

    Examples
    --------
    >>> firing_rates([[1.0, 2.0, 3.0], []], t_stop=500).tolist()
    [6.0, 0.0]
    """
    t_start, t_stop = _window(t_start, t_stop)
    return spike_counts(spikes, t_stop, t_start, n) / ((t_stop - t_start) / 1000.0)


def mean_rate(spikes, t_stop, t_start=0.0, n=None) -> float:
    """Population mean firing rate in Hz (silent neurons included when ``n`` says so)."""
    rates = firing_rates(spikes, t_stop, t_start, n)
    if rates.size == 0:
        raise ValueError("the mean rate of zero neurons is undefined (give n)")
    return float(rates.mean())


def _bins(t_start, t_stop, width):
    count = max(1, math.ceil((t_stop - t_start) / width - _EDGE))
    edges = t_start + width * np.arange(count + 1)
    edges[-1] = t_stop
    return count, edges


def _bin_index(times, t_start, width):
    return np.floor((times - t_start) / width + _EDGE).astype(np.int64)


def population_rate(spikes, t_stop, t_start=0.0, bin=1.0, smooth=None, n=None):
    """Time-binned population rate: spikes per neuron per second in each bin.

    Parameters
    ----------
    spikes : spike data (see module docstring)
    t_stop, t_start : float
        The window (ms).
    bin : float
        Bin width (ms); the last bin is shorter when the window is not a multiple of it.
    smooth : float, optional
        Standard deviation (ms) of a Gaussian kernel (truncated at 4 sd) the binned rate is
        convolved with; near the window ends the kernel is renormalised to the part inside
        the window, so a constant rate stays constant.
    n : int, optional
        Number of neurons (the rate is divided by it).

    Returns
    -------
    t : ndarray
        Bin centres (ms).
    rate : ndarray
        Hz.

    Examples
    --------
    >>> t, r = population_rate([[0.5, 1.5], [1.2]], t_stop=2, bin=1)
    >>> t.tolist(), r.tolist()
    ([0.5, 1.5], [500.0, 1000.0])
    """
    idx, times, n = _flat(spikes, n)
    if n == 0:
        raise ValueError("the population rate of zero neurons is undefined (give n)")
    t_start, t_stop = _window(t_start, t_stop)
    width = _positive(bin, "bin")
    count, edges = _bins(t_start, t_stop, width)
    k = _bin_index(times, t_start, width)
    k = k[(k >= 0) & (k < count) & (times < t_stop)]
    counts = np.bincount(k, minlength=count).astype(np.float64)
    widths = np.diff(edges)
    rate = counts / (n * widths / 1000.0)
    if smooth is not None:
        sd = _positive(smooth, "smooth")
        half = int(math.ceil(4 * sd / width))
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * width / sd) ** 2)
        num = np.convolve(rate * widths, kernel, mode="full")[half : half + count]
        den = np.convolve(widths, kernel, mode="full")[half : half + count]
        rate = num / den
    return (edges[:-1] + edges[1:]) / 2, rate


# -- intervals ------------------------------------------------------------------------------


def _isis(spikes, n=None):
    """(owner int64, isi float64, n): every inter-spike interval with its neuron."""
    idx, times, n = _flat(spikes, n)
    same = idx[1:] == idx[:-1]
    return idx[1:][same], np.diff(times)[same], n


def isi(spikes, n=None) -> list[np.ndarray]:
    """Inter-spike intervals (ms) of each neuron, a list of arrays.

    Examples
    --------
    >>> [x.tolist() for x in isi([[1.0, 4.0, 9.0], [2.0]])]
    [[3.0, 5.0], []]
    """
    owner, intervals, n = _isis(spikes, n)
    return _split(owner, intervals, n)


def isi_histogram(spikes, bins=50, range=None, density=True, n=None):
    """Distribution of all inter-spike intervals (pooled over neurons).

    Returns ``(edges, values)`` as :func:`numpy.histogram` with the arguments given: a
    probability density in 1/ms when ``density`` (it integrates to 1), else counts.
    """
    _, intervals, _ = _isis(spikes, n)
    if intervals.size == 0:
        raise ValueError("there are no inter-spike intervals (every neuron fired at most once)")
    values, edges = np.histogram(intervals, bins=bins, range=range, density=density)
    return edges, values


def cv_isi(spikes, n=None, min_spikes=3) -> np.ndarray:
    """Coefficient of variation of the ISIs of each neuron, ``std/mean`` (ddof=0).

    Neurons with fewer than ``min_spikes`` spikes get NaN.  A Poisson train has CV 1, a
    regular train CV 0.

    Examples
    --------
    >>> cv_isi([[0.0, 1.0, 3.0], [0.0, 10.0, 20.0, 30.0], [5.0]]).round(4).tolist()
    [0.3333, 0.0, nan]
    """
    if (
        isinstance(min_spikes, bool)
        or not isinstance(min_spikes, numbers.Integral)
        or min_spikes < 3
    ):
        raise ValueError(
            f"min_spikes must be an integer >= 3 (a CV needs two intervals), not {min_spikes!r}"
        )
    owner, intervals, n = _isis(spikes, n)
    count = np.bincount(owner, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(owner, intervals, minlength=n) / count
        var = np.bincount(owner, (intervals - mean[owner]) ** 2, minlength=n) / count
        cv = np.sqrt(var) / mean
    cv[count < min_spikes - 1] = np.nan
    return cv


def mean_cv(spikes, n=None, min_spikes=3) -> float:
    """Mean of :func:`cv_isi` over the neurons that have one (NaN if none has)."""
    cv = cv_isi(spikes, n, min_spikes)
    cv = cv[np.isfinite(cv)]
    return float(cv.mean()) if cv.size else float("nan")


def fano_factor(spikes, window, t_stop, t_start=0.0, n=None) -> np.ndarray:
    """Fano factor of each neuron: ``var/mean`` of its spike counts in windows (ddof=1).

    The interval ``[t_start, t_stop)`` is cut into ``floor((t_stop - t_start)/window)``
    consecutive windows (a shorter remainder at the end is not used); at least two are
    needed.  Neurons without spikes get NaN.  A Poisson train has Fano factor 1.

    Examples
    --------
    >>> fano_factor([np.arange(0.5, 100, 1.0)], window=10, t_stop=100).tolist()
    [0.0]
    """
    idx, times, n = _flat(spikes, n)
    t_start, t_stop = _window(t_start, t_stop)
    width = _positive(window, "window")
    count = int(math.floor((t_stop - t_start) / width + _EDGE))
    if count < 2:
        raise ValueError(
            f"the Fano factor needs at least two windows of {width} ms in [{t_start}, {t_stop}) ms"
        )
    k = _bin_index(times, t_start, width)
    keep = (k >= 0) & (k < count)
    counts = np.bincount(idx[keep] * count + k[keep], minlength=n * count)
    counts = counts.reshape(n, count).astype(np.float64)
    mean = counts.mean(axis=1)
    var = counts.var(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, var / mean, np.nan)


# -- correlations ---------------------------------------------------------------------------


def correlogram(a, b=None, *, bin=1.0, window=50.0, normalize="count", t_start=None, t_stop=None):
    """Cross-correlogram of two spike trains, or the autocorrelogram of one.

    Parameters
    ----------
    a, b : array of spike times (ms)
        ``b=None`` gives the autocorrelogram of ``a`` (pairs of a spike with itself are
        left out, so there is no artificial peak at lag 0).
    bin : float
        Bin width (ms); bins are centred on multiples of ``bin``.
    window : float
        Largest lag (ms), rounded to a whole number of bins.
    normalize : {"count", "rate", "ratio"}
        See the module docstring; ``"ratio"`` needs ``t_start`` and ``t_stop`` (the
        recording window, ms).

    Returns
    -------
    lags : ndarray
        Bin centres ``t_b - t_a`` (ms): positive when ``b`` fires after ``a``.
    values : ndarray

    Examples
    --------
    >>> lags, c = correlogram([10.0, 50.0], [13.0, 53.0], bin=1, window=5)
    >>> float(lags[np.argmax(c)]), float(c.sum())
    (3.0, 2.0)
    """
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    auto = b is None
    b = a if auto else np.sort(np.asarray(b, dtype=np.float64).ravel())
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("spike times must be finite numbers (ms)")
    width = _positive(bin, "bin")
    m = int(round(_positive(window, "window") / width))
    if normalize not in ("count", "rate", "ratio"):
        raise ValueError(f"normalize must be 'count', 'rate' or 'ratio', not {normalize!r}")
    reach = (m + 0.5) * width
    counts = np.zeros(2 * m + 1)
    lo = np.searchsorted(b, a - reach, "left")
    hi = np.searchsorted(b, a + reach, "right")
    per = hi - lo
    block = max(1, int(2**22 // max(1, int(per.max(initial=1)))))
    for s in range(0, a.size, block):
        p = per[s : s + block]
        total = int(p.sum())
        if total == 0:
            continue
        owner = np.repeat(np.arange(s, s + p.size), p)
        start = np.repeat(lo[s : s + block] - np.cumsum(p) + p, p)
        j = start + np.arange(total)
        if auto:
            keep = j != owner
            owner, j = owner[keep], j[keep]
        k = np.floor((b[j] - a[owner]) / width + 0.5 + m + _EDGE).astype(np.int64)
        k = k[(k >= 0) & (k <= 2 * m)]
        counts += np.bincount(k, minlength=2 * m + 1)
    lags = width * np.arange(-m, m + 1)
    if normalize == "count":
        return lags, counts
    if normalize == "rate":
        if a.size == 0:
            raise ValueError("the rate-normalised correlogram needs at least one spike in a")
        return lags, counts / (a.size * width / 1000.0)
    if t_start is None or t_stop is None:
        raise ValueError("normalize='ratio' needs the recording window t_start and t_stop")
    t_start, t_stop = _window(t_start, t_stop)
    T = t_stop - t_start
    nb = b.size - 1 if auto else b.size
    expected = a.size * nb * width * np.clip(T - np.abs(lags), 0, None) / T**2
    if not np.all(expected > 0):
        raise ValueError(
            "normalize='ratio' needs spikes in both trains and a window longer than the largest lag"
        )
    return lags, counts / expected


def _binned_signals(idx, times, n, t_start, t_stop, width, tau):
    """Yield (rows, signals) chunks: binned counts, exponentially filtered if tau."""
    count, _ = _bins(t_start, t_stop, width)
    k = _bin_index(times, t_start, width)
    keep = (k >= 0) & (k < count) & (times < t_stop) & (times >= t_start)
    idx, k = idx[keep], k[keep]
    chunk = max(1, (1 << 21) // count)
    kernel_f = None
    if tau is not None:
        size = 1 << int(math.ceil(math.log2(2 * count)))
        kernel = np.exp(-np.arange(count) * width / tau)
        kernel_f = np.fft.rfft(kernel, size)
    bounds = np.searchsorted(idx, np.arange(0, n + chunk, chunk))
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        s0, s1 = bounds[c0 // chunk], bounds[c0 // chunk + 1]
        x = np.bincount((idx[s0:s1] - c0) * count + k[s0:s1], minlength=(c1 - c0) * count)
        x = x.reshape(c1 - c0, count).astype(np.float64)
        if kernel_f is not None:
            x = np.fft.irfft(np.fft.rfft(x, size, axis=1) * kernel_f, size, axis=1)[:, :count]
        yield x


def synchrony(spikes, t_stop, t_start=0.0, bin=1.0, tau=None, n=None) -> float:
    """Golomb's synchrony measure chi of a population's spike trains.

    ``chi**2 = Var_t(mean_i x_i) / mean_i Var_t(x_i)`` with ``x_i`` the spike counts of
    neuron ``i`` in bins of ``bin`` ms, filtered by ``exp(-t/tau)`` (causal, starting from
    0 at ``t_start``) when ``tau`` (ms) is given.  Silent neurons count in the mean of the
    individual variances (with variance 0).

    Returns
    -------
    float
        chi in [0, 1]: 1 for identical trains, about 1/sqrt(N) for independent ones.

    Examples
    --------
    >>> same = [np.array([5.0, 25.0, 47.0])] * 10
    >>> round(synchrony(same, t_stop=50), 12)
    1.0
    """
    idx, times, n = _flat(spikes, n)
    t_start, t_stop = _window(t_start, t_stop)
    width = _positive(bin, "bin")
    if tau is not None:
        tau = _positive(tau, "tau")
    if n == 0:
        raise ValueError("the synchrony of zero neurons is undefined (give n)")
    total = None
    var_sum = 0.0
    for x in _binned_signals(idx, times, n, t_start, t_stop, width, tau):
        total = x.sum(axis=0) if total is None else total + x.sum(axis=0)
        var_sum += float(x.var(axis=1).sum())
    if var_sum <= 0:
        raise ValueError(
            "chi is undefined: no neuron's signal varies in the window (no spikes, or a single bin)"
        )
    return math.sqrt(float((total / n).var()) / (var_sum / n))


def synchrony_from_traces(traces) -> float:
    """Golomb's chi from traces (e.g. membrane potentials), shape (N neurons, T samples).

    ``chi**2 = Var_t(mean_i V_i(t)) / mean_i Var_t(V_i(t))`` on equally spaced samples.

    Examples
    --------
    >>> t = np.linspace(0, 1, 200)
    >>> round(synchrony_from_traces(np.vstack([np.sin(9 * t)] * 4)), 12)
    1.0
    """
    v = np.asarray(traces, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] < 2 or v.shape[0] < 1:
        raise ValueError(
            f"traces must have shape (N neurons, T samples) with T >= 2, got {v.shape}"
        )
    individual = v.var(axis=1).mean()
    if individual <= 0:
        raise ValueError("chi is undefined: no trace varies in time")
    return math.sqrt(float(v.mean(axis=0).var()) / float(individual))


# -- figures and export ---------------------------------------------------------------------


def raster_plot(
    spikes,
    t_stop=None,
    t_start=0.0,
    *,
    bin=1.0,
    smooth=None,
    n=None,
    axes=None,
    title=None,
    markersize=2.0,
):
    """Raster (one dot per spike, neuron index against time) above the population rate.

    Parameters
    ----------
    spikes : spike data; t_stop, t_start : the window (ms), ``t_stop`` defaults to the
        last spike time plus one bin; bin, smooth : as :func:`population_rate`;
    axes : pair of matplotlib Axes to draw into (raster, rate); new figure if None.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    idx, times, n = _flat(spikes, n)
    if t_stop is None:
        t_stop = (float(times.max()) if times.size else float(t_start)) + float(bin)
    t_start, t_stop = _window(t_start, t_stop)
    if axes is None:
        fig, axes = plt.subplots(
            2, 1, sharex=True, figsize=(7, 5), gridspec_kw={"height_ratios": [3, 1]}
        )
    ax_raster, ax_rate = axes
    inside = (times >= t_start) & (times < t_stop)
    ax_raster.plot(times[inside], idx[inside], ".", markersize=markersize, color="k")
    ax_raster.set_ylabel("neuron")
    ax_raster.set_ylim(-0.5, max(n, 1) - 0.5)
    if title:
        ax_raster.set_title(title)
    t, rate = population_rate((idx, times), t_stop, t_start, bin, smooth, n)
    ax_rate.plot(t, rate, color="C0")
    ax_rate.set_xlabel("time (ms)")
    ax_rate.set_ylabel("rate (Hz)")
    ax_rate.set_xlim(t_start, t_stop)
    return ax_raster.figure


def to_neo(spikes, t_stop, t_start=0.0, n=None) -> list:
    """The spike trains as a list of ``neo.SpikeTrain`` (units ms), one per neuron.

    Needs the optional package neo (``pip install neo``, or the ``neo`` extra of biosnn:
    ``pip install biosnn[neo]``).  Spikes outside ``[t_start, t_stop)`` are left out.
    """
    try:
        import neo
    except ImportError:
        raise ImportError(
            "to_neo needs the optional package neo: pip install neo (or pip install 'biosnn[neo]')"
        ) from None
    idx, times, n = _flat(spikes, n)
    t_start, t_stop = _window(t_start, t_stop)
    out = []
    for i, train in enumerate(_split(idx, times, n)):
        train = train[(train >= t_start) & (train < t_stop)]
        out.append(
            neo.SpikeTrain(train, units="ms", t_start=t_start, t_stop=t_stop, name=f"neuron {i}")
        )
    return out
