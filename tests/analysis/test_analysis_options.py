"""Options of the analyses: ContinuationOptions, the default tables, and every entry point
honouring ``options=`` (and its keywords winning over them).

Where the expected numbers come from:

* the LIF model ``dv/dt = (El - v + I)/tau`` (El = -65 mV, tau = 10 ms, threshold
  -50 mV, reset to El) fires with period ``tau ln(I / (I - 15 mV))`` (derived here): at
  I = 30 mV that is ``10 ln 2 = 6.931 ms`` (144.27 Hz); dop853 resets at the located
  spike time, so it gives that rate.  A fixed-step method resets at the end of the step
  in which the threshold is crossed, so its intervals are whole numbers of steps: rk4 at
  dt = 0.01 crosses in step 694 (6.94 ms); forward Euler at dt = h has
  ``u_n = 30 (1 - (1 - h/10)**n)`` mV above El and crosses 15 mV when
  ``(1 - h/10)**n < 1/2``: n = 7 at h = 1 (7 ms), n = 69 at h = 0.1 (6.9 ms);
* the fold normal form ``dx/dt = lam - x**2`` has equilibria ``x = +-sqrt(lam)`` and a fold
  at lam = 0; the pitchfork ``dx/dt = r x - x**3`` a branch point at r = 0;
* the spies below record the keywords an entry point passes to :func:`biosnn.simulate`;
  the expected keywords are the options given (or the entry point's row of
  ``SOLVER_DEFAULTS``).
"""

from __future__ import annotations

import math
import pathlib
import pickle

import numpy as np
import pytest

import biosnn
import biosnn.analysis.continuation as continuation_module
import biosnn.solvers.simulate as simulate_module
from biosnn import ContinuationOptions, SolverOptions
from biosnn.analysis import adjoint_prc as adjoint
from biosnn.analysis import (
    continue_curve,
    continue_cycles,
    continue_equilibria,
    direct_prc,
    fast_slow,
    fi_curve,
    orbit_diagram,
    periodic_orbit,
    phase_plane,
    two_parameter_diagram,
)
from biosnn.analysis.options import (
    CONTINUATION_DEFAULTS,
    CONTINUATION_WHY,
    SOLVER_DEFAULTS,
    SOLVER_WHY,
    continuation_table,
    solver_table,
)
from biosnn.errors import BiosnnError, MethodError

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "options.md"


@pytest.fixture(scope="module")
def lif():
    return biosnn.Model(
        "dv/dt = (El - v + I)/tau : volt",
        params={"El": "-65 mV", "tau": "10 ms", "I": "0 mV"},
        init={"v": "-65 mV"},
        threshold="v > -50*mV",
        reset="v = El",
        name="lif_options",
    )


def _stuart_landau():
    return biosnn.Model(
        """
        dx/dt = lam*x*(1 - x**2 - y**2) - omega*y : 1
        dy/dt = lam*y*(1 - x**2 - y**2) + omega*x : 1
        """,
        params={"lam": "1", "omega": "2"},
        init={"x": "-1", "y": "0.5"},
        threshold="x > 0",
        name="stuart_landau_opts",
    )


class _Stop(Exception):
    """Raised by a spy to end an entry point after its first simulation."""


@pytest.fixture
def spy(monkeypatch):
    """Record the keywords of every biosnn.simulate call; ``spy.stop_after`` calls end it."""
    real = simulate_module.simulate
    calls = []

    def fake(model, duration, **kw):
        calls.append(kw)
        if len(calls) >= fake.stop_after:
            raise _Stop
        return real(model, duration, **kw)

    fake.stop_after = 1
    fake.calls = calls
    biosnn.simulate  # noqa: B018  (the lazy attribute exists before it is patched)
    monkeypatch.setattr(biosnn, "simulate", fake)
    monkeypatch.setattr(simulate_module, "simulate", fake)
    return fake


def _solver_fields(kw):
    """The solver settings of simulate keywords, as the SolverOptions they stand for."""
    if "options" in kw:
        return kw["options"]
    names = ("method", "dt", "rtol", "atol", "backend", "max_steps", "seed")
    return SolverOptions(**{k: kw[k] for k in names if k in kw})


# --------------------------------------------------------------------------------------
# ContinuationOptions
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ds=0), r"^ds must be a positive finite number, not 0"),
        (dict(ds_max=-1), r"^ds_max must be a positive finite number"),
        (dict(ds_min=float("nan")), r"^ds_min must be a positive finite number"),
        (dict(tol="x"), r"^tol must be a positive finite number"),
        (dict(max_angle=4.0), r"^max_angle must be below pi"),
        (dict(max_points=1), r"^max_points must be a whole number >= 2, not 1"),
        (dict(max_points=2.5), r"^max_points must be a whole number"),
        (dict(ds=1e-10), r"^ds = 1e-10 is smaller than ds_min = 1e-09"),
        (dict(ds_max=1e-10, ds=1e-10, ds_min=1e-9), r"^ds = 1e-10 is smaller than ds_min"),
        (dict(ds_max=1e-10, ds_min=1e-11, ds=0.01), None),
        (dict(ds_max=1e-12, ds=1e-11, ds_min=1e-11), r"^ds_max = 1e-12 is smaller than ds_min"),
    ],
)
def test_continuation_options_check_each_field(kwargs, message):
    if message is None:  # a first step larger than the largest one is allowed (clamped)
        assert ContinuationOptions(**kwargs).ds == 0.01
        return
    with pytest.raises(BiosnnError, match=message):
        ContinuationOptions(**kwargs)


def test_continuation_options_defaults_replace_pickle():
    o = ContinuationOptions()
    assert o.kwargs() == dict(
        ds=0.01, ds_max=0.05, ds_min=1e-9, max_points=2000, tol=1e-10, max_angle=0.2
    )
    assert o == CONTINUATION_DEFAULTS["continue_equilibria"]
    p = o.replace(max_points=300.0)
    assert p.max_points == 300 and isinstance(p.max_points, int) and o.max_points == 2000
    with pytest.raises(BiosnnError, match=r"ContinuationOptions has no field 'step'"):
        o.replace(step=0.1)
    assert pickle.loads(pickle.dumps(p)) == p and hash(pickle.loads(pickle.dumps(p))) == hash(p)


# --------------------------------------------------------------------------------------
# the default tables: one place, printed in docs/options.md
# --------------------------------------------------------------------------------------
def test_the_docs_print_the_default_tables():
    text = DOCS.read_text()
    assert solver_table() in text and continuation_table() in text
    assert set(SOLVER_WHY) == set(SOLVER_DEFAULTS)
    assert set(CONTINUATION_WHY) == set(CONTINUATION_DEFAULTS)


def test_the_tables_hold_the_defaults_each_function_had():
    # the keyword defaults of these functions before options existed (git history)
    assert SOLVER_DEFAULTS["simulate"] == SolverOptions() == SOLVER_DEFAULTS["orbit_diagram"]
    for name, rtol, atol in (
        ("fi_curve", 1e-6, 1e-8),
        ("fast_slow", 1e-8, 1e-10),
        ("periodic_orbit", 1e-10, 1e-12),
        ("direct_prc", 1e-10, 1e-12),
        ("phase_plane", 1e-10, 1e-10),
    ):
        o = SOLVER_DEFAULTS[name]
        assert (o.method, o.rtol, o.atol, o.dt, o.backend) == ("dop853", rtol, atol, None, "auto")
    cyc = CONTINUATION_DEFAULTS["continue_cycles"]
    assert cyc.kwargs() == dict(
        ds=0.02, ds_max=0.5, ds_min=1e-7, max_points=500, tol=1e-9, max_angle=0.3
    )
    assert CONTINUATION_DEFAULTS["continue_curve"] == ContinuationOptions(max_points=1000)
    assert CONTINUATION_DEFAULTS["fast_slow"] == ContinuationOptions(ds_max=0.02)


@pytest.mark.parametrize(
    "entry, call",
    [
        ("fi_curve", lambda m: fi_curve(m, "I", [0, 30], 50, rheobase=False, bifurcation=False)),
        ("orbit_diagram", lambda m: orbit_diagram(m, "I", [30], 50, transient=10)),
        ("fast_slow", lambda m: fast_slow(_two_state(), "w", duration=10)),
        ("periodic_orbit", lambda m: periodic_orbit(_stuart_landau(), transient=40)),
    ],
)
def test_without_options_an_entry_point_runs_its_row_of_the_table(spy, lif, entry, call):
    with pytest.raises(_Stop):
        call(lif)
    assert _solver_fields(spy.calls[0]) == SOLVER_DEFAULTS[entry]


def _two_state():
    return biosnn.Model("dv/dt = -v + w : 1\ndw/dt = 0.01*(1 - w) : 1", name="two_state_opts")


# --------------------------------------------------------------------------------------
# solver options reach the simulations, and keywords win
# --------------------------------------------------------------------------------------
LOOSE = SolverOptions(method="rk45", rtol=1e-4, atol=1e-6, backend="numpy")


@pytest.mark.parametrize(
    "call",
    [
        lambda m, **kw: fi_curve(m, "I", [0, 30], 50, rheobase=False, bifurcation=False, **kw),
        lambda m, **kw: orbit_diagram(m, "I", [30], 50, transient=10, **kw),
        lambda m, **kw: fast_slow(_two_state(), "w", duration=10, **kw),
        lambda m, **kw: periodic_orbit(_stuart_landau(), transient=40, **kw),
        lambda m, **kw: adjoint(_stuart_landau(), transient=40, **kw),
    ],
    ids=["fi_curve", "orbit_diagram", "fast_slow", "periodic_orbit", "adjoint_prc"],
)
def test_each_entry_point_passes_its_options_on(spy, lif, call):
    with pytest.raises(_Stop):
        call(lif, options=LOOSE)
    assert _solver_fields(spy.calls[0]) == LOOSE


@pytest.mark.parametrize(
    "call",
    [
        lambda m, **kw: fi_curve(m, "I", [0, 30], 50, rheobase=False, bifurcation=False, **kw),
        lambda m, **kw: orbit_diagram(m, "I", [30], 50, transient=10, **kw),
        lambda m, **kw: fast_slow(_two_state(), "w", duration=10, **kw),
        lambda m, **kw: periodic_orbit(_stuart_landau(), transient=40, **kw),
    ],
    ids=["fi_curve", "orbit_diagram", "fast_slow", "periodic_orbit"],
)
def test_keywords_win_over_the_options(spy, lif, call):
    with pytest.raises(_Stop):
        call(lif, options=LOOSE, rtol=1e-9, atol=1e-11)
    assert _solver_fields(spy.calls[0]) == LOOSE.replace(rtol=1e-9, atol=1e-11)


def test_direct_prc_options_are_those_of_the_kicked_runs(spy):
    sl = _stuart_landau()
    spy.stop_after = 10**9
    orbit = periodic_orbit(sl, transient=40)
    spy.calls.clear()
    spy.stop_after = 1
    with pytest.raises(_Stop):
        direct_prc(sl, orbit=orbit, n_phases=4, options=LOOSE, atol=1e-7)
    assert spy.calls[0]["n"] == 8
    assert _solver_fields(spy.calls[0]) == LOOSE.replace(atol=1e-7)
    spy.calls.clear()
    with pytest.raises(_Stop):
        direct_prc(sl, orbit=orbit, n_phases=4)
    assert _solver_fields(spy.calls[0]) == SOLVER_DEFAULTS["direct_prc"]


def test_fi_curve_rates_follow_the_method(lif):
    # dop853 (the default) gives the analytic rate, Euler at 1 ms whole-millisecond ISIs
    kw = dict(rheobase=False, bifurcation=False, backend="numpy")
    exact = fi_curve(lif, "I", [0, 30], 200, **kw)
    euler = SolverOptions(method="euler", dt=1.0, backend="numpy")
    coarse = fi_curve(lif, "I", [0, 30], 200, options=euler, **kw)
    assert exact.stats["method"] == "dop853" and coarse.stats["method"] == "euler"
    assert exact.rates[1] == pytest.approx(1000 / (10 * math.log(2)), rel=1e-5)
    assert coarse.rates[1] == pytest.approx(1000 / 7, rel=1e-9)
    # keywords win: Euler at dt = 0.1 (69 steps), rk4 at dt = 1 (also 7 steps)
    finer = fi_curve(lif, "I", [0, 30], 200, options=euler, dt=0.1, **kw)
    assert finer.rates[1] == pytest.approx(1000 / 6.9, rel=1e-9)
    rk4 = fi_curve(lif, "I", [0, 30], 200, options=euler, method="rk4", **kw)
    assert rk4.stats["method"] == "rk4" and rk4.rates[1] == pytest.approx(1000 / 7, rel=1e-9)


def test_orbit_diagram_intervals_follow_the_method(lif):
    fine = orbit_diagram(lif, "I", [30], 100, transient=20, backend="numpy")
    euler = SolverOptions(method="euler", dt=1.0, backend="numpy")
    coarse = orbit_diagram(lif, "I", [30], 100, transient=20, options=euler)
    assert np.allclose(fine.values, 6.94, atol=1e-9)  # rk4 at dt = 0.01: 694 steps
    assert np.allclose(coarse.values, 7.0, atol=1e-9)


def test_options_of_another_type_are_refused(lif):
    with pytest.raises(BiosnnError, match="fi_curve: options must be a SolverOptions"):
        fi_curve(lif, "I", [0, 30], 50, options=ContinuationOptions())
    with pytest.raises(BiosnnError, match="continue_equilibria: options must be a Continuation"):
        continue_equilibria(_fold(), "lam", 1, -1, options=SolverOptions())


# --------------------------------------------------------------------------------------
# continuation options
# --------------------------------------------------------------------------------------
def _fold():
    return biosnn.Model("dx/dt = lam - x**2 : 1", params={"lam": 1}, init={"x": 1}, name="fold")


def test_continue_equilibria_honours_options_and_keywords():
    d = continue_equilibria(_fold(), "lam", 1, -1, options=ContinuationOptions(max_points=5))
    assert len(d) == 5 and d.status == "reached max_points = 5"
    d = continue_equilibria(
        _fold(), "lam", 1, -1, options=ContinuationOptions(max_points=5), max_points=7
    )
    assert len(d) == 7 and d.status == "reached max_points = 7"
    full = continue_equilibria(_fold(), "lam", 1, -1)
    assert [sp.type for sp in full.special_points] == ["fold"]
    assert full.special_points[0].param == pytest.approx(0.0, abs=1e-9)
    # a larger step reaches the fold in fewer points
    big = continue_equilibria(_fold(), "lam", 1, -1, options=ContinuationOptions(ds_max=0.2))
    assert len(big) < len(full) and big.special_points[0].param == pytest.approx(0, abs=1e-9)


def test_switch_keeps_the_diagrams_options_unless_given():
    m = biosnn.Model("dx/dt = r*x - x**3 : 1", params={"r": -1}, name="pitchfork_opts")
    opts = ContinuationOptions(ds_max=0.1)
    d = continue_equilibria(m, "r", -1, 1, init={"x": 0}, options=opts)
    bp = d.special("bp")[0]
    other = d.switch(bp)
    assert other._context["options"] == opts
    assert round(float(other["x"].max()), 10) == 1.0  # the branch x = +-sqrt(r) to r = 1
    short = d.switch(bp, options=ContinuationOptions(max_points=6))
    assert short._context["options"].max_points == 6 and len(short) <= 7
    assert d.switch(bp, max_points=6)._context["options"] == opts.replace(max_points=6)


def test_continue_cycles_honours_options():
    m = biosnn.Model(
        "dx/dt = mu*x - w*y - x*(x**2 + y**2) : 1\ndy/dt = w*x + mu*y - y*(x**2 + y**2) : 1",
        params={"mu": -1, "w": 2},
        name="hopf_opts",
    )
    hopf = continue_equilibria(m, "mu", -1, 1).special("hopf")[0]
    opts = CONTINUATION_DEFAULTS["continue_cycles"].replace(max_points=4)
    c = continue_cycles(m, hopf, "mu", stop=1, options=opts)
    assert len(c) == 4 and c.status == "reached max_points = 4"
    assert c._context["options"]["options"] == opts
    c = continue_cycles(m, hopf, "mu", stop=1, options=opts, max_points=6)
    assert len(c) == 6
    # the amplitude of the cycles is sqrt(mu) (closed form), whatever the step control
    assert np.allclose(c.max["x"], np.sqrt(c.param_values), atol=1e-9)


def test_continue_curve_and_two_parameter_diagram_honour_options():
    m = biosnn.Model(
        "dx/dt = y : 1\ndy/dt = b1 + b2*x + x**2 - x*y : 1",
        params={"b1": 0, "b2": -0.5},
        name="bt_opts",
    )
    # Bogdanov-Takens normal form: Hopf at b1 = 0 on x = 0, fold at b1 = b2**2/4
    d = continue_equilibria(m, "b1", -0.5, 0.5, init={"x": -0.5})
    assert sorted(sp.type for sp in d.special_points) == ["fold", "hopf"]
    hopf = d.special("hopf")[0]
    bounds = {"b1": (-1, 1), "b2": (-1, 1)}
    c = continue_curve(m, hopf, "b1", "b2", bounds, options=ContinuationOptions(max_points=5))
    assert c.status == "reached max_points = 5; reached max_points = 5"
    assert len(c.values1) == 2 * 5 - 1
    two = two_parameter_diagram(
        m, d, "b2", -1, 1, options=ContinuationOptions(max_points=5), max_points=4
    )
    assert len(two.curves) == 2  # the fold and the Hopf curve
    for curve in two.curves:  # the keyword (4) wins over the options (5)
        assert "reached max_points = 4" in curve.status and len(curve.values1) <= 2 * 4 - 1
        assert set(curve.status.split("; ")) <= {"reached max_points = 4", "left the parameter box"}


def test_fast_slow_continuation_options(monkeypatch):
    seen = []
    real = continuation_module.continue_equilibria

    def spy(*args, **kw):
        seen.append(kw["options"])
        return real(*args, **kw)

    monkeypatch.setattr(continuation_module, "continue_equilibria", spy)
    m = _two_state()
    fs = fast_slow(m, "w", duration=10, options=SolverOptions(backend="numpy"))
    assert seen[-1] == CONTINUATION_DEFAULTS["fast_slow"]
    fs = fast_slow(
        m,
        "w",
        duration=10,
        options=SolverOptions(backend="numpy"),
        continuation=ContinuationOptions(max_points=5),
        ds_max=0.01,
    )
    assert seen[-1] == ContinuationOptions(max_points=5, ds_max=0.01)
    assert len(fs.diagram) == 5


# --------------------------------------------------------------------------------------
# the phase plane's integrations
# --------------------------------------------------------------------------------------
def test_phase_plane_trajectories_follow_the_options():
    fhn = biosnn.load_model("fitzhugh_nagumo")
    kw = dict(manifolds=False, cycles=False, trajectories=[(0.0, 0.0)], duration=20)
    fine = phase_plane(fhn, "v", "w", (-2.5, 2.5), (-1, 2), **kw).trajectories[0]
    loose = SolverOptions(method="rk23", rtol=1e-3, atol=1e-3)
    coarse = phase_plane(fhn, "v", "w", (-2.5, 2.5), (-1, 2), options=loose, **kw).trajectories[0]
    same = phase_plane(
        fhn, "v", "w", (-2.5, 2.5), (-1, 2), options=SOLVER_DEFAULTS["phase_plane"], **kw
    ).trajectories[0]
    assert np.array_equal(fine.forward, same.forward)  # the default is the table's row
    assert fine.forward.shape == coarse.forward.shape
    gap = np.max(np.abs(fine.forward - coarse.forward))
    assert 1e-6 < gap < 0.1  # a different integration of the same orbit


def test_phase_plane_refuses_what_it_cannot_use():
    fhn = biosnn.load_model("fitzhugh_nagumo")
    with pytest.raises(MethodError, match=r"adaptive method \(rk23, rk45 or dop853"):
        phase_plane(fhn, "v", "w", (-2.5, 2.5), (-1, 2), options=SolverOptions())
    dt = SOLVER_DEFAULTS["phase_plane"].replace(dt=0.1)
    with pytest.raises(MethodError, match="phase_plane does not use dt"):
        phase_plane(fhn, "v", "w", (-2.5, 2.5), (-1, 2), options=dt)
