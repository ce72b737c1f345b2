"""The ``biosnn`` command: run in-process through ``main(argv)`` (plus one subprocess)."""

import io
import json
import subprocess
import sys
import textwrap

import pytest

from biosnn.cli import main

LIF_FILE = textwrap.dedent('''\
    name = "tiny_lif"
    title = "A leaky integrate-and-fire neuron for the CLI tests"
    reference = "Lapicque (1907)."
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
    [presets.strong]
    description = "a stronger input"
    I = "0.4 nA"
    ''')


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


@pytest.fixture
def lif_file(tmp_path):
    path = tmp_path / "tiny_lif.toml"
    path.write_text(LIF_FILE)
    return path


# -- bad arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, words",
    [
        ([], ["COMMAND"]),
        (["bogus"], ["bogus"]),
        (["simulate", "hodgkin_huxley"], ["--duration"]),
        (["simulate", "hodgkin_huxley", "--duration", "10", "--n", "0"], ["--n"]),
        (["simulate", "hodgkin_huxley", "--duration", "10", "--set", "I_ext"], ["NAME=VALUE"]),
        (["simulate", "hodgkin_huxley", "--duration", "10", "--backend", "gpu"], ["gpu"]),
        (["simulate", "hodgkin_huxley", "--duration", "10", "--rtol", "tight"], ["--rtol"]),
        (["show"], ["MODEL"]),
    ],
)
def test_bad_arguments_one_line_status_2(argv, words):
    status, out, err = run(*argv)
    assert_usage_error(status, err, *words)


def test_help_and_version_exit_0(capsys):
    assert main(["--help"]) == 0
    assert "simulate" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert "biosnn" in capsys.readouterr().out


def test_unknown_model():
    status, out, err = run("show", "no_such_model")
    assert_usage_error(status, err, "no_such_model")


def test_missing_model_file(tmp_path):
    status, out, err = run("show", tmp_path / "missing.toml")
    assert_usage_error(status, err, "missing.toml")


def test_bad_model_file_equation(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(LIF_FILE.replace("(El - v + R*I)/tau", "(El - v + R*I)/tau)"))
    status, out, err = run("show", path)
    assert_usage_error(status, err, "broken.toml")


def test_bad_model_file_toml(tmp_path):
    path = tmp_path / "notoml.toml"
    path.write_text("name = \n[[[")
    status, out, err = run("simulate", path, "--duration", "10")
    assert_usage_error(status, err, "notoml.toml")


def test_bad_set_units(lif_file):
    status, out, err = run("simulate", lif_file, "--duration", "10", "--set", "I=10 mV")
    assert_usage_error(status, err, "I")


def test_unknown_parameter(lif_file):
    status, out, err = run("simulate", lif_file, "--duration", "10", "--set", "J=1")
    assert_usage_error(status, err, "J")


def test_bad_duration_unit(lif_file):
    status, out, err = run("simulate", lif_file, "--duration", "10 mV")
    assert_usage_error(status, err, "--duration")


def test_bad_init_state(lif_file):
    status, out, err = run("simulate", lif_file, "--duration", "10", "--init", "w=1")
    assert_usage_error(status, err, "w")


def test_adaptive_without_tolerances(lif_file):
    status, out, err = run("simulate", lif_file, "--duration", "10", "--method", "rk45")
    assert_usage_error(status, err)


def test_unknown_method(lif_file):
    status, out, err = run("simulate", lif_file, "--duration", "10", "--method", "magic")
    assert_usage_error(status, err, "magic")


def test_unwritable_out(lif_file, tmp_path):
    status, out, err = run(
        "simulate",
        lif_file,
        "--duration",
        "10",
        "--backend",
        "numpy",
        "--out",
        tmp_path / "no" / "dir" / "x.json",
    )
    assert_usage_error(status, err, "x.json")


# -- commands -------------------------------------------------------------------------------


def test_models_lists_the_library():
    status, out, err = run("models")
    assert status == 0, err
    names = [line.split()[0] for line in out.strip().splitlines()]
    assert "hodgkin_huxley" in names
    assert all(len(line.split(None, 1)) == 2 for line in out.strip().splitlines())


def test_show_library_model():
    status, out, err = run("show", "hodgkin_huxley")
    assert status == 0, err
    for word in ("dV/dt", "I_ext", "uA/cm**2", "reference", "threshold"):
        assert word in out


def test_show_model_file(lif_file):
    status, out, err = run("show", lif_file)
    assert status == 0, err
    for word in (
        "tiny_lif",
        "dv/dt",
        "Mohm",
        "strong",
        "a stronger input",
        "Lapicque",
        "refractory",
        "v = -65 mV",
    ):
        assert word in out, word


def test_show_code_prints_the_kernel_source(lif_file):
    # expected: exactly biosnn.kernel_source of the same model and method
    import biosnn

    hh = biosnn.load_model("hodgkin_huxley")
    status, out, err = run("show", "hodgkin_huxley", "--code", "c", "--method", "rk45")
    assert status == 0, err
    assert out == biosnn.kernel_source(hh, "c", method="rk45")
    assert "const double V_ = y[0], m_ = y[1], h_ = y[2], n_ = y[3];" in out
    status, out, err = run("show", "hodgkin_huxley", "--code", "c", "--no-runtime")
    assert status == 0, err
    assert out == biosnn.kernel_source(hh, "c", method="rk4", runtime=False)
    assert "/* runtime file bs_fixed.c (biosnn/codegen/runtime/) */" in out
    status, out, err = run("show", lif_file, "--code", "numpy")
    assert status == 0, err
    assert out == biosnn.kernel_source(biosnn.load_model(lif_file), "numpy")


def test_show_code_bad_input_is_one_line():
    status, out, err = run("show", "hodgkin_huxley", "--code", "c", "--method", "rk5")
    assert_usage_error(status, err, "rk5")
    status, out, err = run("show", "hodgkin_huxley", "--code", "fortran")
    assert_usage_error(status, err, "fortran")
    status, out, err = run("show", "hodgkin_huxley", "--method", "rk45")
    assert_usage_error(status, err, "--code")
    assert out == ""


def test_simulate_prints_a_summary(lif_file):
    status, out, err = run(
        "simulate", lif_file, "--duration", "100 ms", "--backend", "numpy", "--dt", "0.1"
    )
    assert status == 0, err
    assert "tiny_lif" in out and "spikes:" in out


def test_simulate_json_schema(lif_file, tmp_path):
    path = tmp_path / "run.json"
    status, out, err = run(
        "simulate",
        lif_file,
        "--duration",
        "0.2 s",
        "--n",
        3,
        "--backend",
        "numpy",
        "--set",
        "I=0.3 nA",
        "--init",
        "v=-60",
        "--method",
        "rk4",
        "--dt",
        "0.05",
        "--out",
        path,
    )
    assert status == 0, err
    doc = json.loads(path.read_text())
    for key in ("spike_times", "final_state", "units", "stats", "model", "duration", "method", "n"):
        assert key in doc, key
    assert doc["duration"] == pytest.approx(200.0)
    assert isinstance(doc["spike_times"], list) and len(doc["spike_times"]) == 3
    spikes = doc["spike_times"][0]
    assert spikes and all(isinstance(s, float) for s in spikes)
    assert all(0 < s <= 200.0 for s in spikes)
    assert doc["spike_times"][1] == spikes  # identical instances
    assert set(doc["final_state"]) >= {"v"}
    assert len(doc["final_state"]["v"]) == 3
    assert doc["units"]["v"] == "mV"
    assert isinstance(doc["stats"], dict)
    # rate of a LIF at R*I = 30 mV: 1/(2 + 10*ln(30/15)) ms^-1 = 112.6 Hz
    assert len(spikes) == pytest.approx(0.2 * 1000 / (2 + 10 * 0.6931), abs=1.5)


def test_simulate_preset_record_and_plot(lif_file, tmp_path):
    png, js = tmp_path / "run.png", tmp_path / "run.json"
    status, out, err = run(
        "simulate",
        lif_file,
        "--duration",
        50,
        "--preset",
        "strong",
        "--backend",
        "numpy",
        "--dt",
        "0.1",
        "--record",
        "v",
        "--plot",
        png,
        "--out",
        js,
    )
    assert status == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(js.read_text())
    assert doc["preset"] == "strong"
    assert len(doc["traces"]["v"]) == 1 and len(doc["traces"]["v"][0]) == len(doc["t"])


def test_python_m_biosnn_models_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "biosnn", "models"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "hodgkin_huxley" in proc.stdout


def test_import_of_cli_is_light():
    code = (
        "import sys, biosnn.cli; "
        "print(any(m in sys.modules for m in ('numpy', 'sympy', 'matplotlib', 'scipy')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


def test_only_the_command_being_run_is_imported():
    # biosnn/cli/ holds one module per command, imported when its arguments are parsed
    # (issue 10, item 4): `biosnn models` imports biosnn.cli.models and the shared
    # helpers, none of the other commands' modules (whose analyses pull in sympy/scipy)
    code = (
        "import io, sys; from biosnn.cli import main; "
        "status = main(['models'], out=io.StringIO()); "
        "print(status, sorted(m for m in sys.modules if m.startswith('biosnn.cli')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(maxsplit=1) == [
        "0",
        "['biosnn.cli', 'biosnn.cli._common', 'biosnn.cli.models']\n",
    ]


@pytest.mark.parametrize(
    "command", ["models", "show", "simulate", "phaseplane", "bifurcation", "fi", "network", "demo"]
)
def test_command_help_is_loaded_with_its_module(command, capsys):
    # each command's parser gets its description and options from its module when asked
    # for help; expected: the module's own DESCRIPTION is printed (reflowed by argparse)
    import importlib

    module = importlib.import_module(f"biosnn.cli.{command}")
    assert main([command, "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert " ".join(module.DESCRIPTION.split()) in shown
    assert f"usage: biosnn {command}" in shown


def test_functions_kept_importable_from_biosnn_cli():
    # the names of biosnn.cli before the split into one module per command
    from biosnn import cli
    from biosnn.cli import network as network_command
    from biosnn.cli import show, simulate

    assert cli.describe_model is show.describe_model
    assert cli.result_json is simulate.result_json
    assert cli.plot_result is simulate.plot_result
    assert cli.network_json is network_command.network_json
    with pytest.raises(AttributeError, match="no_such_name"):
        cli.no_such_name  # noqa: B018


def test_python_m_biosnn_cli_version_subprocess():
    from biosnn import __version__

    proc = subprocess.run(
        [sys.executable, "-m", "biosnn.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"biosnn {__version__}"


def test_simulate_help_states_the_defaults_simulate_uses():
    """The defaults printed by ``biosnn simulate --help`` are the ones biosnn.simulate runs
    with (SolverOptions' method and backend, simulate's DEFAULT_DT): a help text that names
    another default would be a wrong label.
    """
    import argparse

    from biosnn.cli import simulate as command
    from biosnn.solvers.options import SolverOptions
    from biosnn.solvers.simulate import DEFAULT_DT

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    actions = {a.dest: a for a in parser._actions}
    assert actions["method"].default == SolverOptions().method
    assert actions["backend"].default == SolverOptions().backend
    assert actions["dt"].default is None  # None: simulate applies DEFAULT_DT
    assert f"default: {DEFAULT_DT} ms" in actions["dt"].help
