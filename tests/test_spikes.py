"""Spike-train statistics (biosnn.spikes) against analytic values.

Where each expected number comes from:

* Constructed trains: rates, counts, ISIs, correlogram counts are counted by hand (a
  regular train with K spikes of period P has K - j pairs at lag j*P).
* Poisson process of rate r (generated exactly: Poisson(r*T) spikes placed uniformly, or
  exponential ISIs): ISI density r*exp(-r*t); CV of the ISIs 1, with a sample standard
  deviation ~ 1/sqrt(number of ISIs) (delta method with the exponential's moments
  mu=1/r, var=1/r**2, mu3=2/r**3, mu4=9/r**4); window counts iid Poisson so the Fano
  factor is 1, its estimate having sd ~ sqrt(2/(K - 1)) for K windows.
* Golomb's chi: 1 for identical trains; for N trains each the union of one shared Poisson
  train (rate r_s) and a private one (rate r_p), binned counts have Var = (r_s + r_p)*bin
  and pairwise covariance r_s*bin, so chi**2 = 1/N + (N - 1)/N * r_s/(r_s + r_p)
  (r_s = 0: independent trains, chi = 1/sqrt(N)).  For traces sin(w t + phi_i) over whole
  periods, chi**2 = |mean_i exp(i phi_i)|**2.
* Statistical checks use 5 standard errors with a fixed seed.
"""

from __future__ import annotations

import math
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from biosnn import spikes as S


def poisson_trains(n, rate_hz, t_stop_ms, rng):
    """Exact homogeneous Poisson process on [0, t_stop): count ~ Poisson, times uniform."""
    counts = rng.poisson(rate_hz * t_stop_ms / 1000.0, n)
    return [np.sort(rng.uniform(0, t_stop_ms, c)) for c in counts]


def renewal_trains(n, rate_hz, t_stop_ms, rng):
    """Poisson trains from cumulative exponential ISIs (ISIs exactly iid exponential)."""
    out = []
    for _ in range(n):
        k = int(rate_hz * t_stop_ms / 1000.0 * 1.2 + 50)
        t = np.cumsum(rng.exponential(1000.0 / rate_hz, k))
        out.append(t[t < t_stop_ms])
    return out


def test_rates_of_constructed_trains():
    regular = np.arange(5.0, 1000.0, 10.0)  # 100 spikes in [0, 1000) ms
    data = [regular, np.array([]), np.array([100.0, 2000.0])]
    assert S.firing_rates(data, t_stop=1000).tolist() == [100.0, 0.0, 1.0]
    assert S.spike_counts(data, t_stop=1000).tolist() == [100, 0, 1]
    assert S.mean_rate(data, t_stop=1000) == pytest.approx(101 / 3)
    # a window: [500, 1000) holds 50 regular spikes -> 100 Hz
    assert S.firing_rates(data, t_start=500, t_stop=1000)[0] == 100.0
    # the same spikes as (indices, times), shuffled; n counts silent neurons
    idx = np.concatenate([np.zeros(100, int), [2, 2]])
    t = np.concatenate([regular, [100.0, 2000.0]])
    perm = np.random.default_rng(0).permutation(t.size)
    assert S.firing_rates((idx[perm], t[perm]), 1000).tolist() == [100.0, 0.0, 1.0]
    assert S.firing_rates((idx, t), 1000, n=5).tolist() == [100.0, 0.0, 1.0, 0.0, 0.0]
    assert [x.tolist() for x in S.trains((idx[perm], t[perm]))][2] == [100.0, 2000.0]


def test_spike_data_forms():
    class Monitor:
        i = np.array([1, 0, 1])
        t = np.array([3.0, 1.0, 2.0])
        n = 4

    class Result:
        spikes = [np.array([1.0]), np.array([2.0, 3.0])]

    assert S.spike_counts(Monitor(), 10).tolist() == [1, 2, 0, 0]
    assert S.spike_counts(Result(), 10).tolist() == [1, 2]


@pytest.mark.parametrize(
    "data, message",
    [
        ((np.array([0]), np.array([1.0]), np.array([1.0])), "tuple of 3"),
        ((np.array([0, 1]), np.array([1.0])), "equal length"),
        ((np.array([-1]), np.array([1.0])), "negative"),
        ((np.array([0.5]), np.array([1.0])), "integers"),
        ((np.array([0]), np.array([np.nan])), "finite"),
    ],
)
def test_bad_spike_data(data, message):
    with pytest.raises(ValueError, match=message):
        S.spike_counts(data, 10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="outside the 2 neurons"):
        S.spike_counts((np.array([3]), np.array([1.0])), 10, n=2)
    with pytest.raises(ValueError, match="3 spike trains"):
        S.spike_counts([[], [], []], 10, n=2)
    with pytest.raises(TypeError, match="tuple"):
        S.spike_counts(np.zeros(3), 10)
    with pytest.raises(ValueError, match="t_stop > t_start"):
        S.firing_rates([[1.0]], t_stop=0)
    with pytest.raises(ValueError, match="bin must be a positive"):
        S.population_rate([[1.0]], 10, bin=0)
    with pytest.raises(ValueError, match="at least two windows"):
        S.fano_factor([[1.0]], window=10, t_stop=15)
    with pytest.raises(ValueError, match="min_spikes"):
        S.cv_isi([[1.0]], min_spikes=2)
    with pytest.raises(ValueError, match="normalize"):
        S.correlogram([1.0], [2.0], normalize="pearson")
    with pytest.raises(ValueError, match="t_start and t_stop"):
        S.correlogram([1.0], [2.0], normalize="ratio")
    with pytest.raises(ValueError, match="no inter-spike intervals"):
        S.isi_histogram([[1.0], [2.0]])


def test_population_rate_exact_and_smoothing():
    # neuron 0 fires at 0.5, 1.5, 2.5 ms, neuron 1 at 1.2 ms; 1 ms bins, 2 neurons
    t, r = S.population_rate([[0.5, 1.5, 2.5], [1.2]], t_stop=3, bin=1)
    assert t.tolist() == [0.5, 1.5, 2.5] and r.tolist() == [500.0, 1000.0, 500.0]
    # a spike exactly on a bin edge of the 0.1 ms grid counts in the later bin
    t, r = S.population_rate([[3 * 0.1]], t_stop=0.5, bin=0.1)
    assert np.flatnonzero(r).tolist() == [3]
    # constant rate stays constant under smoothing, also near the ends
    regular = [np.arange(0.5, 200, 1.0)] * 3  # one spike per 1 ms bin: 1000 Hz
    _, r = S.population_rate(regular, t_stop=200, bin=1, smooth=5)
    assert np.allclose(r, 1000.0, rtol=0, atol=1e-9)
    # away from the ends the kernel keeps one spike one spike
    t, r = S.population_rate([[100.0]], t_stop=200, bin=0.5, smooth=4)
    assert np.sum(r * 0.5 / 1000.0) == pytest.approx(1.0, abs=1e-12)
    assert t[np.argmax(r)] == pytest.approx(100.25)
    # a partial last bin is divided by its own width
    t, r = S.population_rate([[9.5]], t_stop=10, bin=4)
    assert t.tolist() == [2.0, 6.0, 9.0] and r[-1] == pytest.approx(1000.0 / 2)


def test_regular_trains_cv_zero_and_isis():
    data = [np.arange(0.0, 1000.0, 12.5), np.arange(3.0, 1000.0, 40.0), np.array([1.0, 2.0])]
    cv = S.cv_isi(data)
    assert cv[0] == 0.0 and cv[1] == 0.0 and np.isnan(cv[2])
    assert S.mean_cv(data) == 0.0
    assert S.isi(data)[0].tolist() == [12.5] * 79
    # hand-computed: ISIs 1 and 2 -> mean 1.5, sd 0.5, CV 1/3
    assert S.cv_isi([[0.0, 1.0, 3.0]])[0] == pytest.approx(1 / 3, abs=1e-15)
    assert np.isnan(S.mean_cv([[1.0]]))


def test_poisson_cv_and_isi_distribution():
    rate, t_stop = 20.0, 50_000.0
    data = renewal_trains(100, rate, t_stop, np.random.default_rng(1))
    n_isi = sum(len(x) - 1 for x in data)
    cv = S.cv_isi(data)
    assert abs(np.mean(cv) - 1.0) < 5 / math.sqrt(n_isi) + 2 / (n_isi / 100)
    # the ISI histogram against the exponential density (Pearson chi-square)
    edges, counts = S.isi_histogram(data, bins=40, range=(0, 200), density=False)
    cdf = 1 - np.exp(-rate / 1000.0 * edges)
    expected = n_isi * np.diff(cdf)
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    assert chi2 < 39 + 5 * math.sqrt(2 * 39), chi2
    edges, density = S.isi_histogram(data, bins=40, range=(0, 200))
    assert np.sum(density * np.diff(edges)) == pytest.approx(1.0)


def test_poisson_fano_factor_is_one_and_regular_is_zero():
    data = poisson_trains(100, 20.0, 100_000.0, np.random.default_rng(2))
    fano = S.fano_factor(data, window=1000.0, t_stop=100_000.0)  # K = 100 windows
    assert abs(np.mean(fano) - 1.0) < 5 * math.sqrt(2 / 99) / math.sqrt(100)
    regular = [np.arange(0.5, 1000.0, 2.0)]
    assert S.fano_factor(regular, window=100.0, t_stop=1000.0).tolist() == [0.0]
    assert np.isnan(S.fano_factor([[]], window=10.0, t_stop=100.0, n=1)[0])


def test_correlogram_peak_at_imposed_lag():
    rng = np.random.default_rng(3)
    a = np.sort(rng.uniform(0, 100_000, 2000))
    b = a + 5.0 + rng.normal(0, 0.2, a.size)
    lags, c = S.correlogram(a, b, bin=1.0, window=20.0)
    assert lags.tolist() == list(np.arange(-20.0, 21.0))
    assert lags[np.argmax(c)] == 5.0
    lags, c = S.correlogram(b, a, bin=1.0, window=20.0)
    assert lags[np.argmax(c)] == -5.0


def test_autocorrelogram_of_regular_train_exact():
    a = np.arange(0.0, 1000.0, 10.0)  # K = 100 spikes, period 10 ms
    lags, c = S.correlogram(a, bin=1.0, window=25.0)
    expected = np.zeros(51)
    for j, pairs in ((1, 99), (2, 98)):
        expected[25 + 10 * j] = expected[25 - 10 * j] = pairs
    assert np.array_equal(c, expected)  # lag 0 is empty: self pairs left out
    lags, r = S.correlogram(a, bin=1.0, window=25.0, normalize="rate")
    assert r[35] == pytest.approx(99 / (100 * 1e-3))


def test_correlogram_of_independent_trains_is_flat():
    rng = np.random.default_rng(4)
    T = 100_000.0
    a, b = poisson_trains(2, 20.0, T, rng)
    lags, ratio = S.correlogram(a, b, bin=1.0, window=50.0, normalize="ratio", t_start=0, t_stop=T)
    # each bin holds ~ n_a n_b bin/T = 40 pairs: given the spike counts the mean ratio has
    # sd ~ 1/sqrt(40*101) = 0.016 (measured over 10 seeds: 0.017)
    assert abs(ratio.mean() - 1) < 5 / math.sqrt(40 * 101)
    _, rate = S.correlogram(a, b, bin=1.0, window=50.0, normalize="rate")
    r_b = b.size / (T / 1000)
    assert abs(rate.mean() - r_b) < 5 * r_b / math.sqrt(40 * 101)
    # autocorrelogram ratio of a Poisson train: flat at 1 too; every pair is counted at
    # +tau and -tau, so the sd is sqrt(2) larger (measured over 10 seeds: 0.022)
    _, auto = S.correlogram(a, bin=1.0, window=50.0, normalize="ratio", t_start=0, t_stop=T)
    assert abs(auto.mean() - 1) < 5 * math.sqrt(2) / math.sqrt(40 * 101)


def test_synchrony_identical_trains_is_one():
    train = poisson_trains(1, 30.0, 2000.0, np.random.default_rng(5))[0]
    assert S.synchrony([train] * 50, t_stop=2000) == pytest.approx(1.0, abs=1e-12)
    assert S.synchrony([train] * 50, t_stop=2000, tau=5) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("tau", [None, 10.0])
def test_synchrony_independent_poisson_is_one_over_sqrt_n(tau):
    N = 100
    data = poisson_trains(N, 20.0, 20_000.0, np.random.default_rng(6))
    chi = S.synchrony(data, t_stop=20_000.0, bin=1.0, tau=tau)
    assert abs(chi * math.sqrt(N) - 1) < 0.05, chi


def test_synchrony_shared_input_matches_analytic_value():
    # the estimate of the shared variance has relative sd 1/sqrt(shared spikes) = 2.2 %,
    # which moves chi by ~0.6 %: the 5 % tolerance is ~8 sd
    N, r_s, r_p, T = 50, 20.0, 20.0, 100_000.0
    rng = np.random.default_rng(7)
    shared = poisson_trains(1, r_s, T, rng)[0]
    data = [np.sort(np.concatenate([shared, p])) for p in poisson_trains(N, r_p, T, rng)]
    chi = S.synchrony(data, t_stop=T, bin=2.0)
    expected = math.sqrt(1 / N + (N - 1) / N * r_s / (r_s + r_p))
    assert abs(chi / expected - 1) < 0.05, (chi, expected)


def test_synchrony_from_traces_analytic():
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False) * 3  # three whole periods
    quarter = np.vstack([np.sin(t), np.cos(t)])  # phases 0 and pi/2
    assert S.synchrony_from_traces(quarter) == pytest.approx(math.sqrt(0.5), abs=1e-12)
    spread = np.vstack([np.sin(t + 2 * np.pi * k / 4) for k in range(4)])
    assert S.synchrony_from_traces(spread) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="undefined"):
        S.synchrony_from_traces(np.ones((3, 10)))
    with pytest.raises(ValueError, match="no neuron"):
        S.synchrony([[], []], t_stop=10)


def test_raster_plot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = [np.array([1.0, 5.0]), np.array([2.0]), np.array([9.0, 50.0])]
    fig = S.raster_plot(data, t_stop=10, bin=1.0)
    raster, rate = fig.axes
    x, y = raster.lines[0].get_data()
    assert sorted(zip(x.tolist(), y.tolist(), strict=True)) == [
        (1.0, 0),
        (2.0, 1),
        (5.0, 0),
        (9.0, 2),
    ]
    t, r = S.population_rate(data, 10, bin=1.0)
    assert np.array_equal(rate.lines[0].get_ydata(), r)
    plt.close(fig)
    fig, axes = plt.subplots(2, 1)
    assert S.raster_plot(data, axes=axes) is fig
    plt.close(fig)


def test_to_neo_without_neo_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "neo", None)  # makes `import neo` fail
    with pytest.raises(ImportError, match="pip install neo"):
        S.to_neo([[1.0]], t_stop=10)


def test_to_neo_builds_one_spiketrain_per_neuron(monkeypatch):
    made = []

    def SpikeTrain(times, units, t_start, t_stop, name):
        made.append((np.asarray(times).tolist(), units, t_start, t_stop, name))
        return made[-1]

    monkeypatch.setitem(sys.modules, "neo", types.SimpleNamespace(SpikeTrain=SpikeTrain))
    out = S.to_neo((np.array([1, 0, 1]), np.array([5.0, 2.0, 30.0])), t_stop=20, n=3)
    assert out == [
        ([2.0], "ms", 0.0, 20.0, "neuron 0"),
        ([5.0], "ms", 0.0, 20.0, "neuron 1"),
        ([], "ms", 0.0, 20.0, "neuron 2"),
    ]


# -- the examples of docs/spikes.md run ------------------------------------------------------

_DOC = Path(__file__).resolve().parents[1] / "docs" / "spikes.md"
_BLOCKS = re.findall(r"```python\n(.*?)```", _DOC.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(_BLOCKS)))
def test_doc_example_runs(index, tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_BLOCKS[index], f"docs/spikes.md block {index}", "exec"), namespace)  # noqa: S102
    capsys.readouterr()
    assigned = set(re.findall(r"^(\w+)\s*=", _BLOCKS[index], flags=re.M))
    assert assigned <= set(namespace), sorted(assigned - set(namespace))


def test_doc_has_examples():
    assert len(_BLOCKS) >= 5


def test_to_neo_with_the_real_package():
    # neo is in the test extra (pyproject.toml), so this runs against the real SpikeTrain.
    import neo

    out = S.to_neo((np.array([1, 0, 1, 1]), np.array([5.0, 2.0, 30.0, 12.5])), t_stop=20, n=3)
    assert [type(s) for s in out] == [neo.SpikeTrain] * 3
    assert [list(np.asarray(s.magnitude)) for s in out] == [[2.0], [5.0, 12.5], []]
    assert all(str(s.units.dimensionality) == "ms" and float(s.t_stop) == 20 for s in out)
