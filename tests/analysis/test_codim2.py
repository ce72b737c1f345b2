"""Two-parameter continuation: fold and Hopf curves, cusp, Bogdanov-Takens, Bautin.

Where each expected number comes from is said next to it:

* "closed form" - derived in the test from the equations (normal forms, FitzHugh-Nagumo);
* "Hendrick" - the Hodgkin-Huxley Hopf points of issue 3 (I = 9.7754 and 154.52 uA/cm**2
  at gK = 36 mS/cm**2), which the Hopf curve in (I_ext, gK) must pass through;
* "independent" - a hand transcription of the Morris-Lecar equations in this file, the
  Bogdanov-Takens point solved with scipy's fsolve from f = 0, det J = 0, trace J = 0
  (Jacobian by central differences; no biosnn code involved).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import biosnn
from biosnn import Model
from biosnn.analysis import (
    TwoParameterDiagram,
    continue_curve,
    continue_equilibria,
    two_parameter_diagram,
)
from biosnn.errors import BiosnnError


def test_cusp_normal_form():
    # x' = a + b x - x^3: folds where b = 3 x^2, a = -2 x^3, i.e. 27 a^2 = 4 b^3
    # (closed form); the two fold branches meet at the cusp a = b = 0 where
    # f_xx = -6 x = 0.
    m = Model("dx/dt = a + b*x - x**3 : 1", params={"a": 0, "b": 1})
    d = continue_equilibria(m, "a", -1, 1, init={"x": -1.5})
    folds = d.special("fold")
    assert len(folds) == 2
    c = continue_curve(m, folds[0], "a", "b", {"a": (-1, 1), "b": (-1, 1)})
    assert c.type == "fold" and len(c) > 20
    np.testing.assert_allclose(27 * c["a"] ** 2, 4 * c["b"] ** 3, atol=1e-12)
    np.testing.assert_allclose(c["b"], 3 * c["x"] ** 2, atol=1e-12)
    # one curve through both folds of the one-parameter diagram
    assert np.isclose(c["a"], folds[1].param, atol=1e-3).any()
    assert [p.type for p in c.codim2] == ["cusp"]
    cusp = c.codim2[0]
    assert abs(cusp.params["a"]) < 1e-10 and abs(cusp.params["b"]) < 1e-10
    assert abs(cusp.state["x"]) < 1e-10 and cusp.curve == "fold"


BT = Model(
    """dx/dt = y : 1
              dy/dt = b1 + b2*x + x**2 - x*y : 1""",
    params={"b1": 0, "b2": -1},
)


def test_bogdanov_takens_normal_form():
    # x' = y, y' = b1 + b2 x + x^2 - x y (closed form): equilibria y = 0,
    # x^2 + b2 x + b1 = 0; fold where the roots merge, b1 = b2^2 / 4 (x = -b2/2);
    # Hopf where the trace -x vanishes: x = 0, b1 = 0, with det = -b2 > 0 (b2 < 0);
    # for b2 > 0 the same curve is a neutral saddle; BT at b1 = b2 = 0.
    d = continue_equilibria(BT, "b1", -0.5, 0.5, init={"x": 0.5})
    box = {"b1": (-1, 1), "b2": (-1, 1)}
    hopf = continue_curve(BT, d.special("hopf")[0], "b1", "b2", box)
    np.testing.assert_allclose(hopf["b1"], 0, atol=1e-12)
    np.testing.assert_allclose(hopf["x"], 0, atol=1e-12)
    assert hopf["b2"].min() == pytest.approx(-1) and hopf["b2"].max() == pytest.approx(1)
    # kappa = omega^2 = det = -b2 along the curve, negative (neutral saddle) past BT
    np.testing.assert_allclose(hopf.kappa, -hopf["b2"], atol=1e-10)
    hopf_part = hopf.kappa > 1e-9
    np.testing.assert_allclose(hopf.omega[hopf_part], np.sqrt(-hopf["b2"][hopf_part]))
    assert np.all(np.isnan(hopf.omega[hopf.kappa < 0]))
    assert [p.type for p in hopf.codim2] == ["bt"]
    assert abs(hopf.codim2[0].params["b2"]) < 1e-10
    fold = continue_curve(BT, d.special("fold")[0], "b1", "b2", box)
    np.testing.assert_allclose(fold["b1"], fold["b2"] ** 2 / 4, atol=1e-12)
    np.testing.assert_allclose(fold["x"], -fold["b2"] / 2, atol=1e-12)
    assert [p.type for p in fold.codim2] == ["bt"]
    bt = fold.codim2[0]
    assert abs(bt.params["b1"]) < 1e-10 and abs(bt.params["b2"]) < 1e-10
    assert np.max(np.abs(bt.eigenvalues)) < 1e-6  # double zero eigenvalue


def test_bautin_normal_form():
    # r' = r (mu + (b2 - 1/2) r^2 - r^4), mu = b1 - b2^2, in Cartesian form (closed form):
    # the Hopf curve is mu = 0, i.e. b1 = b2^2, with l1 = 2 (b2 - 1/2) (Kuznetsov's
    # normalisation, l1 = 2 sigma for x' = mu x - y + sigma x r^2; see
    # test_continuation.py), so the Bautin point is (b1, b2) = (1/4, 1/2).
    r2 = "(x**2 + y**2)"
    m = Model(
        f"""dx/dt = (b1 - b2**2)*x - y + x*((b2 - 0.5)*{r2} - {r2}**2) : 1
                  dy/dt = x + (b1 - b2**2)*y + y*((b2 - 0.5)*{r2} - {r2}**2) : 1""",
        params={"b1": 0, "b2": 0},
    )
    d = continue_equilibria(m, "b1", -1, 1)
    c = continue_curve(m, d.special("hopf")[0], "b1", "b2", {"b1": (-1, 1), "b2": (-1, 1)})
    np.testing.assert_allclose(c["b1"], c["b2"] ** 2, atol=1e-12)
    np.testing.assert_allclose(c.l1, 2 * (c["b2"] - 0.5), atol=1e-10)
    np.testing.assert_allclose(c.omega, 1.0, atol=1e-12)
    assert [p.type for p in c.codim2] == ["bautin"]
    gh = c.codim2[0]
    assert gh.params["b1"] == pytest.approx(0.25, abs=1e-10)
    assert gh.params["b2"] == pytest.approx(0.5, abs=1e-10)


def test_closed_hopf_curve():
    # mu = 1 - b1^2 - b2^2 in the supercritical Hopf normal form (closed form): the Hopf
    # curve is the unit circle, followed once around and closed
    r2 = "(x**2 + y**2)"
    m = Model(
        f"""dx/dt = (1 - b1**2 - b2**2)*x - y - x*{r2} : 1
                  dy/dt = x + (1 - b1**2 - b2**2)*y - y*{r2} : 1""",
        params={"b1": 0, "b2": 0},
    )
    d = continue_equilibria(m, "b1", 0, 2)
    c = continue_curve(m, d.special("hopf")[0], "b1", "b2", {"b1": (-2, 2), "b2": (-2, 2)})
    assert c.status == "closed curve"
    np.testing.assert_allclose(c["b1"] ** 2 + c["b2"] ** 2, 1, atol=1e-12)
    angle = np.unwrap(np.arctan2(c["b2"], c["b1"]))
    assert abs(abs(angle[-1] - angle[0]) - 2 * np.pi) < 1e-9
    assert c["b1"][0] == c["b1"][-1] == pytest.approx(1)
    np.testing.assert_allclose(c.l1, -2, atol=1e-10)  # l1 = 2 sigma, sigma = -1
    assert c.codim2 == []


def test_fitzhugh_nagumo_hopf_curves_closed_form():
    # v' = v - v^3/3 - w + I, w' = (v + a - b w)/tau (closed form): trace zero at
    # v*^2 = 1 - b/tau, and the equilibrium condition gives I = (v* + a)/b - v* + v*^3/3;
    # both Hopf points of the one-parameter diagram (b = 0.8) lie on these curves.  Along
    # them l1 is compared with its closed form (_fhn_l1 below).
    fhn = biosnn.load_model("fitzhugh_nagumo")
    d = continue_equilibria(fhn, "I_ext", 0, 2)
    td = two_parameter_diagram(fhn, d, "b", 0.2, 1.5, bounds1=(-3, 3))
    assert [c.type for c in td.curves] == ["hopf", "hopf"]
    a, tau = 0.7, 12.5
    for c, sign in zip(td.curves, (-1, 1), strict=True):
        v = sign * np.sqrt(1 - c["b"] / tau)
        np.testing.assert_allclose(c["v"], v, atol=1e-10)
        np.testing.assert_allclose(c["I_ext"], (v + a) / c["b"] - v + v**3 / 3, atol=1e-10)
        # omega^2 = det J = (1 - b^2/tau)/tau on the curve
        np.testing.assert_allclose(c.kappa, (1 - c["b"] * (1 - v**2)) / tau, atol=1e-12)
        assert c.status.count("left the parameter box") == 2
        finite = np.isfinite(c.l1)
        assert finite.all()
        np.testing.assert_allclose(c.l1, _fhn_l1(c["b"], v), rtol=1e-8, atol=1e-12)
    # l1 changes sign on both curves (the same b: l1 depends on v*^2 only): two Bautin
    # points, at the root of the closed-form l1
    from scipy.optimize import brentq

    b_gh = brentq(lambda b: _fhn_l1(b, -np.sqrt(1 - b / tau)), 0.3, 0.7, xtol=1e-14)
    assert [p.type for p in td.codim2] == ["bautin", "bautin"]
    for p in td.codim2:
        assert p.params["b"] == pytest.approx(b_gh, rel=1e-9)
    assert b_gh == pytest.approx(0.51042, rel=1e-4)  # printed for the docs


def _fhn_l1(b, x, a=0.7, tau=12.5):
    """First Lyapunov coefficient of FitzHugh-Nagumo at the Hopf point (closed form).

    Kuznetsov's eq. (3.20) worked out by hand for u' = c u - x u^2 - u^3/3 - z,
    z' = (u - b z)/tau (the model shifted to the equilibrium v* = x; c = b/tau): the
    nonlinearity is in the first component only, B = (-2 x u1 v1, 0), C = (-2 u1 v1 w1, 0);
    q = (b + i omega tau, 1)/|.|, p from A^T p = -i omega p, <p, q> = 1.
    """
    b, x = np.asarray(b, dtype=float), np.asarray(x, dtype=float)
    w2 = (1 - b**2 / tau) / tau
    w = np.sqrt(w2)
    q1, q2 = b + 1j * w * tau, 1.0
    norm = np.sqrt(abs(q1) ** 2 + 1)
    q1, q2 = q1 / norm, q2 / norm
    conj_s = 1 / ((-1j * w - b / tau) * q1 + q2)
    P = (-1j * w - b / tau) * conj_s  # conj(p1)
    c = b / tau
    det_m = (2j * w - c) * (2j * w + b / tau) + 1 / tau
    bracket = -2 + 8 * x**2 * b / (tau * w2) + 4 * x**2 * (2j * w + b / tau) / det_m
    return np.real(P * q1 * abs(q1) ** 2 * bracket) / (2 * w)


def _ml_rhs(V, w, I, gCa):
    """Morris-Lecar, snic preset, by hand (mV, ms, uA/cm**2, mS/cm**2, uF/cm**2)."""
    m_inf = 0.5 * (1 + math.tanh((V + 1.2) / 18))
    w_inf = 0.5 * (1 + math.tanh((V - 12) / 17.4))
    tau_w = 1 / math.cosh((V - 12) / (2 * 17.4))
    dV = (I - 2 * (V + 60) - gCa * m_inf * (V - 120) - 8 * w * (V + 84)) / 20
    dw = (1 / 15) * (w_inf - w) / tau_w
    return np.array([dV, dw])


def _ml_bt_independent(guess):
    from scipy.optimize import fsolve

    def jac(V, w, I, g):
        h = 1e-6
        cols = [
            (_ml_rhs(V + h, w, I, g) - _ml_rhs(V - h, w, I, g)) / (2 * h),
            (_ml_rhs(V, w + h, I, g) - _ml_rhs(V, w - h, I, g)) / (2 * h),
        ]
        return np.array(cols).T

    def eqs(z):
        J = jac(*z)
        return np.concatenate([_ml_rhs(*z), [np.linalg.det(J), np.trace(J)]])

    return fsolve(eqs, guess, xtol=1e-11)


def test_morris_lecar_fold_curve_meets_hopf_curve_at_bt():
    # The fold curve of the snic preset's rest-state fold (I = 39.963) in (I_ext, gCa)
    # turns at a cusp near gCa = 2.45 and, just before, has a Bogdanov-Takens point where
    # a Hopf curve ends.  That Hopf curve is started from the Hopf point at gCa = 2.4
    # (I ~ 55.97), found by a one-parameter run, and must end at the same BT point;
    # both are checked against the independent solution of f = 0, det J = 0, trace J = 0.
    ml = biosnn.load_model("morris_lecar", preset="snic")
    box = {"I_ext": (-200, 400), "gCa": (2, 5)}
    d = continue_equilibria(ml, "I_ext", -100, 250, init={"V": -80})
    fold = continue_curve(ml, d.special("fold")[0], "I_ext", "gCa", box)
    types = [p.type for p in fold.codim2]
    assert types == ["bt", "cusp"] or types == ["cusp", "bt"]
    bt_fold = fold.codim2[types.index("bt")]
    d2 = continue_equilibria(ml, "I_ext", 0, 100, params={"gCa": 2.4}, init={"V": -80})
    (hp,) = d2.special("hopf")
    hopf = continue_curve(ml, hp, "I_ext", "gCa", box, params={"gCa": 2.4})
    bt_hopf = [p for p in hopf.codim2 if p.type == "bt"]
    assert len(bt_hopf) == 1
    bt_hopf = bt_hopf[0]
    V, w, I, g = _ml_bt_independent(
        [bt_fold.state["V"], bt_fold.state["w"], bt_fold.params["I_ext"], bt_fold.params["gCa"]]
    )
    for bt in (bt_fold, bt_hopf):
        assert bt.params["I_ext"] == pytest.approx(I, rel=1e-7)
        assert bt.params["gCa"] == pytest.approx(g, rel=1e-7)
        assert bt.state["V"] == pytest.approx(V, rel=1e-7)
    assert (I, g) == pytest.approx((54.737, 2.4638), rel=1e-4)  # printed for the docs


def test_hodgkin_huxley_hopf_curve_through_both_hopf_points():
    # Hendrick: Hopf points at I = 9.7754 and 154.52 uA/cm**2 at gK = 36 mS/cm**2.  The
    # Hopf curve in (I_ext, gK) started at the first passes through the second (so the
    # two-parameter diagram has one Hopf curve); it is read at gK = 36 by cubic
    # interpolation of I(gK) through the four nearest curve points.
    hh = biosnn.load_model("hodgkin_huxley")
    d = continue_equilibria(hh, "I_ext", 0, 200)
    td = two_parameter_diagram(
        hh,
        d,
        "gK",
        10,
        60,
        bounds1=(-50, 400),
    )
    assert [c.type for c in td.curves] == ["hopf"]
    c = td.curves[0]
    crossings = np.flatnonzero(np.diff(np.sign(c["gK"] - 36)) != 0)
    found = []
    for k in crossings:
        near = np.arange(max(k - 1, 0), min(k + 3, len(c)))
        found.append(np.polyval(np.polyfit(c["gK"][near], c["I_ext"][near], 3), 36.0))
    found = sorted(found)
    assert len(found) == 2
    assert found[0] == pytest.approx(9.7754, rel=2e-5)
    assert found[1] == pytest.approx(154.52, rel=2e-5)
    assert np.all(c.kappa > 0) and np.all(c.omega > 0)
    # the first Lyapunov coefficient changes sign on the way: one Bautin point
    assert [p.type for p in td.codim2] == ["bautin"]


def test_diagram_to_dict_and_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    d = continue_equilibria(BT, "b1", -0.5, 0.5, init={"x": 0.5})
    td = two_parameter_diagram(BT, d, "b2", -1, 1, bounds1=(-1, 1))
    assert isinstance(td, TwoParameterDiagram)
    assert sorted(c.type for c in td.curves) == ["fold", "hopf"]
    assert [p.type for p in td.codim2] == ["bt"]  # found on both, listed once
    data = json.loads(json.dumps(td.to_dict()))
    assert data["param1"] == "b1" and data["param2"] == "b2"
    assert {c["type"] for c in data["curves"]} == {"fold", "hopf"}
    assert data["codim2"][0]["type"] == "bt"
    hopf = next(c for c in data["curves"] if c["type"] == "hopf")
    assert len(hopf["b1"]) == len(hopf["kappa"]) and None in hopf["omega"]
    assert "BT bt at b1 =" in repr(td)
    ax = td.plot()
    ax.figure.savefig(tmp_path / "two.png")
    assert (tmp_path / "two.png").stat().st_size > 1000


def test_errors():
    d = continue_equilibria(BT, "b1", -0.5, 0.5, init={"x": 0.5})
    box = {"b1": (-1, 1), "b2": (-1, 1)}
    with pytest.raises(BiosnnError, match="fold or Hopf"):
        continue_curve(BT, {"type": "bp", "param": 0, "state": {"x": 0, "y": 0}}, "b1", "b2", box)
    with pytest.raises(BiosnnError, match="bounds"):
        continue_curve(BT, d.special("hopf")[0], "b1", "b2", {"b1": (-1, 1)})
    with pytest.raises(BiosnnError, match="outside"):
        continue_curve(BT, d.special("hopf")[0], "b1", "b2", {"b1": (-1, 1), "b2": (0, 1)})
    with pytest.raises(BiosnnError, match="differ"):
        continue_curve(BT, d.special("hopf")[0], "b1", "b1", box)
