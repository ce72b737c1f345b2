"""Network files (biosnn.network.files): the TOML format, the library, errors, Python files.

Numbers checked here come from the files themselves (sizes, connection probabilities) or
from exact counting (pulse packets); the dynamics of the shipped
networks are tested in test_architectures.py.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import biosnn
from biosnn.errors import ModelError
from biosnn.network.files import list_networks, load_network, pulse_packet_times

SMALL = {"populations.exc.n": 80, "populations.inh.n": 20}


def write(tmp_path, text, name="net.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


MINIMAL = """
name = "tiny"
dt = "0.1 ms"
duration = "50 ms"
seed = 3

[models.lif]
equations = "dv/dt = (El - v)/tau : volt"
[models.lif.parameters]
El = "-40 mV"
tau = "10 ms"
Vt = "-50 mV"
Vr = "-65 mV"
[models.lif.events]
threshold = "v > Vt"
reset = "v = Vr"

[populations.exc]
model = "lif"
n = 10
method = "exact"
init = { v = "-65 mV" }

[sources.drive]
kind = "generator"
n = 2
indices = [0, 1]
times = ["5 ms", 7.5]

[synapses.in]
pre = "drive"
post = "exc"
on_pre = "v += w"
params = { w = "1 mV" }
connect = { rule = "all_to_all" }

[monitors]
spikes = ["exc", "drive"]
"""


def test_library_lists_the_shipped_networks_and_not_in_models():
    names = dict(list_networks())
    assert {"cuba", "coba", "cobahh", "synfire"} <= set(names)
    # the neuron-model listing is not disturbed by models/networks/ and models/synapses/
    models = dict(biosnn.list_models())
    assert not {"cuba", "coba", "cobahh", "synfire", "networks", "synapses"} & set(models)
    assert "lif" in models


@pytest.mark.parametrize("name", ["cuba", "coba", "cobahh"])
def test_benchmark_files_have_the_brette_2007_structure(name):
    net = load_network(name, seed=1, backend="numpy")
    assert net.info.duration == 1000.0 and net.dt == 0.1
    pops = net.info.populations
    assert (pops["exc"].n, pops["inh"].n) == (3200, 800)
    # p = 0.02 over 4000 x 4000 pairs: 320000 synapses, sd sqrt(320000*0.98) = 560
    assert abs(net.stats["n_synapses"] - 320_000) < 5 * 560
    assert set(net.info.synapses) == {"ee", "ei", "ie", "ii"}


def test_minimal_file_runs_and_generator_spikes_arrive(tmp_path):
    net = load_network(write(tmp_path, MINIMAL), backend="numpy")
    assert net.info.name == "tiny" and net.seed == 3 and net.info.duration == 50.0
    net.run(net.info.duration)
    drive = net.info.spike_monitors["drive"]
    assert drive.t.tolist() == pytest.approx([5.0, 7.5])
    # El = -40 mV is above threshold: v(t) = -40 - 25 exp(-t/10) (+2 mV kicks) crosses
    # -50 mV at t = 10 ln(25/10) = 9.16 ms without kicks; with the kicks earlier
    exc = net.info.spike_monitors["exc"]
    first = exc.t.min()
    assert 5.0 < first < 10 * np.log(25 / 10)
    assert exc.count.tolist() == [exc.count[0]] * 10


def test_changes_and_overrides(tmp_path):
    net = load_network(
        write(tmp_path, MINIMAL),
        backend="numpy",
        seed=9,
        duration=20,
        changes={"populations.exc.n": 4, "synapses.in.params.w": "2 mV"},
    )
    assert net.info.populations["exc"].n == 4 and net.seed == 9
    assert net.info.duration == 20.0
    with pytest.raises(ModelError, match="no table"):
        load_network(write(tmp_path, MINIMAL), changes={"populations.nope.n": 4})


def test_library_model_and_slices(tmp_path):
    text = """
    [models.l]
    library = "lif"
    [populations.p]
    model = "l"
    n = 20
    method = "exact"
    [populations.q]
    model = "lif"
    n = 5
    method = "exact"
    [synapses.s]
    pre = "p[0:10]"
    post = "q[1:3]"
    on_pre = "v += 1*mV"
    connect = "all_to_all"
    """
    net = load_network(write(tmp_path, text), backend="numpy", seed=0)
    assert net.stats["n_synapses"] == 10 * 2
    assert net.info.duration is None


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (("n = 10", "n = 0"), r"line 20: \[populations.exc\] n: must be a whole number >= 1"),
        (("n = 10", "size = 10"), r"\[populations.exc\] size: unknown key"),
        (('model = "lif"\nn', 'model = "lfi"\nn'), r"\[populations.exc\] model: no model 'lfi'"),
        (('"-65 mV" }', '"uniform(-65 mV)" }'), r"\[populations.exc\] init.v: .*uniform needs"),
        (('rule = "all_to_all"', 'rule = "all2all"'), r"\[synapses.in\] connect: unknown rule"),
        (
            ('pre = "drive"', 'pre = "driv"'),
            r"line 31: \[synapses.in\] pre: no population or "
            r"source named 'driv' \(did you mean drive\?\)",
        ),
        (('"dv/dt = (El - v)/tau : volt"', '"dv/dt = (El - v)/tau : amp"'), r"net.toml.*line 8"),
        (("[monitors]", "[monitor]"), r"unknown key 'monitor'|monitor: unknown key"),
        (('dt = "0.1 ms"', 'dt = "0.1 mV"'), r"line 3: dt: must be a time"),
        (('duration = "50 ms"', 'duration = "50 ms'), r"line 4.*invalid TOML"),
    ],
)
def test_errors_name_file_table_key_and_line(tmp_path, edit, pattern):
    old, new = edit
    assert old in MINIMAL
    path = write(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(ModelError, match=pattern) as info:
        load_network(path, backend="numpy")
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_unknown_network_suggests():
    with pytest.raises(ModelError, match="did you mean cuba"):
        load_network("cubaa")


def test_python_network_file(tmp_path):
    code = """
    from biosnn import Model
    from biosnn.network import Network, Population, SpikeMonitor
    m = Model("dv/dt = (2*mV - v)/(10*ms) : volt", threshold="v > 1*mV", reset="v = 0*mV")
    P = Population(m, 3, name="p", method="exact")
    network = Network(P, SpikeMonitor(P), seed=1, backend="numpy")
    duration = "100 ms"
    """
    net = load_network(write(tmp_path, code, "net.py"))
    assert net.info.duration == 100.0
    net.run(net.info.duration)
    # period 10 ms * ln 2 = 6.93 ms -> 14 spikes in 100 ms (the Network docstring's case)
    assert net.info.spike_monitors["p"].count.tolist() == [14, 14, 14]
    bad = write(tmp_path, "x = 1\n", "bad.py")
    with pytest.raises(ModelError, match="must define 'network'"):
        load_network(bad)


def test_pulse_packet_times_statistics():
    t = pulse_packet_times(20000, 50.0, 2.0, seed=4)
    # mean 50 ms and sd 2 ms of 20000 normal draws: standard errors 0.014 ms and 0.01 ms
    assert abs(t.mean() - 50.0) < 0.07 and abs(t.std() - 2.0) < 0.05
    assert np.array_equal(t, pulse_packet_times(20000, 50.0, 2.0, seed=4))


def test_file_with_kinetic_synapse_on_post_method_and_noise(tmp_path):
    # every engine feature reachable from a file: a noisy population (euler_maruyama),
    # a kinetic library synapse (AMPA, summed into I_syn), STDP traces with on_post and a
    # clock-driven synapse method
    text = """
name = "features"
dt = "0.1 ms"
duration = "200 ms"
seed = 3
[models.lif]
equations = '''
dv/dt = (-70*mV - v)/tau + I_syn/C + sigma*xi/sqrt(tau) : volt (unless refractory)
'''
parameters = { tau = "10 ms", C = "100 pF", I_syn = "0 pA", sigma = "2 mV" }
events = { threshold = "v > -55*mV", reset = "v = -70*mV", refractory = "2 ms" }
[populations.p]
model = "lif"
n = 20
method = "euler_maruyama"
init = { v = "-70 mV" }
[sources.drive]
kind = "poisson"
n = 20
rate = "200 Hz"
[synapses.ampa]
pre = "drive"
post = "p"
library = "ampa"
target = "I_syn"
w = "10 nS"
connect = { rule = "one_to_one" }
[synapses.stdp]
pre = "p"
post = "p"
model = '''
w : 1
dapre/dt = -apre/(20*ms) : 1 (event-driven)
dapost/dt = -apost/(20*ms) : 1 (event-driven)
'''
on_pre = "apre += 0.01; w = clip(w + apost, 0, 1)"
on_post = "apost -= 0.0105; w = clip(w + apre, 0, 1)"
init = { w = 0.5 }
connect = { rule = "fixed_probability", p = 0.2, allow_self = false }
"""
    net = load_network(write(tmp_path, text, "features.toml"))
    assert net.info.synapses["ampa"].clock_driven == ("r",)
    net.run(net.info.duration)
    mon = net.info.spike_monitors["p"]
    assert mon.n > 20  # AMPA drives them (the noise alone: 2 mV vs 15 mV to threshold)
    w = net.info.synapses["stdp"].state.w
    assert not np.all(w == 0.5)  # on_post and on_pre both ran
    bad = text.replace('library = "ampa"', 'library = "ampa"\non_pre = "v += 1*mV"')
    with pytest.raises(ModelError, match=r"synapses.ampa.*on_pre.*library synapse"):
        load_network(write(tmp_path, bad, "bad.toml"))
