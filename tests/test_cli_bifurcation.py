"""``biosnn bifurcation``: continuation of equilibria from the command line."""

from __future__ import annotations

import io
import json

import pytest

from biosnn.cli import main


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_fitzhugh_nagumo_hopf_points_json_and_plot(tmp_path):
    # closed form (see tests/analysis/test_continuation.py): Hopf at 0.33128, 1.41872
    png, js = tmp_path / "d.png", tmp_path / "d.json"
    code, out, err = run("bifurcation", "fitzhugh_nagumo", "--param", "I_ext", "--from", "0",
                         "--to", "2", "--plot", str(png), "--out", str(js))
    assert code == 0, err
    assert "HB hopf at I_ext = 0.33128134" in out and "HB hopf at I_ext = 1.4187187" in out
    data = json.loads(js.read_text())
    assert [sp["type"] for sp in data["special_points"]] == ["hopf", "hopf"]
    assert data["special_points"][0]["l1"] is not None
    assert data["special_points"][0]["period"] > 0 and data["preset"] is None
    assert png.stat().st_size > 1000


def test_preset_units_and_init():
    # project value: Morris-Lecar snic fold at 39.963 uA/cm**2 (2.5 pA/um**2 = 250 uA/cm**2)
    code, out, err = run("bifurcation", "morris_lecar", "--preset", "snic", "--param",
                         "I_ext", "--from", "-100", "--to", "2.5 pA/um**2", "--init", "V=-80")
    assert code == 0, err
    assert "LP fold at I_ext = 39.963" in out


def test_errors_are_one_line():
    code, out, err = run("bifurcation", "morris_lecar", "--param", "I_x", "--from", "0",
                         "--to", "1")
    assert code == 2 and err.startswith("biosnn: error:") and "I_ext" in err
    code, _, err = run("bifurcation", "morris_lecar", "--param", "I_ext", "--from", "1",
                       "--to", "1")
    assert code == 2 and "interval" in err
    code, _, err = run("bifurcation", "morris_lecar", "--param", "I_ext")
    assert code == 2 and "--from" in err


def test_cycles_option_adds_the_cycle_branch_and_its_special_points(tmp_path):
    # Hendrick (issue 3): HH fold of limit cycles at I = 6.2603 uA/cm**2, period 19.895 ms;
    # the branch from the first Hopf point ends at the second (154.52)
    js, png = tmp_path / "hh.json", tmp_path / "hh.png"
    code, out, err = run("bifurcation", "hodgkin_huxley", "--param", "I_ext", "--from", "0",
                         "--to", "200", "--cycles", "--out", str(js), "--plot", str(png))
    assert code == 0, err
    assert "LPC lpc at I_ext = 6.26032" in out and "reached a Hopf point" in out
    assert out.count("CycleBranch(") == 1          # the second Hopf point ends the first branch
    data = json.loads(js.read_text())
    (branch,) = data["cycles"]
    assert branch["end_param"] == pytest.approx(154.52, rel=1e-4)
    lpcs = [sp for sp in data["special_points"] if sp["type"] == "lpc"]
    lpc = min(lpcs, key=lambda sp: sp["param"])
    assert lpc["param"] == pytest.approx(6.2603, rel=1e-5)
    assert round(lpc["period"], 3) == 19.895 and lpc["amplitude"]["V"] > 90
    assert lpc["branch"] == 0 and len(lpc["multipliers"]) == 4
    assert png.stat().st_size > 1000
