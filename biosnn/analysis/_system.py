"""The numerical view of a Model that equilibrium and continuation code works on.

:class:`System` binds a :class:`~biosnn.equations.model.Model` to one parameter vector
(internal units) and exposes the drift ``f(y)``, the exact Jacobian ``jac(y)`` (both from
the model's NumPy kernel, vectorized over columns of ``y``), and, on demand, kernels
printed from exact sympy derivatives of the same :class:`~biosnn.codegen.spec.KernelSpec`:

* ``dfdp(y, name)``: ``d f / d name`` (continuation),
* ``hess(y, u, v)``: the bilinear form ``B(u, v)_i = sum_jk d2 f_i/dy_j dy_k u_j v_k``,
* ``third(y, u, v, w)``: the trilinear form ``C(u, v, w)`` (first Lyapunov coefficient).

The multilinear forms are sums of the nonzero partial derivatives (taken only along the
variables each Jacobian entry contains, third derivatives only for ``j <= k <= m``).  Each
derived function is printed with biosnn's NumPy printer (the safe functions of
:mod:`biosnn.codegen.functions` included) after ``sympy.cse`` and compiled once per model
content (``spec.key``; a plain function, not a full ``NumpyKernel``: no scalar path, no
events to print).  Extra vectors enter as symbols ``_u0, _u1, ...`` (user names never
start with ``_``).  Everything here is in internal units; conversion to display units is
the caller's business.

Warm start (docs/architecture.md, "Warm start")
-----------------------------------------------
``spec`` is the model's :class:`~biosnn.codegen.spec.KernelLayout` (names and flags, no
sympy after a warm start); ``f`` and ``jac`` run the layout's stored NumPy kernel source.
Every derived function's printed source is stored in the cache directory as
``models/<key>.analysis.json``, with ``key`` = sha256 of the model's ``structure_key``,
its KernelSpec key, what was asked (``dfd_I_ext``, ``hess``, ``third``, ``dJd_a`` ...),
:data:`FORMAT` and the manifest's generator version (the package key of
:mod:`biosnn.cache`: any change to biosnn's code changes it); so is whether the model is
autonomous.  The source is a hash-named blob checked before it is compiled
(:mod:`biosnn.equations.manifest`).  A
process that finds them computes equilibria, continuation and Lyapunov coefficients
without importing sympy; the source it runs is the very text the first process compiled,
so warm and cold results agree bit for bit.  A missing, unreadable, stale or malformed
entry is ignored and printed again.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from biosnn.errors import ModelError

__all__ = ["System"]

#: Bump when the stored form of the analysis entries changes.
FORMAT = "1"

_DERIVED: dict = {}  # (spec.key, tag) -> compiled function or partials (a cache)


def entry_key(model, tag: str) -> str:
    """Cache key of the analysis entry ``tag`` of ``model`` (see the module docstring)."""
    from biosnn.equations import manifest

    text = json.dumps(
        [
            "analysis",
            FORMAT,
            manifest.generator_version(),
            model.structure_key,
            model.layout.key,
            tag,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _read_entry(model, tag: str, check) -> object:
    """The stored value of ``tag`` if present and ``check(data)`` accepts it, else None."""
    from biosnn.equations import manifest

    data = manifest.read("analysis", entry_key(model, tag))
    if data is None or data.get("tag") != tag:
        return None
    try:
        return check(data)
    except (KeyError, TypeError, ValueError, SyntaxError):
        return None


def _write_entry(model, tag: str, data: dict) -> None:
    from biosnn.equations import manifest

    manifest.write("analysis", entry_key(model, tag), {**data, "tag": tag})


def _kernel(layout):
    """The kernel functions (``f``, ``jac``, ...) of a layout's NumPy source.

    The source is printed (sympy) and stored with the layout the first time; after that
    it is compiled with the pure-NumPy safe functions, which needs no sympy.
    """
    from biosnn.codegen.numpy_backend import compile_kernel_source, numpy_kernel

    if layout.numpy_source is None:
        numpy_kernel(layout)  # prints it and stores it in the layout
    name = f"<biosnn-analysis {layout.name} {layout.key[:12]}>"
    return _Functions(compile_kernel_source(layout.numpy_source, name))


class _Functions:
    """Attribute access to a dict of compiled kernel functions."""

    def __init__(self, functions: dict):
        self.__dict__.update(functions)


class System:
    """A model's drift and derivatives at fixed parameters (internal units).

    Parameters
    ----------
    model : Model
        The model (events and noise are ignored: equilibria are those of the drift).
    params : dict, optional
        name -> value in the display unit (number) or a string with a unit; the other
        parameters take the model's defaults.

    Attributes
    ----------
    model : Model
    spec : KernelLayout
        The model's layout (``states``, ``params``, ``name``, ``key`` without sympy; its
        symbolic attributes ``f``, ``jac`` ... build the KernelSpec on first access).
    kernel
        The model's NumPy kernel functions (``kernel.f``, ``kernel.jac``).
    p : ndarray, shape (n_params, 1)
        Parameter values, internal units.
    """

    def __init__(self, model, params=None):
        self.model = model
        self.spec = model.layout
        if not self._cached("autonomous", self._find_autonomous):
            raise ModelError(
                f"model {model.name} is not autonomous (its right-hand side "
                "depends on t): equilibria are not defined"
            )
        self.kernel = self._cached("kernel", lambda: _kernel(self.spec))
        values = dict(model.params)
        for name, value in (params or {}).items():
            model.check_param(name)
            values[name] = value
        self.p = np.array(
            [[float(model.to_internal(k, values[k]))] for k in self.spec.params], dtype=float
        ).reshape(len(self.spec.params), 1)

    @property
    def n(self) -> int:
        return self.spec.n_states

    def index(self, name: str) -> int:
        """Row of parameter ``name`` in :attr:`p`."""
        self.model.check_param(name)
        return self.spec.params.index(name)

    def params_with(self, name: str, values) -> np.ndarray:
        """Parameter array (n_params, N) with ``name`` set to ``values`` (internal)."""
        values = np.atleast_1d(np.asarray(values, dtype=float))
        p = np.repeat(self.p, values.size, axis=1)
        p[self.index(name)] = values
        return p

    # drift and Jacobian ----------------------------------------------------------------
    def f(self, y, p=None):
        """Drift, shape (n, N), for states ``y`` of shape (n, N)."""
        with np.errstate(all="ignore"):
            return self.kernel.f(0.0, y, self.p if p is None else p)

    def jac(self, y, p=None):
        """Exact Jacobian, shape (N, n, n)."""
        with np.errstate(all="ignore"):
            return self.kernel.jac(0.0, y, self.p if p is None else p)

    def _find_autonomous(self) -> bool:
        """Whether the drift is free of ``t`` (stored in the cache: no sympy when warm)."""

        def check(data):
            if not isinstance(data["autonomous"], bool):
                raise TypeError("autonomous is not a boolean")
            return data["autonomous"]

        found = _read_entry(self.model, "autonomous", check)
        if found is None:
            spec = self.spec.full_spec()
            found = not any(spec.t in f.free_symbols for f in spec.f)
            _write_entry(self.model, "autonomous", {"autonomous": found})
        return found

    # derived kernels -------------------------------------------------------------------
    def _derived_function(self, tag, build):
        """Compile (once) ``build() -> (exprs, extra symbols)`` into a vector function.

        The printed source is stored in the cache directory under ``tag`` (which must
        name what ``build`` computes); a later process compiles the stored text without
        calling ``build`` (no sympy).
        """
        return self._cached(tag, lambda: self._compile(tag, build))

    def _compile(self, tag, build):
        filename = f"<biosnn-analysis {self.spec.name}_{tag}>"
        stored = _read_entry(
            self.model, tag, lambda data: _compile_source(_text(data["source"]), filename)
        )
        if stored is not None:
            return stored
        exprs, extra = build()
        symbols = self._symbols() + self._param_symbols() + list(extra)
        source = _print_function(exprs, symbols)
        _write_entry(self.model, tag, {"source": source})
        return _compile_source(source, filename)

    def _cached(self, tag, make):
        """Derived objects are cached per spec content (like the kernels themselves)."""
        key = (self.spec.key, tag)
        if key not in _DERIVED:
            if len(_DERIVED) > 256:
                _DERIVED.clear()
            _DERIVED[key] = make()
        return _DERIVED[key]

    def _symbols(self):
        import sympy

        return [sympy.Symbol(s, real=True) for s in self.spec.states]

    def _param_symbols(self):
        import sympy

        return [sympy.Symbol(s, real=True) for s in self.spec.params]

    def _call(self, fun, y, p, extra=()):
        y = np.asarray(y, dtype=float).reshape(self.n, -1)
        p = self.p if p is None else p
        cols = max([y.shape[1], p.shape[1]] + [np.shape(e)[1] for e in extra])
        rows = list(y) + list(p) + [row for e in extra for row in e]
        with np.errstate(all="ignore"):
            return fun(rows, (self.n, cols))

    def dfdp(self, y, name: str, p=None):
        """``d f / d name`` (internal units), shape (n, N)."""

        def build():
            import sympy

            sym = sympy.Symbol(name, real=True)
            return [sympy.diff(e, sym) for e in self.spec.full_spec().f], ()

        self.index(name)
        return self._call(self._derived_function(f"dfd_{name}", build), y, p)

    def _partials(self):
        """Nonzero second and third partial derivatives of f (sympy, cached).

        ``second[(i, j, k)] = d2 f_i / dy_j dy_k`` for all ``j, k``;
        ``third[(i, j, k, m)]`` for ``j <= k <= m`` only (the others by symmetry).  Only
        the derivatives along variables an expression contains are taken (the Jacobians
        of neuron models are sparse), which keeps the symbolic work small.
        """
        return self._cached("partials", self._make_partials)

    def _make_partials(self):
        import sympy

        ys = self._symbols()
        index = {y: k for k, y in enumerate(ys)}
        zero = sympy.S.Zero

        def states_in(e):  # O(size of e), not O(n): large models have sparse Jacobians
            return sorted(index[y] for y in e.free_symbols if y in index)

        second, third = {}, {}
        for i, row in enumerate(self.spec.full_spec().jac):
            for j, e in enumerate(row):
                if e is zero:
                    continue
                for k in states_in(e):
                    second[i, j, k] = e.diff(ys[k])
        for (i, j, k), e in second.items():
            if k < j:
                continue
            for m in states_in(e):
                if m >= k:
                    third[i, j, k, m] = e.diff(ys[m])
        return second, third

    def _vectors(self, letters):
        import sympy

        return {c: [sympy.Symbol(f"_{c}{i}", real=True) for i in range(self.n)] for c in letters}

    def _form2(self):
        """``B(u, v)`` as sympy expressions of the states, parameters and ``u``, ``v``."""
        import sympy

        vec = self._vectors("uv")
        u, v = vec["u"], vec["v"]
        out = [sympy.S(0)] * self.n
        for (i, j, k), e in self._partials()[0].items():
            out[i] += e * u[j] * v[k]
        return out, u + v

    def _form3(self):
        """``C(u, v, w)`` as sympy expressions (symmetric: sum over distinct orders)."""
        import itertools

        import sympy

        vec = self._vectors("uvw")
        u, v, w = vec["u"], vec["v"], vec["w"]
        out = [sympy.S(0)] * self.n
        for (i, j, k, m), e in self._partials()[1].items():
            orders = set(itertools.permutations((j, k, m)))
            out[i] += e * sum(u[a] * v[b] * w[c] for a, b, c in orders)
        return out, u + v + w

    def hess(self, y, u, v, p=None):
        """Bilinear form ``B(u, v)_i = sum_jk d2 f_i/dy_j dy_k u_j v_k`` (real vectors).

        ``y`` has shape (n, 1) (or (n, N)); ``u``, ``v`` shape (n, N).  Returns (n, N).
        """
        fun = self._derived_function("hess", self._form2)
        return self._call(fun, y, p, [_rows(u, self.n), _rows(v, self.n)])

    def third(self, y, u, v, w, p=None):
        """Trilinear form ``C(u, v, w)`` of the third derivatives at ``y`` (real)."""
        fun = self._derived_function("third", self._form3)
        return self._call(fun, y, p, [_rows(x, self.n) for x in (u, v, w)])

    # complex multilinear forms ---------------------------------------------------------
    def hess_c(self, y, u, v, p=None) -> np.ndarray:
        """``B(u, v)`` for complex vectors ``u``, ``v`` of shape (n,) -> (n,) complex."""
        return _complex_form(lambda *xs: self.hess(y, *xs, p=p), [u, v])

    def third_c(self, y, u, v, w, p=None) -> np.ndarray:
        """``C(u, v, w)`` for complex vectors of shape (n,) -> (n,) complex."""
        return _complex_form(lambda *xs: self.third(y, *xs, p=p), [u, v, w])


def _rows(x, n) -> np.ndarray:
    return np.asarray(x, dtype=float).reshape(n, -1)


def _print_function(exprs, symbols) -> str:
    """Print ``exprs`` (functions of ``symbols``) as the source of one NumPy function.

    The function ``_fun(rows, shape)`` takes ``rows[i]``, the value (array or scalar) of
    ``symbols[i]``, and returns an array of ``shape`` whose row ``i`` is ``exprs[i]``.
    Printed with biosnn's NumPy printer after ``sympy.cse``.
    """
    import itertools

    import sympy

    from biosnn.codegen.numpy_backend import print_numpy

    temps = (sympy.Symbol(f"_c{k}", real=True) for k in itertools.count())
    repl, reduced = sympy.cse([sympy.sympify(e) for e in exprs], symbols=temps)
    used = set().union(*(sympy.sympify(e).free_symbols for e in exprs)) if exprs else set()
    lines = ["def _fun(_a, _shape):"]
    lines += [f"    {s.name} = _a[{i}]" for i, s in enumerate(symbols) if s in used]
    lines += [f"    {s.name} = {print_numpy(e)}" for s, e in repl]
    lines.append("    _out = _np.empty(_shape)")
    lines += [f"    _out[{i}] = {print_numpy(e)}" for i, e in enumerate(reduced)]
    lines.append("    return _out")
    return "\n".join(lines) + "\n"


def _compile_source(source: str, filename: str):
    """Compile source printed by :func:`_print_function` (no sympy: the safe functions
    come from :mod:`biosnn.codegen.safe_numpy`); registered with :mod:`linecache` so
    tracebacks show it.  Raises SyntaxError or KeyError for source that is not such a
    function.
    """
    import linecache

    from biosnn.codegen.safe_numpy import NUMPY_FUNCTIONS

    if not source.startswith("def _fun(_a, _shape):\n"):
        raise ValueError("not a printed analysis function")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"_np": np, "inf": np.inf, "nan": np.nan, **NUMPY_FUNCTIONS}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - printed by us
    return namespace["_fun"]


def _text(x) -> str:
    if not isinstance(x, str):
        raise TypeError(f"expected a string, got {type(x).__name__}")
    return x


def _complex_form(real_form, vectors) -> np.ndarray:
    """Evaluate a real multilinear form at complex vectors by multilinearity.

    ``real_form(*xs)`` takes real vectors of shape (n, N) and returns (n, N); all 2**k
    combinations of real and imaginary parts are evaluated in one vectorized call.
    """
    import itertools

    k = len(vectors)
    parts = [(np.real(x), np.imag(x)) for x in (np.asarray(v, dtype=complex) for v in vectors)]
    combos = list(itertools.product((0, 1), repeat=k))
    cols = [np.stack([parts[i][c[i]] for c in combos], axis=1) for i in range(k)]
    values = real_form(*cols)  # (n, 2**k)
    weights = np.array([1j ** sum(c) for c in combos])
    return values @ weights
