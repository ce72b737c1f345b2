"""``biosnn fi``: f-I curves from the command line.

Expected numbers: the LIF rates follow the closed form of models/lif.toml
(``T = t_ref + tau ln((R I + El - Vr)/(R I + El - Vt))``: 0.5 nA -> 165.16 Hz) and its
rheobase is (Vt - El)/R = 0.2 nA; Hodgkin-Huxley's onset is a Hopf point at 9.7754
uA/cm**2 (Hendrick, quoted in issue 3).
"""

from __future__ import annotations

import io
import json

import pytest

from biosnn.cli import main


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_lif_json_and_plot(tmp_path):
    png, js = tmp_path / "fi.png", tmp_path / "fi.json"
    code, out, err = run(
        "fi",
        "lif",
        "--param",
        "I_ext",
        "--from",
        "0.1",
        "--to",
        "1 nA",
        "--points",
        "10",
        "--duration",
        "300",
        "--plot",
        str(png),
        "--out",
        str(js),
    )
    assert code == 0, err
    assert out.startswith("FICurve('lif', 'I_ext': 10 values 0.1 .. 1 nA; rheobase 0.20")
    data = json.loads(js.read_text())
    assert data["values"][4] == pytest.approx(0.5)
    assert data["rates"][4] == pytest.approx(165.16, abs=0.01)
    assert data["rates"][0] == 0.0 and data["rheobase"] == pytest.approx(0.2, abs=1e-3)
    assert data["class"] == 1 and data["bifurcation"] is None and data["preset"] is None
    assert png.stat().st_size > 1000


def test_preset_set_and_units():
    # HH with a different leak reversal: the onset is still a Hopf point (class 2)
    code, out, err = run(
        "fi",
        "hodgkin_huxley",
        "--param",
        "I_ext",
        "--from",
        "0",
        "--to",
        "0.2 pA/um**2",
        "--points",
        "11",
        "--duration",
        "200 ms",
    )
    assert code == 0, err
    assert "class 2" in out and "onset bifurcation hopf at 9.7754" in out
    code, out, err = run(
        "fi",
        "morris_lecar",
        "--preset",
        "snic",
        "--set",
        "gL=2",
        "--param",
        "I_ext",
        "--from",
        "30",
        "--to",
        "60",
        "--points",
        "7",
        "--duration",
        "1000",
    )
    assert code == 0, err
    assert "onset bifurcation fold at 39.963" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fi", "lif", "--param", "I_x", "--from", "0", "--to", "1"], "I_x is not a parameter"),
        (["fi", "lif", "--param", "I_ext", "--from", "1", "--to", "0.1"], "--from must be below"),
        (
            ["fi", "lif", "--param", "I_ext", "--from", "0", "--to", "1", "--points", "1"],
            "--points must be at least 2",
        ),
        (
            ["fi", "lif", "--param", "I_ext", "--from", "0", "--to", "1", "--duration", "-5"],
            "--duration must be positive",
        ),
        (["fi", "lif", "--param", "I_ext", "--from", "0", "--to", "1 mV"], "I_ext"),
        (["fi", "nosuchmodel", "--param", "I_ext", "--from", "0", "--to", "1"], "nosuchmodel"),
        (["fi", "lif", "--from", "0", "--to", "1"], "--param"),
    ],
)
def test_errors_are_one_line_exit_2(argv, message):
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert err.startswith("biosnn: error: ") and err.count("\n") == 1 and message in err
