"""``biosnn bifurcation --param2``: fold and Hopf curves in two parameters."""

from __future__ import annotations

import io
import json

import numpy as np

from biosnn.cli import main


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_fitzhugh_nagumo_hopf_curves_json_and_plot(tmp_path):
    # closed form (tests/analysis/test_codim2.py): on the Hopf curves v*^2 = 1 - b/tau and
    # I = (v* + a)/b - v* + v*^3/3; Bautin points at b = 0.51042
    js, png = tmp_path / "d.json", tmp_path / "two.png"
    code, out, err = run(
        "bifurcation",
        "fitzhugh_nagumo",
        "--param",
        "I_ext",
        "--from",
        "0",
        "--to",
        "2",
        "--param2",
        "b",
        "--from2",
        "0.2",
        "--to2",
        "1.5",
        "--plot2",
        str(png),
        "--out",
        str(js),
    )
    assert code == 0, err
    assert "HB hopf at I_ext = 0.33128134" in out
    assert "TwoParameterDiagram('fitzhugh_nagumo', 'I_ext' x 'b': 2 curve(s))" in out
    assert "GH bautin at I_ext =" in out and f"wrote {png}" in out
    data = json.loads(js.read_text())
    assert data["param2"] == "b"
    assert [c["type"] for c in data["curves"]] == ["hopf", "hopf"]
    c = data["curves"][0]
    b, I = np.array(c["b"]), np.array(c["I_ext"])
    v = -np.sqrt(1 - b / 12.5)
    np.testing.assert_allclose(I, (v + 0.7) / b - v + v**3 / 3, atol=1e-9)
    # the interval of I_ext is that of the one-parameter run (0 .. 2): the Bautin point of
    # the upper curve (I = 2.63) is outside it
    assert [p["type"] for p in data["codim2"]] == ["bautin"]
    assert abs(data["codim2"][0]["params"]["b"] - 0.51042) < 1e-4
    assert png.stat().st_size > 1000
    assert [sp["type"] for sp in data["special_points"]] == ["hopf", "hopf"]


def test_cusp_of_morris_lecar_fold_curve_with_units():
    # the snic fold (39.963 uA/cm**2, project value) continued in gCa (units accepted):
    # the two folds of the S-shaped branch lie on one curve that ends in a cusp, with a
    # Bogdanov-Takens point next to it (values of tests/analysis/test_codim2.py)
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
        "250",
        "--init",
        "V=-80",
        "--param2",
        "gCa",
        "--from2",
        "2 mS/cm**2",
        "--to2",
        "8",
    )
    assert code == 0, err
    assert "fold curve" in out and out.count("fold curve") == 1
    assert "CP cusp at I_ext = 55.0749" in out
    assert "BT bt at I_ext = 54.73698" in out


def test_errors_are_one_line():
    base = ["bifurcation", "fitzhugh_nagumo", "--param", "I_ext", "--from", "0", "--to", "2"]
    code, _, err = run(*base, "--param2", "b")
    assert code == 2 and "--from2" in err and err.count("\n") == 1
    code, _, err = run(*base, "--from2", "0.2")
    assert code == 2 and "--param2" in err
    code, _, err = run(*base, "--param2", "b", "--from2", "1", "--to2", "1.5")
    assert code == 2 and "outside" in err
    code, _, err = run(*base, "--param2", "bb", "--from2", "0", "--to2", "1")
    assert code == 2 and err.startswith("biosnn: error:")
