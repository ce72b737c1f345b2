"""Continuation of equilibria, folds, Hopf points, l1, branch points (biosnn.analysis).

Where each expected number comes from is said next to it:

* "Hendrick" - C. Hendrick's computer-assisted study of Hopf bifurcations and bistability
  in the 1952 Hodgkin-Huxley equations, as quoted in issue 3 (Hopf at I = 9.7754,
  subcritical, period 10.718 ms; Hopf at I = 154.52, supercritical);
* "independent" - a hand transcription of the model in this file (plain NumPy, Jacobian
  by central differences), the bifurcation located with scipy's brentq on the branch
  parameterised by V (no biosnn code involved);
* "closed form" - derived in the test from the equations;
* "project value" - computed independently for this project by shooting and bisection
  and written in the model's description (Morris-Lecar).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import biosnn
from biosnn.analysis import (
    BifurcationDiagram,
    SpecialPoint,
    continue_equilibria,
    lyapunov_coefficient,
)

# -- an independent Hodgkin-Huxley (modern convention, EL = -54.387 mV) ----------------


def _hh_rates(V):
    am = 0.1 * (V + 40) / (1 - math.exp(-(V + 40) / 10))
    bm = 4 * math.exp(-(V + 65) / 18)
    ah = 0.07 * math.exp(-(V + 65) / 20)
    bh = 1 / (1 + math.exp(-(V + 35) / 10))
    an = 0.01 * (V + 55) / (1 - math.exp(-(V + 55) / 10))
    bn = 0.125 * math.exp(-(V + 65) / 80)
    return am, bm, ah, bh, an, bn


def _hh_f(y, current):
    V, m, h, n = y
    am, bm, ah, bh, an, bn = _hh_rates(V)
    ionic = 120 * m**3 * h * (V - 50) + 36 * n**4 * (V + 77) + 0.3 * (V + 54.387)
    return np.array(
        [current - ionic, am * (1 - m) - bm * m, ah * (1 - h) - bh * h, an * (1 - n) - bn * n]
    )


def _hh_equilibrium(V):
    am, bm, ah, bh, an, bn = _hh_rates(V)
    y = np.array([V, am / (am + bm), ah / (ah + bh), an / (an + bn)])
    return y, -_hh_f(y, 0.0)[0]  # the current that holds V


def _hh_critical_pair(V):
    y, current = _hh_equilibrium(V)
    jac = np.empty((4, 4))
    for j in range(4):
        step = np.zeros(4)
        step[j] = 1e-6 * max(1.0, abs(y[j]))
        jac[:, j] = (_hh_f(y + step, current) - _hh_f(y - step, current)) / (2 * step[j])
    ev = np.linalg.eigvals(jac)
    return ev[np.argmax(ev.real)]


def _hh_independent_hopf(v_lo, v_hi):
    """(I, period) of the Hopf point with V in (v_lo, v_hi): brentq on max Re(eig)."""
    from scipy.optimize import brentq

    V = brentq(lambda v: _hh_critical_pair(v).real, v_lo, v_hi, xtol=1e-12)
    return _hh_equilibrium(V)[1], 2 * math.pi / abs(_hh_critical_pair(V).imag)


@pytest.fixture(scope="module")
def hh_diagram():
    return continue_equilibria(biosnn.load_model("hodgkin_huxley"), "I_ext", 0, 200)


def test_hh_hopf_points_match_hendrick(hh_diagram):
    d = hh_diagram
    assert isinstance(d, BifurcationDiagram)
    assert [sp.type for sp in d.special_points] == ["hopf", "hopf"]
    low, high = d.special_points
    # Hendrick: 9.7754 (relative error <= 1e-5 of the published value)
    assert abs(low.param - 9.7754) / 9.7754 <= 1e-5
    # Hendrick: 154.52, printed to 5 digits: agree to every printed digit (the next digit
    # is not published: 154.5224 differs from 154.52 by 1.6e-5 relative)
    assert round(low.param, 4) == 9.7754 and round(high.param, 2) == 154.52
    # Hendrick: subcritical (l1 > 0) at the lower point, supercritical at the upper one
    assert low.l1 > 0 and low.criticality == "subcritical"
    assert high.l1 < 0 and high.criticality == "supercritical"
    # Hendrick: period at onset 10.718 ms
    assert abs(low.period - 10.718) / 10.718 <= 5e-5 and round(low.period, 3) == 10.718


def test_hh_hopf_points_match_independent_computation(hh_diagram):
    # independent: brentq on the V-parameterised branch, finite-difference Jacobian
    for sp, (v_lo, v_hi) in zip(
        hh_diagram.special_points, [(-62.1, -57.1), (-45.1, -40.1)], strict=True
    ):
        current, period = _hh_independent_hopf(v_lo, v_hi)
        assert abs(sp.param - current) / current <= 1e-7
        assert abs(sp.period - period) / period <= 1e-6
        assert sp.state["V"] == pytest.approx(
            _hh_equilibrium(sp.state["V"])[0][0]
        )  # consistent state


def test_hh_stability_along_branch(hh_diagram):
    d = hh_diagram
    low, high = (sp.param for sp in d.special_points)
    x = d["I_ext"]
    assert x[0] == 0 and x[-1] == pytest.approx(200, abs=1e-9)
    assert np.all(np.diff(x) > 0)  # no fold on the HH branch
    inside = (x > low + 1e-6) & (x < high - 1e-6)
    outside = (x < low - 1e-6) | (x > high + 1e-6)
    assert np.all(~d.stable[inside]) and np.all(d.n_unstable[inside] == 2)
    assert np.all(d.stable[outside])
    # model description: rest -64.996 mV at I = 0
    assert d["V"][0] == pytest.approx(-64.996, abs=5e-4)


def test_fitzhugh_nagumo_closed_form_hopf():
    # closed form: J = [[1 - v^2, -1], [1/tau, -b/tau]]; trace zero: 1 - v^2 - b/tau = 0,
    # v* = -/+ sqrt(1 - b/tau); w* = (v* + a)/b; I = w* - v* + v*^3/3; det > 0 there
    a, b, tau = 0.7, 0.8, 12.5
    expected = []
    for sign in (-1, 1):
        v = sign * math.sqrt(1 - b / tau)
        w = (v + a) / b
        expected.append(w - v + v**3 / 3)
    fhn = biosnn.load_model("fitzhugh_nagumo")
    d = continue_equilibria(fhn, "I_ext", 0, 2)
    hopf = d.special("hopf")
    assert [sp.param for sp in hopf] == pytest.approx(expected, rel=1e-10)
    # closed form: omega^2 = det J = (1 - b (1 - v*^2))/tau = (1 - b^2/tau)/tau
    omega = math.sqrt((1 - b * b / tau) / tau)
    for sp in hopf:
        assert sp.omega == pytest.approx(omega, rel=1e-10)
        assert sp.period == pytest.approx(2 * math.pi / omega, rel=1e-10)
    assert d.special("fold") == [] and d.special("bp") == []


def test_morris_lecar_snic_fold():
    # project value: saddle-node on the invariant circle at I = 39.963 uA/cm**2
    ml = biosnn.load_model("morris_lecar", preset="snic")
    d = continue_equilibria(ml, "I_ext", 0, 60)
    folds = d.special("fold")
    assert len(folds) == 1
    assert folds[0].param == pytest.approx(39.963, abs=5e-4)
    # independent: the fold is the local maximum of the steady-state current I_ss(V)
    from scipy.optimize import minimize_scalar

    from tests.analysis.test_equilibria import _ml_steady_current

    best = minimize_scalar(
        lambda v: -_ml_steady_current(v),
        bounds=(-40, -20),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert folds[0].param == pytest.approx(-best.fun, rel=1e-9)
    assert folds[0].state["V"] == pytest.approx(best.x, abs=1e-4)
    # one eigenvalue is zero at the fold
    assert np.min(np.abs(folds[0].eigenvalues)) < 1e-8
    # passes the fold: the branch comes back (saddle) and leaves the interval at 0
    assert d["I_ext"][-1] == pytest.approx(0, abs=1e-9) and not d.stable[-1]


def test_morris_lecar_wide_interval_passes_both_folds():
    # closed form of the S-shaped branch: two folds (lower at 39.963, upper below 0)
    ml = biosnn.load_model("morris_lecar", preset="snic")
    d = continue_equilibria(ml, "I_ext", -100, 250, init={"V": -80})
    types = [sp.type for sp in d.special_points]
    assert types[:2] == ["fold", "fold"]
    assert d["I_ext"][-1] == pytest.approx(250, abs=1e-9)


def test_morris_lecar_hopf_subcritical():
    # project value: subcritical Hopf of the rest at I = 93.86 uA/cm**2 (a fold of cycles
    # at 88.29 below it means the stable cycle coexists with the rest: subcritical)
    ml = biosnn.load_model("morris_lecar", preset="hopf")
    d = continue_equilibria(ml, "I_ext", 0, 150)
    (hopf,) = d.special("hopf")
    assert hopf.param == pytest.approx(93.86, abs=5e-3)
    assert hopf.l1 > 0 and hopf.criticality == "subcritical"


def test_izhikevich_saddle_node_exact():
    # closed form: with u = b v, I = -(0.04 v^2 + (5 - b) v + 140); the fold is where
    # dI/dv = 0: v = -(5 - b)/0.08, I = (5 - b)^2/0.16 - 140 = 4 (a = 0.02, b = 0.2).
    # Hopf before it: trace 0.08 v + 5 - a = 0 -> v = -(5 - a)/0.08 (det = a (b - 0.08 v
    # - 5) > 0 there), I = -(0.04 v^2 + (5 - b) v + 140)
    a, b = 0.02, 0.2
    iz = biosnn.load_model("izhikevich")
    d = continue_equilibria(iz, "I_ext", -20, 10, init={"v": -70, "u": -14})
    (fold,) = d.special("fold")
    assert fold.param == pytest.approx((5 - b) ** 2 / 0.16 - 140, abs=1e-9)
    assert fold.param == pytest.approx(4.0, abs=1e-9)
    assert fold.state["v"] == pytest.approx(-(5 - b) / 0.08, abs=1e-6)
    (hopf,) = d.special("hopf")
    v = -(5 - a) / 0.08
    assert hopf.param == pytest.approx(-(0.04 * v * v + (5 - b) * v + 140), abs=1e-9)


NORMAL_FORM = """
dx/dt = mu*x - y + sigma*x*(x**2 + y**2) : 1
dy/dt = x + mu*y + sigma*y*(x**2 + y**2) : 1
"""


@pytest.mark.parametrize("sigma", [-1.0, 0.5])
def test_lyapunov_coefficient_of_the_normal_form(sigma):
    # closed form: with z = x + i y the system is z' = (mu + i) z + sigma z |z|^2.  With
    # Kuznetsov's normalisation <q, q> = 1, q = (1, -i)/sqrt(2), the coordinate w of
    # x = w q + conj(w q) is z/sqrt(2), so w' = (mu + i) w + 2 sigma w |w|^2: l1 = 2 sigma
    m = biosnn.Model(NORMAL_FORM, params={"mu": -1, "sigma": sigma})
    d = continue_equilibria(m, "mu", -1, 1, init={"x": 0, "y": 0})
    (hopf,) = d.special("hopf")
    assert hopf.param == pytest.approx(0, abs=1e-12)
    assert hopf.l1 == pytest.approx(2 * sigma, rel=1e-10)
    assert hopf.omega == pytest.approx(1.0, rel=1e-12)
    l1, omega = lyapunov_coefficient(m, {"x": 0, "y": 0}, {"mu": 0})
    assert (l1, omega) == pytest.approx((2 * sigma, 1.0), rel=1e-10)


def test_lyapunov_coefficient_with_quadratic_terms():
    # closed form: Guckenheimer & Holmes (1983), eq. (3.4.11), for x' = -w y + f(x, y),
    # y' = w x + g(x, y): r' = a r^3 with
    #   a = (f_xxx + f_xyy + g_xxy + g_yyy)/16
    #       + (f_xy (f_xx + f_yy) - g_xy (g_xx + g_yy) - f_xx g_xx + f_yy g_yy)/(16 w),
    # and Kuznetsov's l1 (normalisation <q, q> = 1) is 2 a / w (the normal form test
    # above: a = sigma, l1 = 2 sigma).  f = x^2 + x y + x^3, g = y^2 - x^2, w = 2:
    # a = 6/16 + (1*2 - 0 - 2*(-2) + 0)/(16*2) = 0.5625, l1 = 0.5625
    m = biosnn.Model("""dx/dt = -2*y + x**2 + x*y + x**3 : 1
                        dy/dt = 2*x + y**2 - x**2 : 1""")
    l1, omega = lyapunov_coefficient(m, {"x": 0, "y": 0})
    assert omega == pytest.approx(2.0, rel=1e-12)
    assert l1 == pytest.approx(0.5625, rel=1e-10)
    # reversible under (x, y, t) -> (x, -y, -t): the origin is a nonlinear centre, l1 = 0
    m2 = biosnn.Model("""dx/dt = -y + x*y : 1
                         dy/dt = x + x**2 : 1""")
    l1, omega = lyapunov_coefficient(m2, {"x": 0, "y": 0})
    assert abs(l1) < 1e-12 and omega == pytest.approx(1.0)


def test_branch_point_of_a_pitchfork_and_transcritical():
    # closed form: x' = lam x - x^3 and x' = lam x - x^2 have a branch point at (0, 0)
    for rhs in ("lam*x - x**3", "lam*x - x**2"):
        m = biosnn.Model(f"dx/dt = {rhs} : 1", params={"lam": -1})
        d = continue_equilibria(m, "lam", -1, 1, init={"x": 0})
        (bp,) = d.special("bp")
        assert bp.param == pytest.approx(0, abs=1e-12) and bp.state["x"] == 0
        assert d.stable[d["lam"] < 0].all() and not d.stable[d["lam"] > 0].any()


def test_backwards_interval_and_units():
    # the same FitzHugh-Nagumo Hopf point, continued downwards from 2 to 0
    fhn = biosnn.load_model("fitzhugh_nagumo")
    d = continue_equilibria(fhn, "I_ext", 2, 0)
    assert [round(sp.param, 4) for sp in d.special_points] == [1.4187, 0.3313]
    assert d["I_ext"][0] == 2 and d["I_ext"][-1] == pytest.approx(0, abs=1e-12)
    # strings with units for the interval (Morris-Lecar in uA/cm**2)
    ml = biosnn.load_model("morris_lecar", preset="hopf")
    d2 = continue_equilibria(ml, "I_ext", "0 uA/cm**2", "1 pA/um**2")  # 0 .. 100 uA/cm2
    assert d2.units["I_ext"] == "uA/cm**2"
    assert d2["I_ext"][-1] == pytest.approx(100, abs=1e-9)


def test_to_dict_and_plot(hh_diagram, tmp_path):
    data = json.loads(json.dumps(hh_diagram.to_dict()))
    assert data["param"] == "I_ext" and data["units"]["V"] == "mV"
    assert [sp["type"] for sp in data["special_points"]] == ["hopf", "hopf"]
    assert data["special_points"][0]["criticality"] == "subcritical"
    assert len(data["points"]["param"]) == len(hh_diagram)
    assert isinstance(hh_diagram.special_points[0], SpecialPoint)
    assert "HB hopf" in repr(hh_diagram)

    import matplotlib

    matplotlib.use("Agg")
    ax = hh_diagram.plot("V")
    styles = {line.get_linestyle() for line in ax.get_lines()}
    assert "-" in styles and "--" in styles
    assert [t.get_text() for t in ax.texts] == ["HB", "HB"]
    ax.figure.savefig(tmp_path / "hh.png")
    assert (tmp_path / "hh.png").stat().st_size > 1000


def test_start_from_a_singular_guess_prefers_the_stable_equilibrium():
    # closed form: x' = lam - x^2 has x = +/- sqrt(lam) (stable +), a fold at lam = 0;
    # Newton from the initial x = 0 fails (f' = 0), so the seeds are used
    m = biosnn.Model("dx/dt = lam - x**2 : 1", params={"lam": 1}, initial={"x": 0})
    d = continue_equilibria(m, "lam", 1, -1)
    assert d["x"][0] == pytest.approx(1.0, abs=1e-12) and d.stable[0]
    (fold,) = d.special("fold")
    assert fold.param == pytest.approx(0, abs=1e-12)
    assert d["x"][-1] == pytest.approx(-1.0, abs=1e-9) and not d.stable[-1]
    assert d.status == "reached the end of the interval"
