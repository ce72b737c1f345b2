"""The model library (models/*.toml): every model reproduces its documented behaviour.

Each test runs a library model through the public API (``biosnn.load_model`` /
``biosnn.simulate``) and checks a behaviour written in the model's description and in
docs/models.md.  Where a number comes from is said next to it:

* "paper" - the published value;
* "scipy check" - an independent hand transcription of the equations integrated with
  scipy (DOP853 / LSODA at rtol = atol = 1e-10, exact events) or with a separate NumPy
  rk4 loop implementing the solver semantics of docs/architecture.md (spike time by
  linear interpolation, reset at the step end, refractory steps held), written before
  the parser existed;
* "analytic" - a closed-form result (f-I curves of the integrate-and-fire family).

Fixed-step rk4 is used throughout, at the largest step for which the scipy check showed
the number to be stable, so the suite stays fast on either backend.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest

import biosnn

DATA = Path(__file__).resolve().parents[1] / "data"

LIBRARY = {
    "hodgkin_huxley": [],
    "wang_buzsaki": [],
    "morris_lecar": ["hopf", "snic", "homoclinic"],
    "fitzhugh_nagumo": ["rest", "oscillating"],
    "hindmarsh_rose": ["bursting", "fast_bursting", "chaotic", "tonic", "rest"],
    "izhikevich": ["RS", "IB", "CH", "FS", "LTS", "TC", "RZ"],
    "perfect_if": [],
    "lif": [],
    "eif": [],
    "qif": [],
    "adex": [
        "tonic",
        "adapting",
        "initial_burst",
        "regular_bursting",
        "delayed_accelerating",
        "delayed_regular_bursting",
        "transient",
        "irregular",
    ],
}


def spikes(res, i=0):
    return np.asarray(res.spikes[i], dtype=float)


def isis(res, i=0):
    return np.diff(spikes(res, i))


# --------------------------------------------------------------------------------------
# the library as a whole


def test_library_lists_every_model():
    names = {name for name, _title in biosnn.list_models()}
    assert set(LIBRARY) <= names


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_model_file_loads_with_metadata_and_presets(name):
    model = biosnn.load_model(name)
    assert model.description and model.reference
    assert "I_ext" in model.params
    for preset in LIBRARY[name]:
        biosnn.load_model(name, preset=preset)  # every preset names real parameters
    assert set(model.presets or {}) == set(LIBRARY[name])


# --------------------------------------------------------------------------------------
# Hodgkin-Huxley


def test_hodgkin_huxley_rests_near_minus_65_mV():
    # scipy check: the I = 0 rest (root of the steady-state current) is -64.99638 mV.
    res = biosnn.simulate(
        biosnn.load_model("hodgkin_huxley"),
        100,
        method="rk4",
        dt=0.025,
        record=["V"],
        record_dt=1.0,
    )
    assert len(spikes(res)) == 0
    assert res["V"][0, -1] == pytest.approx(-64.99638, abs=2e-3)
    assert np.all(np.abs(res["V"][0] + 65.0) < 0.01)


def test_hodgkin_huxley_tonic_firing_at_10_uA_per_cm2():
    # Reference data (tests/data/hh_I10_1000ms.json: DOP853 at 1e-12, cross-checked with
    # Radau and CVODE): 69 spikes in 1000 ms from the I = 0 rest, first at 1.9012 ms,
    # period 14.636 ms.  The scipy check shows rk4 at dt = 0.025 ms within 1e-3 ms.
    ref = json.loads((DATA / "hh_I10_1000ms.json").read_text())
    v0, m0, h0, n0 = ref["y0 (V, m, h, n)"]
    res = biosnn.simulate(
        biosnn.load_model("hodgkin_huxley"),
        1000,
        method="rk4",
        dt=0.025,
        params={"I_ext": 10},
        init={"V": v0, "m": m0, "h": h0, "n": n0},
        record=["V"],
        record_dt=1.0,
    )
    sp = spikes(res)
    assert len(sp) == ref["n_spikes"] == 69
    np.testing.assert_allclose(sp, ref["spike_times"], atol=5e-3)
    assert np.diff(sp)[-1] == pytest.approx(14.636, abs=2e-3)


def test_hodgkin_huxley_default_start_fires_at_1_90_ms():
    # scipy check from the file's own initial state (V = -65 mV, gates at steady state):
    # first spike 1.9010 ms, 7 spikes in 100 ms (also the example in biosnn.__doc__).
    res = biosnn.simulate(
        biosnn.load_model("hodgkin_huxley"),
        100,
        method="rk4",
        dt=0.025,
        params={"I_ext": 10},
        record=["V"],
        record_dt=1.0,
    )
    sp = spikes(res)
    assert len(sp) == 7
    assert sp[0] == pytest.approx(1.901, abs=2e-3)


# --------------------------------------------------------------------------------------
# Wang-Buzsaki interneuron


def test_wang_buzsaki_rests_and_fires_at_60_hz_with_1_uA_per_cm2():
    # scipy check (the equations of Wang & Buzsaki 1996 transcribed by hand, DOP853 at
    # rtol = atol = 1e-10, spikes = upward crossings of -20 mV, from the file's initial
    # state): I_ext = 0 rests at -64.0176 mV; I_ext = 1 uA/cm**2 fires 30 spikes in
    # 500 ms, the first at 11.680 ms, then with a period of 16.7500 ms (59.7 Hz, the
    # paper's Fig. 1 f-I curve passes near 60 Hz at 1 uA/cm**2).
    model = biosnn.load_model("wang_buzsaki")
    res = biosnn.simulate(
        model, 500, n=2, method="rk4", dt=0.01, params={"I_ext": [0.0, 1.0]}, record=["V"]
    )
    assert len(spikes(res, 0)) == 0
    assert res["V"][0, -1] == pytest.approx(-64.0176, abs=1e-3)
    sp = spikes(res, 1)
    assert len(sp) == 30
    assert sp[0] == pytest.approx(11.680, abs=2e-3)
    assert np.diff(sp)[-1] == pytest.approx(16.750, abs=1e-3)


# --------------------------------------------------------------------------------------
# Morris-Lecar


def test_morris_lecar_snic_rests_below_and_fires_slowly_above_40():
    # scipy check: saddle-node on invariant circle at I_ext = 39.963 uA/cm**2.  At 39.5 the
    # model rests; at 41 it fires with period 195.84 ms, at 45 with 99.31 ms (rk4 at
    # dt = 0.1 ms agrees to 0.01 ms).
    model = biosnn.load_model("morris_lecar", preset="snic")
    res = biosnn.simulate(
        model,
        1200,
        method="rk4",
        dt=0.1,
        n=3,
        params={"I_ext": np.array([39.5, 41.0, 45.0])},
        record=["V"],
        record_dt=1.0,
    )
    assert len(spikes(res, 0)) == 0
    assert res["V"][0, -1] == pytest.approx(-31.78, abs=0.05)  # the stable node near the fold
    assert isis(res, 1)[-1] == pytest.approx(195.84, abs=0.3)
    assert isis(res, 2)[-1] == pytest.approx(99.31, abs=0.2)
    assert len(spikes(res, 1)) >= 5


def test_morris_lecar_hopf_set_fires_at_nonzero_frequency():
    # scipy check: Hopf set (the defaults) rests at -60.855 mV for I_ext = 0 and fires with
    # period 85.29 ms at 100 uA/cm**2 (class II: the rate does not start at zero).
    model = biosnn.load_model("morris_lecar")
    res = biosnn.simulate(
        model,
        600,
        method="rk4",
        dt=0.1,
        n=2,
        params={"I_ext": np.array([0.0, 100.0])},
        record=["V"],
        record_dt=1.0,
    )
    assert len(spikes(res, 0)) == 0
    assert res["V"][0, -1] == pytest.approx(-60.855, abs=0.01)
    assert isis(res, 1)[-1] == pytest.approx(85.29, abs=0.2)


# --------------------------------------------------------------------------------------
# FitzHugh-Nagumo (dimensionless time)


def test_fitzhugh_nagumo_rests_at_0_and_oscillates_at_0_5():
    # Analytic: rest v* = -1.19941; Hopf points at I_ext = 0.3313 and 1.4187.
    # scipy check: period 39.474 at I_ext = 0.5.
    model = biosnn.load_model("fitzhugh_nagumo")
    res = biosnn.simulate(
        model,
        400,
        method="rk4",
        dt=0.05,
        n=2,
        params={"I_ext": np.array([0.0, 0.5])},
        record=["v"],
        record_dt=1.0,
    )
    assert len(spikes(res, 0)) == 0
    assert res["v"][0, -1] == pytest.approx(-1.19941, abs=1e-4)
    assert len(spikes(res, 1)) >= 9
    assert isis(res, 1)[-1] == pytest.approx(39.474, abs=0.02)
    osc = biosnn.load_model("fitzhugh_nagumo", preset="oscillating")
    assert osc.params["I_ext"] == pytest.approx(0.5)


# --------------------------------------------------------------------------------------
# Hindmarsh-Rose (dimensionless time)


def test_hindmarsh_rose_bursts_with_bimodal_isis():
    # scipy check (DOP853 1e-10; rk4 at dt = 0.01-0.1 identical to 0.3): after the first
    # long burst, bursts of 9 spikes every 430.8 time units; intra-burst ISIs 11.8-26,
    # silent intervals 300.6.
    res = biosnn.simulate(
        biosnn.load_model("hindmarsh_rose"),
        2200,
        method="rk4",
        dt=0.05,
        record=["x"],
        record_dt=1.0,
    )
    sp = spikes(res)
    sp = sp[sp > 900]
    isi = np.diff(sp)
    long_ = isi > 100
    assert np.all((isi < 30) | (isi > 250))  # bimodal, nothing in between
    assert long_.sum() >= 2
    starts = sp[1:][long_]
    assert np.diff(starts) == pytest.approx(430.8, abs=1.0)
    first = np.flatnonzero(long_)
    assert first[1] - first[0] == 9  # 9 spikes per burst


# --------------------------------------------------------------------------------------
# Izhikevich (2003): the Fig. 2 classes with the presets' I_ext


def izh(preset, duration=500.0, **kw):
    return biosnn.simulate(
        biosnn.load_model("izhikevich", preset=preset),
        duration,
        method="rk4",
        dt=0.05,
        record=["v"],
        record_dt=1.0,
        **kw,
    )


def test_izhikevich_presets_have_the_published_parameters():
    # paper: Izhikevich (2003) Fig. 2.
    published = {
        "RS": (0.02, 0.2, -65, 8),
        "IB": (0.02, 0.2, -55, 4),
        "CH": (0.02, 0.2, -50, 2),
        "FS": (0.1, 0.2, -65, 2),
        "LTS": (0.02, 0.25, -65, 2),
        "TC": (0.02, 0.25, -65, 0.05),
        "RZ": (0.1, 0.26, -65, 2),
    }
    for name, abcd in published.items():
        p = biosnn.load_model("izhikevich", preset=name).params
        assert tuple(p[k] for k in "abcd") == pytest.approx(abcd)


def test_izhikevich_regular_spiking_adapts():
    # scipy check (rk4 0.01/0.05 ms): 12 spikes in 500 ms, ISIs 23.1 then 44.8 ms.
    isi = isis(izh("RS"))
    assert len(isi) == 11
    assert np.all(np.diff(isi) > -0.2)
    assert isi[0] == pytest.approx(23.1, abs=0.3)
    assert isi[-1] == pytest.approx(44.8, abs=0.3)


def test_izhikevich_intrinsically_bursting_then_tonic():
    # scipy check: a burst of 3 spikes (ISIs 2.3, 4.2 ms), then tonic firing at 31.2 ms.
    isi = isis(izh("IB"))
    assert np.all(isi[:2] < 5)
    assert np.all(isi[2:] > 25)
    assert isi[-1] == pytest.approx(31.2, abs=0.3)


def test_izhikevich_chattering_repeats_bursts():
    # scipy check: 47 spikes; a first burst of 7, then bursts of 5 every ~48 ms (bimodal ISIs).
    isi = isis(izh("CH"))
    long_ = isi > 20
    assert np.all(isi[~long_] < 6)
    assert long_.sum() >= 7
    assert np.all(np.abs(isi[long_][1:] - 48.0) < 1.0)
    runs = np.diff(np.flatnonzero(long_))
    assert np.all(runs == 5)


def test_izhikevich_fast_spiking_high_rate_without_adaptation():
    # scipy check: 69 spikes in 500 ms (136 Hz), steady ISI 7.35 ms.
    isi = isis(izh("FS"))
    assert len(isi) + 1 >= 66
    late = isi[-30:]
    assert late.std() / late.mean() < 0.02
    assert late.mean() == pytest.approx(7.35, abs=0.15)


def test_izhikevich_low_threshold_spiking_burst_then_adapts():
    # scipy check: initial ISIs 2.9, 3.5, 4.4 ms adapting to 13.4 ms.
    isi = isis(izh("LTS"))
    assert isi[0] < 4
    assert isi[-1] == pytest.approx(13.4, abs=0.3)


def test_izhikevich_thalamocortical_tonic_and_rebound_burst():
    # scipy check: at I_ext = 2 mV, 27 spikes in 500 ms, ISI 7.6 -> ~20.5 ms; released at
    # I_ext = 0 from v = -87 mV, u = b*v, a rebound burst of 7 spikes within 45 ms.
    tonic = isis(izh("TC"))
    assert 25 <= len(tonic) + 1 <= 28
    assert tonic[0] == pytest.approx(7.65, abs=0.2)
    rebound = spikes(
        izh("TC", duration=200.0, params={"I_ext": 0.0}, init={"v": -87.0, "u": 0.25 * -87.0})
    )
    assert 6 <= len(rebound) <= 8
    assert rebound.max() < 80.0


def test_izhikevich_resonator_rests_at_zero_fires_at_0_5():
    # Analytic rest at I = 0: v* = -62.5 mV, u* = -16.25 mV (a stable focus, eigenvalues
    # -0.05 +/- 0.153i per ms).  scipy check: ISI 30.5 ms at I_ext = 0.5 mV.
    isi = isis(izh("RZ"))
    assert isi[-1] == pytest.approx(30.5, abs=0.3)
    rest = izh("RZ", duration=200.0, params={"I_ext": 0.0}, init={"v": -62.0, "u": -16.25})
    assert len(spikes(rest)) == 0
    assert rest["v"][0, -1] == pytest.approx(-62.5, abs=0.05)


# --------------------------------------------------------------------------------------
# integrate-and-fire family: analytic f-I curves


def check_fi(res, currents, period, dt):
    for i, current in enumerate(currents):
        T = period(current)
        sp = spikes(res, i)
        if math.isinf(T):
            assert len(sp) == 0, current
        else:
            isi = np.diff(sp)
            assert len(isi) >= 3, current
            # the reset is applied at the step end, so each ISI may differ by up to dt
            np.testing.assert_allclose(isi, T, atol=dt + 1e-9, err_msg=f"I_ext={current}")


def test_lif_f_i_curve_is_the_analytic_one():
    # analytic: T = t_ref + tau_m ln((R I + El - Vr)/(R I + El - Vt)), rheobase 0.2 nA.
    tau, El, Vt, Vr, R, tref = 10.0, -70.0, -50.0, -65.0, 100.0, 2.0  # ms, mV, Mohm
    currents = np.array([0.15, 0.25, 0.3, 0.5, 1.0])  # nA

    def period(current):
        RI = R * current
        if RI <= Vt - El:
            return math.inf
        return tref + tau * math.log((RI + El - Vr) / (RI + El - Vt))

    model = biosnn.load_model("lif")
    res = biosnn.simulate(
        model,
        300,
        method="rk4",
        dt=0.01,
        n=len(currents),
        params={"I_ext": currents},
        record=["v"],
        record_dt=1.0,
    )
    check_fi(res, currents, period, 0.01)
    assert period(0.3) == pytest.approx(11.1629, abs=1e-4)  # as documented
    assert res["v"][0, -1] == pytest.approx(El + R * 0.15, abs=1e-3)  # sub-threshold rest

    # An adaptive method locates the crossing and steps onto the end of refractoriness,
    # so every interval equals T and the first spike tau_m ln(R I/(R I + El - Vt)).
    exact = biosnn.simulate(
        model,
        300,
        method="rk45",
        rtol=1e-10,
        atol=1e-10,
        n=len(currents),
        params={"I_ext": currents},
        record=["v"],
        record_dt=1.0,
    )
    check_fi(exact, currents, period, 1e-7)
    for i, current in enumerate(currents[1:], start=1):
        first = tau * math.log(R * current / (R * current + El - Vt))
        assert spikes(exact, i)[0] == pytest.approx(first, abs=1e-7)


def test_perfect_if_f_i_curve_is_linear():
    # analytic: T = t_ref + C (Vt - Vr)/I = 2 ms + 100 pF * 20 mV / 100 pA = 22 ms at 0.1 nA.
    currents = np.array([-0.05, 0.05, 0.1, 0.2])

    def period(current):
        return math.inf if current <= 0 else 2.0 + 100.0 * 20.0 / (current * 1000.0)

    res = biosnn.simulate(
        biosnn.load_model("perfect_if"),
        300,
        method="rk4",
        dt=0.01,
        n=len(currents),
        params={"I_ext": currents},
        record=["v"],
        record_dt=1.0,
    )
    check_fi(res, currents, period, 0.01)
    assert spikes(res, 2)[0] == pytest.approx(20.0, abs=0.01)


def test_qif_f_i_curve_is_the_analytic_one():
    # analytic: with a0 = 1/(Vc - El), m = (El + Vc)/2, Omega^2 = R I/a0 - (Vc - El)^2/4,
    # T = t_ref + tau/(a0 Omega) [atan((V_peak - m)/Omega) - atan((Vr - m)/Omega)].
    tau, El, Vc, Vpk, Vr, R, tref = 10.0, -70.0, -50.0, 20.0, -70.0, 100.0, 2.0
    a0, mid = 1.0 / (Vc - El), (El + Vc) / 2
    currents = np.array([0.04, 0.07, 0.1, 0.2])

    def period(current):
        om2 = R * current / a0 - (Vc - El) ** 2 / 4
        if om2 <= 0:
            return math.inf
        om = math.sqrt(om2)
        return tref + tau / (a0 * om) * (math.atan((Vpk - mid) / om) - math.atan((Vr - mid) / om))

    res = biosnn.simulate(
        biosnn.load_model("qif"),
        400,
        method="rk4",
        dt=0.01,
        n=len(currents),
        params={"I_ext": currents},
        record=["v"],
        record_dt=1.0,
    )
    check_fi(res, currents, period, 0.01)
    assert period(0.1) == pytest.approx(46.6368, abs=1e-4)


def test_eif_f_i_curve_matches_quadrature():
    # "analytic" up to a 1-D integral: T = t_ref + tau * int_Vr^Vpeak dv / F(v).
    from scipy.integrate import quad

    tau, El, VT, DT, Vpk, Vr, R, tref = 10.0, -70.0, -50.0, 2.0, -10.0, -70.0, 100.0, 2.0
    currents = np.array([0.17, 0.2, 0.3, 0.5])

    def period(current):
        RI = R * current
        if RI <= VT - El - DT:
            return math.inf

        def F(v):
            return El - v + DT * math.exp((v - VT) / DT) + RI

        return tref + tau * quad(lambda v: 1.0 / F(v), Vr, Vpk, points=[VT], limit=200)[0]

    res = biosnn.simulate(
        biosnn.load_model("eif"),
        300,
        method="rk4",
        dt=0.01,
        n=len(currents),
        params={"I_ext": currents},
        record=["v"],
        record_dt=1.0,
    )
    check_fi(res, currents, period, 0.01)
    assert period(0.3) == pytest.approx(16.742, abs=1e-3)


# --------------------------------------------------------------------------------------
# AdEx: Brette & Gerstner (2005) defaults and Naud et al. (2008) patterns


NAUD = [
    "tonic",
    "adapting",
    "initial_burst",
    "regular_bursting",
    "delayed_accelerating",
    "delayed_regular_bursting",
    "transient",
    "irregular",
]


@functools.cache
def adex_patterns():
    """All eight Naud et al. presets plus the Brette-Gerstner defaults at 1 nA, run as nine
    instances of one simulation (per-instance parameter arrays, in display units).
    """
    models = [biosnn.load_model("adex", preset=name) for name in NAUD]
    models.append(biosnn.load_model("adex", I_ext="1 nA"))
    names = list(models[0].params)
    params = {k: np.array([m.params[k] for m in models], dtype=float) for k in names}
    res = biosnn.simulate(
        biosnn.load_model("adex"),
        500,
        method="rk4",
        dt=0.01,
        n=len(models),
        params=params,  # V starts at "EL" per instance
        record=["V"],
        record_dt=1.0,
    )
    return {name: spikes(res, i) for i, name in enumerate(NAUD + ["brette_gerstner"])}


def test_adex_presets_have_the_published_parameters():
    # paper: Naud et al. (2008) Table 1 (C pF, gL nS, EL mV, VT mV, DeltaT mV, tau_w ms,
    # a nS, b pA, Vr mV, I pA).
    table = {
        "tonic": (200, 10, -70, -50, 2, 30, 2, 0, -58, 500),
        "adapting": (200, 12, -70, -50, 2, 300, 2, 60, -58, 500),
        "initial_burst": (130, 18, -58, -50, 2, 150, 4, 120, -50, 400),
        "regular_bursting": (200, 10, -58, -50, 2, 120, 2, 100, -46, 210),
        "delayed_accelerating": (200, 12, -70, -50, 2, 300, -10, 0, -58, 300),
        "delayed_regular_bursting": (100, 10, -65, -50, 2, 90, -10, 30, -47, 110),
        "transient": (100, 10, -65, -50, 2, 90, 10, 100, -47, 180),
        "irregular": (100, 12, -60, -50, 2, 130, -11, 30, -48, 160),
    }
    for name, row in table.items():
        m = biosnn.load_model("adex", preset=name)
        got = [
            m.to_internal(k, m.params[k])
            for k in ("C", "gL", "EL", "VT", "DeltaT", "tau_w", "a", "b", "Vr", "I_ext")
        ]
        np.testing.assert_allclose(np.ravel(got), row, rtol=1e-12, atol=1e-12, err_msg=name)


def test_adex_brette_gerstner_defaults_adapt_under_1_nA():
    # scipy check (DOP853 1e-10 with exact events): 17 spikes in 500 ms, first at 11.79 ms,
    # ISIs 13.6 -> 36.1 ms.  rk4 at dt = 0.01 ms: same count, times within 0.12 ms.
    sp = adex_patterns()["brette_gerstner"]
    isi = np.diff(sp)
    assert len(sp) == 17
    assert sp[0] == pytest.approx(11.79, abs=0.05)
    assert isi[0] == pytest.approx(13.58, abs=0.2)
    assert isi[-1] == pytest.approx(36.08, abs=0.4)
    assert np.all(np.diff(isi) > -0.02)  # non-decreasing up to the step dt
    rest = biosnn.simulate(
        biosnn.load_model("adex"), 100, method="rk4", dt=0.05, record=["V"], record_dt=1.0
    )
    assert len(spikes(rest)) == 0  # I_ext = 0: rest at EL
    # the exponential term depolarises the rest by DeltaT*exp((EL - VT)/DeltaT) = 8e-5 mV
    assert rest["V"][0, -1] == pytest.approx(-70.6 + 2 * math.exp(-10.1), abs=1e-5)


def test_adex_adaptive_method_with_lower_spike_cut_off():
    # Documented workaround (models/adex.toml): adaptive methods need V_peak <= -10 mV.
    # scipy check (DOP853 1e-10, exact events, V_peak = -10 mV): tonic first spike
    # 14.2229 ms, 51 spikes in 500 ms, last ISI 9.585 ms; defaults at 1 nA: first spike
    # 11.7916 ms, 17 spikes.
    tonic = biosnn.load_model("adex", preset="tonic", V_peak=-10)
    res = biosnn.simulate(
        tonic, 500, method="rk45", rtol=1e-8, atol=1e-8, record=["V"], record_dt=1.0
    )
    sp = spikes(res)
    assert len(sp) == 51
    assert sp[0] == pytest.approx(14.2229, abs=2e-4)
    assert np.diff(sp)[-1] == pytest.approx(9.585, abs=2e-3)
    bg = biosnn.load_model("adex", V_peak=-10, I_ext=1.0)
    sp = spikes(
        biosnn.simulate(bg, 500, method="rk45", rtol=1e-8, atol=1e-8, record=["V"], record_dt=1.0)
    )
    assert len(sp) == 17
    assert sp[0] == pytest.approx(11.7916, abs=2e-4)


def test_adex_tonic_versus_adapting():
    # scipy check: tonic 51 spikes, steady ISI 9.59 ms; adapting 10 spikes, ISIs 11.3 -> 75.9.
    tonic = np.diff(adex_patterns()["tonic"])
    assert 50 <= len(tonic) + 1 <= 52
    assert tonic[-10:].std() / tonic[-10:].mean() < 0.01
    assert tonic[-1] == pytest.approx(9.59, abs=0.1)
    adapting = np.diff(adex_patterns()["adapting"])
    assert len(adapting) + 1 == 10
    assert np.all(np.diff(adapting) > -0.5)
    assert adapting[-1] > 5 * adapting[0]
    assert adapting[-1] == pytest.approx(75.9, abs=1.0)


def test_adex_bursting_delayed_and_transient_patterns():
    # scipy check (see models/adex.toml): initial burst ISIs 3.4, 7.3 then 63.95 ms;
    # regular bursting: doublets (ISI 5.35 ms) every 138.5 ms; delayed accelerating: first
    # spike at 33.57 ms, ISIs shrinking; delayed regular bursting: first spike at 57.2 ms,
    # bursts separated by ~57 ms; transient: one spike at 30.29 ms; irregular: no two
    # consecutive ISIs alike (28 spikes in the scipy check, 27-28 with rk4).
    runs = adex_patterns()
    burst = np.diff(runs["initial_burst"])
    assert np.all(burst[:2] < 10) and np.all(burst[2:] > 50)
    assert burst[-1] == pytest.approx(63.95, abs=0.3)

    regular = np.diff(runs["regular_bursting"])
    assert np.all(regular[3::2] < 10) and np.all(regular[2::2] > 100)
    assert regular[-2] + regular[-1] == pytest.approx(138.5, abs=0.5)

    accel = runs["delayed_accelerating"]
    assert accel[0] == pytest.approx(33.57, abs=0.1)
    assert np.all(np.diff(np.diff(accel)) < 0.05)

    delayed = runs["delayed_regular_bursting"]
    assert delayed[0] == pytest.approx(57.18, abs=0.2)
    assert np.sum(np.diff(delayed) > 40) >= 4

    transient = runs["transient"]
    assert len(transient) == 1 and transient[0] == pytest.approx(30.29, abs=0.05)

    irregular = np.diff(runs["irregular"])
    assert 25 <= len(irregular) + 1 <= 30
    assert irregular.std() / irregular.mean() > 0.3
