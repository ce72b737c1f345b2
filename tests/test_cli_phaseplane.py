"""``biosnn phaseplane``: run in-process through ``main(argv)``.

Expected numbers: the FitzHugh-Nagumo equilibrium at I_ext = 0.5 solves the cubic
v - v^3/3 - (v + 0.7)/0.8 + 0.5 = 0 (analytic, numpy.roots); its period 39.47 is the one
written in models/fitzhugh_nagumo.toml (scipy DOP853, rtol = atol = 1e-10).
"""

import io
import json

import numpy as np
import pytest

from biosnn.cli import main

FHN_ARGS = [
    "phaseplane",
    "fitzhugh_nagumo",
    "--x",
    "v",
    "--y",
    "w",
    "--set",
    "I_ext=0.5",
    "--xlim",
    "-2.5",
    "2.5",
    "--ylim",
    "-1",
    "2",
]


def run(*argv):
    """(status, stdout, stderr) of ``biosnn ARGV`` in-process."""
    out, err = io.StringIO(), io.StringIO()
    status = main([str(a) for a in argv], out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def assert_usage_error(status, err, *words):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("biosnn: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_phaseplane_json_lists_fixed_points(tmp_path):
    path = tmp_path / "pp.json"
    status, out, err = run(*FHN_ARGS, "--out", path)
    assert status == 0, err
    assert "unstable focus" in out and "period 39.47" in out and f"wrote {path}" in out
    doc = json.loads(path.read_text())
    roots = np.roots([-1 / 3, 0.0, 1 - 1 / 0.8, 0.5 - 0.7 / 0.8])
    v = float(roots[np.abs(roots.imag) < 1e-12].real[0])  # analytic: -0.80485
    (fp,) = doc["fixed_points"]
    assert fp["state"]["v"] == pytest.approx(v, abs=1e-10)
    assert fp["state"]["w"] == pytest.approx((v + 0.7) / 0.8, abs=1e-10)
    assert fp["type"] == "unstable focus"
    re, im = fp["eigenvalues"][0]
    assert re > 0 and abs(im) > 0
    assert doc["cycles"][0]["period"] == pytest.approx(39.47, abs=0.01)
    assert doc["x"] == "v" and doc["params"]["I_ext"] == 0.5


def test_phaseplane_preset_fix_and_plot(tmp_path):
    png = tmp_path / "ml.png"
    status, out, err = run(
        "phaseplane",
        "morris_lecar",
        "--preset",
        "snic",
        "--x",
        "V",
        "--y",
        "w",
        "--xlim",
        "-80",
        "40",
        "--ylim",
        "-0.1",
        "0.6",
        "--plot",
        png,
    )
    assert status == 0, err
    assert "fixed points: 3" in out and "saddle" in out and "stable node" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--x", "v", "--y", "q"], ["'q' is not a state", "v, w"]),
        (["--x", "v", "--y", "v"], ["two different states"]),
        (["--x", "v", "--y", "w", "--xlim", "2", "1"], ["xlim", "low < high"]),
        (["--x", "v", "--y", "w", "--xlim", "1"], ["--xlim", "expected 2 arguments"]),
        (["--x", "v", "--y", "w", "--ylim", "0", "a"], ["--ylim", "expected a number"]),
        (["--x", "v", "--y", "w", "--set", "nope=1"], ["nope is not a parameter"]),
        (["--x", "v", "--y", "w", "--fix", "w=1"], ["fixed: 'w'"]),
        (["--x", "v"], ["--y"]),
    ],
)
def test_phaseplane_bad_input(argv, words):
    status, out, err = run("phaseplane", "fitzhugh_nagumo", *argv)
    assert_usage_error(status, err, *words)


def test_phaseplane_unknown_model():
    status, _, err = run("phaseplane", "no_such_model", "--x", "v", "--y", "w")
    assert_usage_error(status, err, "no_such_model")
