"""Choosing between the compiled C backend and NumPy: one rule for every entry point.

Every function that takes ``backend`` (:func:`biosnn.simulate`, :class:`biosnn.network.
Network`, the analysis functions that simulate, the ``--backend`` option of the CLI)
follows it:

* ``"numpy"``: NumPy.
* ``"c"``: compiled C, or a :class:`~biosnn.errors.CompilerError` that names the compiler
  tried (``$CC`` or the programs searched, its path) and why it failed.  Never NumPy.
* ``"auto"`` (the default): C when a compiler works; otherwise NumPy, and one
  ``RuntimeWarning`` per process and reason that names the compiler and the reason.

Only a :class:`~biosnn.errors.CompilerError` (no compiler, a compiler that cannot build
a library, a compilation that fails) may lead to NumPy.  A model error (an undefined
name, a unit error, a method that cannot integrate the model) is raised as it is, by
either backend: an unavailable engine never masks it.

Examples
--------
>>> from biosnn.codegen.backend import check_backend
>>> check_backend("auto")
'auto'
"""

from __future__ import annotations

import warnings

from biosnn.errors import CompilerError, SimulationError

__all__ = ["BACKENDS", "check_backend", "use_c", "fall_back"]

#: The values of every ``backend`` argument.
BACKENDS = ("auto", "c", "numpy")

_WARNED: set = set()  # reasons already reported in this process


def check_backend(backend, error=SimulationError) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else ``error`` saying what is allowed."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise error(f"backend must be 'auto', 'c' or 'numpy', not {backend!r}")
    return backend


def use_c(backend: str, stacklevel: int = 2) -> bool:
    """Whether to run on C: see the module docstring.

    ``stacklevel`` locates the warning: 1 is the caller of ``use_c``, 2 its caller, ...

    Raises
    ------
    CompilerError
        ``backend="c"`` and no working compiler.
    """
    if backend == "numpy":
        return False
    from biosnn.codegen import c_build

    try:
        c_build.require_compiler()
    except CompilerError as exc:
        if backend == "c":
            raise
        fall_back(exc, stacklevel + 1)
        return False
    return True


def fall_back(exc: CompilerError, stacklevel: int = 2) -> None:
    """Under ``backend="auto"``: say (once per process and reason) that NumPy runs
    instead of C, and why (``stacklevel`` as for :func:`use_c`).
    """
    reason = " ".join(str(exc).split())
    if len(reason) > 600:
        reason = reason[:600] + " ..."
    if reason in _WARNED:
        return
    _WARNED.add(reason)
    warnings.warn(
        f"biosnn runs on NumPy (slower) instead of compiled C: {reason}. Pass "
        "backend='numpy' to choose NumPy without this warning, or "
        "backend='c' to make this an error.",
        RuntimeWarning,
        stacklevel=stacklevel + 1,
    )
