"""The matrix exponential in NumPy (scaling and squaring with a Padé approximant).

``method="exact"`` needs ``expm([[A, b], [0, 0]]*dt)`` once per run.  scipy's
``scipy.linalg.expm`` would cost its import (0.2-0.9 s) in every new process, so this is
the algorithm of Higham (2005), "The scaling and squaring method for the matrix
exponential revisited", SIAM J. Matrix Anal. Appl. 26(4):1179-1193, Algorithm 2.3:
choose the lowest Padé degree m in {3, 5, 7, 9, 13} whose bound theta_m covers the
1-norm of A; beyond theta_13, divide A by 2**s so that it does, and square the result s
times.  Backward error below the unit roundoff (Higham's Table 2.3); the tests compare it
with ``scipy.linalg.expm``.

Examples
--------
>>> import numpy as np
>>> from biosnn.solvers.expm import expm
>>> float(expm(np.array([[1.0]]))[0, 0]) == float(np.exp(1.0))
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["expm"]

#: Padé coefficients b_k of degree m (Higham 2005, eq. 2.3 / Table 2.3).
_B = {
    3: (120.0, 60.0, 12.0, 1.0),
    5: (30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0),
    7: (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0),
    9: (
        17643225600.0,
        8821612800.0,
        2075673600.0,
        302702400.0,
        30270240.0,
        2162160.0,
        110880.0,
        3960.0,
        90.0,
        1.0,
    ),
    13: (
        64764752532480000.0,
        32382376266240000.0,
        7771770303897600.0,
        1187353796428800.0,
        129060195264000.0,
        10559470521600.0,
        670442572800.0,
        33522128640.0,
        1323241920.0,
        40840800.0,
        960960.0,
        16380.0,
        182.0,
        1.0,
    ),
}
#: Largest 1-norm for which degree m has backward error <= 2**-53 (Higham, Table 2.3).
_THETA = (
    (3, 1.495585217958292e-2),
    (5, 2.539398330063230e-1),
    (7, 9.504178996162932e-1),
    (9, 2.097847961257068e0),
)
_THETA13 = 5.371920351148152


def _pade(A, m):
    """(U, V): the odd and even parts of the degree-m Padé numerator."""
    b = _B[m]
    eye = np.eye(A.shape[0])
    A2 = A @ A
    if m != 13:
        powers = [eye, A2]
        while len(powers) < (m + 1) // 2:
            powers.append(powers[-1] @ A2)
        U = A @ sum(b[2 * k + 1] * P for k, P in enumerate(powers))
        V = sum(b[2 * k] * P for k, P in enumerate(powers))
        return U, V
    A4 = A2 @ A2
    A6 = A4 @ A2
    U = A @ (
        A6 @ (b[13] * A6 + b[11] * A4 + b[9] * A2) + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye
    )
    V = A6 @ (b[12] * A6 + b[10] * A4 + b[8] * A2) + b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye
    return U, V


def expm(A) -> np.ndarray:
    """``exp(A)`` of a square float matrix.

    Parameters
    ----------
    A : array_like, shape (n, n)

    Returns
    -------
    ndarray, shape (n, n)

    Raises
    ------
    ValueError
        If ``A`` is not a finite square matrix.
    """
    A = np.array(A, dtype=float)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"expm needs a square matrix, got shape {A.shape}")
    if not np.isfinite(A).all():
        raise ValueError("expm needs a finite matrix")
    if A.size == 0:
        return A
    norm = float(np.abs(A).sum(axis=0).max())
    for m, theta in _THETA:
        if norm <= theta:
            U, V = _pade(A, m)
            return np.linalg.solve(V - U, V + U)
    s = max(0, int(np.ceil(np.log2(norm / _THETA13))))
    U, V = _pade(A / 2.0**s, 13)
    R = np.linalg.solve(V - U, V + U)
    for _ in range(s):
        R = R @ R
    return R
