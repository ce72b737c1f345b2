"""The NumPy printer and kernels.

Golden strings are the printer's contract (Piecewise -> nested numpy.where, relations ->
ufuncs, exact float round trip); kernel values are compared with sympy's own evaluation
and the Jacobian with central differences.
"""

import linecache
import traceback

import numpy as np
import pytest
import sympy

from biosnn.codegen.numpy_backend import NumpyKernel, print_numpy
from biosnn.codegen.spec import KernelSpec

x, y, a, b = (sympy.Symbol(n, real=True) for n in "xyab")
t = sympy.Symbol("t", real=True)


@pytest.mark.parametrize(
    "expr,code",
    [
        (sympy.Piecewise((x, x > 0), (y, True)), "_np.where(_np.greater(x, 0), x, y)"),
        (
            sympy.Piecewise((x, x > 0), (2 * x, y < 1), (y, True)),
            "_np.where(_np.greater(x, 0), x, _np.where(_np.less(y, 1), 2*x, y))",
        ),
        (sympy.Piecewise((x, x > 0)), "_np.where(_np.greater(x, 0), x, _np.nan)"),
        (sympy.And(x > 0, y < 1), "_np.logical_and(_np.greater(x, 0), _np.less(y, 1))"),
        (sympy.Or(x > 0, y < 1), "_np.logical_or(_np.greater(x, 0), _np.less(y, 1))"),
        (sympy.Min(x, y), "_np.minimum(x, y)"),
        (sympy.Max(x, 2), "_np.maximum(2, x)"),
        (sympy.exp(-x), "_np.exp(-x)"),
        (sympy.Float(0.1) * x, "0.1*x"),
        (sympy.Float(1 / 3) * x, "0.3333333333333333*x"),
    ],
)
def test_printer_golden(expr, code):
    assert print_numpy(expr) == code


def test_safe_functions_print_and_run():
    from biosnn.codegen.functions import XOverExpm1

    assert print_numpy(XOverExpm1(x)) == "bs_xexpm1(x)"
    spec = KernelSpec(
        name="s",
        key="safe",
        states=("x",),
        params=(),
        noises=(),
        t=t,
        f=(XOverExpm1(x),),
        g=(),
        jac=((XOverExpm1(x).diff(x),),),
        dfdt=(sympy.S(0),),
    )
    k = NumpyKernel(spec)
    out = k.f(0.0, np.array([[0.0, 1.0]]), np.zeros((0, 2)))
    np.testing.assert_allclose(out[0], [1.0, 1 / np.expm1(1.0)])
    assert k.f1(0.0, [0.0], []) == [1.0]
    np.testing.assert_allclose(k.jac(0.0, np.array([[0.0]]), np.zeros((0, 1)))[0, 0, 0], -0.5)


def _spec():
    V, w, I, tau = (sympy.Symbol(n, real=True) for n in ("V", "w", "I", "tau"))
    f = (sympy.Piecewise((-V / tau + I, V < 1), (-V, True)) - w, 0.1 * (V - w))
    jac = tuple(tuple(sympy.diff(fi, s) for s in (V, w)) for fi in f)
    return KernelSpec(
        name="demo",
        key="demo-key",
        states=("V", "w"),
        params=("I", "tau"),
        noises=("xi",),
        t=t,
        f=f,
        g=((sympy.sqrt(tau),), (sympy.S(0),)),
        jac=jac,
        dfdt=(sympy.S(0),) * 2,
        threshold=V > 1,
        crossing=V - 1,
        reset=((0, sympy.S(0)), (1, w + V + 1)),
        refractory_time=tau / 10,
        aliases=(("drive", I - w),),
        exp_euler=((-1 / tau, I - w), None),
    )


@pytest.fixture(scope="module")
def kernel():
    return NumpyKernel(_spec())


def test_kernel_shapes_and_values(kernel):
    y = np.array([[0.5, 2.0, -1.0], [0.1, 0.2, 0.3]])
    p = np.array([[1.0, 2.0, 3.0], [10.0, 10.0, 20.0]])
    f = kernel.f(0.0, y, p)
    assert f.shape == (2, 3)
    spec = _spec()
    syms = {s.name: s for e in spec.f for s in e.free_symbols}
    for j in range(3):
        sub = {syms["V"]: y[0, j], syms["w"]: y[1, j], syms["I"]: p[0, j], syms["tau"]: p[1, j]}
        for i in range(2):
            assert f[i, j] == pytest.approx(float(spec.f[i].subs(sub)), rel=1e-14)
        assert kernel.f1(0.0, y[:, j].tolist(), p[:, j].tolist()) == pytest.approx(
            list(f[:, j]), rel=1e-15
        )
    assert kernel.g(0.0, y, p).shape == (2, 1, 3)
    np.testing.assert_allclose(kernel.g(0.0, y, p)[0, 0], np.sqrt(p[1]))
    np.testing.assert_array_equal(kernel.threshold(0.0, y, p), [False, True, False])
    np.testing.assert_allclose(kernel.crossing(0.0, y, p), y[0] - 1)
    np.testing.assert_allclose(kernel.refractory_time(0.0, y, p), p[1] / 10)
    assert kernel.refractory_condition(0.0, y, p).dtype == bool
    np.testing.assert_allclose(kernel.aliases(0.0, y, p)["drive"], p[0] - y[1])
    A, _B = kernel.exp_euler_AB(0.0, y, p)
    np.testing.assert_allclose(A[0], -1 / p[1])
    assert np.isnan(A[1]).all()


def test_jacobian_against_differences(kernel):
    y = np.array([[0.5, -2.0], [0.1, 0.7]])
    p = np.array([[1.0, 2.0], [10.0, 5.0]])
    J = kernel.jac(0.0, y, p)
    assert J.shape == (2, 2, 2)
    eps = 1e-6
    for j in range(2):
        d = np.zeros_like(y)
        d[j] = eps
        fd = (kernel.f(0.0, y + d, p) - kernel.f(0.0, y - d, p)) / (2 * eps)
        np.testing.assert_allclose(J[:, :, j], fd.T, atol=1e-8)


def test_reset_in_order_and_in_place(kernel):
    y = np.array([[2.0, 3.0, 0.5], [1.0, 1.0, 1.0]])
    p = np.ones((2, 3))
    kernel.reset(0.0, y, p, np.array([True, False, True]))
    # V = 0 first, then w = w + V + 1 sees the new V
    np.testing.assert_array_equal(y, [[0.0, 3.0, 0.0], [2.0, 1.0, 2.0]])


def test_scalar_parameters_broadcast(kernel):
    y = np.array([[0.5, 0.2], [0.1, 0.2]])
    p = [np.array(1.0), np.array(10.0)]
    assert kernel.f(0.0, y, p).shape == (2, 2)


def test_source_is_registered_with_linecache(kernel):
    lines = linecache.getlines(kernel.filename)
    assert "".join(lines) == kernel.source
    assert kernel.source.startswith('"""Generated by biosnn')
    try:
        kernel.f(0.0, np.zeros((1, 1)), np.zeros((2, 1)))  # wrong shape: fails inside
    except Exception as exc:  # noqa: BLE001
        text = "".join(traceback.format_exception(exc))
        assert kernel.filename in text and "_y[1]" in text


def test_state_names_cannot_shadow_arguments():
    """States called y and p (legal user names) do not clash with the kernel's arguments."""
    yy, pp = sympy.Symbol("y", real=True), sympy.Symbol("p", real=True)
    spec = KernelSpec(
        name="yp",
        key="yp",
        states=("y",),
        params=("p",),
        noises=(),
        t=t,
        f=(-pp * yy * sympy.cos(t),),
        g=(),
        jac=((-pp * sympy.cos(t),),),
        dfdt=(pp * yy * sympy.sin(t),),
    )
    k = NumpyKernel(spec)
    np.testing.assert_allclose(
        k.dfdt(0.5, np.array([[2.0]]), np.array([[3.0]])), [[3 * 2 * np.sin(0.5)]]
    )
