"""Network files are checked completely when they are loaded: an error in any equation,
statement or expression is a ModelError at load_network() naming the file, the line in
the file and the object - not a failure at run() (before: accepted at load, then "the C
network engine is not available (...)" and a NumPy error with a line relative to the
synapse string).

Line numbers are those of the text below (counted by hand: line 1 is ``name = "checks"``).
"""

import textwrap
import warnings

import pytest

from biosnn.codegen import c_build
from biosnn.errors import ModelError, UnitError
from biosnn.network.files import load_network

BASE = textwrap.dedent('''\
    name = "checks"
    dt = "0.1 ms"
    seed = 1

    [models.lif]
    equations = """
    dv/dt = (ge - (v - El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    """
    [models.lif.parameters]
    taum = "20 ms"
    taue = "5 ms"
    El = "-49 mV"
    [models.lif.events]
    threshold = "v > -50*mV"
    reset = "v = -60*mV"
    refractory = "5 ms"

    [populations.exc]
    model = "lif"
    n = 10
    method = "exact"

    [synapses.ee]
    pre = "exc"
    post = "exc"
    model = """
    w : volt
    dx/dt = -x/tau_x : 1 (event-driven)
    """
    on_pre = "ge += w"
    init = { w = "1 mV" }
    params = { tau_x = "5 ms" }
    connect = { rule = "fixed_probability", p = 0.5 }
    ''')
# line 24: [synapses.ee]; 27: model = """; 28: w : volt; 29: dx/dt ...; 31: on_pre


def _load(tmp_path, text, backend="numpy"):
    path = tmp_path / "net.toml"
    path.write_text(text)
    return path, load_network(path, backend=backend)


def _error(tmp_path, old, new, cls=ModelError, backend="numpy"):
    assert old in BASE
    path = tmp_path / "net.toml"
    with pytest.raises(cls) as info:
        _load(tmp_path, BASE.replace(old, new), backend)
    return str(path), info.value


def test_the_base_file_loads_and_runs(tmp_path):
    # the unmodified file every error case below mutates: it must load and run, else the
    # errors below would prove nothing
    _, net = _load(tmp_path, BASE)
    net.run("1 ms")
    assert net.t == pytest.approx(1.0)
    assert net.stats["backend"] == "numpy"


@pytest.mark.parametrize(
    "new, line, words",
    [
        ('on_pre = "ge += w*undefined_thing"', 31, "undefined_thing is not defined"),
        ('on_pre = "ge += w*tau_x"', 31, "voltage*time"),
        ('on_pre = """\nge += w\nx += bogus\n"""', 33, "bogus is not defined"),
        ('on_pre = "ge +== w"', 31, "cannot read 'ge +== w'"),
        ('on_pre = "tau_x = 1*ms"', 31, "tau_x is a shared parameter"),
        ('on_pre = "ge += w"\non_post = "x += 1 + nope"', 32, "nope is not defined"),
    ],
)
def test_synapse_statement_errors_at_load(tmp_path, new, line, words):
    path, err = _error(tmp_path, 'on_pre = "ge += w"', new)
    assert err.source == path and err.line == line, str(err)
    assert "synapses 'ee'" in str(err) and words in str(err)


@pytest.mark.parametrize(
    "old, new, cls, words",
    [
        (
            "dx/dt = -x/tau_x : 1 (event-driven)",
            "dx/dt = -x/tau_zz : 1 (event-driven)",
            ModelError,
            "tau_zz is not defined",
        ),
        (
            "dx/dt = -x/tau_x : 1 (event-driven)",
            "dx/dt = -x/tau_zz : 1 (clock-driven)",
            ModelError,
            "tau_zz is not defined",
        ),
        ('params = { tau_x = "5 ms" }', 'params = { tau_x = "5 mV" }', UnitError, "1/time"),
    ],
)
def test_synapse_model_errors_at_load(tmp_path, old, new, cls, words):
    path, err = _error(tmp_path, old, new, cls)
    assert err.source == path and err.line == 29, str(err)
    assert "synapses 'ee'" in str(err) and words in str(err)


def test_summed_expression_error_at_load(tmp_path):
    text = BASE.replace('method = "exact"', 'method = "euler"').replace(
        "w : volt\n", "w : volt\nEl_post = w*zzz : volt (summed)\n"
    )
    path = tmp_path / "net.toml"
    path.write_text(text)
    with pytest.raises(ModelError, match="zzz is not defined") as info:
        load_network(path, backend="numpy")
    assert info.value.source == str(path) and info.value.line == 29


def test_population_equation_error_at_load(tmp_path):
    path, err = _error(tmp_path, "dge/dt = -ge/taue : volt", "dge/dt = -ge/tauee : volt")
    assert err.source == path and err.line == 8


def test_population_lowering_error_names_its_table(tmp_path):
    # exact integration of a nonlinear model is found when the population is lowered
    path, err = _error(tmp_path, "dge/dt = -ge/taue : volt", "dge/dt = -ge**2/(taue*mV) : volt")
    assert err.source == path and err.line == 19 and "population 'exc'" in str(err)


def test_no_engine_warning_masks_a_model_error(tmp_path):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _error(tmp_path, 'on_pre = "ge += w"', 'on_pre = "ge += w*undefined_thing"', backend="auto")
    assert not [w for w in record if "not available" in str(w.message)]


@pytest.mark.skipif(not c_build.compiler_available(), reason="needs a C compiler")
def test_a_cached_library_does_not_skip_a_unit_check(tmp_path, monkeypatch):
    # Two files of the same structure whose shared constant has another dimension: the
    # second one must not find the first one's compiled library (before: same key, so it
    # ran the cached code with a conductance added to a voltage, silently).
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path / "cache"))
    text = (
        BASE.replace('model = """\nw : volt\ndx/dt = -x/tau_x : 1 (event-driven)\n"""\n', "")
        .replace('on_pre = "ge += w"', 'on_pre = "ge += we"')
        .replace('init = { w = "1 mV" }\nparams = { tau_x = "5 ms" }', 'params = { we = "1 mV" }')
    )
    _, net = _load(tmp_path, text, backend="c")
    net.run("1 ms")
    assert net.stats["backend"] == "c"
    with pytest.raises(UnitError, match="we"):
        _load(tmp_path, text.replace('we = "1 mV"', 'we = "1 nS"'), backend="c")


def test_library_synapse_error_names_its_table(tmp_path):
    # the AMPA file reads the membrane potential as v_post; voltage = "vv" is not a
    # variable of the neuron, found when the synapse group is lowered
    text = BASE.replace('El = "-49 mV"', 'El = "-49 mV"\nI_syn = "0 pA"').replace(
        "(ge - (v - El))/taum", "(ge - (v - El) + I_syn*(100*Mohm))/taum"
    ).replace('method = "exact"', 'method = "euler"') + textwrap.dedent("""\
        [synapses.ampa]
        pre = "exc"
        post = "exc"
        library = "ampa"
        target = "I_syn"
        voltage = "vv"
        w = "1 nS"
        connect = { rule = "one_to_one" }
        """)
    _, net = _load(tmp_path, text.replace('voltage = "vv"', 'voltage = "v"'))
    with pytest.raises(ModelError, match="synapses 'ampa'.*vv") as info:
        _load(tmp_path, text)
    assert info.value.source == str(tmp_path / "net.toml") and info.value.line == 36


@pytest.mark.skipif(not c_build.compiler_available(), reason="needs a C compiler")
def test_checking_at_load_keeps_the_warm_start(tmp_path):
    # a second process that loads a network whose C library is cached checks it from
    # the stored snippets: no sympy, no pint (docs/network.md, "Warm path")
    import os
    import subprocess
    import sys

    code = textwrap.dedent("""
        import sys
        from biosnn.network.files import load_network
        net = load_network("cuba", seed=1, changes={"populations.exc.n": 80,
                                                   "populations.inh.n": 20}, backend="c")
        net.run("10 ms")
        print(net.stats["backend"], [m for m in ("sympy", "pint") if m in sys.modules])
    """)
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(tmp_path / "cache"))
    outs = [
        subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        for _ in range(2)
    ]
    assert all(o.returncode == 0 for o in outs), outs[-1].stderr
    assert outs[1].stdout.strip() == "c []", outs[1].stdout


@pytest.mark.parametrize(
    "old, new, line, words",
    [
        (
            'init = { w = "1 mV" }\nparams = { tau_x = "5 ms" }',
            'params = { tau_x = "5 ms", w = "1 nS" }',
            24,
            "synapse parameter w",
        ),
        ('method = "exact"', 'method = "exact"\nparams = { taum = "5 mV" }', 19, "taum"),
    ],
)
def test_value_unit_errors_name_the_table(tmp_path, old, new, line, words):
    # units of values are checked when the network draws them; the error points at the
    # table of the object ([synapses.ee] at line 24, [populations.exc] at line 19)
    path, err = _error(tmp_path, old, new)
    assert err.source == path and err.line == line and words in str(err), str(err)
