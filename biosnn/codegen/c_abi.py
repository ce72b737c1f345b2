"""The C ABI of the single-model kernels: ``bs_args`` as seen from Python.

Every C kernel exports ``int bs_run(bs_args *a)``.  ``bs_args`` is declared in C by
``runtime/bs_abi.h`` and mirrored here by :data:`ARG_FIELDS` (the ctypes
:class:`BsArgs`); ``tests/codegen/test_c_runtime.py`` checks that the two agree field by
field.  Everything that may change between runs (parameters, y0, dt, tolerances,
tableau, controller, stimuli, seed, record settings, buffers) is a field, so changing it
never recompiles.  Return codes are :data:`STATUS` (the ``BS_*`` enum of ``bs_abi.h``).
"""

from __future__ import annotations

import ctypes

from biosnn.errors import MethodError
from biosnn.solvers.request import ADAPTIVE, FIXED_STEP, STIFF, STOCHASTIC

__all__ = [
    "ARG_FIELDS",
    "BLOCK",
    "FAMILIES",
    "FIXED_CODES",
    "SMAX",
    "STATUS",
    "BsArgs",
    "family_of",
]

#: Driver family of each method.
FAMILIES = {
    **{m: "fixed" for m in FIXED_STEP + STOCHASTIC},
    **{m: "adaptive" for m in ADAPTIVE},
    **{m: "rodas" for m in STIFF},
}
#: Method codes of the fixed-step driver.
FIXED_CODES = {"exponential_euler": 1, "exact": 2, "euler_maruyama": 3, "stochastic_heun": 4}
#: Return codes of ``bs_run`` (``BS_OK`` ... ``BS_STOP`` in ``bs_abi.h``).
STATUS = {
    0: "ok",
    1: "spike buffer full",
    2: "non-finite state",
    3: "max_steps exceeded",
    4: "step size underflow",
    5: "singular iteration matrix",
    6: "out of memory",
    7: "interrupted",
}
#: Lanes of a block of the fixed-step driver (instances processed together, SoA).
BLOCK = 8
SMAX = 20  # largest number of stages of a tableau

_I, _D, _U, _PI, _PD = "int64_t", "double", "uint64_t", "int64_t *", "double *"
#: Layout of ``bs_args`` (the C struct of ``runtime/bs_abi.h``, field by field).
ARG_FIELDS = (
    ("n", _I),
    ("i_start", _I),
    ("method", _I),
    ("t0", _D),
    ("t1", _D),
    ("dt", _D),
    ("rtol", _D),
    ("atol", _D),
    ("n_steps", _I),
    ("record_every", _I),
    ("record_dt", _D),
    ("n_rec", _I),
    ("n_record", _I),
    ("record_states", _PI),
    ("y0", _PD),
    ("params", _PD),
    ("y_rec", _PD),
    ("y_final", _PD),
    ("n_stim", _I),
    ("stim_param", _PI),
    ("stim_kind", _PI),
    ("stim_ntimes", _PI),
    ("stim_ncols", _PI),
    ("stim_toff", _PI),
    ("stim_voff", _PI),
    ("stim_times", _PD),
    ("stim_values", _PD),
    ("n_bp", _I),
    ("bp", _PD),
    ("key", _U),
    ("max_steps", _I),
    ("prop", _PD),
    ("prop_ncols", _I),
    ("s", _I),
    ("s_total", _I),
    ("q", _I),
    ("fsal", _I),
    ("has_low", _I),
    ("c", _PD),
    ("A", _PD),
    ("b", _PD),
    ("b_err", _PD),
    ("b_err_low", _PD),
    ("dense", _PD),
    ("ros_d", _PD),
    ("ros_C", _PD),
    ("gamma", _D),
    ("safety", _D),
    ("fac_min", _D),
    ("fac_max", _D),
    ("beta1", _D),
    ("beta2", _D),
    ("expo_rej", _D),
    ("spike_cap", _I),
    ("n_spikes", _I),
    ("spike_index", _PI),
    ("spike_time", _PD),
    ("stats", _PI),
    ("fail_instance", _I),
    ("fail_var", _I),
    ("fail_time", _D),
    ("n_threads", _I),
    ("spike_need", _I),
    ("stash", _PD),
    ("stash_n", _I),
    ("stop", _PI),  # Ctrl-C: the drivers return BS_STOP once *stop != 0
)

_CTYPES = {
    _I: ctypes.c_int64,
    _D: ctypes.c_double,
    _U: ctypes.c_uint64,
    _PI: ctypes.c_void_p,
    _PD: ctypes.c_void_p,
}


class BsArgs(ctypes.Structure):
    """ctypes mirror of the C ``bs_args`` struct."""

    _fields_ = [(name, _CTYPES[kind]) for name, kind in ARG_FIELDS]


def family_of(method: str) -> str:
    """Driver family (``fixed``, ``adaptive``, ``rodas``) of a method name.

    Examples
    --------
    >>> family_of("rk4"), family_of("dop853"), family_of("rodas4")
    ('fixed', 'adaptive', 'rodas')
    """
    try:
        return FAMILIES[method]
    except KeyError:
        raise MethodError(
            f"unknown method {method!r}; choose one of {', '.join(FAMILIES)}."
        ) from None
