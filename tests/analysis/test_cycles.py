"""Continuation of periodic orbits from Hopf points (biosnn.analysis.cycles).

Where each expected number comes from is said next to it:

* "Hendrick" - C. Hendrick's computer-assisted study of Hopf bifurcations and bistability
  in the 1952 Hodgkin-Huxley equations, as quoted in issue 3 (fold of limit cycles at
  I = 6.2603 uA/cm**2 with period 19.895 ms; subcritical Hopf at 9.7754, period 10.718 ms;
  stable cycle period at I = 10: 14.636 ms; second Hopf at 154.52);
* "reference run" - tests/data/hh_I10_1000ms.json: scipy DOP853 at rtol = atol = 1e-12,
  spike times at I = 10 (no biosnn code involved);
* "closed form" - derived in the test from the equations;
* "project value" - computed independently for this project by shooting and bisection
  and written in the model's description (Morris-Lecar).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import biosnn
from biosnn import Model
from biosnn.analysis import CycleBranch, continue_cycles, continue_equilibria

DATA = Path(__file__).resolve().parents[1] / "data" / "hh_I10_1000ms.json"


@pytest.fixture(scope="module")
def hh():
    return biosnn.load_model("hodgkin_huxley")


@pytest.fixture(scope="module")
def hh_hopf(hh):
    return continue_equilibria(hh, "I_ext", 0, 200).special("hopf")


@pytest.fixture(scope="module")
def hh_to_10(hh, hh_hopf):
    # from the subcritical Hopf down through the fold of cycles and back up to I = 10
    return continue_cycles(hh, hh_hopf[0], "I_ext", start=0, stop=10)


# -- the normal form: closed-form branch ----------------------------------------------


def stuart_landau(w=2.0):
    return Model(
        """dx/dt = mu*x - w*y - x*(x**2 + y**2) : 1
                    dy/dt = w*x + mu*y - y*(x**2 + y**2) : 1""",
        params={"mu": -1, "w": w},
    )


def test_stuart_landau_closed_form_branch():
    # closed form: r = sqrt(mu), period 2 pi / w, multipliers 1 and exp(-2 mu T)
    m = stuart_landau()
    hopf = continue_equilibria(m, "mu", -1, 1).special("hopf")[0]
    c = continue_cycles(m, hopf, "mu", stop=1)
    assert c.status == "reached the end of the interval"
    assert c.param_values[-1] == pytest.approx(1.0, abs=1e-10)
    assert np.allclose(c.max["x"], np.sqrt(c.param_values), atol=1e-9)
    assert np.allclose(c.min["y"], -np.sqrt(c.param_values), atol=1e-9)
    assert np.allclose(c.period, math.pi, rtol=1e-10)
    expected = np.exp(-2 * c.param_values * math.pi)
    assert np.allclose(c.multipliers[:, 0], 1.0, atol=1e-8)
    assert np.allclose(c.multipliers[:, 1].real, expected, atol=1e-8)
    assert c.stable[1:].all() and not c.special_points
    t, orbit = c.orbit(len(c) - 1)
    assert t[-1] == pytest.approx(math.pi)
    assert np.allclose(orbit["x"] ** 2 + orbit["y"] ** 2, 1.0, atol=1e-8)


def test_subcritical_normal_form_fold_of_cycles():
    # closed form: r' = mu r + 2 r**3 - r**5 has cycles where mu = r**4 - 2 r**2, whose
    # minimum mu = -1 (r = 1) is the fold of cycles; period 2 pi / w throughout
    m = Model(
        """dx/dt = x*(mu + 2*(x**2 + y**2) - (x**2 + y**2)**2) - w*y : 1
                 dy/dt = y*(mu + 2*(x**2 + y**2) - (x**2 + y**2)**2) + w*x : 1""",
        params={"mu": -2, "w": 1},
    )
    hopf = continue_equilibria(m, "mu", -2, 1).special("hopf")[0]
    c = continue_cycles(m, hopf, "mu", start=-2, stop=1)
    (lpc,) = c.special("lpc")
    assert lpc.param == pytest.approx(-1.0, abs=1e-9)
    assert lpc.max["x"] == pytest.approx(1.0, abs=1e-6)
    assert lpc.period == pytest.approx(2 * math.pi, rel=1e-10)
    # unstable small cycles, stable large ones (multiplier exp(T d(r')/dr))
    r = c.max["x"]
    assert (c.stable == (r > 1.0 + 1e-6))[r > 0].sum() >= len(c) - 3


# -- Hodgkin-Huxley (Hendrick) --------------------------------------------------------


def test_hh_fold_of_cycles(hh_to_10):
    # the unstable branch also turns twice near I = 7.84 and 7.92 (the "twist" of
    # Guckenheimer & Labouriau 1993, Bull Math Biol 55:937; these two folds stay put to
    # 1e-6 under mesh refinement, ntst 40 -> 80 and ncol 4 -> 5) before the fold of
    # cycles at the lowest current, which is Hendrick's
    folds = sorted(sp.param for sp in hh_to_10.special("lpc"))
    assert len(folds) == 3 and folds[1:] == pytest.approx([7.842347, 7.917785], abs=1e-5)
    lpc = min(hh_to_10.special("lpc"), key=lambda sp: sp.param)
    assert lpc.param == pytest.approx(6.2603, rel=1e-5)  # Hendrick
    assert round(lpc.period, 3) == 19.895  # Hendrick, to every printed digit
    # a fold of cycles: the multiplier next to the trivial one is 1 as well
    assert np.sort(np.abs(lpc.multipliers - 1))[:2] == pytest.approx([0, 0], abs=1e-3)
    assert lpc.amplitude["V"] > 90


def test_hh_unstable_cycle_at_onset_and_stable_cycle_at_10(hh_to_10, hh_hopf):
    c = hh_to_10
    assert c.param_values[0] == pytest.approx(9.7754, rel=1e-5)  # Hendrick
    assert round(c.period[0], 3) == 10.718  # Hendrick, to every printed digit
    # the small cycles near the subcritical Hopf exist below it and are unstable
    assert c.param_values[1] < c.param_values[0] and not c.stable[1]
    assert c.period[1] == pytest.approx(10.718, rel=0.05)
    assert c.status == "reached the end of the interval"
    assert c.param_values[-1] == pytest.approx(10.0, abs=1e-9) and c.stable[-1]
    assert round(c.period[-1], 3) == 14.636  # Hendrick, to every printed digit
    # reference run: the last inter-spike intervals of the 1000 ms run at I = 10
    spikes = np.asarray(json.loads(DATA.read_text())["spike_times"])
    assert c.period[-1] == pytest.approx(np.diff(spikes)[-1], abs=1e-6)


def test_hh_branch_joins_second_hopf(hh, hh_hopf):
    c = continue_cycles(hh, hh_hopf[0], "I_ext", start=0, stop=200, ntst=30)
    assert c.status == "reached a Hopf point"
    assert c.end_param == pytest.approx(154.52, rel=1e-4)  # Hendrick
    assert c.end_param == pytest.approx(hh_hopf[1].param, rel=1e-6)
    assert c.period[-1] == pytest.approx(hh_hopf[1].period, rel=1e-3)
    assert c.stable[-1]
    lpc = [sp.param for sp in c.special("lpc")]
    assert min(lpc) == pytest.approx(6.2603, rel=1e-5)
    data = json.loads(json.dumps(c.to_dict()))
    assert data["status"] == "reached a Hopf point" and data["end_param"] > 154
    assert {sp["type"] for sp in data["special_points"]} <= {"lpc", "pd", "ns"}
    assert len(data["points"]["param"]) == len(c)


# -- Morris-Lecar hopf preset (project value) -------------------------------------------


def test_morris_lecar_fold_of_cycles_below_subcritical_hopf():
    ml = biosnn.load_model("morris_lecar", preset="hopf")
    hopf = continue_equilibria(ml, "I_ext", 0, 250).special("hopf")
    assert hopf[0].param == pytest.approx(93.86, abs=0.01)
    c = continue_cycles(ml, hopf[0], "I_ext", start=0, stop=250, ntst=30)
    lpc = c.special("lpc")
    assert lpc[0].param == pytest.approx(88.29, abs=0.01)  # project value
    assert lpc[-1].param == pytest.approx(216.9, abs=0.05)  # project value
    assert c.status == "reached a Hopf point"
    assert c.end_param == pytest.approx(212.0, abs=0.05)  # project value
    assert c.end_param == pytest.approx(hopf[1].param, rel=1e-6)
    # stable firing at I = 100 with period 85.29 ms (project value)
    k = np.flatnonzero(c.stable & (c.param_values > 95) & (c.param_values < 105))
    assert k.size and np.interp(100, c.param_values[k], c.period[k]) == pytest.approx(
        85.29, abs=0.2
    )


# -- the figure and errors --------------------------------------------------------------


def test_plot_on_the_equilibrium_axes(hh, hh_to_10):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = continue_equilibria(hh, "I_ext", 0, 20)
    ax = d.plot("V")
    n_lines = len(ax.lines)
    assert hh_to_10.plot("V", ax=ax) is ax
    styles = {line.get_linestyle() for line in ax.lines[n_lines:]}
    assert {"-", "--"} <= styles
    assert any(t.get_text() == "LPC" for t in ax.texts)
    plt.close(ax.figure)
    assert isinstance(hh_to_10, CycleBranch) and "LPC lpc" in repr(hh_to_10)


def test_refuses_a_fold(hh):
    ml = biosnn.load_model("morris_lecar", preset="snic")
    fold = continue_equilibria(ml, "I_ext", -100, 250, init={"V": -80}).special("fold")[0]
    with pytest.raises(biosnn.errors.BiosnnError, match="Hopf"):
        continue_cycles(ml, fold, "I_ext")


def test_homoclinic_end_of_morris_lecar_branch():
    # Morris-Lecar `homoclinic` preset: the cycles of the Hopf point on the upper
    # equilibrium branch (36.32) grow until they hit the saddle; the period grows without
    # bound while the parameter converges (the description of the model: repetitive firing
    # coexists with rest below the saddle-node at 39.963, e.g. at 39, and stops near 41)
    ml = biosnn.load_model("morris_lecar", preset="homoclinic")
    d = continue_equilibria(ml, "I_ext", -100, 250, init={"V": -80})
    (hopf,) = d.special("hopf")
    c = continue_cycles(ml, hopf, "I_ext", start=-100, stop=250)
    assert c.status == "homoclinic" and c.period[-1] > 20 * hopf.period
    assert np.ptp(c.param_values[-5:]) < 1e-6 * abs(c.param_values[-1])
    assert c.special("lpc")[0].param == pytest.approx(40.59, abs=0.01)
    i = np.flatnonzero(c.stable & (np.abs(c.param_values - 39) < 0.7))
    assert i.size  # stable firing near I = 39
