"""Equilibria: Newton on the exact Jacobian, eigenvalues and types (biosnn.analysis.equilibria).

Where each expected number comes from is said next to it:

* "analytic" - linear systems whose equilibrium and eigenvalues are known in closed form,
  or a closed-form root (Izhikevich's quadratic);
* "model description" - the value written in the library model's description;
* "independent" - a hand transcription of the model's equations in this file, solved
  with scipy's brentq on the one-variable steady-state current equation.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import biosnn
from biosnn.analysis import Equilibrium, classify, find_equilibria
from biosnn.errors import BiosnnError

LINEAR = """
dx/dt = a11*(x - x0) + a12*(y - y0) : 1
dy/dt = a21*(x - x0) + a22*(y - y0) : 1
"""


def linear(matrix, x0=1.0, y0=-2.0):
    (a11, a12), (a21, a22) = matrix
    return biosnn.Model(LINEAR, params=dict(a11=a11, a12=a12, a21=a21, a22=a22, x0=x0, y0=y0))


@pytest.mark.parametrize(
    "matrix, eigenvalues, kind",
    [
        # analytic: eigenvalues of the matrix (triangular or rotation-scaling form)
        ([[-2, 0], [0, -3]], [-2, -3], "stable node"),
        ([[2, 1], [0, 3]], [3, 2], "unstable node"),
        ([[1, 0], [0, -1]], [1, -1], "saddle"),
        ([[-1, -2], [2, -1]], [-1 + 2j, -1 - 2j], "stable focus"),
        ([[0.5, -3], [3, 0.5]], [0.5 + 3j, 0.5 - 3j], "unstable focus"),
        ([[0, -1], [1, 0]], [1j, -1j], "centre"),
        ([[0, 1], [0, -1]], [0, -1], "degenerate"),
    ],
)
def test_linear_systems_known_eigenvalues_and_type(matrix, eigenvalues, kind):
    eqs = find_equilibria(linear(matrix), grid=3)
    if kind == "degenerate":  # a line of equilibria: every seed converges somewhere
        assert all(e.type == "degenerate" for e in eqs)
        return
    assert len(eqs) == 1
    e = eqs[0]
    assert e.state == pytest.approx({"x": 1.0, "y": -2.0}, abs=1e-12)
    assert np.allclose(
        sorted(e.eigenvalues, key=lambda z: (-z.real, -z.imag)),
        sorted(eigenvalues, key=lambda z: (-np.real(z), -np.imag(z))),
        atol=1e-12,
    )
    assert e.type == kind
    assert e.stable == kind.startswith("stable")


def test_three_states_counts():
    # analytic: block-diagonal, eigenvalues -1 +/- 2i and +0.5 -> unstable, 1 unstable
    m = biosnn.Model("""dx/dt = -x - 2*y : 1
                        dy/dt = 2*x - y : 1
                        dz/dt = 0.5*z : 1""")
    (e,) = find_equilibria(m, grid=3)
    assert (e.type, e.n_unstable, e.n_stable, e.stable) == ("unstable", 1, 2, False)
    m2 = biosnn.Model("""dx/dt = -x - 2*y : 1
                         dy/dt = 2*x - y : 1
                         dz/dt = -0.5*z : 1""")
    (e2,) = find_equilibria(m2, grid=3)
    assert (e2.type, e2.n_unstable, e2.n_stable, e2.stable) == ("stable", 0, 3, True)


def test_classify_directly():
    assert classify([-1.0]) == "stable" and classify([2.0]) == "unstable"
    assert classify([0.0, -1.0]) == "degenerate"
    assert classify([-1 + 1j, -1 - 1j, 0.5]) == "unstable"
    assert classify([1j, -1j, -1.0]) == "centre"
    assert classify([-2, -2]) == "stable node"


def test_hodgkin_huxley_rest():
    # model description: EL = -54.387 mV makes the resting potential -64.996 mV at I = 0
    hh = biosnn.load_model("hodgkin_huxley")
    eqs = find_equilibria(hh, grid=3)
    assert len(eqs) == 1
    e = eqs[0]
    assert e.state["V"] == pytest.approx(-64.996, abs=5e-4)
    assert e.stable and e.type == "stable" and e.n_stable == 4
    assert e.residual < 1e-12


def _ml_steady_current(V, gCa=4.0, V3=12.0, V4=17.4):
    """Independent: the Morris-Lecar current needed to hold V (snic preset), uA/cm**2."""
    gL, gK, VL, VCa, VK, V1, V2 = 2.0, 8.0, -60.0, 120.0, -84.0, -1.2, 18.0
    m_inf = 0.5 * (1 + math.tanh((V - V1) / V2))
    w_inf = 0.5 * (1 + math.tanh((V - V3) / V4))
    return gL * (V - VL) + gCa * m_inf * (V - VCa) + gK * w_inf * (V - VK)


def test_morris_lecar_snic_three_equilibria():
    # independent: the equilibria at I = 30 solve I_ss(V) = 30 (brentq on the
    # hand-written steady-state current); below the saddle-node at 39.96 there are three:
    # the rest (node), the saddle, and an unstable focus (Ermentrout & Terman, ch. 3)
    from scipy.optimize import brentq

    ml = biosnn.load_model("morris_lecar", preset="snic")
    eqs = find_equilibria(ml, params={"I_ext": "30 uA/cm**2"}, bounds={"V": (-80, 40), "w": (0, 1)})
    grid = np.linspace(-80, 40, 1201)
    g = np.array([_ml_steady_current(v) - 30 for v in grid])
    roots = [
        brentq(lambda v: _ml_steady_current(v) - 30, grid[i], grid[i + 1], xtol=1e-14)
        for i in range(len(grid) - 1)
        if g[i] * g[i + 1] < 0
    ]
    assert [e.state["V"] for e in eqs] == pytest.approx(roots, abs=1e-8)
    assert [e.type for e in eqs] == ["stable node", "saddle", "unstable focus"]
    assert eqs[0].params["I_ext"] == pytest.approx(30.0)


def test_izhikevich_without_reset():
    # analytic: with u = b v, 0.04 v^2 + (5 - b) v + 140 + I = 0; at I = 0, b = 0.2 the
    # roots are -70 and -50 (mV); events are ignored for equilibria
    iz = biosnn.load_model("izhikevich")
    eqs = find_equilibria(iz, params={"I_ext": 0})
    assert [e.state["v"] for e in eqs] == pytest.approx([-70.0, -50.0], abs=1e-10)
    assert [e.state["u"] for e in eqs] == pytest.approx([-14.0, -10.0], abs=1e-10)
    assert [e.type for e in eqs] == ["stable node", "saddle"]


def test_guesses_and_json():
    iz = biosnn.load_model("izhikevich")
    eqs = find_equilibria(iz, params={"I_ext": 0}, guesses={"v": -49}, grid=2)
    assert any(abs(e.state["v"] + 50) < 1e-9 for e in eqs)
    text = json.dumps([e.to_dict() for e in eqs])
    assert "saddle" in text
    assert isinstance(eqs[0], Equilibrium)


def test_no_equilibrium_and_time_dependent():
    # analytic: dx/dt = 1 has no equilibrium; a drift depending on t is refused
    assert find_equilibria(biosnn.Model("dx/dt = 1 + 0*x : 1"), grid=3) == []
    with pytest.raises(BiosnnError, match="autonomous"):
        find_equilibria(biosnn.Model("dx/dt = -x + sin(t) : 1"))


def test_library_name_accepted():
    (e,) = find_equilibria("fitzhugh_nagumo")
    # model description: rest at v = -1.1994, w = -0.6243 at I_ext = 0
    assert e.state == pytest.approx({"v": -1.1994080, "w": -0.6242600}, abs=1e-7)
    assert e.type == "stable focus"


def test_package_import_is_light_and_api_resolves():
    import subprocess
    import sys

    code = (
        "import sys, biosnn.analysis as a; "
        "print(sorted(m for m in ('numpy', 'sympy', 'scipy', 'matplotlib') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
    import biosnn.analysis as analysis

    for name in analysis.__all__:
        assert getattr(analysis, name) is not None
