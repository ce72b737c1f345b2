"""biosnn.solvers.expm (the exact propagators of simulate and of network populations)
against scipy.linalg.expm and the scalar exponential.
"""

import numpy as np
import pytest
import scipy.linalg

from biosnn.solvers.expm import expm


@pytest.mark.parametrize("scale", [1e-3, 0.1, 1.0, 30.0])
def test_expm_matches_scipy(scale):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 5)) * scale
    ref = scipy.linalg.expm(a)
    # error relative to the largest entry (exp of a non-normal matrix with a large norm is
    # ill-conditioned entry by entry; scaling and squaring is accurate in norm)
    assert np.abs(expm(a) - ref).max() <= 1e-11 * np.abs(ref).max()


def test_expm_of_a_decay_is_the_exponential():
    # dv/dt = -v/tau over dt: exp(-dt/tau) (analytic)
    assert expm(np.array([[-0.1 / 20.0]]))[0, 0] == pytest.approx(np.exp(-0.005), rel=1e-15)
