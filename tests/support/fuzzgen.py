"""Generators of model inputs for fuzzing, and the check run on each input.

Shared by ``tests/equations/test_fuzz.py`` (hypothesis, a bounded budget in CI) and
``tests/fuzz_large.py`` (a long random run by hand that counts crashes by root cause).
The generators take a *chooser* ``r`` with three methods - ``choice(seq)``,
``integer(lo, hi)`` (inclusive) and ``coin(p)`` - so that hypothesis (which shrinks a
failing input) and :mod:`random` (fast, counts every crash) drive the same code.

Two kinds of input:

* :func:`model_kwargs`: equation texts built from the language (states, aliases,
  parameters, every whitelisted function, numbers such as 0, 1e300 and inf, the constants
  pi and inf, units that agree or not, noise, threshold / reset / refractory);
* :func:`mutated_model_file`: a library file of ``models/`` with a few token edits
  (deleted, duplicated, replaced by another token, numbers perturbed, units swapped).

:func:`exercise` builds the model and every artifact a user can ask for - the KernelSpec,
the layout, the NumPy kernel (all its printed functions), the initial state, optionally a
short NumPy run, the C source (and a compile), the analysis Jacobian and second/third
derivative forms.  It returns normally or raises a :class:`~biosnn.errors.BiosnnError`
for invalid input; anything else is a crash (a bug).  A ``CompilerError`` on C that
biosnn generated is a crash too: valid models must compile.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parents[2] / "models"

STATES = ("v", "w", "u")
PARAMS = ("a", "b", "tau")
ALIASES = ("I", "g")
NUMBERS = (
    "0",
    "1",
    "2",
    "0.5",
    "-1",
    "3.7",
    "1e-300",
    "1e300",
    "10",
    "pi",
    "inf",
    "-inf",
    "1e-12",
    "0.0",
)
UNARY = (
    "exp",
    "log",
    "log10",
    "sqrt",
    "sin",
    "cos",
    "tan",
    "sinh",
    "cosh",
    "tanh",
    "abs",
    "sign",
    "floor",
    "ceil",
    "heaviside",
    "exprel",
)
BINARY_OPS = ("+", "-", "*", "/", "**")
COMPARE = (">", "<", ">=", "<=", "==", "!=")
UNITS = ("1", "1", "1", "1", "volt", "second", "amp", "1/second", "mV", "ms")
UNIT_WORDS = ("mV", "ms", "nA", "pF", "uS", "Hz", "second", "volt", "1")
# tokens used by file mutations: pieces of the language and a few foreign ones
TOKENS = (
    "v",
    "w",
    "t",
    "xi",
    "tau",
    "mV",
    "ms",
    "volt",
    "second",
    "(",
    ")",
    "*",
    "/",
    "+",
    "-",
    "**",
    ":",
    "=",
    ">",
    "0",
    "1",
    "-1",
    "1e308",
    "inf",
    "pi",
    "exp(",
    "log(",
    "floor(",
    "sign(",
    "abs(",
    "minimum(",
    "where(",
    "clip(",
    ",",
    "\n",
    "#",
    "'",
    '"',
    "[",
    "]",
    "\\",
    "unless refractory",
    "(unless refractory)",
    "dv/dt",
    "__import__",
    "os.system",
    "lambda",
    ";",
    "nan",
    "1/0",
    "0/0",
)

_TOKEN_RE = re.compile(r"\d+\.?\d*(?:[eE][-+]?\d+)?|[A-Za-z_]\w*|\*\*|[^\sA-Za-z_\d]")


class RandomChooser:
    """The chooser interface over :class:`random.Random` (for the long run)."""

    def __init__(self, rng):
        self.rng = rng

    def choice(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def integer(self, lo, hi):
        return self.rng.randint(lo, hi)

    def coin(self, p=0.5):
        return self.rng.random() < p


class DataChooser:
    """The chooser interface over hypothesis' ``st.data()`` (shrinkable)."""

    def __init__(self, data):
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def choice(self, seq):
        return self.data.draw(self.st.sampled_from(list(seq)))

    def integer(self, lo, hi):
        return self.data.draw(self.st.integers(lo, hi))

    def coin(self, p=0.5):
        return self.data.draw(self.st.integers(0, 999)) < 1000 * p


# -- equation texts ------------------------------------------------------------------------
def expression(r, names, depth=0) -> str:
    """A random expression over ``names`` (states, parameters, aliases, t, noise)."""
    if depth >= 3 or r.coin(0.3):
        if r.coin(0.6) and names:
            name = r.choice(names)
            return f"{name}*mV" if r.coin(0.05) else name
        return r.choice(NUMBERS)
    kind = r.integer(0, 9)
    sub = lambda: expression(r, names, depth + 1)  # noqa: E731
    if kind <= 3:
        return f"({sub()} {r.choice(BINARY_OPS)} {sub()})"
    if kind <= 6:
        return f"{r.choice(UNARY)}({sub()})"
    if kind == 7:
        return f"{r.choice(('minimum', 'maximum'))}({sub()}, {sub()})"
    if kind == 8:
        return f"clip({sub()}, {sub()}, {sub()})"
    return f"where({condition(r, names, depth + 1)}, {sub()}, {sub()})"


def condition(r, names, depth=0) -> str:
    text = (
        f"{expression(r, names, depth + 1)} {r.choice(COMPARE)} {expression(r, names, depth + 1)}"
    )
    if r.coin(0.15):
        text = f"({text}) {r.choice(('and', 'or'))} not ({text})"
    return text


def model_kwargs(r) -> dict:
    """Keyword arguments of ``Model`` for a random small model."""
    states = list(STATES[: r.integer(1, 3)])
    aliases = list(ALIASES[: r.integer(0, 2)])
    params = list(PARAMS[: r.integer(0, 3)])
    noise = r.coin(0.15)
    unit = r.choice(UNITS) if r.coin(0.2) else "1"
    lines = []
    for k, a in enumerate(aliases):
        lines.append(f"{a} = {expression(r, states + params + aliases[:k] + ['t'])} : {unit}")
    for s in states:
        rhs = expression(r, states + params + aliases + ["t"])
        if noise and r.coin(0.6):
            rhs = f"{rhs} + {expression(r, states + params, 2)}*xi"
        if r.coin(0.1):  # the shapes that crashed: the state itself, the noise itself
            rhs = r.choice((s, "xi", f"-{s}", "0"))
        flag = " (unless refractory)" if r.coin(0.2) else ""
        lines.append(f"d{s}/dt = {rhs} : {unit}{flag}")
    if r.coin(0.3):
        lines.reverse()
    kwargs = {
        "equations": "\n".join(lines),
        "params": {p: r.choice(("1", "0.5", "2", "0", "-1", "10")) for p in params},
        "time": "1" if unit == "1" and r.coin(0.8) else None,
    }
    if r.coin(0.3):
        kwargs["initial"] = {s: r.choice(("0.1", "1", "-1", "a", "0")) for s in states if r.coin()}
    if r.coin(0.4):
        kwargs["threshold"] = condition(r, states + params + aliases + ["t"])
        if r.coin(0.7):
            target = r.choice(states + ["t", "a"])
            op = r.choice(("=", "+=", "-=", "*=", "/="))
            kwargs["reset"] = f"{target} {op} {expression(r, states + params, 1)}"
        if r.coin(0.5):
            kwargs["refractory"] = r.choice(
                (
                    "2 ms",
                    "1",
                    "t",
                    "tau",
                    "a",
                    "0",
                    "-1",
                    f"{states[0]} > 0",
                    "t > 1",
                    "v/0",
                    0.5,
                    "2*tau",
                    "inf",
                )
            )
    return kwargs


# -- mutated model files ---------------------------------------------------------------
def library_files() -> list:
    return sorted(MODELS.glob("*.toml"))


def mutated_model_file(r) -> tuple:
    """``(name, text)``: a library model file with one to three token edits."""
    path = r.choice(library_files())
    text = path.read_text()
    for _ in range(r.integer(1, 3)):
        spans = [m.span() for m in _TOKEN_RE.finditer(text)]
        # most edits land in the equations and events, where the interesting code is
        start = text.find("equations")
        inside = [s for s in spans if s[0] >= start] if start >= 0 and r.coin(0.8) else spans
        a, b = r.choice(inside or spans)
        token = text[a:b]
        kind = r.integer(0, 5)
        if kind == 0:
            new = ""
        elif kind == 1:
            new = token + " " + token
        elif kind == 2:
            new = r.choice(TOKENS)
        elif kind == 3 and re.fullmatch(r"[\d.]+(?:[eE][-+]?\d+)?", token):
            new = r.choice(("0", "-" + token, token + "e300", "1e-320", token + "0", "0.0", "nan"))
        elif kind == 4 and token in UNIT_WORDS:
            new = r.choice(UNIT_WORDS)
        else:
            new = token + r.choice(TOKENS)
        text = text[:a] + new + text[b:]
    return path.name, text


# -- the check -----------------------------------------------------------------------------
def exercise(
    kwargs=None, *, file_text=None, tmp_dir=None, run=False, compile_c=False, analysis=True
):
    """Build the model and its artifacts; see the module docstring.

    ``file_text`` (with ``tmp_dir``) is loaded as a model file instead of ``kwargs``.
    Returns a short description of how far it got (for the long run's statistics).
    """
    from biosnn import Model, simulate
    from biosnn.codegen.numpy_backend import NumpyKernel

    if file_text is not None:
        from biosnn.equations.files import read_model_file

        path = Path(tmp_dir) / "fuzzed.toml"
        path.write_text(file_text)
        kwargs = read_model_file(path)
        kwargs.pop("title")
    model = Model(**kwargs)
    repr(model)
    spec = model.kernel_spec()
    layout = model.layout
    assert layout.states == spec.states
    kernel = NumpyKernel(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in a random model
        y0 = model.initial_state()
        y = np.array([[float(np.asarray(y0[s]).reshape(-1)[0])] for s in spec.states])
        p = np.array([[model._defaults[n]] for n in spec.params]).reshape(-1, 1)
        kernel.f(0.0, y, p)
        kernel.jac(0.0, y, p)
    if analysis and spec.n_noises == 0 and not any(spec.t in f.free_symbols for f in spec.f):
        from biosnn.analysis._system import System

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            system = System(model)
            system.jac(y)
            system.hess(y, y, y)
            system.third(y, y, y, y)
    if compile_c:
        from biosnn.codegen import c_backend, c_build

        compiler = c_build.find_compiler()
        for family in ("fixed", "rodas") if spec.n_noises == 0 else ("fixed",):
            source = c_backend.generate_source(spec, family)
            if compiler is not None:
                c_build.build(source, compiler)  # CompilerError here is a crash
    if run:
        method = "euler_maruyama" if spec.n_noises else "rk4"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            simulate(
                model,
                0.05 if not model.time_dimensionless else 0.05,
                method=method,
                dt=0.01,
                backend="numpy",
                seed=1,
            )
    return "built"


def classify(exc: BaseException) -> str:
    """A root-cause label for a crash: exception type and its innermost biosnn frame."""
    import traceback

    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "biosnn" in f.filename and "/tests/" not in f.filename
    ]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].name}" if frames else "?"
    return f"{type(exc).__name__} at {where}"
