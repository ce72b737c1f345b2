"""The Brette et al. (2007) benchmark networks as Brian2's examples define them
(examples/CUBA.py, examples/COBAHH.py): shared by benchmarks/ and tests/network/.
"""

from __future__ import annotations

CUBA_EQS = """
dv/dt = (ge + gi - (v - El))/taum : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
"""


def _ei_network(P, n, p, we, wi, seed, backend, monitor):
    """Brian2's E/I wiring of CUBA and COBAHH on population P: the first 80 % excite
    (``ge += we``), the rest inhibit (``gi += wi``), each pair with probability p;
    dt = 0.1 ms.  Returns (network, spike monitor or None, number of exc neurons).
    """
    from biosnn.network import FixedProbability, Network, SpikeMonitor, Synapses

    ne = int(n * 0.8)
    Ce = Synapses(
        P[:ne], P, on_pre="ge += we", params={"we": we}, connect=FixedProbability(p), name="Ce"
    )
    Ci = Synapses(
        P[ne:], P, on_pre="gi += wi", params={"wi": wi}, connect=FixedProbability(p), name="Ci"
    )
    objs = [P, Ce, Ci]
    mon = SpikeMonitor(P) if monitor else None
    if mon is not None:
        objs.append(mon)
    net = Network(*objs, dt="0.1 ms", seed=seed, backend=backend)
    return net, mon, ne


def cuba(n=4000, p=0.02, seed=1, backend="c", monitor=True):
    """CUBA: n LIF neurons (80 % excitatory), exact integration, dt = 0.1 ms."""
    from biosnn import Model
    from biosnn.network import Population, Uniform

    model = Model(
        CUBA_EQS,
        params={
            "taum": "20 ms",
            "taue": "5 ms",
            "taui": "10 ms",
            "El": "-49 mV",
            "Vt": "-50 mV",
            "Vr": "-60 mV",
        },
        threshold="v > Vt",
        reset="v = Vr",
        refractory="5 ms",
        name="cuba_lif",
    )
    P = Population(
        model,
        n,
        name="P",
        method="exact",
        init={"v": Uniform("-60 mV", "-50 mV"), "ge": 0.0, "gi": 0.0},
    )
    return _ei_network(P, n, p, "1.62 mV", "-9 mV", seed, backend, monitor)


# Brian2 writes 0.32*(mV**-1)*...; biosnn's parser currently mis-reads (mV**-1) (reported),
# so the same factor is written 0.32/mV*...
COBAHH_EQS = """
dv/dt = (gl*(El - v) + ge*(Ee - v) + gi*(Ei - v) - g_na*(m*m*m)*h*(v - ENa)
         - g_kd*(n*n*n*n)*(v - EK))/Cm : volt
dm/dt = alpha_m*(1 - m) - beta_m*m : 1
dn/dt = alpha_n*(1 - n) - beta_n*n : 1
dh/dt = alpha_h*(1 - h) - beta_h*h : 1
dge/dt = -ge*(1./taue) : siemens
dgi/dt = -gi*(1./taui) : siemens
alpha_m = 0.32/mV*(13*mV - v + VT)/(exp((13*mV - v + VT)/(4*mV)) - 1.)/ms : Hz
beta_m = 0.28/mV*(v - VT - 40*mV)/(exp((v - VT - 40*mV)/(5*mV)) - 1)/ms : Hz
alpha_h = 0.128*exp((17*mV - v + VT)/(18*mV))/ms : Hz
beta_h = 4./(1 + exp((40*mV - v + VT)/(5*mV)))/ms : Hz
alpha_n = 0.032/mV*(15*mV - v + VT)/(exp((15*mV - v + VT)/(5*mV)) - 1.)/ms : Hz
beta_n = .5*exp((10*mV - v + VT)/(40*mV))/ms : Hz
"""

# area 20000 um**2: Cm = 1 uF/cm**2 * area = 200 pF, gl = 5e-5 S/cm**2 * area = 10 nS,
# g_na = 100 mS/cm**2 * area = 20 uS, g_kd = 30 mS/cm**2 * area = 6 uS
COBAHH_PARAMS = {
    "Cm": "200 pF",
    "gl": "10 nS",
    "El": "-60 mV",
    "EK": "-90 mV",
    "ENa": "50 mV",
    "g_na": "20000 nS",
    "g_kd": "6000 nS",
    "VT": "-63 mV",
    "taue": "5 ms",
    "taui": "10 ms",
    "Ee": "0 mV",
    "Ei": "-80 mV",
}


def cobahh(n=4000, p=0.02, seed=1, backend="c", monitor=True):
    """COBAHH: n Traub-Miles HH neurons, exponential conductance synapses, exponential
    Euler, dt = 0.1 ms; initial values as Brian2's example (normal draws).

    Checked line by line against Brian2's examples/COBAHH.py (equations, parameters,
    weights, initial values, connectivity): the same model.  Two engine conventions
    differ from Brian2's (refractory window one step longer, threshold on crossing
    instead of level; docs/network.md, "Brian2's COBAHH and our rates"); the mean rate
    over seeds agrees with Brian2 2.9.0's (34.9 Hz vs 34.7 Hz, all neurons).
    """
    from biosnn import Model
    from biosnn.network import Normal, Population

    model = Model(
        COBAHH_EQS, params=COBAHH_PARAMS, threshold="v > -20*mV", refractory="3 ms", name="cobahh"
    )
    # v = El + (randn()*5 - 5) mV; ge = (randn()*1.5 + 4)*10 nS; gi = (randn()*12 + 20)*10 nS
    P = Population(
        model,
        n,
        name="P",
        method="exponential_euler",
        init={
            "v": Normal("-65 mV", "5 mV"),
            "ge": Normal("40 nS", "15 nS"),
            "gi": Normal("200 nS", "120 nS"),
            "m": 0.0,
            "n": 0.0,
            "h": 0.0,
        },
    )
    return _ei_network(P, n, p, "6 nS", "67 nS", seed, backend, monitor)


class _Counts:
    """The spike counts of several monitors, in order, as one ``.count`` array."""

    def __init__(self, monitors):
        self.monitors = monitors

    @property
    def count(self):
        import numpy as np

        return np.concatenate([m.count for m in self.monitors])


def coba(n=4000, p=0.02, seed=1, backend="c", monitor=True):
    """COBA (Brette et al. 2007, benchmark 1; Vogels & Abbott 2005 with conductance
    synapses) from the library file models/networks/coba.toml: populations ``exc`` (80 %)
    and ``inh``.  Returns (network, counts over exc then inh, number of exc neurons).
    """
    from biosnn.network import load_network

    ne = int(round(0.8 * n))
    changes = {"populations.exc.n": ne, "populations.inh.n": n - ne}
    for name in ("ee", "ei", "ie", "ii"):
        changes[f"synapses.{name}.connect.p"] = p
    net = load_network("coba", seed=seed, backend=backend, changes=changes)
    mons = net.info.spike_monitors
    return net, _Counts([mons["exc"], mons["inh"]]), ne
