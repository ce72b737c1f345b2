"""Branch switching (equilibria at branch points, cycles at period doublings) and the
detection of period doubling and torus bifurcations of cycles on isolated examples.

Where each expected number comes from is said next to it:

* "closed form" - derived in the test from the equations;
* "ChaosBook" - P. Cvitanovic et al., ChaosBook.org, extras, "Roessler's model" (a = b =
  0.2, c = 5.7): the period-1 orbit has period T = 5.88108845586 and Floquet multiplier
  -2.403953527, the period-2 orbit T = 11.7586260717 and multiplier -3.512006980
  (computed there by Newton's method on the return map);
* "simulation" - the Rossler system integrated in the test with scipy's DOP853
  (rtol 1e-9, no biosnn code involved): the successive maxima of x (the Poincare section
  dx/dt = 0, x decreasing through its maximum) show one value before the period doubling
  and two after it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from biosnn import Model
from biosnn.analysis import CyclePoint, continue_cycles, continue_equilibria
from biosnn.errors import BiosnnError

# -- equilibria: branch points --------------------------------------------------------


def one_state(rhs):
    return Model(f"dx/dt = {rhs} : 1", params={"r": -1})


def test_supercritical_pitchfork_switches_to_both_halves():
    # closed form: x' = r x - x**3 has x = 0 and, for r > 0, x = +-sqrt(r) (stable)
    d = continue_equilibria(one_state("r*x - x**3"), "r", -1, 1, init={"x": 0})
    (bp,) = d.special("bp")
    other = d.switch(bp)
    x, r = other["x"], other["r"]
    assert np.allclose(x**2, r, atol=1e-10)
    assert x.max() == pytest.approx(1.0, abs=1e-12) and x.min() == pytest.approx(-1.0, abs=1e-12)
    assert (r >= -1e-12).all() and other.status == "reached the end of the interval"
    # both halves are stable (eigenvalue r - 3 x**2 = -2 r), except at the branch point
    assert other.stable[np.abs(r) > 1e-9].all()
    (centre,) = other.special("bp")
    assert centre.param == pytest.approx(0, abs=1e-12) and centre.state["x"] == pytest.approx(
        0, abs=1e-12
    )
    assert x[centre.index - 1] * x[centre.index + 1] < 0  # one half on each side


def test_subcritical_pitchfork_branches_are_unstable():
    # closed form: x' = r x + x**3 has x = +-sqrt(-r) for r < 0, unstable (eigenvalue -2 r)
    d = continue_equilibria(one_state("r*x + x**3"), "r", -1, 1, init={"x": 0})
    other = d.switch(d.special("bp")[0])
    assert np.allclose(other["x"] ** 2, -other["r"], atol=1e-10)
    assert other["r"].min() == pytest.approx(-1.0, abs=1e-12) and other["r"].max() < 1e-12
    assert not other.stable[np.abs(other["r"]) > 1e-9].any()


def test_transcritical_from_point():
    # closed form: x' = r x - x**2 has x = 0 and x = r, which exchange stability at 0
    m = one_state("r*x - x**2")
    d = continue_equilibria(m, "r", -1, 1, init={"x": 0})
    (bp,) = d.special("bp")
    other = continue_equilibria(m, "r", -1, 1, from_point=bp)
    assert np.allclose(other["x"], other["r"], atol=1e-10)
    assert other["r"].min() == pytest.approx(-1, abs=1e-12)
    assert other["r"].max() == pytest.approx(1, abs=1e-12)
    away = np.abs(other["r"]) > 1e-9
    assert np.array_equal(other.stable[away], other["r"][away] > 0)
    # the diagram's own branch: x = 0, stable below 0
    assert np.allclose(d["x"], 0) and np.array_equal(d.stable[d["r"] != 0], d["r"][d["r"] != 0] < 0)


def test_pitchfork_in_two_states():
    # closed form: x' = r x - x y, y' = -y + x**2: (0, 0), and for r > 0 x = +-sqrt(r),
    # y = r (Jacobian [[0, -x], [2x, -1]]: trace -1, det 2 r > 0, stable)
    m = Model(
        """dx/dt = r*x - x*y : 1
                 dy/dt = -y + x**2 : 1""",
        params={"r": -1},
    )
    d = continue_equilibria(m, "r", -1, 2, init={"x": 0, "y": 0})
    (bp,) = d.special("bp")
    other = d.switch(bp, ds_max=0.02)
    assert np.allclose(other["x"] ** 2, other["r"], atol=1e-10)
    assert np.allclose(other["y"], other["r"], atol=1e-10)
    assert other["x"].max() == pytest.approx(math.sqrt(2), abs=1e-10)
    assert other["x"].min() == pytest.approx(-math.sqrt(2), abs=1e-10)
    assert other.stable[other["r"] > 1e-9].all()


def test_switching_needs_a_branch_point():
    fhn = Model(
        """dv/dt = v - v**3/3 - w + I : 1
                   dw/dt = 0.08*(v + 0.7 - 0.8*w) : 1""",
        params={"I": 0},
    )
    d = continue_equilibria(fhn, "I", 0, 2)
    with pytest.raises(BiosnnError, match="branch point"):
        d.switch(d.special("hopf")[0])
    m = one_state("r*x - x**3")
    bp = continue_equilibria(m, "r", -1, 1, init={"x": 0}).special("bp")[0]
    with pytest.raises(BiosnnError, match="outside the continuation interval"):
        continue_equilibria(m, "r", 0.5, 1, from_point=bp)


# -- cycles: period doubling in the Rossler system ----------------------------------------

ROSSLER = """dx/dt = -y - z : 1
             dy/dt = x + a*y : 1
             dz/dt = b + z*(x - c) : 1"""


@pytest.fixture(scope="module")
def rossler():
    return Model(ROSSLER, params={"a": 0.2, "b": 0.2, "c": 1.0})


@pytest.fixture(scope="module")
def rossler_period_one(rossler):
    # closed form: the equilibria x = -a y, y = (-c +- sqrt(c**2 - 4ab)) / (2a) meet in a
    # fold at c = 2 sqrt(ab) = 0.4, where the inner one also has eigenvalues +-1.4 i
    # (a zero-Hopf point); its cycles are continued from there
    d = continue_equilibria(rossler, "c", 1, 0.3, init={"x": 0.04, "y": -0.2, "z": 0.2})
    (hopf,) = d.special("hopf")
    assert hopf.param == pytest.approx(0.4, abs=1e-9) and hopf.omega == pytest.approx(1.4)
    return continue_cycles(rossler, hopf, "c", start=0.3, stop=5.7)


def x_maxima(c, duration=1500.0, skip=1000.0):
    """Successive maxima of x on the attractor at ``c`` (scipy; independent of biosnn)."""
    from scipy.integrate import solve_ivp

    def rhs(t, u):
        x, y, z = u
        return [-y - z, x + 0.2 * y, 0.2 + z * (x - c)]

    def at_max(t, u):  # dx/dt = -y - z crosses zero downwards
        return -u[1] - u[2]

    at_max.direction = -1
    sol = solve_ivp(
        rhs, (0.0, duration), [1.0, 1.0, 0.0], method="DOP853", rtol=1e-9, atol=1e-12, events=at_max
    )
    return sol.y_events[0][sol.t_events[0] > skip, 0]


def orbit_maxima(branch, index):
    """Local maxima of x along the continued orbit ``index`` (one period)."""
    _, orbit = branch.orbit(index, points=4001)
    x = orbit["x"][:-1]
    peaks = (x > np.roll(x, 1)) & (x >= np.roll(x, -1))
    return np.sort(x[peaks])


def test_rossler_period_doubling_against_simulation(rossler_period_one):
    (pd,) = rossler_period_one.special("pd")
    # a multiplier -1 at the located point, the others the trivial 1 and ~0
    assert np.min(np.abs(pd.multipliers + 1)) < 1e-6
    assert pd.param == pytest.approx(2.8324, abs=1e-4)  # the value simulated below
    # simulation: one maximum of x before the period doubling, two after it
    before, after = x_maxima(pd.param - 0.1), x_maxima(pd.param + 0.1)
    assert np.ptp(before[-20:]) < 1e-6
    assert np.ptp(after[-20::2]) < 1e-6 and np.ptp(after[-20:]) > 0.5
    # the stable period-1 orbit before it is the simulated one
    k = int(np.argmin(np.abs(rossler_period_one.param_values - (pd.param - 0.1))))
    assert rossler_period_one.stable[k]


def test_rossler_period_two_branch_matches_simulation(rossler, rossler_period_one):
    (pd,) = rossler_period_one.special("pd")
    c_after = pd.param + 0.1
    doubled = rossler_period_one.switch(pd, stop=c_after)
    assert doubled.status == "reached the end of the interval"
    assert doubled.param_values[0] == pytest.approx(pd.param, abs=1e-12)
    assert doubled.period[0] == pytest.approx(2 * pd.period, rel=1e-9)
    assert doubled.param_values[-1] == pytest.approx(c_after, abs=1e-10)
    assert doubled.stable[-1]
    # simulation: the two maxima of x of the attracting period-2 orbit
    simulated = np.sort(x_maxima(c_after)[-2:])
    assert orbit_maxima(doubled, len(doubled) - 1) == pytest.approx(simulated, abs=1e-5)
    assert doubled.period[-1] > 1.9 * rossler_period_one.period.max()


def test_rossler_orbits_at_c_5_7_match_chaosbook(rossler, rossler_period_one):
    one = rossler_period_one
    assert one.param_values[-1] == pytest.approx(5.7, abs=1e-10)
    assert one.period[-1] == pytest.approx(5.88108845586, rel=1e-9)  # ChaosBook
    assert one.multipliers[-1][0].real == pytest.approx(-2.403953527, rel=1e-7)
    (pd,) = one.special("pd")
    two = continue_cycles(rossler, pd, "c", start=0.3, stop=5.7, ntst=80)
    assert two.param_values[-1] == pytest.approx(5.7, abs=1e-10)
    assert two.period[-1] == pytest.approx(11.7586260717, rel=1e-9)  # ChaosBook
    assert two.multipliers[-1][0].real == pytest.approx(-3.512006980, rel=1e-7)
    # on the way the period-2 orbit doubles again (the next step of the cascade)
    (pd2,) = two.special("pd")
    assert one.special("pd")[0].param < pd2.param < 5.7
    assert np.min(np.abs(pd2.multipliers + 1)) < 1e-6
    assert np.min(np.abs(pd2.multipliers - 1)) < 1e-5


def test_period_doubling_start_needs_a_pd_point(rossler):
    def point(kind):
        return CyclePoint(
            type=kind, param=1.0, period=1.0, min={}, max={}, multipliers=np.ones(3), index=0
        )

    with pytest.raises(BiosnnError, match="period doubling"):
        continue_cycles(rossler, point("lpc"), "c")
    with pytest.raises(BiosnnError, match="carries no orbit"):
        continue_cycles(rossler, point("pd"), "c")


# -- cycles: a torus (Neimark-Sacker) bifurcation in closed form -------------------------

TORUS = """
r1 = x1**2 + y1**2 : 1
r2 = x2**2 + y2**2 : 1
dx1/dt = mu*x1 - w1*y1 - x1*r1 : 1
dy1/dt = w1*x1 + mu*y1 - y1*r1 : 1
dx2/dt = (mu - 1 + cr*r1)*x2 - (w2 + ci*r1)*y2 - x2*r2 : 1
dy2/dt = (w2 + ci*r1)*x2 + (mu - 1 + cr*r1)*y2 - y2*r2 : 1
"""


def test_neimark_sacker_of_driven_oscillators_closed_form():
    # closed form: in complex form z1' = (mu + i w1) z1 - |z1|**2 z1 and
    # z2' = (mu - 1 + i w2 + (cr + i ci) |z1|**2) z2 - |z2|**2 z2.  The cycle z1 =
    # sqrt(mu) exp(i w1 t), z2 = 0 (period T = 2 pi / w1) has the multipliers 1,
    # exp(-2 mu T) and the pair exp((mu - 1 + cr mu) T +- i (w2 + ci mu) T): a torus
    # bifurcation at mu = 1 / (1 + cr) = 0.5 with angle (0.3 + 0.2 * 0.5) 2 pi = 0.8 pi
    m = Model(TORUS, params={"mu": -1, "w1": 1, "w2": 0.3, "cr": 1, "ci": 0.2})
    d = continue_equilibria(m, "mu", -1, 1, init={"x1": 0, "y1": 0, "x2": 0, "y2": 0})
    hopf = d.special("hopf")[0]
    assert hopf.param == pytest.approx(0, abs=1e-12)
    c = continue_cycles(m, hopf, "mu", stop=1)
    (ns,) = c.special("ns")
    assert [sp.type for sp in c.special_points] == ["ns"]
    assert ns.param == pytest.approx(0.5, abs=1e-6)
    assert ns.period == pytest.approx(2 * math.pi, rel=1e-10)
    pair = ns.multipliers[np.abs(ns.multipliers.imag) > 1e-3]
    assert np.abs(pair) == pytest.approx([1, 1], abs=1e-6)
    assert np.sort(np.angle(pair)) == pytest.approx([-0.8 * math.pi, 0.8 * math.pi], abs=1e-6)
    # stable before, unstable after; the pair's modulus follows the closed form
    mu = c.param_values
    away = np.abs(mu - 0.5) > 1e-6
    away[0] = False  # the Hopf point itself
    assert np.array_equal(c.stable[away], mu[away] < 0.5)
    modulus = np.exp((mu * 2 - 1) * 2 * math.pi)
    got = np.array([np.abs(row[np.abs(row.imag) > 1e-9]).max() for row in c.multipliers[1:]])
    assert got == pytest.approx(modulus[1:], rel=1e-5)


def test_quasi_periodic_motion_after_the_torus_bifurcation():
    # simulation (scipy, independent of biosnn): after the torus bifurcation the second
    # oscillator grows to |z2|**2 = mu (1 + cr) - 1 and turns at a frequency
    # incommensurate with the first (quasi-periodic motion on the torus); before it z2
    # decays onto the cycle
    from scipy.integrate import solve_ivp

    def rhs(t, u, mu):
        x1, y1, x2, y2 = u
        r1, r2 = x1 * x1 + y1 * y1, x2 * x2 + y2 * y2
        g, w = mu - 1 + r1, 0.3 + 0.2 * r1
        return [
            mu * x1 - y1 - x1 * r1,
            x1 + mu * y1 - y1 * r1,
            g * x2 - w * y2 - x2 * r2,
            w * x2 + g * y2 - y2 * r2,
        ]

    for mu, expected in ((0.4, 0.0), (0.6, 0.2)):
        sol = solve_ivp(
            rhs,
            (0, 400),
            [0.5, 0, 0.1, 0],
            args=(mu,),
            method="DOP853",
            rtol=1e-10,
            atol=1e-12,
            dense_output=True,
        )
        t = np.linspace(300, 400, 4001)
        x1, y1, x2, y2 = sol.sol(t)
        assert x2**2 + y2**2 == pytest.approx(np.full(t.size, expected), abs=1e-6)
        if expected:
            # the phase of z2 relative to z1 drifts: not locked to the cycle
            rel = np.unwrap(np.angle((x2 + 1j * y2) / (x1 + 1j * y1)))
            assert abs(rel[-1] - rel[0]) > 1.0
