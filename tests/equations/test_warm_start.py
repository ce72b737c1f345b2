"""The warm start path (docs/architecture.md, "Warm start").

A first process builds a model and runs it (cold: pint, sympy, compiler); a second process
with the same cache directory must find everything by key and run without importing
sympy, pint or scipy, with the same bits.  Reference values are the cold runs themselves
(the claim under test is equality) and, for the matrix exponential, closed forms.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import biosnn
from biosnn.codegen import c_build
from biosnn.codegen.numeric_source import evaluate
from biosnn.equations import manifest
from biosnn.equations.model import Model
from biosnn.solvers.expm import expm

ROOT = Path(__file__).resolve().parents[2]

# prints a JSON line: exact results (float.hex) and the heavy modules that were imported
_SCRIPT = r"""
import json, sys
import biosnn
hexes = lambda a: [float(x).hex() for x in __import__("numpy").ravel(a)]
out = {}
{body}
out["modules"] = sorted(m for m in ("sympy", "pint", "scipy") if m in sys.modules)
print(json.dumps(out))
"""


def _run(body: str, cache: Path) -> dict:
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(cache))
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT.replace("{body}", body)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cold_then_warm(body: str, cache: Path):
    cold = _run(body, cache)
    warm = _run(body, cache)
    return cold, warm


needs_c = pytest.mark.skipif(c_build.find_compiler() is None, reason="no C compiler")

_LIF_C = """
m = biosnn.load_model("lif", I_ext=0.3)
r = biosnn.simulate(m, 100, method="exact", dt=0.1, backend="c")
out.update(v=hexes(r["v"]), spikes=hexes(r.spikes[0]), backend=r.stats["backend"])
"""


@needs_c
def test_lif_exact_c_warm_imports_nothing_heavy_and_gives_the_same_bits(tmp_path):
    cold, warm = _cold_then_warm(_LIF_C, tmp_path)
    # the cold run needs sympy; lif's units are names of the shipped unit table: no pint
    assert cold["modules"] == ["sympy"]
    assert warm["modules"] == []
    assert warm["backend"] == "c"
    assert len(cold["spikes"]) > 0  # I_ext = 0.3 nA drives lif to spike
    assert warm["v"] == cold["v"] and warm["spikes"] == cold["spikes"]


def test_lif_numpy_backend_warm(tmp_path):
    body = """
m = biosnn.load_model("lif", I_ext=0.3)
r = biosnn.simulate(m, 50, method="rk4", dt=0.05, backend="numpy")
out.update(v=hexes(r["v"]), spikes=hexes(r.spikes[0]), backend=r.stats["backend"])
"""
    cold, warm = _cold_then_warm(body, tmp_path)
    assert warm["modules"] == [] and warm["backend"] == "numpy"
    assert warm["v"] == cold["v"] and warm["spikes"] == cold["spikes"]


_HH = """
m = biosnn.load_model("hodgkin_huxley", I_ext=10)
y0 = m.initial_state()
out["y0"] = [float(y0[s]).hex() for s in m.states]
r = biosnn.simulate(m, 20, method="rk4", dt=0.01, backend="c", record=["V"])
out.update(V=hexes(r["V"]), spikes=hexes(r.spikes[0]))
"""


@needs_c
def test_hh_warm_with_overridden_parameter_has_the_cold_initial_state(tmp_path):
    # HH's gating variables start at alpha/(alpha + beta), functions of V (and of no
    # parameter), the warm path computes them from generated NumPy source
    cold, warm = _cold_then_warm(_HH, tmp_path)
    assert warm["modules"] == []
    assert warm["y0"] == cold["y0"]
    assert warm["V"] == cold["V"] and warm["spikes"] == cold["spikes"]
    assert len(cold["spikes"]) >= 1  # 10 uA/cm**2 makes HH fire


def test_initial_expression_of_an_overridden_parameter_warm(tmp_path):
    # an initial value that depends on a parameter must follow with_params on the warm
    # path: v0 = 2*a -> 2*a for the new a (analytic)
    path = tmp_path / "m.toml"
    path.write_text(
        'name = "lin"\nequations = """\ndv/dt = (a - v)/tau : 1\n"""\n'
        '[parameters]\na = 1.5\ntau = 2.0\n[initial]\nv = "2*a"\n'
    )
    body = f"""
m = biosnn.load_model({str(path)!r})
y = m.with_params(a=4.0).initial_state()
out["v0"] = float(y["v"]).hex()
r = biosnn.simulate(m.with_params(a=4.0), 1, method="rk4", dt=0.1, backend="numpy")
out["v"] = hexes(r["v"])
"""
    cold, warm = _cold_then_warm(body, tmp_path / "cache")
    assert warm["modules"] == []
    assert float.fromhex(warm["v0"]) == 8.0 and warm["v0"] == cold["v0"]
    assert warm["v"] == cold["v"]


def test_presets_and_with_params_warm(tmp_path):
    body = """
m = biosnn.load_model("izhikevich", preset="FS")
m2 = m.with_params(a="0.05", d=2)
out.update(params=[dict(m.params), dict(m2.params)], key=m2.key,
           display=m2.display_unit("a"))
"""
    cold, warm = _cold_then_warm(body, tmp_path)
    assert warm["modules"] == []
    assert warm["params"] == cold["params"] and warm["key"] == cold["key"]


@needs_c
def test_corrupt_or_stale_cache_files_are_ignored_and_rebuilt(tmp_path):
    cold = _run(_LIF_C, tmp_path)
    files = sorted((tmp_path / "models").glob("*.json"))
    assert {p.name.split(".")[1] for p in files} == {"model", "layout"}
    for i, p in enumerate(files):
        # not JSON / JSON of the wrong shape / a stale generator
        p.write_text(
            [
                "{broken",
                json.dumps(
                    {
                        "format": manifest.FORMAT,
                        "generator": manifest.generator_version(),
                        "states": 3,
                    }
                ),
                json.dumps({"format": "0"}),
            ][i % 3]
        )
    again = _run(_LIF_C, tmp_path)
    assert again["v"] == cold["v"] and again["spikes"] == cold["spikes"]
    warm = _run(_LIF_C, tmp_path)  # rebuilt: warm again
    assert warm["modules"] == [] and warm["v"] == cold["v"]


# -- in-process checks ------------------------------------------------------------------


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    from biosnn.equations import files

    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path))
    files._load_cached.cache_clear()  # load_model keeps models of earlier cache dirs
    yield tmp_path
    files._load_cached.cache_clear()


def _same_model(a: Model, b: Model):
    assert a.key == b.key
    assert dict(a.params) == dict(b.params)
    assert a._defaults == b._defaults
    assert a._display == b._display
    ya, yb = a.initial_state(), b.initial_state()
    assert [float(ya[s]).hex() for s in a.states] == [float(yb[s]).hex() for s in b.states]


def _checked(model: Model) -> Model:
    """The same model through the full checking pass (no manifest)."""
    args = dict(model._args)
    origin = args.pop("_origin")
    args["init"] = args.pop("initial")  # the constructor's keyword (_args keeps the key)
    return Model(**args, _origin=origin, _manifest={"format": "stale"})


@pytest.mark.parametrize("name", [n for n, _ in biosnn.list_models()])
def test_derived_with_params_equals_the_checked_model(name, fresh_cache):
    base = biosnn.load_model(name)
    variants = [base.with_preset(p) for p in base.presets]
    for pname, value in list(base.params.items())[:3]:
        variants.append(base.with_params(**{pname: value * 1.5 + 0.25}))
        variants.append(base.with_params(**{pname: f"{value} {base.display_unit(pname)}"}))
    for v in variants:
        _same_model(v, _checked(v))


def test_warm_model_from_the_stored_manifest_equals_the_cold_one(fresh_cache):
    for name, _ in biosnn.list_models():
        cold = biosnn.load_model(name)
        args = dict(cold._args)
        origin = args.pop("_origin")
        args["init"] = args.pop("initial")  # the constructor's keyword
        warm = Model(**args, _origin=origin)  # found on disk
        assert "builder" not in warm._cache  # no checking pass ran
        _same_model(warm, cold)
        assert warm.dimension(warm.states[0]) == cold.dimension(cold.states[0])
        assert warm.layout.key == cold.kernel_spec().key


def test_pickled_derived_model_keeps_its_values(fresh_cache):
    m = biosnn.load_model("hodgkin_huxley").with_params(I_ext=7.5)
    back = pickle.loads(pickle.dumps(m))
    assert back == m and back.params["I_ext"] == 7.5
    assert "builder" not in back._cache


def test_errors_still_come_from_the_checking_pass(fresh_cache):
    m = biosnn.load_model("lif")
    with pytest.raises(biosnn.ModelError, match="time constant must be > 0"):
        m.with_params(tau_m=-1)
    with pytest.raises(biosnn.UnitError, match="tau_m"):
        m.with_params(tau_m="3 mV")


def test_layout_flags_match_the_kernel_spec(fresh_cache):
    from biosnn.codegen.spec import KernelLayout

    for name, _ in biosnn.list_models():
        m = biosnn.load_model(name)
        spec, layout = m.kernel_spec(), m.layout
        assert isinstance(layout, KernelLayout)
        for field in ("threshold", "crossing", "refractory_time", "refractory_condition", "linear"):
            assert (getattr(layout, field) is None) == (getattr(spec, field) is None)
        assert [i for i, _ in layout.reset] == [i for i, _ in spec.reset]
        assert layout.alias_names == tuple(n for n, _ in spec.aliases)
        assert not hasattr(layout, "f") and layout.full_spec().f == spec.f  # sympy: full_spec()


def _walk(expr, values):
    """An independent interpreter of sympy trees (the tree walk that ``evaluate`` was
    before it became a printer): the same NumPy operation for each node, in sympy's
    argument order.  The oracle for the printed source below.
    """
    import sympy

    from biosnn.codegen.safe_numpy import NUMPY_FUNCTIONS

    def ev(e):
        if e.is_Symbol:
            return np.asarray(values[e.name], dtype=float)
        if e.is_Number or e in (sympy.pi, sympy.E):
            return np.float64(float(e))
        if e is sympy.true or e is sympy.false:
            return np.bool_(bool(e))
        if isinstance(e, sympy.Piecewise):
            conds = [np.asarray(ev(c), dtype=bool) for _, c in e.args]
            return np.select(conds, [ev(v) for v, _ in e.args], default=np.nan)
        args = [ev(a) for a in e.args]
        if e.is_Add:
            return sum(args[1:], args[0])
        if e.is_Mul:
            out = args[0]
            for a in args[1:]:
                out = out * a
            return out
        if e.is_Pow:
            return np.power(args[0], args[1])
        if getattr(e.func, "numpy_name", ""):
            return NUMPY_FUNCTIONS[e.func.numpy_name](np.asarray(args[0], dtype=float))
        name = {"Abs": "abs", "ceiling": "ceil", "Min": "minimum", "Max": "maximum"}.get(
            type(e).__name__, type(e).__name__
        )
        out = args[0]
        for a in args[1:]:
            out = getattr(np, name)(out, a)
        return getattr(np, name)(out) if len(args) == 1 else out

    with np.errstate(all="ignore"):
        return ev(expr)


def test_numeric_source_gives_the_bits_of_a_tree_walk(fresh_cache):
    from biosnn.codegen.numeric_source import compile_numeric, numeric_source

    spec = biosnn.load_model("hodgkin_huxley").kernel_spec()
    rng = np.random.default_rng(1)
    values = {
        s: rng.uniform(-80, 40, 50) if s == "V" else rng.uniform(0, 1, 50) for s in spec.states
    }
    values.update({p: np.full(50, 1.3) for p in spec.params})
    values["t"] = 0.0
    exprs = list(spec.f) + [e for row in spec.jac for e in row]
    got = compile_numeric(numeric_source({"g": exprs}))["g"](values)
    for e, g in zip(exprs, got, strict=True):
        want = np.broadcast_to(_walk(e, values), (50,))
        assert np.array_equal(np.broadcast_to(g, (50,)), want, equal_nan=True), e
        one = np.broadcast_to(evaluate(e, values), (50,))
        assert np.array_equal(one, want, equal_nan=True), e


def test_keys_include_the_generator_version(monkeypatch):
    args = {"equations": "dv/dt = -v : 1", "params": {}}
    before = manifest.args_key(args)
    monkeypatch.setattr(manifest, "_VERSION", ["another generator"])
    assert manifest.args_key(args) != before
    assert manifest.args_key({"equations": "x", "params": {"a": object()}}) is None


# -- the matrix exponential ----------------------------------------------------------------


@pytest.mark.parametrize("t", [1e-3, 0.1, 1.0, 3.0, 40.0])
def test_expm_rotation_closed_form(t):
    # exp([[0, t], [-t, 0]]) = [[cos t, sin t], [-sin t, cos t]]; the norms cover every
    # Pade degree and the scaling branch
    got = expm(np.array([[0.0, t], [-t, 0.0]]))
    want = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    assert np.allclose(got, want, rtol=0, atol=1e-14 * max(1.0, t))


def test_expm_affine_decay_propagator():
    # d v/dt = -v/tau + c: exp([[-h/tau, c h], [0, 0]]) = [[e, c tau (1 - e)], [0, 1]]
    tau, c, h = 10.0, 2.5, 0.1
    got = expm(np.array([[-1 / tau, c], [0.0, 0.0]]) * h)
    e = np.exp(-h / tau)
    assert np.allclose(got, [[e, c * tau * (1 - e)], [0.0, 1.0]], rtol=1e-14, atol=0)


def test_expm_agrees_with_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(7)
    for scale in (1e-3, 0.2, 0.9, 2.0, 5.0, 30.0, 300.0):
        for n in (1, 2, 3, 5, 8):
            A = rng.standard_normal((n, n)) * scale / n
            want = scipy_linalg.expm(A)
            # forward error ~ unit roundoff times the condition number, which grows with
            # the norm of A (Higham 2005, section 1): 1e-13 per unit of ||A||_1
            bound = 1e-13 * max(1.0, np.abs(A).sum(axis=0).max()) * np.abs(want).max()
            assert np.abs(expm(A) - want).max() <= bound, (scale, n)


def test_expm_refuses_bad_input():
    with pytest.raises(ValueError, match="square"):
        expm(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        expm(np.array([[np.nan]]))
