"""biosnn.codegen.safe_numpy: the safe functions without sympy.

Reference values: the Bernoulli numbers by the textbook recurrence
``B_m = -sum_{k<m} C(m+1, k) B_k / (m+1)`` and the published ``B_12 = -691/2730``,
``B_20 = -174611/330``; the functions against their sympy-side definitions in
biosnn.codegen.functions (the claim is equality of the bits) and the closed forms
``x/(exp(x) - 1)`` at 0 (1) and its derivative at 0 (-1/2).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np

from biosnn.codegen import safe_numpy


def _recurrence(n_max):
    b = [Fraction(0)] * (n_max + 1)
    b[0] = Fraction(1)
    for m in range(1, n_max + 1):
        b[m] = -sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1)
    return b


def test_bernoulli_numbers_are_the_recurrence_and_the_published_values():
    for n in (0, 1, 2, 7, 40):
        assert safe_numpy._bernoulli_numbers(n) == _recurrence(n)
    b = safe_numpy._bernoulli_numbers(20)
    assert b[1] == Fraction(-1, 2) and b[12] == Fraction(-691, 2730)
    assert b[20] == Fraction(-174611, 330)


def test_same_bits_as_the_functions_module():
    from biosnn.codegen import functions
    from biosnn.codegen.numpy_backend import _safe_functions

    x = np.concatenate([np.linspace(-40, 40, 20001), [0.0, 1e-7, -1e-6, 2.0, -3.5]])
    assert set(safe_numpy.NUMPY_FUNCTIONS) == set(functions.NUMPY_FUNCTIONS)
    for name, fun in functions.NUMPY_FUNCTIONS.items():
        assert np.array_equal(safe_numpy.NUMPY_FUNCTIONS[name](x), fun(x), equal_nan=True)
    ours, theirs = safe_numpy.kernel_namespace(), _safe_functions()
    assert set(ours) == set(theirs)
    for name in (n for n in theirs if n.startswith("_s_")):
        for v in (0.0, 1e-7, -2.5, 3.0, 30.0):
            assert ours[name](v) == theirs[name](v)


def test_closed_forms_at_zero():
    f = safe_numpy.NUMPY_FUNCTIONS
    assert float(f["bs_xexpm1"](0.0)) == 1.0
    assert float(f["bs_xexpm1_d1"](0.0)) == -0.5


def test_imports_no_sympy():
    code = (
        "import sys, biosnn.codegen.safe_numpy as s; s.kernel_namespace(); "
        "print('sympy' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
