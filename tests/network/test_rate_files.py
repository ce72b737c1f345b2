"""Time-varying Poisson rates in network files: an expression of t (safe parser) or a
.npy table relative to the file (docs/network_files.md, "Poisson rates").

Expected spike counts are integrals of the rate (Poisson: mean = n * integral of rate dt)
with tolerances of 4 standard deviations; both engines draw the same numbers.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from biosnn.codegen import c_build
from biosnn.errors import ModelError
from biosnn.network import Network, PoissonGroup, SpikeMonitor
from biosnn.network.files import RateFunction, load_network

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])

NET = """
name = "rates"
dt = "0.1 ms"
duration = "100 ms"
seed = 5

[models.flat]
equations = "dv/dt = 0*mV/ms : volt"

[populations.dummy]
model = "flat"
n = 1
method = "euler"

[sources.drive]
kind = "poisson"
n = {n}
rate = {rate}

[monitors]
spikes = ["drive"]
"""


def write(tmp_path, n, rate):
    path = tmp_path / "rates.toml"
    path.write_text(textwrap.dedent(NET).replace("{n}", str(n)).replace("{rate}", rate))
    return path


def test_rate_function_is_parsed_with_units():
    f = RateFunction("5 Hz + 2 Hz*sin(2*pi*t/(100 ms))")
    t = np.linspace(0.0, 200.0, 41)
    assert np.allclose(f(t), 5.0 + 2.0 * np.sin(2 * np.pi * t / 100.0), rtol=0, atol=1e-12)
    assert float(f(25.0)) == pytest.approx(7.0, abs=1e-12)
    with pytest.raises(ModelError, match="frequency|Hz|1/second|second"):
        RateFunction("5 mV*t/ms")


@pytest.mark.parametrize("backend", BACKENDS)
def test_rate_expression_of_t_in_a_file(tmp_path, backend):
    # rate 5 Hz + 2 Hz sin(2 pi t/100 ms): per neuron the first 50 ms expect
    # 5*0.05 + 2*0.1/pi = 0.3137 spikes, the last 50 ms 5*0.05 - 2*0.1/pi = 0.1863
    # (over half a period the sine integrates to +-2*(0.1 s)/(2 pi) = +-0.1/pi s);
    # n = 4000 neurons
    n = 4000
    net = load_network(write(tmp_path, n, '"5 Hz + 2 Hz*sin(2*pi*t/(100 ms))"'), backend=backend)
    net.run(net.info.duration)
    mon = net.info.spike_monitors["drive"]
    first, second = np.sum(mon.t <= 50.0), np.sum(mon.t > 50.0)
    for count, per_neuron in ((first, 0.25 + 0.2 / np.pi), (second, 0.25 - 0.2 / np.pi)):
        mean = n * per_neuron
        assert abs(count - mean) < 4 * np.sqrt(mean)
    # the same spikes as a PoissonGroup given the Python function (same seed, same
    # counter-based numbers): the file's rate is that function
    src = PoissonGroup(n, lambda t: 5.0 + 2.0 * np.sin(2 * np.pi * t / 100.0), name="drive")
    ref = SpikeMonitor(src)
    Network(src, ref, seed=5, backend=backend).run(100.0)
    assert np.array_equal(ref.i, mon.i) and np.array_equal(ref.t, mon.t)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rate_table_from_npy_file(tmp_path, backend):
    # 1000 steps x 3 neurons, Hz: neuron 0 silent; neuron 1 silent for 50 ms, then
    # 5000 Hz (p = 0.5 per step: 250 +- 11 spikes); neuron 2 10000 Hz (p = 1: a spike
    # every step, 1000)
    table = np.zeros((1000, 3))
    table[500:, 1] = 5000.0
    table[:, 2] = 10000.0
    (tmp_path / "tables").mkdir()
    np.save(tmp_path / "tables" / "rates.npy", table)
    net = load_network(write(tmp_path, 3, '"tables/rates.npy"'), backend=backend)
    net.run(net.info.duration)
    mon = net.info.spike_monitors["drive"]
    assert np.sum(mon.i == 0) == 0
    assert np.all(mon.t[mon.i == 1] > 50.0)
    assert abs(np.sum(mon.i == 1) - 250) < 4 * np.sqrt(125)
    assert np.sum(mon.i == 2) == 1000


def test_rate_errors_name_the_file_table_and_key(tmp_path):
    with pytest.raises(ModelError, match=r"rates.toml.*\[sources.drive\] rate.*missing.npy"):
        load_network(write(tmp_path, 3, '"missing.npy"'))
    with pytest.raises(ModelError, match=r"rates.toml.*\[sources.drive\] rate"):
        load_network(write(tmp_path, 3, '"5 mV*t/ms"'))
    np.save(tmp_path / "short.npy", np.full((10, 3), 5.0))
    net = load_network(write(tmp_path, 3, '"short.npy"'), backend="numpy")
    with pytest.raises(Exception, match="10 steps"):
        net.run(net.info.duration)
