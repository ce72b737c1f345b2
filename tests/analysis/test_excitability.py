"""f-I curves, rheobase and excitability class (biosnn.analysis.excitability).

Where each expected number comes from:

* LIF and QIF: the closed-form interspike intervals written in the model files (derived
  again here: LIF ``T = t_ref + tau ln((R I + El - Vr)/(R I + El - Vt))``, rheobase
  ``(Vt - El)/R``; QIF ``T = t_ref + tau/(a0 Omega) [atan((V_peak - m)/Omega) -
  atan((Vr - m)/Omega)]``, rheobase ``(Vc - El)/(4 R)``);
* Hodgkin-Huxley: Hopf at I = 9.7754 uA/cm**2 and fold of cycles at 6.2603 (period
  19.895 ms) from C. Hendrick's study as quoted in issue 3;
* Morris-Lecar ``snic``: saddle-node at I = 39.963 uA/cm**2 (project value, also found by
  continuation in tests/analysis/test_continuation.py) and the periods 195.84 ms at 41 and
  99.31 ms at 45 from the model's description (computed independently with scipy);
* Izhikevich (a = 0.02, b = 0.2, no reset): Hopf where the trace vanishes, closed form
  derived below.
"""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest

import biosnn
from biosnn.analysis import FICurve, fi_curve
from biosnn.errors import BiosnnError

matplotlib.use("Agg")


def _lif_rate(current_nA):
    tau, El, Vt, Vr, R, t_ref = 10.0, -70.0, -50.0, -65.0, 100.0, 2.0  # ms, mV, MOhm
    RI = R * current_nA / 1000.0 * 1000.0  # MOhm * nA = mV
    if RI + El <= Vt:
        return 0.0
    return 1000.0 / (t_ref + tau * math.log((RI + El - Vr) / (RI + El - Vt)))


def test_lif_curve_equals_the_analytic_formula():
    values = np.array([0.1, 0.15, 0.25, 0.3, 0.5, 0.75, 1.0])
    fi = fi_curve("lif", "I_ext", values, duration=400, transient=50)
    expected = np.array([_lif_rate(i) for i in values])
    assert fi.rates[:2].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(fi.rates[2:], expected[2:], rtol=1e-5)  # solver rtol 1e-6
    assert fi.rates[2] == pytest.approx(63.04, abs=0.01)  # the model file's value
    # rheobase (Vt - El)/R = 20 mV / 100 MOhm = 0.2 nA, bracket width <= 1e-3 * 0.9
    assert fi.rheobase == pytest.approx(0.2, abs=1e-3)
    assert fi.rheobase_bracket[0] <= 0.2 + 1e-12 <= fi.rheobase_bracket[1] + 1e-3
    assert fi.class_from_curve == 1 and fi.class_from_bifurcation is None
    assert fi.excitability_class == 1 and fi.unit == "nA" and fi.rate_unit == "Hz"
    assert fi.stats["backend"] in ("c", "numpy")
    # the count rate agrees with 1/ISI up to the window's quantisation
    assert abs(fi.rates_count[-1] - fi.rates[-1]) <= 1000.0 / 350.0 + 1e-9


def test_hodgkin_huxley_is_class_2_with_a_hopf_onset():
    fi = fi_curve("hodgkin_huxley", "I_ext", np.linspace(0, 20, 21), duration=500, transient=100)
    # firing from rest starts near the fold of cycles (Hendrick: 6.2603), with a jump
    assert 6.0 < fi.rheobase < 6.5
    assert fi.onset_rate > 40.0  # Hendrick: period 19.895 ms at the fold, 50.3 Hz
    assert fi.class_from_curve == 2
    assert fi.bifurcation["type"] == "hopf" and fi.class_from_bifurcation == 2
    assert fi.bifurcation["param"] == pytest.approx(9.7754, abs=1e-4)  # Hendrick
    assert np.all(fi.rates[fi.values < 6] == 0)
    # 10 uA/cm**2: period 14.636 ms (model description, Hendrick) -> 68.325 Hz
    assert fi.rates[10] == pytest.approx(1000 / 14.636, rel=1e-4)


def test_morris_lecar_snic_is_class_1_with_the_square_root_law():
    ml = biosnn.load_model("morris_lecar", preset="snic")
    currents = np.array([39.5, 40.2, 40.5, 41.0, 42.0, 43.0, 45.0])
    fi = fi_curve(ml, "I_ext", currents, duration=3000, transient=1000)
    assert fi.rates[0] == 0.0
    # project values: period 195.84 ms at 41, 99.31 ms at 45
    assert 1000 / fi.rates[3] == pytest.approx(195.84, abs=0.05)
    assert 1000 / fi.rates[6] == pytest.approx(99.31, abs=0.05)
    assert fi.class_from_curve == 1
    assert fi.bifurcation["type"] == "fold" and fi.class_from_bifurcation == 1
    i_sn = fi.bifurcation["param"]
    assert i_sn == pytest.approx(39.963, abs=1e-3)  # project value
    # square-root law near onset: f = c sqrt(I - I_SN) (1 + O(I - I_SN)).  The fitted
    # f**2 against I over the three lowest firing currents crosses zero at I_SN.
    I, f = currents[1:4], fi.rates[1:4]
    slope, intercept = np.polyfit(I, f**2, 1)
    assert -intercept / slope == pytest.approx(i_sn, abs=0.05)
    c = f / np.sqrt(I - i_sn)
    assert np.ptp(c) / c.mean() < 0.1  # c = 5.3, 5.2, 5.0 (Hz per sqrt(uA/cm**2))


def test_qif_is_class_1_with_the_analytic_curve_and_rheobase():
    values = np.array([0.04, 0.06, 0.1, 0.2])
    fi = fi_curve("qif", "I_ext", values, duration=1000, transient=200)
    tau, El, Vc, Vpk, Vr, R, tref = 10.0, -70.0, -50.0, 20.0, -70.0, 100.0, 2.0
    m, a0 = (El + Vc) / 2, 1 / (Vc - El)
    for current, rate in zip(values[1:], fi.rates[1:], strict=True):
        omega = math.sqrt(R * current / a0 - (Vc - El) ** 2 / 4)
        T = tref + tau / (a0 * omega) * (math.atan((Vpk - m) / omega) - math.atan((Vr - m) / omega))
        assert 1000 / rate == pytest.approx(T, rel=1e-6)
    assert 1000 / fi.rates[1] == pytest.approx(121.192, abs=1e-3)  # model file
    assert fi.rates[0] == 0
    assert fi.rheobase == pytest.approx(0.05, abs=1e-3)  # (Vc - El)/(4 R)
    assert fi.class_from_curve == 1 and fi.class_from_bifurcation == 1
    assert fi.bifurcation == {"type": "fold", "param": pytest.approx(0.05, abs=1e-9)}


def test_izhikevich_curve_rises_from_zero():
    fi = fi_curve("izhikevich", "I_ext", np.linspace(0, 10, 11), duration=1000)
    assert fi.class_from_curve == 1 and fi.onset_rate < 10.0
    assert 3.5 < fi.rheobase < 4.0
    # the rest loses stability where the trace 0.08 v + 5 - a vanishes (v = -62.25 mV),
    # just below the fold at I = 4 (closed form; the spike itself is the reset's)
    v = (0.02 - 5) / 0.08
    i_hopf = -(0.04 * v * v + 5 * v + 140 - 0.2 * v)
    assert fi.bifurcation["type"] == "hopf"
    assert fi.bifurcation["param"] == pytest.approx(i_hopf, abs=1e-8)


def test_result_object_json_plot_and_errors():
    fi = fi_curve("lif", "I_ext", [0.1, 0.3], duration=200, transient=20, bifurcation=False)
    assert isinstance(fi, FICurve) and "rheobase" in repr(fi)
    doc = json.loads(json.dumps(fi.to_dict()))
    assert doc["class"] == 1 and doc["values"] == [0.1, 0.3] and doc["rheobase"] > 0.19
    ax = fi.plot()
    assert ax.get_xlabel() == "I_ext (nA)" and ax.get_ylabel() == "rate (Hz)"
    with pytest.raises(BiosnnError, match="increase"):
        fi_curve("lif", "I_ext", [0.3, 0.1], duration=100)
    with pytest.raises(BiosnnError, match="transient"):
        fi_curve("lif", "I_ext", [0.1, 0.3], duration=100, transient=100)
    with pytest.raises(BiosnnError, match="threshold"):
        fi_curve(
            biosnn.Model(
                "dv/dt = (I - v)/(10*ms) : volt", params={"I": "1 mV"}, initial={"v": "0 mV"}
            ),
            "I",
            [0, 1],
            duration=10,
        )
