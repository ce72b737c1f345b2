"""The choice of backend (biosnn.codegen.backend): "c" never falls back, "auto" falls back
to NumPy only for a compiler problem and says so once, a model error is never masked.

The compiler is made unavailable by pointing ``$CC`` at a program that does not exist or
at ``false`` (exists, fails): ``c_build.find_compiler`` looks it up per ($CC, $PATH).
Reference numbers: the same run with ``backend="numpy"`` (bit for bit: the fallback is
the NumPy driver itself).
"""

import io
import shutil
import warnings

import numpy as np
import pytest

import biosnn
from biosnn.cli import main
from biosnn.codegen import backend as choice
from biosnn.errors import CompilerError, ModelError

MISSING_CC = "/nonexistent/biosnn-test-cc"

DECAY = dict(
    equations="dv/dt = (El - v)/tau : volt",
    params={"El": "-65 mV", "tau": "10 ms"},
    init={"v": "-50 mV"},
    name="decay",
)


@pytest.fixture
def no_compiler(monkeypatch):
    """$CC names a missing program; the once-per-process warnings start afresh."""
    monkeypatch.setenv("CC", MISSING_CC)
    monkeypatch.setattr(choice, "_WARNED", set())
    return MISSING_CC


def _fallback_warnings(record):
    return [
        w
        for w in record
        if issubclass(w.category, RuntimeWarning) and "instead of compiled C" in str(w.message)
    ]


def test_compiler_error_is_exported():
    assert biosnn.CompilerError is CompilerError
    assert "CompilerError" in biosnn.__all__


def test_explicit_c_raises_compiler_error_naming_the_compiler(no_compiler):
    # before: a warning and a NumPy run (stats["backend"] == "numpy")
    m = biosnn.Model(**DECAY)
    with pytest.raises(CompilerError, match="nonexistent/biosnn-test-cc") as info:
        biosnn.simulate(m, 1, method="rk4", dt=0.1, backend="c")
    assert "$CC" in str(info.value)


@pytest.mark.skipif(shutil.which("false") is None, reason="needs the program 'false'")
def test_a_compiler_that_fails_is_named_with_its_path(monkeypatch):
    monkeypatch.setenv("CC", "false")
    m = biosnn.Model(**DECAY)
    with pytest.raises(CompilerError, match="'false'.*cannot build a library"):
        biosnn.simulate(m, 1, method="rk4", dt=0.1, backend="c")


def test_auto_runs_numpy_with_exactly_one_warning(no_compiler):
    # before: two warnings per process (c_build's and simulate's), naming no compiler
    m = biosnn.Model(**DECAY)
    ref = biosnn.simulate(m, 5, method="rk4", dt=0.1, backend="numpy")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        runs = [biosnn.simulate(m, 5, method="rk4", dt=0.1) for _ in range(2)]
        runs.append(biosnn.simulate(m, 5, method="rk4", dt=0.1, backend="auto"))
    for res in runs:
        assert res.stats["backend"] == "numpy"
        np.testing.assert_array_equal(res["v"], ref["v"])
    found = _fallback_warnings(record)
    assert len(record) == 1 and len(found) == 1, [str(w.message) for w in record]
    assert MISSING_CC in str(found[0].message)
    assert found[0].filename == __file__  # points at the call of simulate


def _network(backend):
    from biosnn.network import Network, Population, SpikeMonitor

    m = biosnn.Model("dv/dt = (2*mV - v)/(10*ms) : volt", threshold="v > 1*mV", reset="v = 0*mV")
    P = Population(m, 3, method="exact")
    mon = SpikeMonitor(P)
    return Network(P, mon, seed=1, backend=backend), mon


def test_network_c_raises_and_auto_warns_once(no_compiler):
    # before: backend="c" raised, but "auto" warned "the C network engine is not
    # available" for any exception, model errors included
    net, _ = _network("c")
    with pytest.raises(CompilerError, match="nonexistent/biosnn-test-cc"):
        net.run("10 ms")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(2):
            net, mon = _network("auto")
            net.run("100 ms")
            # period 10 ms * ln 2 = 6.93 ms -> 14 spikes in 100 ms (analytic)
            assert mon.count.tolist() == [14, 14, 14]
            assert net.stats["backend"] == "numpy"
        biosnn.simulate(biosnn.Model(**DECAY), 1, method="rk4", dt=0.1)
    assert len(_fallback_warnings(record)) == 1 == len(record)


def test_network_model_error_is_not_masked_by_the_engine(no_compiler):
    # before: accepted at construction; at run() "the C network engine is not
    # available (...)" and then a NumPy ModelError
    from biosnn.network import Network, OneToOne, Population, Synapses

    m = biosnn.Model("dv/dt = -v/(10*ms) : volt", threshold="v > 1*mV", reset="v = 0*mV")
    P = Population(m, 2, method="exact", name="cells")
    S = Synapses(P, P, on_pre="v += w_undefined", connect=OneToOne(), name="loop")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(ModelError, match="w_undefined is not defined") as info:
            Network(P, S, seed=1, backend="auto")
    assert "'loop'" in str(info.value)
    assert record == []


def test_bad_backend_value():
    m = biosnn.Model(**DECAY)
    with pytest.raises(biosnn.SimulationError, match="'auto', 'c' or 'numpy'"):
        biosnn.simulate(m, 1, backend="gpu")


def test_cli_backend_c_without_compiler_exit_2(no_compiler):
    out, err = io.StringIO(), io.StringIO()
    status = main(["simulate", "lif", "--duration", "1", "--backend", "c"], out=out, err=err)
    assert status == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "nonexistent/biosnn-test-cc" in lines[0]


def test_cli_network_backend_c_without_compiler_exit_2(no_compiler):
    # before: exit 2, but "no C compiler found" did not say which compiler was tried
    out, err = io.StringIO(), io.StringIO()
    status = main(["network", "cuba", "--duration", "1", "--backend", "c"], out=out, err=err)
    assert status == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "nonexistent/biosnn-test-cc" in lines[0]
