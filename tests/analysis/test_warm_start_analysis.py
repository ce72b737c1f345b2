"""Analysis on a warm cache (docs/architecture.md, "Warm start"; biosnn.analysis._system).

A first process computes the Hodgkin-Huxley equilibrium branch in I_ext with both Hopf
points and their first Lyapunov coefficients (cold: sympy prints the kernels and the
derivatives); a second process with the same cache directory must find the printed source
by key, import neither sympy nor pint, and give the same bits.  Reference values: the cold
run itself (the claim under test is equality) and, for the Hopf points, Hendrick's study
of the 1952 equations as quoted in issue 3 (Hopf at I = 9.7754 uA/cm**2, subcritical, and
at I = 154.52 uA/cm**2, supercritical).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import biosnn
from biosnn import cache
from biosnn.analysis import _system
from biosnn.analysis._system import System
from biosnn.equations import manifest

ROOT = Path(__file__).resolve().parents[2]

# prints a JSON line: the special points exactly (float.hex) and the heavy modules imported
_SCRIPT = r"""
import json, sys
import biosnn
from biosnn.analysis import continue_equilibria
hh = biosnn.load_model("hodgkin_huxley")
d = continue_equilibria(hh, "I_ext", 0, 200)
out = {"special": [[sp.type, float(sp.param).hex(), float(sp.l1).hex(),
                    [float(sp.state[s]).hex() for s in hh.states]]
                   for sp in d.special_points]}
out["modules"] = sorted(m for m in ("sympy", "pint") if m in sys.modules)
print(json.dumps(out))
"""


def _run(cache: Path) -> dict:
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(cache))
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _entries(cache: Path) -> list:
    return sorted((cache / "models").glob("*.analysis.json"))


def _check_hendrick(result: dict) -> None:
    hopf = [
        (float.fromhex(p), float.fromhex(l1)) for t, p, l1, _ in result["special"] if t == "hopf"
    ]
    assert len(hopf) == 2
    assert abs(hopf[0][0] - 9.7754) < 1e-3 and hopf[0][1] > 0  # subcritical
    assert abs(hopf[1][0] - 154.52) < 1e-2 and hopf[1][1] < 0  # supercritical


def test_hh_equilibria_and_l1_warm_import_no_sympy_and_give_the_same_bits(tmp_path):
    cold = _run(tmp_path)
    assert "sympy" in cold["modules"]  # the cold run prints the kernels
    _check_hendrick(cold)
    # what was stored: autonomy, d f / d I_ext, the second and third derivative forms
    assert len(_entries(tmp_path)) == 4
    warm = _run(tmp_path)
    assert warm["modules"] == []
    assert warm["special"] == cold["special"]


def test_corrupt_and_stale_entries_are_ignored_and_rebuilt(tmp_path):
    cold = _run(tmp_path)
    entries = _entries(tmp_path)
    version = {"format": manifest.FORMAT, "generator": manifest.generator_version()}
    bad = [
        None,  # unreadable
        {**version, "tag": "x", "autonomous": True},  # wrong tag
        [],
    ]  # not a dict
    assert len(entries) >= len(bad)
    for path, data in zip(entries[: len(bad)], bad, strict=True):
        if data is None:
            path.write_text("not json {", encoding="utf-8")
        else:
            cache.write_record(path, data)
    for path in entries[len(bad) :]:  # a broken source
        data = cache.read_record(path)
        if "source" in data:
            digest = cache.put_blob(path.parent, b"def _fun(_a, _shape):\n    return (\n", ".py")
            data["source"] = {"sha256": digest}
        else:
            data["autonomous"] = "yes"
        cache.write_record(path, data)
    again = _run(tmp_path)
    assert "sympy" in again["modules"]  # everything was printed again
    assert again["special"] == cold["special"]
    warm = _run(tmp_path)  # and stored again
    assert warm["modules"] == [] and warm["special"] == cold["special"]


def test_entry_of_another_generator_version_is_not_used(tmp_path, monkeypatch):
    # an entry written by other analysis code (another _code_version) has another key
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_system, "_DERIVED", {})
    hh = biosnn.load_model("hodgkin_huxley")
    key = _system.entry_key(hh, "hess")
    monkeypatch.setattr(manifest, "_VERSION", ["older biosnn code"])
    assert _system.entry_key(hh, "hess") != key
    monkeypatch.setattr(manifest, "_VERSION", [])
    assert _system.entry_key(hh, "hess") == key
    # a stored entry of the right key but another manifest generator is ignored
    manifest.write(
        "analysis",
        key,
        {"tag": "hess", "source": "def _fun(_a, _shape):\n    return _np.zeros(_shape)\n"},
    )
    path = tmp_path / "models" / f"{key}.analysis.json"
    data = cache.read_record(path)
    cache.write_record(path, {**data, "generator": "stale"})
    system = System(hh)
    y = np.array([[-65.0], [0.05], [0.6], [0.32]])
    u = np.array([[1.0], [0.0], [0.0], [0.0]])
    # closed form: d2 f_V / dV dm = -3 gNa m**2 h / C = -3*120*0.05**2*0.6/1 = -0.54 /ms
    # (gNa = 120 mS/cm**2, C = 1 uF/cm**2); the stale entry would give 0
    b = system.hess(y, u, np.array([[0.0], [1.0], [0.0], [0.0]]))
    assert abs(b[0, 0] - (-0.54)) < 1e-12
    assert cache.read_record(path)["generator"] != "stale"


def test_phase_plane_before_continuation_on_a_fresh_cache(tmp_path):
    # Regression: phase_plane builds the NumPy kernel from the full KernelSpec; continuation
    # then asks for it through the model's layout, which must still receive the source.
    code = """
import biosnn
from biosnn.analysis import continue_equilibria, phase_plane
m = biosnn.load_model('fitzhugh_nagumo')
phase_plane(m, 'v', 'w', xlim=(-2.5, 2.5), ylim=(-1, 2), params={'I_ext': 0.5})
d = continue_equilibria(m, 'I_ext', 0, 2)
print(sorted(round(p.param, 6) for p in d.special('hopf')))
"""
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    # FitzHugh-Nagumo (a = 0.7, b = 0.8, tau = 12.5): Hopf points at the closed-form
    # values 0.331281 and 1.418719 (tests/analysis/test_continuation.py derives them)
    assert out.stdout.split("\n")[-2] == "[0.331281, 1.418719]"
