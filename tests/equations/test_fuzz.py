"""Property-based fuzzing of the equation -> code path (hypothesis), with a bounded budget.

The property: for any input - a random equation text with parameters and events, or a
library model file with a few token edits - building the model and everything a user
can ask of it (KernelSpec, layout, NumPy kernel, initial state, analysis derivatives,
a short run, the C source and its compilation) either succeeds or raises one of
biosnn's own errors (:class:`~biosnn.errors.BiosnnError`).  Never a traceback from
sympy, the printers or the generated code; and C that biosnn generated for a model it
accepted always compiles (a ``CompilerError`` there fails the test).

Budget: derandomized (the same inputs on every run, no flakiness) and ``max_examples``
chosen so the file takes about 30-60 s on one core; no deadline.  The long run is
``tests/fuzz_large.py`` (by hand, with a count).  The generators and the check live in
``tests/support/fuzzgen.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biosnn.codegen import c_build
from biosnn.errors import BiosnnError, CompilerError

from support import fuzzgen


def budget(max_examples: int):
    return settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path / "cache"))


def only_biosnn_errors(**kw):
    """Run ``fuzzgen.exercise``: a BiosnnError is a correct refusal (it must say
    something); a CompilerError on biosnn's own C, or any other exception, fails.
    Returns "accepted" or "refused".
    """
    try:
        fuzzgen.exercise(**kw)
    except CompilerError as exc:
        pytest.fail(f"biosnn generated C that does not compile: {exc}")
    except BiosnnError as exc:
        assert str(exc).strip()
        return "refused"
    return "accepted"


@budget(250)
@given(st.data())
def test_equation_texts_raise_only_biosnn_errors(data):
    kwargs = fuzzgen.model_kwargs(fuzzgen.DataChooser(data))
    assert only_biosnn_errors(kwargs=kwargs, run=True) in ("accepted", "refused")


@budget(150)
@given(st.data())
def test_mutated_model_files_raise_only_biosnn_errors(tmp_path, data):
    _, text = fuzzgen.mutated_model_file(fuzzgen.DataChooser(data))
    outcome = only_biosnn_errors(file_text=text, tmp_dir=tmp_path, run=True, analysis=False)
    assert outcome in ("accepted", "refused")


@pytest.mark.slow
@budget(6)
@given(st.data())
def test_accepted_models_compile_in_c(data):
    # C compilation takes ~1-3 s per model: a small budget here, more in fuzz_large.py
    assert c_build.find_compiler() is not None, "the C part of the fuzz test needs cc"
    kwargs = fuzzgen.model_kwargs(fuzzgen.DataChooser(data))
    only_biosnn_errors(kwargs=kwargs, compile_c=True, analysis=False)


def test_the_generators_reach_valid_and_invalid_models():
    # the fuzz tests above mean something only if both outcomes occur: count them on a
    # fixed random sequence (fuzzgen.RandomChooser over random.Random(0))
    import random

    chooser = fuzzgen.RandomChooser(random.Random(0))
    outcomes = {"valid": 0, "refused": 0}
    for _ in range(40):
        try:
            fuzzgen.exercise(kwargs=fuzzgen.model_kwargs(chooser), analysis=False)
            outcomes["valid"] += 1
        except BiosnnError:
            outcomes["refused"] += 1
    assert outcomes["valid"] >= 5 and outcomes["refused"] >= 5, outcomes
