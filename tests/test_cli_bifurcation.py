"""``biosnn bifurcation``: continuation of equilibria from the command line."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from biosnn.cli import main


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_fitzhugh_nagumo_hopf_points_json_and_plot(tmp_path):
    # closed form (see tests/analysis/test_continuation.py): Hopf at 0.33128, 1.41872
    png, js = tmp_path / "d.png", tmp_path / "d.json"
    code, out, err = run(
        "bifurcation",
        "fitzhugh_nagumo",
        "--param",
        "I_ext",
        "--from",
        "0",
        "--to",
        "2",
        "--plot",
        str(png),
        "--out",
        str(js),
    )
    assert code == 0, err
    assert "HB hopf at I_ext = 0.33128134" in out and "HB hopf at I_ext = 1.4187187" in out
    data = json.loads(js.read_text())
    assert [sp["type"] for sp in data["special_points"]] == ["hopf", "hopf"]
    assert data["special_points"][0]["l1"] is not None
    assert data["special_points"][0]["period"] > 0 and data["preset"] is None
    assert png.stat().st_size > 1000


def test_preset_units_and_init():
    # project value: Morris-Lecar snic fold at 39.963 uA/cm**2 (2.5 pA/um**2 = 250 uA/cm**2)
    code, out, err = run(
        "bifurcation",
        "morris_lecar",
        "--preset",
        "snic",
        "--param",
        "I_ext",
        "--from",
        "-100",
        "--to",
        "2.5 pA/um**2",
        "--init",
        "V=-80",
    )
    assert code == 0, err
    assert "LP fold at I_ext = 39.963" in out


def test_errors_are_one_line():
    code, out, err = run(
        "bifurcation", "morris_lecar", "--param", "I_x", "--from", "0", "--to", "1"
    )
    assert code == 2 and err.startswith("biosnn: error:") and "I_ext" in err
    code, _, err = run(
        "bifurcation", "morris_lecar", "--param", "I_ext", "--from", "1", "--to", "1"
    )
    assert code == 2 and "interval" in err
    code, _, err = run("bifurcation", "morris_lecar", "--param", "I_ext")
    assert code == 2 and "--from" in err


def test_cycles_option_adds_the_cycle_branch_and_its_special_points(tmp_path):
    # Hendrick (issue 3): HH fold of limit cycles at I = 6.2603 uA/cm**2, period 19.895 ms;
    # the branch from the first Hopf point ends at the second (154.52)
    js, png = tmp_path / "hh.json", tmp_path / "hh.png"
    code, out, err = run(
        "bifurcation",
        "hodgkin_huxley",
        "--param",
        "I_ext",
        "--from",
        "0",
        "--to",
        "200",
        "--cycles",
        "--out",
        str(js),
        "--plot",
        str(png),
    )
    assert code == 0, err
    assert "LPC lpc at I_ext = 6.26032" in out and "reached a Hopf point" in out
    assert out.count("CycleBranch(") == 1  # the second Hopf point ends the first branch
    data = json.loads(js.read_text())
    (branch,) = data["cycles"]
    assert branch["end_param"] == pytest.approx(154.52, rel=1e-4)
    lpcs = [sp for sp in data["special_points"] if sp["type"] == "lpc"]
    lpc = min(lpcs, key=lambda sp: sp["param"])
    assert lpc["param"] == pytest.approx(6.2603, rel=1e-5)
    assert round(lpc["period"], 3) == 19.895 and lpc["amplitude"]["V"] > 90
    assert lpc["branch"] == 0 and len(lpc["multipliers"]) == 4
    assert png.stat().st_size > 1000


PITCHFORK = '''name = "pitchfork"
equations = """
dx/dt = r*x - x**3 : 1
"""
[parameters]
r = "-1"
[initial]
x = "0"
'''

ROSSLER = '''name = "rossler"
equations = """
dx/dt = -y - z : 1
dy/dt = x + a*y : 1
dz/dt = b + z*(x - c) : 1
"""
[parameters]
a = "0.2"
b = "0.2"
c = "3.5"
[initial]
x = "0.0115"
y = "-0.0573"
z = "0.0573"
'''


def test_switch_follows_the_other_branch_of_a_pitchfork(tmp_path):
    # closed form: x' = r x - x**3, branch point at r = 0, other branch x = +-sqrt(r)
    model = tmp_path / "pitchfork.toml"
    model.write_text(PITCHFORK)
    js, png = tmp_path / "p.json", tmp_path / "p.png"
    code, out, err = run(
        "bifurcation",
        str(model),
        "--param",
        "r",
        "--from",
        "-1",
        "--to",
        "1",
        "--switch",
        "--out",
        str(js),
        "--plot",
        str(png),
    )
    assert code == 0, err
    assert "BP bp at r = 0" in out and "switched at 0:" in out
    data = json.loads(js.read_text())
    assert [sp["type"] for sp in data["special_points"]] == ["bp"]  # listed once
    (other,) = data["switched"]
    assert other["source"]["type"] == "bp"
    x, r = (np.array(other["points"]["states"]["x"]), np.array(other["points"]["param"]))
    assert np.allclose(x**2, r, atol=1e-10) and x.max() == pytest.approx(1.0)
    assert png.stat().st_size > 1000


def test_switch_with_cycles_follows_the_rossler_period_doubling(tmp_path):
    # the Rossler system (a = b = 0.2) from c = 3.5 down past the fold and Hopf point at
    # c = 0.4 (closed form, 2 sqrt(ab)); its cycles double their period at c = 2.8324
    # (checked by simulation in tests/analysis/test_branch_switching.py) and the
    # period-2 orbits reach c = 3.5 with about twice the period
    model = tmp_path / "rossler.toml"
    model.write_text(ROSSLER)
    js = tmp_path / "r.json"
    code, out, err = run(
        "bifurcation",
        str(model),
        "--param",
        "c",
        "--from",
        "3.5",
        "--to",
        "0.3",
        "--cycles",
        "--switch",
        "--out",
        str(js),
    )
    assert code == 0, err
    assert "PD pd at c = 2.83244" in out and "period doubling at 2.83244" in out
    data = json.loads(js.read_text())
    types = [sp["type"] for sp in data["special_points"]]
    assert types[:2] == ["fold", "hopf"] and types.count("pd") == 1
    one, two = data["cycles"]
    assert one["source"]["type"] == "hopf" and two["source"] == pytest.approx(
        {"type": "pd", "param": 2.8324450, "branch": 0}, abs=1e-6
    )
    assert two["points"]["param"][-1] == pytest.approx(3.5)
    assert two["points"]["period"][-1] == pytest.approx(2 * one["points"]["period"][-1], rel=0.02)
    (pd,) = [sp for sp in data["special_points"] if sp["type"] == "pd"]
    assert pd["branch"] == 0
