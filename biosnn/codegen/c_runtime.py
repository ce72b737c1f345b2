"""The C runtime files and the assembly of a translation unit.

The static C of the single-model kernels lives in ``biosnn/codegen/runtime/`` (package
data, C files with their own comments):

=====================  ===============================================================
``bs_prelude.h``       headers, attribute and clone macros
``bs_abi.h``           status codes, the stop flag, ``bs_args`` (mirror: ``c_abi``)
``bs_stim.h``          stimulus tables
``bs_common.h``        storing an instance's result, reporting a failure
``bs_noise.h``         counter-based normal numbers (= ``biosnn.solvers.noise``)
``bs_vmath.h``         SIMD exp/expm1/phi1 of the lane functions
``bs_fixed.h``         the fixed family's block layout, shared by its two units
``bs_fixed_kernels.c`` its kernel unit: steppers that call the lane functions
``bs_fixed.c``         its driver unit: events, blocks, threads, ``bs_run``
``bs_serial.c``        instance by instance: helpers and ``bs_run`` (adaptive, rodas)
``bs_events.c``        their dense output, event location, controller, initial step
``bs_adaptive.c``      embedded Runge-Kutta (rk23, rk45, dop853)
``bs_rodas.c``         Rosenbrock (rodas4)
=====================  ===============================================================

:func:`generate_source` reads them and puts them, in a fixed order, around the model's
generated C (:mod:`biosnn.codegen.c_model`), so a kernel's source is one self-contained
text: what is compiled, hashed into the cache key (:func:`biosnn.codegen.c_build.
library_key`) and shown by :func:`biosnn.kernel_source`.  The files are also covered by
the package key (:func:`biosnn.cache.package_key` hashes every ``.c`` and ``.h`` of the
package), so editing one invalidates every cached kernel, even a warm-start alias that
never reprints the source.

Compilation units
-----------------
The fixed family's source is two units (:data:`UNIT_MARKER`; the text before the first
marker is common to both): ``kernels`` - the SIMD maths, the lane functions and the
steppers that call them (``bs_vstep_rk``, ``bs_vstep_expeuler``) and the driver's
per-step checks (``bs_vend``), at :data:`KERNEL_OPT` (``-O2 -ffp-contract=fast``) with an
x86-64-v3 clone (AVX2 and fused multiply-add; GCC >= 12, else an AVX2 clone without FMA)
and the portable default - and ``driver`` - the scalar model functions, the other
steppers, events, blocks and threads, at :data:`DRIVER_OPT` (ISO C, no contraction).
:func:`biosnn.codegen.c_build.build` compiles them in parallel and links one library
(the kernel functions are hidden symbols); the whole text is also one valid translation
unit.  The driver is written so that -O1 costs it nothing measurable (locals instead of
struct fields in the per-step loops, no ``omp simd`` reductions); the HH ensemble runs
as fast as with one -O2 unit, while the compiler's work drops from about 0.8 s in one
process to 0.4 s (kernels) and 0.2 s (driver) in two.  The adaptive and Rosenbrock
families are one unit at -O2.
"""

from __future__ import annotations

from pathlib import Path

from biosnn.codegen import c_model

__all__ = [
    "DRIVER_OPT",
    "FILES",
    "KERNEL_OPT",
    "RUNTIME_DIR",
    "UNIT_MARKER",
    "generate_source",
    "runtime_text",
]

#: The directory of the runtime files (package data).
RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"

#: The runtime files, in no particular order (each family's order: :func:`_layout`).
FILES = (
    "bs_prelude.h",
    "bs_abi.h",
    "bs_stim.h",
    "bs_common.h",
    "bs_noise.h",
    "bs_vmath.h",
    "bs_fixed.h",
    "bs_fixed_kernels.c",
    "bs_fixed.c",
    "bs_serial.c",
    "bs_events.c",
    "bs_adaptive.c",
    "bs_rodas.c",
)

#: Marks the start of a compilation unit in a generated source: everything before the
#: first marker is common to all units; :func:`biosnn.codegen.c_build.build` compiles the
#: units in parallel with their own optimisation level and links them into one library.
#: The whole text is also one valid translation unit (the markers are comments).
UNIT_MARKER = "/* biosnn-unit {name} {opt} */\n"

#: Options of the two units of the fixed family: the vectorised lane functions and
#: steppers need -O2 (their loops vectorise) and contract ``a*b + c`` into fused
#: multiply-adds where the clone has them (x86-64-v3: 20-25% faster HH ensembles); the
#: driver (events, spike lists, merging) runs once per block step, compiles twice as
#: fast at -O1 and stays ISO C (no contraction).
KERNEL_OPT, DRIVER_OPT = "-O2 -ffp-contract=fast", "-O1"

_TEXT: dict = {}  # file name -> text, read once per process


def runtime_text(name: str) -> str:
    """The text of the runtime file ``name`` (one of :data:`FILES`).

    Examples
    --------
    >>> "typedef struct" in runtime_text("bs_abi.h")
    True
    """
    if name not in FILES:
        raise ValueError(f"{name!r} is not a runtime file; one of {', '.join(FILES)}")
    text = _TEXT.get(name)
    if text is None:
        text = _TEXT[name] = (RUNTIME_DIR / name).read_text(encoding="ascii")
    return text


def _layout(family: str) -> list:
    """The parts of a family's translation unit in order: runtime file names and the
    generated parts ``<defines>``, ``<prelude>`` (the safe functions the model calls),
    ``<model>`` (scalar functions), ``<lanes>`` and unit markers ``<unit NAME OPT>``.
    """
    head = ["bs_prelude.h", "<title>", "<defines>", "bs_abi.h", "<prelude>"]
    if family == "fixed":
        return [
            *head,
            "bs_stim.h",
            "bs_fixed.h",
            f"<unit kernels {KERNEL_OPT}>",
            "bs_vmath.h",
            "<lanes>",
            "bs_fixed_kernels.c",
            f"<unit driver {DRIVER_OPT}>",
            "bs_noise.h",
            "<model>",
            "bs_common.h",
            "bs_fixed.c",
        ]
    last = {"adaptive": "bs_adaptive.c", "rodas": "bs_rodas.c"}[family]
    return [*head, "<model>", "bs_stim.h", "bs_common.h", "bs_serial.c", "bs_events.c", last]


def generate_source(spec, family: str, *, runtime: bool = True) -> str:
    """The C99 translation unit of ``spec`` for one driver family.

    Parameters
    ----------
    spec : KernelSpec
    family : {"fixed", "adaptive", "rodas"}
    runtime : bool
        False: the generated parts only, each runtime file replaced by a one-line comment
        naming it (for reading; not compilable).

    Returns
    -------
    str
    """
    from biosnn.names import source_token

    if family not in ("fixed", "adaptive", "rodas"):
        raise ValueError(f"unknown driver family {family!r}")
    model = c_model.model_functions(spec, family)
    lanes = c_model.lane_functions(spec) if family == "fixed" else ""
    prelude = ""
    if "bs_xexpm1" in model + lanes:
        from biosnn.codegen.functions import C_GIVEN_EXP, C_PRELUDE

        prelude = C_PRELUDE + (C_GIVEN_EXP if "bs_xexpm1e(" in model + lanes else "")
    generated = {
        # no text of a file in generated source: the name and key only as plain tokens
        "<title>": f"/* model {source_token(spec.name)}, key {source_token(spec.key)}, "
        f"family {family} */\n",
        "<defines>": c_model.defines(spec),
        "<prelude>": prelude,
        "<model>": model,
        "<lanes>": lanes,
    }
    parts = ["/* generated by biosnn.codegen.c_backend - do not edit */\n"]
    for part in _layout(family):
        if part.startswith("<unit "):
            _, name, opt = part[1:-1].split(" ", 2)
            parts.append(UNIT_MARKER.format(name=name, opt=opt))
        elif part == "<prelude>" and generated[part] and not runtime:
            parts.append("/* biosnn safe functions bs_xexpm1* (biosnn/codegen/functions.py) */\n")
        elif part in generated:
            if generated[part]:
                parts.append(generated[part])
        elif runtime:
            parts.append(runtime_text(part))
        else:
            parts.append(f"/* runtime file {part} (biosnn/codegen/runtime/) */\n")
    return "\n".join(parts)
