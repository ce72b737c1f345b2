"""Model files: TOML format, the library, errors with file/table/key/line, safety."""

import io
import os
import textwrap

import pytest

import biosnn
from biosnn import Model
from biosnn.equations import files
from biosnn.errors import ModelError, UnitError

LIF_TOML = '''\
name = "lif"
title = "Leaky integrate-and-fire"
description = """A point neuron."""
reference = "Lapicque (1907)."
equations = """
# membrane
dv/dt = (El - v)/tau + I/C : volt (unless refractory)
"""
[parameters]
El = "-65 mV"
tau = "10 ms"
I = "0.2 nA"
C = "200 pF"

[initial]
v = "-65 mV"

[events]
threshold = "v > -50*mV"
reset = "v = El"
refractory = "2 ms"

[presets.slow]
description = "slow membrane"
tau = "30 ms"
'''


@pytest.fixture
def library(tmp_path, monkeypatch):
    (tmp_path / "lif.toml").write_text(LIF_TOML)
    (tmp_path / "fhn.toml").write_text(
        textwrap.dedent('''\
        title = "FitzHugh-Nagumo"
        equations = """
        dv/dt = v - v**3/3 - w + I : 1
        dw/dt = eps*(v + a - b*w) : 1
        """
        [parameters]
        I = 0.5
        eps = 0.08
        a = 0.7
        b = 0.8
        [initial]
        v = -1.2
        w = "-0.6"
        ''')
    )
    monkeypatch.setenv("BIOSNN_MODEL_PATH", str(tmp_path))
    files._load_cached.cache_clear()
    return tmp_path


def write(tmp_path, text, name="m.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_list_and_load(library):
    listed = biosnn.list_models()
    assert ("fhn", "FitzHugh-Nagumo") in listed
    assert ("lif", "Leaky integrate-and-fire") in listed  # the fixture's, not the library's
    assert "hodgkin_huxley" in dict(listed)  # the library is still there
    m = biosnn.load_model("lif")
    assert m.name == "lif" and m.reference == "Lapicque (1907)."
    assert m.params["tau"] == 10.0 and m.display_unit("I") == "nA"
    assert m.kernel_spec().refractory_time == 2
    assert biosnn.load_model(library / "lif.toml") is m  # cached by file identity
    assert biosnn.load_model("lif", preset="slow").params["tau"] == 30.0
    assert biosnn.load_model("lif", I="0.5 nA", tau=5).params["I"] == 0.5
    fhn = biosnn.load_model("fhn")
    assert fhn.name == "fhn" and fhn.time_dimensionless
    assert dict(fhn.initial) == {"v": -1.2, "w": -0.6}


def test_same_model_from_file_and_python(library):
    m = Model(
        "dv/dt = (El - v)/tau + I/C : volt (unless refractory)",
        params={"El": "-65 mV", "tau": "10 ms", "I": "0.2 nA", "C": "200 pF"},
        init={"v": "-65 mV"},
        threshold="v > -50*mV",
        reset="v = El",
        refractory="2 ms",
        name="lif",
        presets={"slow": {"description": "slow membrane", "tau": "30 ms"}},
    )
    assert biosnn.load_model("lif") == m


def test_unknown_names(library):
    with pytest.raises(ModelError, match=r"no model named .lfi.*did you mean lif"):
        biosnn.load_model("lfi")
    with pytest.raises(ModelError, match="no preset 'fast'"):
        biosnn.load_model("lif", preset="fast")
    with pytest.raises(ModelError, match="tua is not a parameter"):
        biosnn.load_model("lif", tua=3)
    with pytest.raises(ModelError, match="no model file"):
        biosnn.load_model("nowhere/x.toml")


def test_equation_errors_give_the_line_in_the_file(tmp_path):
    path = write(
        tmp_path,
        '''\
        name = "bad"
        equations = """
        dv/dt = (El - v)/tau : volt
        I = g*(E - v) : amp
        dw/dt = -w/tua : 1
        """
        [parameters]
        El = "-65 mV"
        tau = "10 ms"
        g = "1 nS"
        E = "0 mV"
        ''',
    )
    with pytest.raises(ModelError) as info:
        biosnn.load_model(path)
    assert info.value.line == 5 and info.value.column == 12
    assert str(info.value).startswith(f"{path}, line 5, column 12: ")
    assert "tua is not defined (did you mean tau?)" in str(info.value)


def test_unit_errors_in_files_name_the_line(tmp_path):
    path = write(
        tmp_path,
        '''\
        equations = """dv/dt = -v/tau : volt
        dw/dt = v : 1"""
        [parameters]
        tau = "10 ms"
        ''',
    )
    with pytest.raises(UnitError) as info:
        biosnn.load_model(path)
    assert info.value.line == 2
    assert 'in "dw/dt = v : 1", the right-hand side v has units of voltage' in str(info.value)


def test_table_errors_name_file_table_and_key(tmp_path):
    base = '''\
        equations = """
        dv/dt = -v/tau : volt
        """
        '''
    cases = [
        (
            base + '[parameters]\ntau = "10 mV"\n',
            UnitError,
            "the right-hand side -v/tau has no units",
        ),
        (
            base + '[parameters]\ntau = "-1 ms"\n',
            ModelError,
            r"\[parameters\] tau = -1 ms: a time constant must be > 0",
        ),
        (
            base + '[parameters]\ntau = "1 ms"\n[initial]\nw = "1 mV"\n',
            ModelError,
            r"\[initial\]: w is not a state",
        ),
        (
            base + '[parameters]\ntau = "1 ms"\n[initial]\nv = "1 nA"\n',
            UnitError,
            r"\[initial\] v = '1 nA' has units of current",
        ),
        (
            base + '[parameters]\ntau = "1 ms"\n[events]\nthreshold = "v > 1*nA"\n',
            UnitError,
            r"\[events\] threshold",
        ),
        (
            base + '[parameters]\ntau = "1 ms"\n[events]\nreset = "u = 0"\n',
            ModelError,
            r"\[events\] reset 'u = 0': u is not a state",
        ),
        (
            base + '[parameters]\ntau = "1 ms"\n[events]\nrefactory = "2 ms"\n',
            ModelError,
            r"\[events\] refactory: unknown key \(did you mean refractory\?\)",
        ),
        (
            base + '[parameters]\ntau = "1 ms"\n[presets.x]\ntua = "2 ms"\n',
            ModelError,
            r"preset 'x': tua is not a parameter",
        ),
        (
            base + "paramters = 1\n",
            ModelError,
            r"unknown key 'paramters' \(did you mean "
            r"parameters\?\)",
        ),
        (base + "[parameters]\ntau = true\n", ModelError, r"\[parameters\] tau: a default"),
        ('name = "x"\n', ModelError, "no 'equations'"),
    ]
    for i, (text, cls, message) in enumerate(cases):
        path = write(tmp_path, text, f"case{i}.toml")
        with pytest.raises(cls, match=message) as info:
            biosnn.load_model(path)
        assert str(info.value).startswith(str(path)), (i, str(info.value))


def test_bad_toml_names_file_and_line(tmp_path):
    path = write(tmp_path, 'name = "x"\nequations = """dv/dt = 0 : 1"""\n[parameters\n')
    with pytest.raises(ModelError) as info:
        biosnn.load_model(path)
    assert info.value.line == 3 and str(info.value).startswith(f"{path}, line 3")
    assert "invalid TOML" in str(info.value)


def test_multiline_equations_on_the_key_line(tmp_path):
    path = write(tmp_path, 'equations = """dv/dt = -v/ms : volt\nx = a.b : 1\n"""\n')
    with pytest.raises(ModelError) as info:
        biosnn.load_model(path)
    assert info.value.line == 2


Q = '"""'
MALICIOUS = [
    f"equations = {Q}dv/dt = __import__('os').system('touch {{flag}}') : 1{Q}",
    f"equations = {Q}dv/dt = (lambda: open('{{flag}}', 'w'))() : 1{Q}",
    f"equations = {Q}dv/dt = ().__class__.__bases__[0].__subclasses__() : 1{Q}",
    f"equations = {Q}dv/dt = 0 : 1{Q}\n[parameters]\n"
    "a = \"__import__('os').system('touch {flag}')\"",
    f"equations = {Q}dv/dt = 0 : 1{Q}\n[initial]\nv = \"open('{{flag}}', 'w')\"",
    f"equations = {Q}dv/dt = 0 : 1{Q}\n[events]\nthreshold = \"exec('import os')\"",
    f"equations = {Q}dv/dt = 0 : 1{Q}\n[events]\nreset = \"v = eval('1')\"",
    f"equations = {Q}dv/dt = 0 : 1{Q}\n[events]\nrefractory = \"getattr(v, 'x')\"",
    f"equations = {Q}dv/dt = 0 : 1{Q}\ntime = \"__import__('os')\"",
    f"equations = {Q}dv/dt = 0 : __import__('os').system('touch {{flag}}'){Q}",
    f"equations = {Q}dv/dt = 0 : 1{Q}\n[presets.p]\na = \"__import__('os')\"\n[parameters]\na = 1",
]


@pytest.mark.parametrize("template", MALICIOUS)
def test_malicious_files_never_run_code(tmp_path, monkeypatch, template):
    import builtins
    import subprocess

    import sympy

    flag = tmp_path / "pwned"

    def forbidden(*args, **kwargs):
        raise AssertionError("code was executed")

    path = write(tmp_path, template.format(flag=flag))
    for module, name in (
        (builtins, "eval"),
        (builtins, "exec"),
        (os, "system"),
        (subprocess, "Popen"),
        (sympy, "sympify"),
    ):
        monkeypatch.setattr(module, name, forbidden)
    with pytest.raises(ModelError):
        biosnn.load_model(path)
    assert not flag.exists()


def test_library_dirs(monkeypatch, tmp_path):
    # Without BIOSNN_MODEL_PATH: only the package's library, which in a source checkout is
    # models/ at the top of the repository (biosnn/_library links to it).
    monkeypatch.delenv("BIOSNN_MODEL_PATH", raising=False)
    repo = files.Path(files.__file__).resolve().parents[2]
    assert files.library_dirs() == [files.package_library()]
    assert files.package_library().resolve() == repo / "models"
    # With it: its directories in front of the library, in order.
    (tmp_path / "b").mkdir()
    monkeypatch.setenv("BIOSNN_MODEL_PATH", f"{tmp_path}{os.pathsep}{tmp_path / 'b'}")
    assert files.library_dirs() == [tmp_path, tmp_path / "b", files.package_library()]
    # Naming the library's own folder shadows nothing.
    monkeypatch.setenv("BIOSNN_MODEL_PATH", str(repo / "models"))
    assert files.shadowed_models() == []


def test_model_path_adds_folders_in_front_of_the_library(library):
    # The fixture's lif.toml shadows the library's lif; everything else of the library
    # (models, networks, synapses) is still found.
    from biosnn.network.files import find_network
    from biosnn.network.synapse_models import list_synapses

    package = files.package_library()
    assert biosnn.load_model("lif").reference == "Lapicque (1907)."  # the fixture's file
    assert files.find_model("hodgkin_huxley") == package / "hodgkin_huxley.toml"
    assert files.shadowed_models() == [("lif", library / "lif.toml", package / "lif.toml")]
    assert find_network("cuba") == package / "networks" / "cuba.toml"
    assert "exp_current" in dict(list_synapses())
    (library / "networks").mkdir()
    (library / "networks" / "cuba.toml").write_text('title = "mine"\n')
    assert find_network("cuba") == library / "networks" / "cuba.toml"


def test_models_command_names_the_shadowing_file(library):
    from biosnn.cli import main

    out, err = io.StringIO(), io.StringIO()
    assert main(["models"], out=out, err=err) == 0, err.getvalue()
    lines = {line.split()[0]: line for line in out.getvalue().splitlines()}
    assert f"[{library / 'lif.toml'}, shadows the library's]" in lines["lif"]
    assert "shadows" not in lines["fhn"] and "shadows" not in lines["hodgkin_huxley"]


def test_model_path_naming_a_missing_directory_is_an_error(monkeypatch, tmp_path):
    # A typo in BIOSNN_MODEL_PATH would otherwise load the library's model silently.
    from biosnn.cli import main

    monkeypatch.setenv("BIOSNN_MODEL_PATH", str(tmp_path / "typo"))
    with pytest.raises(ModelError, match="BIOSNN_MODEL_PATH names .*typo.*not a directory"):
        biosnn.load_model("lif")
    out, err = io.StringIO(), io.StringIO()
    assert main(["models"], out=out, err=err) == 2
    assert err.getvalue().count("\n") == 1 and "typo" in err.getvalue()
    assert biosnn.load_model(files.package_library() / "lif.toml").name == "lif"  # by path


def test_a_missing_package_library_is_an_error(monkeypatch, tmp_path):
    # A source checkout on a file system without symbolic links has a plain file there.
    import importlib.resources

    monkeypatch.delenv("BIOSNN_MODEL_PATH", raising=False)
    (tmp_path / "_library").write_text("../models")
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)
    with pytest.raises(ModelError, match="model library of biosnn is missing"):
        biosnn.list_models()
