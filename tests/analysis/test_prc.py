"""Phase response curves: adjoint and direct methods (biosnn.analysis.prc).

Where each expected number comes from:

* Stuart-Landau oscillator (radial isochrons) ``dr/dt = lam r (1 - r**2)``,
  ``dtheta/dt = omega``: a kick ``dx`` changes the phase by ``-sin(theta) dx / r``, so on
  the orbit ``r = 1`` the spikes advance by ``Z_x = -sin(theta)/omega``,
  ``Z_y = cos(theta)/omega``.  Phase 0 is the upward crossing of ``x = 0``, i.e.
  ``theta = -pi/2``, so ``Z_x(phi) = cos(2 pi phi)/omega``,
  ``Z_y(phi) = sin(2 pi phi)/omega`` (derived here);
* Hodgkin-Huxley at I = 10 uA/cm**2: period 14.636 ms (Hendrick, quoted in issue 3);
  the adjoint and direct PRCs are two independent computations of the same curve (one
  integrates the linearised adjoint backward, the other times spikes after kicks in the
  full nonlinear model); they must agree to the direct method's O(kick**2) error and the
  solvers' tolerances - measured agreement 4e-6 of max |Z|, asserted 1e-4.
"""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest

import biosnn
from biosnn.analysis import PRC, adjoint_prc, direct_prc, periodic_orbit
from biosnn.errors import BiosnnError

matplotlib.use("Agg")

OMEGA = 2.0


def _stuart_landau():
    return biosnn.Model(
        """
        dx/dt = lam*x*(1 - x**2 - y**2) - omega*y : 1
        dy/dt = lam*y*(1 - x**2 - y**2) + omega*x : 1
        """,
        params={"lam": "1", "omega": repr(OMEGA)},
        initial={"x": "-1", "y": "0.5"},
        threshold="x > 0",
        name="stuart_landau",
    )


def test_stuart_landau_adjoint_and_direct_equal_the_analytic_prc():
    sl = _stuart_landau()
    orbit = periodic_orbit(sl, transient=40)
    assert orbit.period == pytest.approx(2 * math.pi / OMEGA, rel=1e-9)
    np.testing.assert_allclose(orbit.x0, [0.0, -1.0], atol=1e-8)
    for var, analytic in (("x", np.cos), ("y", np.sin)):
        adj = adjoint_prc(sl, var=var, orbit=orbit, n_phases=16)
        np.testing.assert_allclose(adj.Z, analytic(2 * np.pi * adj.phases) / OMEGA, atol=1e-8)
        assert adj.normalisation_error < 1e-8
        direct = direct_prc(sl, var=var, orbit=orbit, n_phases=16)
        np.testing.assert_allclose(direct.Z, analytic(2 * np.pi * direct.phases) / OMEGA, atol=1e-6)
    assert adj.unit == "1" and direct.method == "direct"


def test_hodgkin_huxley_direct_and_adjoint_agree():
    hh = biosnn.load_model("hodgkin_huxley")
    orbit = periodic_orbit(hh, {"I_ext": 10}, transient=200)
    assert orbit.period == pytest.approx(14.636, rel=1e-4)  # Hendrick
    assert orbit.closure < 1e-8
    direct = direct_prc(hh, {"I_ext": 10}, orbit=orbit, n_phases=40)
    adj = adjoint_prc(hh, {"I_ext": 10}, orbit=orbit, phases=direct.phases)
    assert adj.normalisation_error < 1e-6
    scale = np.max(np.abs(adj.Z))
    assert 0.3 < scale < 1.0  # ms/mV
    np.testing.assert_allclose(direct.Z, adj.Z, atol=1e-4 * scale)
    # type II PRC: a kick early in the cycle delays the next spike
    assert adj.Z.min() < -0.1 * scale and adj.unit == "ms/mV"
    # a finite kick of 0.5 mV at the phase of largest advance, in one full simulation
    k = int(np.argmax(adj.Z))
    x = orbit.states_at(adj.phases[k : k + 1])[:, 0]
    init = dict(zip(orbit.system.spec.states, x, strict=True))
    init["V"] += 0.5
    res = biosnn.simulate(
        hh,
        3 * orbit.period,
        method="dop853",
        rtol=1e-10,
        atol=1e-12,
        params={"I_ext": 10},
        init=init,
        record=[],
        record_dt=1.0,
    )
    expected = (1 - adj.phases[k] + 2) * orbit.period
    advance = expected - res.spikes[0][np.argmin(np.abs(res.spikes[0] - expected))]
    assert advance == pytest.approx(0.5 * adj.Z[k], rel=0.05)


def test_prc_object_interpolates_serialises_and_plots():
    prc = adjoint_prc(_stuart_landau(), var="x", n_phases=64, transient=40)
    assert isinstance(prc, PRC)
    assert prc(0.125) == pytest.approx(math.cos(math.pi / 4) / OMEGA, abs=1e-3)
    assert prc(1.125) == pytest.approx(prc(0.125))
    doc = json.loads(json.dumps(prc.to_dict()))
    assert doc["method"] == "adjoint" and len(doc["Z"]) == 64
    ax = prc.plot()
    assert ax.get_xlabel().startswith("phase")


def test_errors():
    with pytest.raises(BiosnnError, match="threshold"):
        periodic_orbit(biosnn.Model("dv/dt = -v/(10*ms) : volt", initial={"v": "1 mV"}))
    # HH at rest (I = 0) does not fire
    with pytest.raises(BiosnnError, match="periodic firing"):
        periodic_orbit("hodgkin_huxley", {"I_ext": 0}, transient=50, max_rounds=2)
    with pytest.raises(BiosnnError, match="reset"):
        periodic_orbit("lif", {"I_ext": 0.5})
    with pytest.raises(BiosnnError, match="not a state"):
        adjoint_prc(_stuart_landau(), var="z", transient=40)
