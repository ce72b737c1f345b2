"""Limits checked at their root, for the Python API as for the CLI (issue 9, section 5).

* unit strings: exponents must be real, finite numbers in [-100, 100], values finite;
* seeds: 0 <= seed < 2**64, refused otherwise (never reduced modulo 2**64);
* memory: a request is refused with its size and the available memory before anything
  is allocated (requests of 1e15 bytes and more: no machine has that much);
* Network.run: the duration must be finite and at most 2**53 steps.

References: the rules themselves (docs/cli.md, "Numbers and seeds" and "Memory");
sizes are counted by hand in each test's comment.
"""

from __future__ import annotations

import numpy as np
import pytest

import biosnn
from biosnn import _memory, units
from biosnn.errors import ModelError, SimulationError, UnitError
from biosnn.network import Network, Population, SpikeMonitor, Synapses
from biosnn.network.connectivity import AllToAll, FixedInDegree, FixedProbability
from biosnn.solvers import noise

# -- unit strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, words",
    [
        ("1 ms**((-1)**0.5)", "not a real number"),  # complex: was a TypeError
        ("1 ms**(-8)**(1/3)", "not a real number"),
        ("1 ms**(1e400*0)", "nan"),  # NaN: was a ValueError
        ("1 ms**(0*1e400)", "nan"),
        ("1 ms**(2**1000)", "between -100 and 100"),  # accepted before (a 302-digit power)
        ("1 ms**-1e308", "between -100 and 100"),
        ("1 ms**101", "between -100 and 100"),
        ("1 (-ms)**0.5", "not a real number"),
        ("1e400 ms", "not a finite number"),  # was inf ms
        ("-1e400 mV", "not a finite number"),
    ],
)
def test_unit_strings_with_bad_exponents_or_values_are_unit_errors(text, words):
    with pytest.raises(UnitError, match=words.replace("(", r"\(")):
        units.parse_quantity(text)


@pytest.mark.parametrize(
    "text, value",
    [
        # factors of the internal system (mV, ms, uA/cm**2 -> 0.01 of nA/um... see units.py):
        ("2 ms**1", 2.0),
        ("1 ms**0.5", 1.0),
        ("10 ms**-1", 10.0),
        ("3 ms**100", 3.0),
    ],
)
def test_real_exponents_up_to_100_still_work(text, value):
    assert units.parse_quantity(text)[0] == pytest.approx(value)


def test_model_values_with_bad_units_name_the_reason():
    m = biosnn.load_model("hodgkin_huxley")
    with pytest.raises(UnitError, match=r"I_ext.*not a real number"):
        m.with_params(I_ext="10 uA/cm**((-1)**0.5)")
    with pytest.raises(UnitError, match=r"I_ext.*not a finite number"):
        m.to_internal("I_ext", "1e400 uA/cm**2")  # the manifest's quick path too


# -- seeds ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**64, 2**64 + 5, -(2**64), 1.5, "3", True])
def test_seeds_outside_the_range_are_refused(seed):
    with pytest.raises(SimulationError, match="0 <= seed < 2[*][*]64"):
        noise.check_seed(seed)
    with pytest.raises(SimulationError, match="seed"):
        noise.seed_key(seed)


def test_seed_2_64_plus_k_is_not_seed_k():
    # before: seed_key(2**64 + 5) == seed_key(5) - two seeds, the same noise
    assert noise.seed_key(5) != noise.seed_key(2**64 - 5)
    with pytest.raises(SimulationError):
        noise.seed_key(2**64 + 5)
    assert noise.check_seed(2**64 - 1) == 2**64 - 1
    assert noise.check_seed(np.uint64(7)) == 7


def test_simulate_and_network_refuse_bad_seeds():
    m = biosnn.Model("dv/dt = -v/(10*ms) + 0.1*mV/ms**0.5*xi : volt", init={"v": "1 mV"})
    with pytest.raises(SimulationError, match="seed"):
        biosnn.simulate(m, 1, method="euler_maruyama", dt=0.1, seed=2**64, backend="numpy")
    with pytest.raises(SimulationError, match="seed"):
        biosnn.simulate(m, 1, method="euler_maruyama", dt=0.1, seed=-1, backend="numpy")
    lif = biosnn.load_model("lif")
    with pytest.raises(ModelError, match="seed"):
        Network(Population(lif, 2), seed=2**64, backend="numpy")


# -- memory -----------------------------------------------------------------------------------


def test_check_memory_refuses_with_both_numbers():
    assert _memory.available_bytes() > 0
    _memory.check_memory(1024, "a small buffer")  # fits
    with pytest.raises(SimulationError) as info:
        _memory.check_memory(1e15, "the test buffer", "ask for less")
    text = str(info.value)
    # 1e15 bytes = 909 TiB; the available memory is printed with its unit
    assert "the test buffer would need 909 TiB" in text and "available" in text
    assert text.endswith("; ask for less")


def test_check_memory_reads_memavailable(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10_000)
    _memory.check_memory(8_000, "x")  # 80 % of it still fits
    with pytest.raises(SimulationError, match=r"8.01 KiB but only 9.77 KiB"):
        _memory.check_memory(8_200, "x")


def test_simulate_refuses_before_allocating():
    m = biosnn.load_model("lif")
    # 10**13 instances x (101 samples x 1 trace + 7 params + 24 work arrays) x 8 bytes
    with pytest.raises(SimulationError, match=r"10000000000000 instance.*available"):
        biosnn.simulate(m, 10, n=10**13, record=["v"], backend="numpy")
    # one instance, 10**18 ms recorded every 0.1 ms: 1e19 samples
    with pytest.raises(SimulationError, match=r"1e\+19 samples.*available"):
        biosnn.simulate(m, 1e18, record=["v"], backend="numpy")


def test_network_populations_synapses_and_delays_are_checked():
    lif = biosnn.load_model("lif")
    # 64 populations of 2**31 - 1 neurons x (3*1 states + 7 params + 4) x 8 bytes = 15 TiB
    pops = [Population(lif, 2**31 - 1, name=f"big{k}") for k in range(64)]
    with pytest.raises(SimulationError, match=r"populations \(big0 n = 2147483647.*available"):
        Network(*pops, backend="numpy")
    P = Population(lif, 1000, name="p")
    for rule, count in (
        (AllToAll(), "1e\\+06"),
        (FixedProbability(0.5), "5e\\+05"),
        (FixedInDegree(10), "1e\\+04"),
    ):
        # the expected count is what the check multiplies by 48 bytes; here it fits
        assert f"{rule.expected_synapses(1000, 1000):.3g}" == count.replace("\\", "")
    with pytest.raises(SimulationError, match=r"4.61e\+18 synapses.*available"):
        AllToAll().build(2**31 - 1, 2**31 - 1)  # 4.6e18 synapses x 48 bytes
    # a delay of 10**12 ms at dt = 0.1 ms: a spike ring of 1e13 x 1000 neurons x 12 bytes
    S = Synapses(P, P, "w : volt", on_pre="v += w", connect=FixedInDegree(1), delay=1e12)
    with pytest.raises(SimulationError, match=r"spike rings.*available"):
        Network(P, S, SpikeMonitor(P), backend="numpy")


def test_network_run_refuses_infinite_and_enormous_durations():
    lif = biosnn.load_model("lif")
    net = Network(Population(lif, 2), backend="numpy", seed=1)
    for bad in (float("inf"), float("nan"), "1e400 ms"):
        with pytest.raises((SimulationError, UnitError), match="finite"):
            net.run(bad)
    # 1e300 ms at dt = 0.1 ms: the C engine used to return at once having made 0 steps
    with pytest.raises(SimulationError, match=r"1e\+301 steps"):
        net.run(1e300)
    net.run(1.0)
    assert net.step == 10
