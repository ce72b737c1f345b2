"""The bad-input matrix of the ``biosnn`` command (issue 9, section 5).

Every command and option gets bad values: not numbers, nan and inf, negative and huge
numbers, unit strings with complex, NaN or absurd exponents, unknown models, presets,
parameters and states, bad model files, output paths with an unknown extension, a missing
or non-directory parent, a directory instead of a file, seeds outside [0, 2**64), and
requests that cannot fit in memory.  Each runs in-process through ``main()`` and must end
with exit status 2 and exactly ONE line on stderr, ``biosnn: error: ...``, that names the
bad input - never a traceback, never a second line (a warning), never status 0.

Every case is rejected before anything is compiled or simulated (outputs are checked
first, memory is estimated before allocating), so the whole matrix runs in seconds.
The reference for each case is the rule above; the words asserted are the option, value,
name or unit the message must mention.
"""

from __future__ import annotations

import io
import textwrap
import warnings

import pytest

from biosnn.cli import main

LIF = textwrap.dedent('''\
    name = "tiny_lif"
    equations = """
    dv/dt = (El - v + R*I)/tau : volt (unless refractory)
    """
    [parameters]
    El = "-65 mV"
    R = "100 Mohm"
    I = "0.2 nA"
    tau = "10 ms"
    [initial]
    v = "-65 mV"
    [events]
    threshold = "v > -50*mV"
    reset = "v = El"
    refractory = "2 ms"
    ''')
BROKEN = LIF.replace("(El - v + R*I)/tau", "(El - v + R*I)/tauu")

HH = ["simulate", "hodgkin_huxley", "-T", "10"]
FI = ["fi", "hodgkin_huxley", "--param", "I_ext"]
BIF = ["bifurcation", "hodgkin_huxley", "--param", "I_ext"]
PP = ["phaseplane", "fitzhugh_nagumo", "--x", "v", "--y", "w"]
NET = ["network", "cuba"]

NOT_FINITE = ["nan", "inf", "-inf", "1e400", "NaN", "+inf"]
NOT_NUMBERS = ["abc", "1,5", "--", "1e", "0x10"]
#: unit strings whose exponent is complex, NaN, infinite or absurd, or whose value is
#: beyond float range; (text, a word of the message)
BAD_UNITS = [
    ("uA/cm**(1j)", "uA/cm**(1j)"),
    ("uA/cm**((-1)**0.5)", "not a real number"),
    ("uA/cm**(-8)**(1/3)", "not a real number"),
    ("uA/cm**(1e400*0)", "exponent"),
    ("uA/cm**(0*1e400)", "exponent"),
    ("uA/cm**(2**1000)", "exponent"),
    ("uA/cm**1e309", "uA/cm**1e309"),
    ("uA/cm**nan", "nan"),
    ("uA/cm**inf", "inf"),
    ("uA/cm**200", "exponent"),
    ("uA/cm^2", "**"),
    ("furlongs", "furlongs"),
]
BAD_TIME_UNITS = [
    (u.replace("uA/cm", "ms"), w.replace("uA/cm", "ms"))
    for u, w in BAD_UNITS
    if "furlongs" not in u
] + [("ms", None)]


def _cases():
    cases = []

    def add(argv, *words, name=None):
        cases.append(pytest.param(list(argv), words, id=name or " ".join(argv)[:90]))

    # -- the command line itself -----------------------------------------------------------
    add([], "COMMAND")
    add(["bogus"], "bogus")
    for argv in (
        ["models"],
        ["show", "lif"],
        HH,
        PP,
        BIF + ["--from", "0", "--to", "1"],
        FI + ["--from", "0", "--to", "1"],
        NET,
        ["demo"],
    ):
        add([*argv, "--bogus-option"], "--bogus-option")
    add(["simulate", "hodgkin_huxley"], "--duration")
    add(["phaseplane", "fitzhugh_nagumo", "--x", "v"], "--y")
    add(["bifurcation", "hodgkin_huxley", "--param", "I_ext", "--from", "0"], "--to")
    add(["fi", "hodgkin_huxley", "--from", "0", "--to", "1"], "--param")
    add(["show"], "MODEL")
    add(["network"], "FILE")
    add([*HH, "--backend", "gpu"], "gpu")
    add(["network", "cuba", "--backend", "gpu"], "gpu")

    # -- numbers: not numbers, not finite, out of range ------------------------------------
    numeric = [
        (HH[:2], "--duration"),
        (HH, "--dt"),
        (HH + ["--method", "rk45"], "--rtol"),
        (HH + ["--method", "rk45"], "--atol"),
        (HH, "--n"),
        (HH, "--seed"),
        (FI + ["--to", "10"], "--from"),
        (FI + ["--from", "0"], "--to"),
        (FI + ["--from", "0", "--to", "10"], "--points"),
        (FI + ["--from", "0", "--to", "10"], "--duration"),
        (BIF + ["--to", "10"], "--from"),
        (BIF + ["--from", "0"], "--to"),
        (BIF + ["--from", "0", "--to", "10", "--param2", "gK", "--to2", "40"], "--from2"),
        (BIF + ["--from", "0", "--to", "10", "--param2", "gK", "--from2", "30"], "--to2"),
        (NET, "--duration"),
        (NET, "--seed"),
    ]
    for prefix, option in numeric:
        for bad in NOT_FINITE + NOT_NUMBERS:
            if bad == "--":
                continue  # argparse reads it as the end of options
            # a strictly typed option names itself; a value with an optional unit is
            # named by its text
            add([*prefix, option, bad], option if bad in NOT_FINITE else bad)
    for option in ("--xlim", "--ylim"):
        for pair in (["nan", "1"], ["0", "inf"], ["abc", "1"], ["1", "0"], ["2", "2"]):
            add([*PP, option, *pair], option.lstrip("-"))
    for bad in ("-5", "0", "-0.0"):
        add([*HH[:2], "--duration", bad], "--duration")
        add([*HH, "--dt", bad], "--dt")
        add([*FI, "--from", "0", "--to", "10", "--duration", bad], "--duration")
        add([*NET, "--duration", bad], "--duration")
    for bad in ("0", "-3", "1.5", "1e10"):
        add([*HH, "--n", bad], "--n")
        add([*FI, "--from", "0", "--to", "10", "--points", bad], "--points")
    add([*HH, "--method", "rk45", "--rtol", "-1", "--atol", "1e-9"], "rtol")
    add([*HH, "--method", "rk45", "--rtol", "1e-6", "--atol", "0"], "atol")
    add([*HH, "--method", "rk45"], "--rtol")
    add([*HH, "--dt", "0.03"], "whole number of steps")
    add([*FI, "--from", "10", "--to", "0"], "--from")
    add([*FI, "--from", "5", "--to", "5"], "--from")
    add([*FI, "--from", "0", "--to", "10", "--points", "1"], "--points")
    add([*BIF, "--from", "5", "--to", "5"], "start == stop")

    # -- seeds: 0 <= seed < 2**64, never reduced -------------------------------------------
    for prefix in (HH, NET):
        for bad in ("-1", str(2**64), str(2**70), "-18446744073709551616", "1.5", "1e3"):
            add([*prefix, "--seed", bad], "--seed", bad)

    # -- unit strings ----------------------------------------------------------------------
    for unit, word in BAD_UNITS:
        add([*HH, "--set", f"I_ext=10 {unit}"], "I_ext", word)
        add([*FI, "--from", f"1 {unit}", "--to", "10"], "I_ext", word)
        add([*BIF, "--from", "0", "--to", f"10 {unit}"], "I_ext", word)
    for unit, word in BAD_TIME_UNITS:
        if word is None:  # a value beyond float range
            add([*HH[:2], "--duration", "1e400 ms"], "--duration", "1e400 ms")
            add([*HH, "--dt", "1e400 ms"], "--dt", "1e400 ms")
            add([*NET, "--duration", "1e400 ms"], "1e400 ms")
            continue
        add([*HH[:2], "--duration", f"10 {unit}"], "--duration", word)
        add([*HH, "--dt", f"0.01 {unit}"], "--dt", word)
        add([*NET, "--duration", f"10 {unit}"], word)
    for text in ("10 mV", "1e400 mV", "-70 mV**(1j)"):
        add([*HH, "--init", f"V={text}".replace("mV", "uA" if text == "10 mV" else "mV")], "V")
    add([*HH[:2], "--duration", "10 mV"], "--duration", "voltage")
    add([*HH, "--set", "I_ext=10 mV"], "I_ext", "voltage")
    add([*BIF, "--from", "0", "--to", "10 mV"], "I_ext", "voltage")
    add(["simulate", "fitzhugh_nagumo", "-T", "10 ms"], "dimensionless")
    add([*NET, "--duration", "10 mV"], "--duration")
    add([*NET, "--set", "dt=0.1 ms**((-1)**0.5)"], "dt", "not a real number")
    for option in ("--set", "--init"):
        for bad in ("nan", "inf", "-inf"):
            add([*HH, option, f"V={bad}" if option == "--init" else f"I_ext={bad}"], option, bad)
    for bad in ("nan", "inf"):
        add([*PP, "--set", f"a={bad}"], "--set", bad)
        add([*NET, "--set", f"populations.exc.n={bad}"], "--set", bad)
        add([*BIF, "--from", "0", "--to", "10", "--init", f"V={bad}"], "--init", bad)
    for bad in ("I_ext", "=3", "I_ext=", "=", ""):
        add([*HH, "--set", bad], "NAME=VALUE")

    # -- unknown names ---------------------------------------------------------------------
    for cmd in (
        ["simulate", "{m}", "-T", "10"],
        ["show", "{m}"],
        ["phaseplane", "{m}", "--x", "v", "--y", "w"],
        ["bifurcation", "{m}", "--param", "I", "--from", "0", "--to", "1"],
        ["fi", "{m}", "--param", "I", "--from", "0", "--to", "1"],
    ):
        for model, word in (
            ("no_such_model", "no_such_model"),
            ("{tmp}/missing.toml", "missing.toml"),
            ("{tmp}/adir", "adir"),
            ("{tmp}/broken.toml", "tauu"),
            ("{tmp}/afile.txt", "afile.txt"),
        ):
            add([a.replace("{m}", model) for a in cmd], word, name=f"{cmd[0]} {model}")
    add([*HH, "--preset", "bogus"], "bogus")
    add([*HH, "--set", "bogus=1"], "bogus")
    add([*HH, "--init", "bogus=1"], "bogus")
    add([*HH, "--record", "bogus"], "bogus")
    add([*HH, "--record", ","], "--record")
    add([*HH, "--method", "bogus"], "bogus")
    add([*HH, "--method", "exact"], "exact")
    add([*HH, "--method", "euler_maruyama", "--set", "I_ext=10 uA/cm**2", "--n", "0"], "--n")
    add(["phaseplane", "fitzhugh_nagumo", "--x", "v", "--y", "bogus"], "bogus")
    add(["phaseplane", "fitzhugh_nagumo", "--x", "v", "--y", "v"], "'v'")
    add([*PP, "--fix", "bogus=1"], "bogus")
    add([*PP, "--preset", "bogus"], "bogus")
    add([*BIF, "--from", "0", "--to", "10", "--preset", "bogus"], "bogus")
    add(["bifurcation", "hodgkin_huxley", "--param", "bogus", "--from", "0", "--to", "1"], "bogus")
    add([*BIF, "--from", "0", "--to", "10", "--param2", "gK"], "--from2")
    add([*BIF, "--from", "0", "--to", "10", "--from2", "1"], "--param2")
    add(["fi", "hodgkin_huxley", "--param", "bogus", "--from", "0", "--to", "1"], "bogus")
    add(
        [
            "fi",
            "fitzhugh_nagumo",
            "--param",
            "I_ext",
            "--from",
            "0",
            "--to",
            "1",
            "--duration",
            "10 ms",
        ],
        "dimensionless",
    )
    add(["network", "no_such_net"], "no_such_net")
    add(["network", "{tmp}/missing.toml"], "missing.toml")
    add([*NET, "--set", "populations.exc.n=0"], "populations.exc")
    add([*NET, "--set", "bogus.key=1"], "bogus")

    # -- outputs: checked before anything runs ---------------------------------------------
    writers = [
        ("simulate", HH),
        ("phaseplane", PP),
        ("bifurcation", BIF + ["--from", "0", "--to", "10"]),
        ("fi", FI + ["--from", "0", "--to", "10"]),
        ("network", NET),
    ]
    for cmd, prefix in writers:
        for path, word in (
            ("{tmp}/x.xyz", ".xyz"),
            ("{tmp}/noext", "no extension"),
            ("{tmp}/nodir/x.png", "does not exist"),
            ("{tmp}/afile.txt/x.png", "not a directory"),
            ("{tmp}/adir.png", "directory"),
            ("", "file name"),
        ):
            add([*prefix, "--plot", path], "--plot", word, name=f"{cmd} --plot {path}")
        for path, word in (
            ("{tmp}/x.txt", ".txt"),
            ("{tmp}/x", "no extension"),
            ("{tmp}/x.png", ".png"),
            ("{tmp}/nodir/x.json", "does not exist"),
            ("{tmp}/afile.txt/x.json", "not a directory"),
            ("{tmp}/adir.json", "directory"),
        ):
            add([*prefix, "--out", path], "--out", word, name=f"{cmd} --out {path}")
    add(
        [
            *BIF,
            "--from",
            "0",
            "--to",
            "10",
            "--param2",
            "gK",
            "--from2",
            "30",
            "--to2",
            "40",
            "--plot2",
            "{tmp}/x.xyz",
        ],
        "--plot2",
        ".xyz",
    )
    add([*BIF, "--from", "0", "--to", "10", "--plot2", "{tmp}/x.png"], "--param2")
    add(
        [
            *BIF,
            "--from",
            "0",
            "--to",
            "10",
            "--param2",
            "gK",
            "--from2",
            "30",
            "--to2",
            "40",
            "--plot",
            "{tmp}/same.png",
            "--plot2",
            "{tmp}/same.png",
        ],
        "--plot2",
        "same file",
    )
    add(
        [*BIF, "--from", "0", "--to", "10", "--param2", "gK", "--from2", "nan", "--to2", "40"],
        "--from2",
    )
    add(
        [*BIF, "--from", "0", "--to", "10", "--param2", "gK", "--from2", "30", "--to2", "40 mV"],
        "gK",
        "voltage",
    )
    add(
        [*BIF, "--from", "0", "--to", "10", "--param2", "bogus", "--from2", "30", "--to2", "40"],
        "bogus",
    )
    add(["models", "extra"], "extra")
    for path, word in (
        ("{tmp}/afile.txt", "not a directory"),
        ("{tmp}/nodir/sub", "does not exist"),
        ("{tmp}/afile.txt/sub", "not a directory"),
        ("", "directory name"),
    ):
        add(["demo", "--out", path], "demo", word, name=f"demo --out {path}")

    # -- memory: refused with the number before anything is allocated ---------------------
    add([*HH, "--n", str(10**10)], "10000000000 instance", "available")
    add([*HH, "--n", str(10**13), "--record", "V"], "available")
    add([*HH[:2], "--duration", "1e11", "--record", "V"], "available")  # 7.3 TiB
    add([*HH[:2], "--duration", "1e300"], "available")
    add(
        [*HH, "--method", "rk45", "--rtol", "1e-6", "--atol", "1e-9", "--n", str(10**11)],
        "available",
    )
    add([*FI, "--from", "0", "--to", "10", "--points", str(10**12)], "--points", "available")
    add([*FI, "--from", "0", "--to", "10", "--points", str(10**10)], "available")
    add([*NET, "--set", f"populations.exc.n={10**10}"], "populations", "available")
    add([*NET, "--set", "populations.exc.n=1e10"], "populations", "available")
    add(
        [*NET, "--set", "populations.exc.n=1000000", "--set", "populations.inh.n=1000000"],
        "synapses",
        "available",
    )
    add([*NET, "--duration", "1e300"], "steps")
    return cases


CASES = _cases()


@pytest.fixture
def places(tmp_path):
    (tmp_path / "afile.txt").write_text("not a model\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir.png").mkdir()
    (tmp_path / "adir.json").mkdir()
    (tmp_path / "broken.toml").write_text(BROKEN)
    (tmp_path / "lif.toml").write_text(LIF)
    return tmp_path


def test_the_matrix_is_large():
    # issue 9 counted 203 bad-input cases (18 gave tracebacks); this matrix has more
    assert len(CASES) >= 203


@pytest.mark.parametrize("argv, words", CASES)
def test_bad_input_one_line_exit_2(argv, words, places, monkeypatch):
    monkeypatch.chdir(places)  # nothing may be written outside tmp_path
    argv = [a.replace("{tmp}", str(places)) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = main(argv, out=out, err=err)  # an exception here is a traceback: a bug
    assert not [str(w.message) for w in caught]  # a warning would be a second line
    text = err.getvalue()
    lines = text.strip().splitlines()
    assert status == 2, (status, text)
    assert len(lines) == 1, text
    assert lines[0].startswith("biosnn: error: "), text
    assert "Traceback" not in text
    for word in words:
        assert word in lines[0], (word, lines[0])
    # nothing was written for a rejected command
    written = {p.name for p in places.iterdir()} - {
        "afile.txt",
        "adir",
        "adir.png",
        "adir.json",
        "broken.toml",
        "lif.toml",
    }
    assert not written, written


def test_a_warning_is_one_line(places):
    # v starts at -40 mV, above the threshold -50 mV: simulate() warns (docs/architecture.md,
    # "Starting above threshold"); the CLI prints it as one line, not file:line + source
    out, err = io.StringIO(), io.StringIO()
    status = main(
        [
            "simulate",
            str(places / "lif.toml"),
            "-T",
            "1",
            "--init",
            "v=-40 mV",
            "--backend",
            "numpy",
        ],
        out=out,
        err=err,
    )
    assert status == 0, err.getvalue()
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("biosnn: warning: "), lines
    assert "threshold condition already true" in lines[0]
