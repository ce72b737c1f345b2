"""The threshold rule of the network engines (docs/network.md, step semantics, step 2).

* A model with a reset spikes whenever its condition holds after the update and it is not
  refractory (Brian2's level rule).  Regression: with the former upward-crossing rule a
  neuron kicked above threshold by ``V += J`` while refractory never spiked again (its V
  stayed above threshold, so the condition was never false at a check) and a Brunel-type
  network with in-degree 1000 fell from ~476 Hz to ~14 Hz after 20 ms.
* A model without a reset (Hodgkin-Huxley) spikes on an upward crossing: one spike per
  action potential, not one per step spent above threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

from biosnn import Model, load_model, simulate
from biosnn.network import (
    Blocks,
    FixedInDegree,
    Network,
    PoissonGroup,
    Population,
    SpikeMonitor,
    StateMonitor,
    Synapses,
)

DT = 0.1


def brunel_like(n=2000, k_rec=1000, k_ext=20, backend="c", duration=100.0, seed=1):
    """The colleague's reproduction: LIF ``dV/dt = -V/tau`` (tau 20 ms, theta 20 mV,
    V_r 10 mV, refractory 2 ms), in-degree ``k_rec`` with ``V += 0.01 mV`` (delay 1.5 ms),
    external input ``V += 0.1 mV`` at 20 kHz per neuron.  The 1000 Poisson inputs of 20 Hz
    per neuron are drawn as ``k_ext`` private Poisson sources of 20000/k_ext Hz each (the
    same total rate; a per-step Bernoulli draw needs rate*dt < 1).
    """
    lif = Model(
        "dV/dt = -V/tau : volt (unless refractory)",
        params={"tau": "20 ms", "theta": "20 mV", "Vr": "10 mV"},
        threshold="V > theta",
        reset="V = Vr",
        refractory="2 ms",
        name="brunel_repro",
    )
    P = Population(lif, n, method="exact", init={"V": "0 mV"})
    ext = PoissonGroup(n * k_ext, f"{20.0 * 1000 / k_ext} Hz")
    rec = Synapses(P, P, on_pre="V += 0.01*mV", connect=FixedInDegree(k_rec), delay=1.5)
    inp = Synapses(ext, P, on_pre="V += 0.1*mV", connect=Blocks(k_ext, 1))
    mon = SpikeMonitor(P)
    net = Network(P, ext, rec, inp, mon, seed=seed, backend=backend)
    net.run(duration)
    return mon


def test_neuron_kicked_above_threshold_while_refractory_fires_again():
    mon = brunel_like()
    # During the 2 ms of refractoriness a neuron receives 20 kHz x 2 ms x 0.1 mV = 4 mV of
    # external input plus 1000 x 0.01 mV x (rate x 2 ms) of recurrent input: at ~476 Hz,
    # 13.5 mV > theta - V_r = 10 mV, so it leaves refractoriness above threshold and
    # (level rule) spikes at the end of the first free step.  Period = 2 ms + dt, rate =
    # 1/(2.1 ms) = 476.2 Hz - an upper bound of the rate (20 steps refractory + 1).
    late = (mon.t >= 40.0) & (mon.t < 100.0)
    rate = late.sum() / 2000 / 0.060
    assert 440.0 < rate <= 1000.0 / 2.1 * 1.02
    # every neuron keeps firing to the end (the bug silenced them after ~20 ms)
    assert np.unique(mon.i[mon.t >= 90.0]).size == 2000


def test_level_rule_identical_in_both_engines():
    small = dict(n=200, k_rec=100, k_ext=20, duration=30.0)
    a, b = brunel_like(backend="numpy", **small), brunel_like(backend="c", **small)
    assert a.n > 500  # about 100 Hz x 200 neurons x 30 ms
    assert np.array_equal(a.i, b.i) and np.array_equal(a.t, b.t)


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_hh_without_reset_spikes_once_per_action_potential(backend):
    # HH (threshold V > 0 mV, no reset): V stays above 0 mV for ~1 ms (~40 steps of
    # 0.025 ms) per action potential; the upward-crossing rule gives exactly one spike per
    # action potential, the same count as simulate()
    hh = load_model("hodgkin_huxley")
    currents = [7.0, 10.0, 20.0, 40.0]  # uA/cm**2: tonic firing
    P = Population(hh, len(currents), method="rk4", params={"I_ext": np.array(currents)})
    mon, vm = SpikeMonitor(P), StateMonitor(P, ["V"], np.arange(len(currents)))
    net = Network(P, mon, vm, dt="0.025 ms", seed=1, backend=backend)
    net.run(100.0)
    V = vm["V"]
    above = V > 0.0
    aps = np.sum(above[:, 1:] & ~above[:, :-1], axis=1)  # upward crossings of 0 mV
    assert np.all(aps >= 5)  # tonic firing (>= 50 Hz)
    assert mon.count.tolist() == aps.tolist()
    ref = simulate(
        hh, 100.0, method="rk4", dt=0.025, n=len(currents), params={"I_ext": np.array(currents)}
    )
    assert mon.count.tolist() == [len(s) for s in ref.spikes]
