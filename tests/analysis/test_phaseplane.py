"""Phase plane (biosnn.analysis.phaseplane): nullclines, fixed points, manifolds, cycles.

Where each expected number comes from is said next to it:

* "analytic" - closed forms derived in the test (roots of the FitzHugh-Nagumo cubic with
  numpy.roots, eigenvalues of the hand-written 2x2 Jacobian, normal forms in polar
  coordinates whose cycles, periods and Floquet multipliers are known exactly);
* "model description" - the value written in the library model's description
  (models/fitzhugh_nagumo.toml: period 39.47 at I_ext = 0.5, checked there with scipy DOP853,
  rtol = atol = 1e-10; models/morris_lecar.toml: the snic saddle-node at 39.963);
* "independent" - the model's equations transcribed by hand in this file and solved with
  scipy's brentq.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import biosnn
from biosnn.analysis.phaseplane import PhasePlane, phase_plane
from biosnn.errors import ModelError

FHN = dict(a=0.7, b=0.8, tau=12.5)
FHN_WINDOW = dict(xlim=(-2.5, 2.5), ylim=(-1.0, 2.0))


@pytest.fixture(scope="module")
def fhn():
    return biosnn.load_model("fitzhugh_nagumo")


@pytest.fixture(scope="module")
def fhn_rest(fhn):
    return phase_plane(fhn, "v", "w", **FHN_WINDOW)


@pytest.fixture(scope="module")
def fhn_osc(fhn):
    return phase_plane(fhn, "v", "w", params={"I_ext": 0.5}, **FHN_WINDOW)


def fhn_equilibrium(i_ext):
    """Analytic: w = (v + a)/b on the w-nullcline, so v - v^3/3 - (v + a)/b + I = 0."""
    a, b = FHN["a"], FHN["b"]
    roots = np.roots([-1 / 3, 0.0, 1 - 1 / b, i_ext - a / b])
    v = float(roots[np.abs(roots.imag) < 1e-12].real[0])
    return v, (v + a) / b


def fhn_eigenvalues(v):
    """Analytic Jacobian of FitzHugh-Nagumo: [[1 - v^2, -1], [1/tau, -b/tau]]."""
    jac = np.array([[1 - v * v, -1.0], [1 / FHN["tau"], -FHN["b"] / FHN["tau"]]])
    return np.linalg.eigvals(jac)


# -- FitzHugh-Nagumo ----------------------------------------------------------------------
def test_fhn_rest_single_stable_fixed_point(fhn_rest):
    v, w = fhn_equilibrium(0.0)  # analytic: v = -1.19941
    assert v == pytest.approx(-1.19941, abs=1e-5)
    (fp,) = fhn_rest.fixed_points
    assert fp.state["v"] == pytest.approx(v, abs=1e-10)
    assert fp.state["w"] == pytest.approx(w, abs=1e-10)
    lam = fhn_eigenvalues(v)  # analytic: -0.2513 +/- 0.2119i
    assert np.sort_complex(fp.eigenvalues) == pytest.approx(np.sort_complex(lam), abs=1e-9)
    assert fp.type == "stable focus"
    assert fhn_rest.cycles == []


def test_fhn_oscillating_unstable_focus_and_cycle(fhn_osc):
    v, w = fhn_equilibrium(0.5)
    (fp,) = fhn_osc.fixed_points
    assert (fp.state["v"], fp.state["w"]) == pytest.approx((v, w), abs=1e-10)
    assert np.all(fhn_eigenvalues(v).real > 0) and fp.type == "unstable focus"
    (cycle,) = fhn_osc.cycles
    assert cycle.period == pytest.approx(39.47, abs=0.01)  # model description
    assert cycle.stable and 0 < cycle.multiplier < 1e-3
    # the orbit surrounds the focus and reaches both outer branches of the cubic
    assert cycle.points[:, 0].min() < -1.8 and cycle.points[:, 0].max() > 1.8


def test_fhn_nullclines_are_complete_and_exact(fhn_osc):
    a, b, tau = FHN["a"], FHN["b"], FHN["tau"]
    (vline,) = fhn_osc.nullclines["v"]  # one unbroken cubic across the window
    (wline,) = fhn_osc.nullclines["w"]  # one straight line
    v, w = vline.T
    assert np.max(np.abs(v - v**3 / 3 - w + 0.5)) <= 1e-10  # Newton-refined: f = 0
    v, w = wline.T
    assert np.max(np.abs((v + a - b * w) / tau)) <= 1e-10
    # complete: the cubic enters at the top and leaves at the bottom of the window
    ends = sorted(vline[[0, -1], 1])
    assert ends[0] == pytest.approx(-1.0, abs=1e-6) and ends[1] == pytest.approx(2.0, abs=1e-6)
    assert np.max(np.diff(np.sort(vline[:, 0]))) < 0.05
    # sympy's closed forms (the w-nullcline is linear in w) agree
    assert fhn_osc.formulas["w"] == ["w = 1.25*v + 0.875"]
    assert fhn_osc.formulas["v"] == ["w = -0.3333333333*v**3 + v + 0.5"]


def test_trajectories_forward_and_backward_on_a_centre():
    # analytic: x' = -y, y' = x rotates; every orbit is a circle, the origin a centre
    m = biosnn.Model("dx/dt = -k*y : 1\ndy/dt = k*x : 1", params={"k": 1.0}, name="rotation")
    pp = phase_plane(
        m, "x", "y", (-2, 2), (-2, 2), trajectories=[(1.0, 0.0)], duration=3.0, cycles=False
    )
    assert [fp.type for fp in pp.fixed_points] == ["centre"]
    (tr,) = pp.trajectories
    assert tr.t_forward[-1] == pytest.approx(3.0) and tr.t_backward[-1] == pytest.approx(-3.0)
    for pts, t in ((tr.forward, tr.t_forward), (tr.backward, tr.t_backward)):
        assert np.hypot(*pts.T) == pytest.approx(1.0, abs=1e-7)
        assert pts[:, 1] == pytest.approx(np.sin(t), abs=1e-7)


# -- Morris-Lecar (snic preset) -----------------------------------------------------------
ML_SNIC = dict(
    C=20.0,
    gCa=4.0,
    gK=8.0,
    gL=2.0,
    VCa=120.0,
    VK=-84.0,
    VL=-60.0,
    V1=-1.2,
    V2=18.0,
    V3=12.0,
    V4=17.4,
)


def ml_equilibria(i_ext):
    """Independent: roots of I = I_ion(V) with w = w_inf(V), by brentq on a fine grid."""
    from scipy.optimize import brentq

    p = ML_SNIC

    def current(v):
        m_inf = 0.5 * (1 + math.tanh((v - p["V1"]) / p["V2"]))
        w_inf = 0.5 * (1 + math.tanh((v - p["V3"]) / p["V4"]))
        return (
            i_ext
            - p["gL"] * (v - p["VL"])
            - p["gCa"] * m_inf * (v - p["VCa"])
            - p["gK"] * w_inf * (v - p["VK"])
        )

    grid = np.linspace(-80, 40, 1201)
    values = [current(v) for v in grid]
    return [
        brentq(current, grid[k], grid[k + 1], xtol=1e-13)
        for k in range(len(grid) - 1)
        if values[k] * values[k + 1] < 0
    ]


@pytest.fixture(scope="module")
def ml_snic():
    model = biosnn.load_model("morris_lecar")
    return phase_plane(
        model, "V", "w", (-80, 40), (-0.1, 0.6), preset="snic", params={"I_ext": 35.0}
    )


def test_morris_lecar_snic_three_fixed_points(ml_snic):
    # below the saddle-node at I = 39.963 (model description) there are three equilibria
    expected = ml_equilibria(35.0)
    assert len(expected) == 3
    assert [fp.state["V"] for fp in ml_snic.fixed_points] == pytest.approx(expected, abs=1e-8)
    types = [fp.type for fp in ml_snic.fixed_points]
    assert types[0] == "stable node" and types[1] == "saddle"
    assert types[2] in ("unstable node", "unstable focus")
    for fp in ml_snic.fixed_points:  # w sits on its nullcline w = w_inf(V)
        w_inf = 0.5 * (1 + math.tanh((fp.state["V"] - 12.0) / 17.4))
        assert fp.state["w"] == pytest.approx(w_inf, abs=1e-12)
    assert ml_snic.cycles == []  # no cycle below the SNIC


def test_morris_lecar_saddle_manifolds(ml_snic):
    node, saddle, top = (np.array([fp.state["V"], fp.state["w"]]) for fp in ml_snic.fixed_points)
    scale = np.array([120.0, 0.7])  # the window, to measure distances in
    unstable = [m for m in ml_snic.manifolds if m.kind == "unstable"]
    stable = [m for m in ml_snic.manifolds if m.kind == "stable"]
    assert len(unstable) == 2 and len(stable) == 2 and all(m.saddle == 1 for m in unstable)
    fp = ml_snic.fixed_points[1]
    for branches, lam in ((unstable, fp.eigenvalues[0]), (stable, fp.eigenvalues[1])):
        vec = fp.eigenvectors[:, list(fp.eigenvalues).index(lam)]
        for m in branches:
            assert np.all(m.points[0] == saddle)
            step = (m.points[3] - saddle) / scale  # leaves along the eigenvector
            direction = vec / scale
            cos = abs(step @ direction) / np.hypot(*step) / np.hypot(*direction)
            assert cos == pytest.approx(1.0, abs=1e-4)
    # both unstable branches end at the stable node: the invariant circle of the SNIC
    for m in unstable:
        assert np.hypot(*((m.points[-1] - node) / scale)) < 1e-3
    # the stable manifold comes from the unstable focus on one side and from below the
    # window on the other
    ends = sorted(np.hypot(*((m.points[-1] - top) / scale)) for m in stable)
    assert ends[0] < 1e-3 and ends[1] > 0.1


# -- poles and slices ---------------------------------------------------------------------
POLE = """
dv/dt = w - v : 1
dw/dt = 1/(v - 1) - w : 1
"""


def test_nullcline_with_a_pole_has_two_unjoined_branches():
    # analytic: the w-nullcline w = 1/(v - 1) is a hyperbola with a pole at v = 1; a
    # contour of the sign change through the pole would join its branches along v = 1
    pp = phase_plane(biosnn.Model(POLE, name="pole"), "v", "w", (-2, 4), (-5, 5))
    branches = pp.nullclines["w"]
    assert len(branches) == 2
    sides = sorted(np.sign(b[:, 0] - 1).mean() for b in branches)
    assert sides == [-1.0, 1.0]  # each branch on one side of the pole
    for b in branches:
        assert np.max(np.abs(b[:, 1] - 1 / (b[:, 0] - 1))) <= 1e-10
        assert np.min(np.abs(b[:, 0] - 1)) > 0.19  # stops where |w| reaches the window
    assert pp.formulas["w"] == ["w = 1/(v - 1.0)"]
    # fixed points: w = v and v(v - 1) = 1, so v = (1 -/+ sqrt(5))/2 (analytic)
    root5 = math.sqrt(5)
    assert [fp.state["v"] for fp in pp.fixed_points] == pytest.approx(
        [(1 - root5) / 2, (1 + root5) / 2], abs=1e-12
    )


FHN_GATED = """
dv/dt = m - v**3/3 - w + I_ext : 1
dm/dt = (v - m)/eps : 1
dw/dt = (v + a - b*w)/tau : 1
"""


@pytest.mark.parametrize(
    "gate", ["dm/dt = (v - m)/eps : 1", "dm/dt = (v - m - (m - v)**3)/eps : 1"]
)
def test_slaved_state_gives_the_reduced_model(gate):
    # analytic: with m slaved to its steady state m = v this is FitzHugh-Nagumo; the second
    # gate equation is not linear in m, so Newton (not the closed form) solves it
    model = biosnn.Model(
        FHN_GATED.replace("dm/dt = (v - m)/eps : 1", gate),
        name="gated",
        params={"I_ext": 0.0, "eps": 0.01, **FHN},
    )
    pp = phase_plane(
        model, "v", "w", manifolds=False, cycles=False, fixed={"m": "steady"}, **FHN_WINDOW
    )
    (fp,) = pp.fixed_points
    v, w = fhn_equilibrium(0.0)
    assert (fp.state["v"], fp.state["m"], fp.state["w"]) == pytest.approx((v, v, w), abs=1e-10)
    assert np.sort_complex(fp.eigenvalues) == pytest.approx(
        np.sort_complex(fhn_eigenvalues(v)), abs=1e-9
    )  # Schur complement Jacobian
    assert pp.fixed == {"m": "steady"}
    # a fixed (not slaved) m = 0 shifts the v-nullcline: w = -v^3/3 (analytic)
    pp = phase_plane(model, "v", "w", manifolds=False, cycles=False, fixed={"m": 0.0}, **FHN_WINDOW)
    for line in pp.nullclines["v"]:
        assert line[:, 1] == pytest.approx(-(line[:, 0] ** 3) / 3, abs=1e-10)


# -- cycles: stable and unstable ----------------------------------------------------------
BAUTIN = """
dx/dt = x*(mu + x**2 + y**2 - (x**2 + y**2)**2) - y : 1
dy/dt = y*(mu + x**2 + y**2 - (x**2 + y**2)**2) + x : 1
"""


def test_stable_and_unstable_cycles_with_floquet_multipliers():
    # analytic (polar form r' = r g(r^2), g = mu + s - s^2, theta' = 1): cycles at
    # s = (1 -/+ sqrt(1 + 4 mu))/2, period 2 pi, multiplier exp(2 pi * 2 s g'(s))
    mu = -0.1
    pp = phase_plane(
        biosnn.Model(BAUTIN, params={"mu": mu}, name="bautin"),
        "x",
        "y",
        (-1.5, 1.5),
        (-1.5, 1.5),
        cycle_seeds=[(1.3, 0.0)],
        manifolds=False,
    )
    assert [fp.type for fp in pp.fixed_points] == ["stable focus"]
    cycles = sorted(pp.cycles, key=lambda c: np.hypot(*c.points[0]))
    assert len(cycles) == 2
    for cycle, sign in zip(cycles, (-1, 1), strict=True):
        s = (1 + sign * math.sqrt(1 + 4 * mu)) / 2
        assert np.hypot(*cycle.points.T) == pytest.approx(math.sqrt(s), abs=1e-6)
        assert cycle.period == pytest.approx(2 * math.pi, rel=1e-8)
        expected = math.exp(2 * math.pi * 2 * s * (1 - 2 * s))
        assert cycle.multiplier == pytest.approx(expected, rel=1e-4)
        assert cycle.stable == (expected < 1)


# -- output -------------------------------------------------------------------------------
def test_to_dict_is_json_ready(fhn_osc):
    doc = json.loads(json.dumps(fhn_osc.to_dict()))
    assert doc["x"] == "v" and doc["units"] == {"v": "1", "w": "1", "t": "1"}
    (fp,) = doc["fixed_points"]
    assert fp["type"] == "unstable focus" and set(fp["state"]) == {"v", "w"}
    assert fp["eigenvalues"][0] == pytest.approx([0.144110, 0.191547], abs=1e-6)
    assert doc["cycles"][0]["period"] == pytest.approx(39.47, abs=0.01)
    assert len(doc["nullclines"]["v"]) == 1 and len(doc["nullclines"]["v"][0][0]) == 2


def test_plot_is_labelled(ml_snic):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = ml_snic.plot()
    try:
        assert ax.get_xlabel() == "V (mV)" and ax.get_ylabel() == "w"
        labels = {t.get_text() for t in ax.get_legend().get_texts()}
        assert {
            "dV/dt = 0",
            "dw/dt = 0",
            "stable node",
            "saddle",
            "stable manifold",
            "unstable manifold",
        } <= labels
    finally:
        plt.close(ax.figure)


def test_default_window_contains_the_rest_state(fhn):
    pp = phase_plane(fhn, "v", "w", manifolds=False, cycles=False)
    assert isinstance(pp, PhasePlane)
    (fp,) = pp.fixed_points
    assert pp.xlim[0] < fp.state["v"] < pp.xlim[1] and pp.ylim[0] < fp.state["w"] < pp.ylim[1]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(x="q", y="w"), ["'q' is not a state", "v, w"]),
        (dict(x="v", y="v"), ["two different states"]),
        (dict(x="v", y="w", xlim=(1, -1), ylim=(0, 1)), ["xlim", "low < high"]),
        (dict(x="v", y="w", xlim=(0, 1), ylim=(0, "a")), ["ylim"]),
        (dict(x="v", y="w", fixed={"w": 1.0}), ["fixed: 'w'"]),
    ],
)
def test_bad_arguments(fhn, kwargs, words):
    with pytest.raises(ModelError) as info:
        phase_plane(fhn, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_docs_examples_run():
    # docs/phaseplane.md: every ```python block runs, and the printed values it shows hold
    import pathlib
    import re

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = (pathlib.Path(__file__).parents[2] / "docs" / "phaseplane.md").read_text()
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        exec(compile(block, "docs/phaseplane.md", "exec"), namespace)  # noqa: S102
    plt.close("all")
    pp = namespace["pp"]
    assert [fp.type for fp in pp.fixed_points] == ["unstable node", "saddle", "stable node"]
