"""biosnn.network._vmath: C and NumPy twins are bitwise equal and within 2 ulp of libm.

The reference is the platform libm (NumPy's float64 exp/expm1 call it here; see
test_engines.test_libm_exp_equals_numpy_exp), itself within 1 ulp of the true values.
"""

import ctypes
import subprocess

import numpy as np
import pytest

from biosnn.codegen import c_build
from biosnn.network import _vmath

needs_c = pytest.mark.skipif(not c_build.compiler_available(), reason="needs a C compiler")

EDGES = np.array(
    [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        np.nan,
        1e-300,
        -1e-300,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        1e-10,
        -1e-10,
        0.34657359027997264,
        -0.34657359027997264,
        1.0,
        -1.0,
        36.7,
        -36.7,
        37.5,
        -37.5,
        45.0,
        -45.0,
        709.0,
        709.78,
        709.782712893384,
        709.7827128933841,
        710.0,
        1000.0,
        -708.3964185322641,
        -708.4,
        -744.0,
        -745.13,
        -745.1332191019411,
        -745.1332191019412,
        -746.0,
        -1000.0,
    ]
)


def _sample():
    rng = np.random.default_rng(7)
    tiny = np.ldexp(rng.uniform(-1.0, 1.0, 20000), rng.integers(-1074, 0, 20000))
    return np.concatenate(
        [
            EDGES,
            rng.uniform(-750.0, 750.0, 60000),
            rng.uniform(-40.0, 40.0, 60000),
            rng.uniform(-1.0, 1.0, 40000),
            tiny,
        ]
    )


def ulps(a, b):
    """Distance in units in the last place (0 for equal values and for two NaNs)."""
    ia = np.asarray(a, np.float64).view(np.int64)
    ib = np.asarray(b, np.float64).view(np.int64)
    ia = np.where(ia < 0, np.int64(-(2**63)) - ia, ia)  # monotone integer order
    ib = np.where(ib < 0, np.int64(-(2**63)) - ib, ib)
    d = np.abs(ia - ib).astype(float)
    d[(np.isnan(a) & np.isnan(b)) | (np.asarray(a) == np.asarray(b))] = 0.0
    return d


@pytest.fixture(scope="module")
def clib(tmp_path_factory):
    from biosnn.network._cengine import _flags

    compiler = c_build.find_compiler()
    d = tmp_path_factory.mktemp("vmath")
    src = d / "vmath.c"
    src.write_text(
        "#include <math.h>\n#include <stdint.h>\n#include <string.h>\n"
        + _vmath.C_SOURCE
        + "".join(
            f"void v_{f}(const double *restrict x, double *restrict y, long n) "
            f"{{ for (long i = 0; i < n; ++i) y[i] = bsn_{f}(x[i]); }}\n"
            for f in ("exp", "expm1", "xexpm1")
        )
    )
    lib = d / "vmath.so"
    subprocess.run([*compiler.argv, *_flags(compiler), "-o", str(lib), str(src), "-lm"], check=True)
    return ctypes.CDLL(str(lib))


def _c(clib, name, x):
    x = np.ascontiguousarray(x, np.float64)
    y = np.empty_like(x)
    getattr(clib, f"v_{name}")(
        ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(y.ctypes.data), ctypes.c_long(x.size)
    )
    return y


@needs_c
@pytest.mark.parametrize("name", ["exp", "expm1", "xexpm1"])
def test_c_and_numpy_bitwise_equal(clib, name):
    x = _sample()
    ours = getattr(_vmath, name)(x)
    theirs = _c(clib, name, x)
    assert np.array_equal(ours.view(np.int64), theirs.view(np.int64))


@pytest.mark.parametrize("name, ref", [("exp", np.exp), ("expm1", np.expm1)])
def test_within_two_ulp_of_libm(name, ref):
    x = _sample()
    with np.errstate(all="ignore"):
        d = ulps(getattr(_vmath, name)(x), ref(x))
    assert d.max() <= 2
    assert d.mean() < 0.1  # mostly correctly rounded


def test_edge_values():
    with np.errstate(all="ignore"):
        e = _vmath.exp(np.array([0.0, -0.0, np.inf, -np.inf, 709.8, -745.2, 1.0]))
        m = _vmath.expm1(np.array([0.0, -0.0, np.inf, -np.inf, 709.8, -60.0, 1e-300]))
    assert e.tolist()[:6] == [1.0, 1.0, np.inf, 0.0, np.inf, 0.0]
    assert ulps(e[6:], np.array([np.e]))[0] <= 1  # e, within 1 ulp
    assert m.tolist() == [0.0, -0.0, np.inf, -1.0, np.inf, -1.0, 1e-300]
    assert np.signbit(m[1]) and not np.signbit(m[0])  # expm1(-0) = -0 (IEEE, libm)
    assert np.isnan(_vmath.exp(np.nan)) and np.isnan(_vmath.expm1(np.nan))
    # the smallest subnormal: exp(-744.44) = 4.94e-324 * 1.0... (libm agrees)
    assert _vmath.exp(-744.44) == np.exp(-744.44) > 0


def test_xexpm1_is_biosnn_safe_function():
    from biosnn.codegen.functions import NUMPY_FUNCTIONS

    x = np.concatenate([np.linspace(-50, 50, 10001), [0.0, 1e-6, -1e-6, 1e-5, 800.0]])
    ref = NUMPY_FUNCTIONS["bs_xexpm1"](x)
    assert ulps(_vmath.xexpm1(x), ref).max() <= 3  # one division more than expm1
    assert _vmath.xexpm1(0.0) == 1.0


def test_respell():
    c = "const double c0_5 = 1.28*bs_xexpm1(x) + exp(y) - expm1(A_0*dt) + myexp(z);"
    assert _vmath.respell_c(c) == (
        "const double c0_5 = 1.28*bsn_xexpm1(x) + bsn_exp(y) - bsn_expm1(A_0*dt) + myexp(z);"
    )
    py = "c0_5 = 1.28*bs_xexpm1(x) + _np.exp(y) - _np.expm1(A_0*dt) + _np.log(z)"
    assert _vmath.respell_py(py) == (
        "c0_5 = 1.28*_vm_xexpm1(x) + _vm_exp(y) - _vm_expm1(A_0*dt) + _np.log(z)"
    )
    assert set(_vmath.NAMESPACE) == {"_vm_exp", "_vm_expm1", "_vm_xexpm1"}
