"""The Wang-Buzsaki gamma network (models/networks/wang_buzsaki_gamma.toml) and the C
engine's translation units (biosnn/network/_units.py): an equation change recompiles only
the unit whose text it changes.
"""

import random

import numpy as np
import pytest

from biosnn import Model
from biosnn import spikes as S
from biosnn.codegen import c_build
from biosnn.network import Network, OneToOne, Population, SpikeMonitor, Synapses
from biosnn.network.files import load_network

HAS_C = c_build.compiler_available()


@pytest.mark.skipif(not HAS_C, reason="the C engine needs a C compiler")
def test_wang_buzsaki_gamma_engines_give_identical_spikes():
    # 100 HH-type cells (rk4) and 10,000 clock-driven GABA_A synapses: the same bits in
    # both engines (docs/network.md); the first 10 ms hold the first volley (the cells
    # start at V ~ U(-70, -50) mV, many above threshold: ~100 spikes)
    runs = {}
    for backend in ("numpy", "c"):
        net = load_network("wang_buzsaki_gamma", backend=backend)
        net.run(10.0)
        mon = net.monitors[0]
        runs[backend] = (np.asarray(mon.i), np.asarray(mon.t), net.stats["backend"])
    assert runs["c"][2] == "c" and runs["numpy"][2] == "numpy"
    assert runs["c"][0].size > 20
    assert np.array_equal(runs["numpy"][0], runs["c"][0])
    assert np.array_equal(runs["numpy"][1], runs["c"][1])


@pytest.mark.slow
def test_wang_buzsaki_gamma_network_oscillates_in_the_gamma_band():
    # Wang & Buzsaki (1996): the inhibitory network synchronises into a population rhythm
    # in the gamma band, each cell firing about once per cycle.  Bounds from the paper's
    # regime (gamma 20-80 Hz; here measured 38-40 Hz), not from a stored run: the peak of
    # the population rate's spectrum over 200-500 ms lies in 30-60 Hz, the mean rate per
    # cell is within 20 % of it, and Golomb's chi (tau = 5 ms) is far above the
    # 1/sqrt(100) = 0.1 of independent cells.
    net = load_network("wang_buzsaki_gamma", duration=500.0)
    net.run(500.0)
    mon = net.monitors[0]
    sp = (np.asarray(mon.i), np.asarray(mon.t))
    _, rate = S.population_rate(sp, 500.0, t_start=200.0, bin=1.0, n=100)
    x = rate - rate.mean()
    f = np.fft.rfftfreq(x.size, 1e-3)
    peak = f[np.argmax(np.abs(np.fft.rfft(x)) ** 2)]
    assert 30.0 <= peak <= 60.0
    per_cell = np.count_nonzero(sp[1] >= 200.0) / 100 / 0.3
    assert abs(per_cell - peak) < 0.2 * peak
    assert S.synchrony(sp, 500.0, t_start=200.0, tau=5.0, n=100) > 0.6


def _net(tau_m: float, tau_s: float):
    """Two LIF cells (euler: a population unit of its own) and a clock-driven synapse
    variable; the time constants are literal numbers in the equations (not parameters),
    so each value is another equation text.
    """
    cell = Model(
        f"dv/dt = (I_syn - v)/({tau_m!r}*ms) : volt\nI_syn : volt",
        params={"I_syn": "0 mV"},
        threshold="v > 1*mV",
        reset="v = 0*mV",
        name="cell",
    )
    pop = Population(cell, 2, method="euler", init={"v": "0 mV"})
    syn = Synapses(
        pop,
        pop,
        model=(f"ds/dt = -s/({tau_s!r}*ms) : 1 (clock-driven)\nI_syn_post = s*mV : volt (summed)"),
        init={"s": 1.0},
        connect=OneToOne(),
    )
    net = Network(pop, syn, SpikeMonitor(pop), dt="0.1 ms", seed=0, backend="c")
    net.syn = syn
    return net


@pytest.mark.skipif(not HAS_C, reason="the C engine needs a C compiler")
def test_an_equation_change_recompiles_only_its_unit():
    # random time constants: equation texts this cache has not seen in earlier runs
    rng = random.Random()
    tau_m, tau_s = round(rng.uniform(5, 50), 9), round(rng.uniform(5, 50), 9)
    first = _net(tau_m, tau_s)
    first.run(0.0)
    assert sorted(first.stats["compiled_units"]) == ["net", "pop0"]
    # a synapse equation lives in the step loop: only that unit is compiled again
    syn_changed = _net(tau_m, tau_s + 1.0)
    syn_changed.run(0.0)
    assert syn_changed.stats["compiled_units"] == ["net"]
    # a neuron equation: only its population's unit (the step loop calls it by name; the
    # loop of the first network, with the first synapse, is cached)
    cell_changed = _net(tau_m + 1.0, tau_s)
    cell_changed.run(0.0)
    assert cell_changed.stats["compiled_units"] == ["pop0"]
    # the same network again: the library itself is cached, nothing compiles
    again = _net(tau_m, tau_s)
    again.run(0.0)
    assert again.stats["compiled_units"] == []
    # and the relinked library runs the changed equation: exponential Euler is exact for
    # ds/dt = -s/tau, so s = exp(-5 ms/tau) after 5 ms (analytic, up to rounding)
    syn_changed.run(5.0)
    expected = np.exp(-5.0 / (tau_s + 1.0))
    assert syn_changed.syn.state.s == pytest.approx([expected, expected], rel=1e-12)
