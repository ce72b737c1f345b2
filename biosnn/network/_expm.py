"""Matrix exponential for small matrices (Higham 2005, scaling and squaring with the
[13/13] Pade approximant), in NumPy: the exact propagator of linear populations is
computed on the warm path, where scipy is not imported.  Tested against
``scipy.linalg.expm`` in tests/network/test_expm.py.
"""

from __future__ import annotations

import numpy as np

__all__ = ["expm"]

_B = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
      129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
      40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def expm(a) -> np.ndarray:
    """exp(a) for a square float matrix ``a``.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(expm(np.array([[0.0, 1.0], [0.0, 0.0]]))[0, 1]), 12)
    1.0
    """
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError("expm needs a square matrix")
    n = a.shape[0]
    norm = np.abs(a).sum(axis=0).max() if n else 0.0
    s = 0
    if norm > _THETA13:
        s = int(np.ceil(np.log2(norm / _THETA13)))
    a = a / (2.0 ** s)
    ident = np.eye(n)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    b = _B
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
             + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * ident)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 \
        + b[0] * ident
    r = np.linalg.solve(v - u, v + u)
    for _ in range(s):
        r = r @ r
    return r
