"""C backend: one C99 translation unit per (model, driver family), run from Python.

The translation unit is the model's generated C (:mod:`biosnn.codegen.c_model`: its
functions, printed with :mod:`biosnn.codegen.c_printer` after
:func:`~biosnn.codegen.rewrite.share_exponentials` and ``sympy.cse``, carrying the
model's names) put together with the C runtime, ``runtime/*.h|*.c`` (package data,
assembled by :mod:`biosnn.codegen.c_runtime`): stimulus lookup, refractory masking,
recording, spike buffer, and the driver of the family, so the whole loop runs in C:

``fixed``     generic explicit RK (any tableau, passed as data), exponential Euler,
              exact (propagator argument), Euler-Maruyama, stochastic Heun; instances
              in blocks of ``BLOCK`` lanes (structure of arrays), blocks spread over
              OpenMP threads (``n_threads``: ``$BIOSNN_NUM_THREADS``, default all
              cores); the layout is described at the top of ``runtime/bs_fixed.h``
``adaptive``  embedded RK (rk23, rk45, dop853) with PI control, dense output, every
              crossing inside a step found and located on the interpolant (the
              algorithm of biosnn.solvers.events: ``bs_find_spikes``), restart after
              reset, breakpoints, recording from the interpolant
``rodas``     Rosenbrock (rodas4) with the symbolic Jacobian and a dense LU per step

(``adaptive`` and ``rodas`` run instance by instance.)

Modules
-------
:mod:`~biosnn.codegen.c_abi` (``bs_args`` and status codes as seen from Python),
:mod:`~biosnn.codegen.c_model` (model printing), :mod:`~biosnn.codegen.c_runtime` (the
runtime files, unit markers, :func:`generate_source`), :mod:`~biosnn.codegen.c_driver`
(a run request packed into ``bs_args``), and this module: :func:`kernel` (in memory,
cached on disk, or generated and compiled by :mod:`~biosnn.codegen.c_build`) and
:func:`run`.  The names of the other modules that callers used from here are still
importable from here.

C API
-----
Every translation unit exports ``int bs_run(bs_args *a)`` (``runtime/bs_abi.h``).
Return codes are :data:`STATUS`; on ``BS_FULL`` (spike buffer full) ``fail_instance``
is the instance to resume from, ``n_spikes`` counts the spikes kept and ``spike_need``
(fixed family) the buffer size needed; Python grows the buffer and calls again with
``i_start = fail_instance``.  Adaptive/Rosenbrock roll back the instance that overflowed
and re-run it (every per-instance output is rewritten, the noise is counter-based: the
re-run is exact); the fixed family keeps the merged spikes of the run in ``stash``
(malloc'd, freed by the next call) and returns ``fail_instance = n``, so the next call
only copies them.

Semantics follow docs/architecture.md ("Solver semantics") and the details fixed by the
NumPy drivers (:mod:`biosnn.solvers.drivers`, :mod:`~biosnn.solvers.events`,
:mod:`~biosnn.solvers.controllers`): stage-time stimulus lookup in fixed-step methods and
step-start values of ``step`` stimuli inside adaptive steps, Illinois / bisection to
``1e-12*max(1, |t|)``, restart only after a reset or a refractoriness change or on a
breakpoint, the PI controller of ``controllers`` (``min(fac, 1)`` right after a
rejection), Hairer's initial step, DOP853's combined error estimator, records from the
interpolant.  One choice is the C backend's own: for exponential Euler a state whose
equation is not conditionally linear (``exp_euler[i] is None``) is advanced by forward
Euler (``simulate`` refuses such models before they get here).

Performance (measured on the 2-core benchmark machine, 10,000 HH neurons): the
fixed-step block driver runs the drift of 8 lanes as one vectorized loop (x86-64-v3
clone with FMA chosen at load time, SSE2 otherwise; no ``-march=native`` so the cache
stays portable) and uses both cores (benchmarks/hh_ensemble.py measures it).  Results
are identical for any thread count (blocks are independent and merged in order) and
for any position of an instance among the blocks; the FMA clone and the portable one
agree to a few ulp per step, not bit for bit (docs/architecture.md, "Floating-point
contract of the C kernels").  Exponential Euler evaluates ``expm1(A dt)/A`` as
``dt*phi1(A dt)`` by a polynomial where ``|A dt| <= ln2/2`` (HH: the gates always, the
voltage between spikes), without range reduction or division.  The adaptive and
Rosenbrock families still run one instance at a time on scalar libm; their stage sums
loop over stages outside and the (constant) states inside, and the PI controller costs
one ``log`` and one ``exp`` per step.  In every family the shared-exponential rewrite
cuts HH's six rate exponentials to three ``exp`` calls.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from biosnn.codegen.c_abi import (  # noqa: F401  (names callers import from here)
    ARG_FIELDS,
    BLOCK,
    FAMILIES,
    FIXED_CODES,
    SMAX,
    STATUS,
    BsArgs,
    family_of,
)
from biosnn.codegen.c_driver import build_args, check, grow_spikes, n_threads, raise_status
from biosnn.codegen.c_model import LANE_OUTS, LANE_PIECE, LANE_SPLIT  # noqa: F401
from biosnn.codegen.c_runtime import (  # noqa: F401
    DRIVER_OPT,
    KERNEL_OPT,
    UNIT_MARKER,
    generate_source,
)
from biosnn.solvers.request import RawRun

__all__ = [
    "ARG_FIELDS",
    "STATUS",
    "CKernel",
    "available",
    "family_of",
    "generate_source",
    "kernel",
    "n_threads",
    "run",
]

_KERNELS: dict = {}  # (warm key, compiler, cache directory) -> CKernel


def _generator_version() -> str:
    """The version of the code that generates C: :func:`biosnn.cache.package_key`."""
    from biosnn import cache

    return cache.package_key()


class CKernel:
    """A compiled, loaded C kernel of one model and driver family.

    Attributes
    ----------
    key : str
        Model key (``KernelSpec.key``).
    family : str
    path : pathlib.Path
        The shared library in the cache.
    source : str
        The generated C source (after a warm start: read from the cache, hash-checked, by
        ``source_of``).
    """

    def __init__(self, key: str, family: str, path, source: str | None = None, source_of=None):
        from biosnn.codegen import c_build

        self.key, self.family, self.path = key, family, Path(path)
        self._source, self._source_of = source, source_of
        self._lib = c_build.load_library(self.path)
        self._run = self._lib.bs_run
        self._run.argtypes = [ctypes.POINTER(BsArgs)]
        self._run.restype = ctypes.c_int

    @property
    def source(self) -> str:
        if self._source is None and self._source_of is not None:
            self._source = self._source_of()
        return self._source

    def __call__(self, args: BsArgs, stop=None) -> int:
        """Run the driver on ``args``; with ``stop`` (the int64 array behind
        ``args.stop``) Ctrl-C stops it within a step (:mod:`biosnn._interrupt`).
        """
        if stop is None:
            return int(self._run(ctypes.byref(args)))
        from biosnn import _interrupt

        return _interrupt.call(lambda: int(self._run(ctypes.byref(args))), stop)

    def __repr__(self) -> str:
        return f"CKernel({self.key[:12]}..., {self.family!r}, {self.path.name})"


def kernel(spec, family: str) -> CKernel:
    """The C kernel of ``spec`` for ``family``: in memory, else cached on disk (warm:
    no printing, no compiling), else generated and compiled.

    Raises
    ------
    CompilerError
        No working compiler, or compilation failed.
    """
    from biosnn.codegen import c_build

    # no compiler: require_compiler's CompilerError says what was tried (no probe here)
    compiler = c_build.find_compiler() or c_build.require_compiler()
    warm_key = f"{spec.key}|{family}|{_generator_version()}"
    mem_key = (warm_key, compiler.identity, str(c_build.cache_dir()))
    k = _KERNELS.get(mem_key)
    if k is not None:
        return k
    path = c_build.lookup_alias(warm_key, compiler)
    source = None
    if path is None:
        # a KernelLayout (warm start) prints from its full KernelSpec
        full = spec.full_spec()
        source = generate_source(full, family)
        path = c_build.build(source, compiler)
        c_build.write_alias(warm_key, compiler, path, source)

    def source_of():  # this kernel's own source (libraries may be shared by models)
        text = c_build.alias_source(warm_key, compiler)
        if text is None:
            text = generate_source(spec.full_spec(), family)
        return text

    k = CKernel(spec.key, family, path, source, source_of)
    _KERNELS[mem_key] = k
    return k


def available() -> bool:
    """True if a C compiler is present and works (never warns; see
    :mod:`biosnn.codegen.backend` for the choice of backend).
    """
    from biosnn.codegen import c_build

    return c_build.compiler_available()


def run(spec, request) -> RawRun:
    """Integrate ``request`` with the compiled C drivers.

    Parameters
    ----------
    spec : KernelSpec
    request : RunRequest

    Returns
    -------
    RawRun

    Raises
    ------
    MethodError, SimulationError, CompilerError
    """
    family = check(spec, request)
    k = kernel(spec, family)
    args = build_args(spec, request, family)
    while True:
        status = k(args.s, args.keep["stop"])
        if status == 1:
            grow_spikes(args)
            args.set("i_start", int(args.s.fail_instance))
            continue
        if status != 0:
            raise_status(spec, args, status)
        break
    m = args.s.n_spikes
    stats = args.keep["stats"].sum(axis=0)
    return RawRun(
        t=args.keep["t_rec"],
        y=args.keep["y_rec"],
        spike_index=args.keep["spike_index"][:m].copy(),
        spike_time=args.keep["spike_time"][:m].copy(),
        y_final=args.keep["y_final"],
        stats={
            "n_steps": int(stats[0]),
            "n_rejected": int(stats[1]),
            "n_rhs": int(stats[2]),
            "n_jac": int(stats[3]),
            "backend": "c",
        },
    )
