"""Integration methods as data: checked Butcher and Rosenbrock tableaux.

Every explicit Runge-Kutta method of biosnn is a :class:`ButcherTableau`, a frozen value
object that checks itself when it is built (A strictly lower triangular, row sums equal to
``c``, weights summing to one, error weights summing to zero, and the order conditions of
every rooted tree up to the declared order, for the method, its embedded method(s) and its
dense output).  One generic stepper (:mod:`biosnn.solvers.drivers`, and the C drivers of
:mod:`biosnn.codegen.c_backend`) runs any of them.  The stiff method ``rodas4`` is a
:class:`RosenbrockTableau`, checked against the Rosenbrock order conditions.

Conventions of :class:`ButcherTableau` (shared by the NumPy and the C drivers)
------------------------------------------------------------------------------
A step of size ``h`` from ``(t0, y0)`` evaluates the stages ::

    k_i = f(t0 + c[i]*h, y0 + h * sum_{j<i} A[i, j] * k_j),   i = 0 .. s_total-1

* Stages ``0 .. s-1`` (``s = n_stages = len(b)``) are the stages of the step::

      y1  = y0 + h * sum_{i<s} b[i] * k_i
      err = h * sum_{i<s} b_err[i] * k_i          (b_err = b - b_hat)

* Stages ``s .. s_total-1`` are *extra* stages, evaluated only when dense output is needed
  in the step (DOP853 needs four: its stage 12 is ``f(t0 + h, y1)``, stages 13-15 are new).
  They use the same formula, so they may use any earlier stage, including the stage at
  the new point.
* The *new-point stage* (:attr:`ButcherTableau.new_point_stage`) is the stage whose row of
  ``A`` equals ``b`` and whose ``c`` is 1: it is ``f(t0 + h, y1)``.  When it exists the
  method is FSAL (:attr:`ButcherTableau.fsal`): after an accepted step that is not
  followed by a reset or a restart, the next step reuses it as its ``k_0``.  It is found,
  never declared.
* Dense output (``dense`` of shape (s_total, q))::

      y(t0 + theta*h) = y0 + h * sum_i k_i * sum_j dense[i, j] * theta**(j+1),  0<=theta<=1

* Error norm: ``sqrt(mean_i (err_i / (atol + rtol*max(|y0_i|, |y1_i|)))**2)`` per instance.
  When ``b_err_low`` is given (DOP853), the norm is Hairer's combination of the two
  estimators (Hairer, Norsett & Wanner I, II.10, code DOP853)::

      e5 = sum_i (err_i/sc_i)**2,  e3 = sum_i (err_low_i/sc_i)**2   (err_low = h*sum b_err_low k)
      norm = e5 / sqrt(n_states * (e5 + 0.01*e3))     (norm = 0 when e5 + 0.01*e3 == 0)

  which behaves like ``h**order``.  :attr:`ButcherTableau.error_exponent_order` is the
  power of ``h`` of the norm that the step-size controller uses: ``error_order + 1``,
  or ``order`` for the combined estimator.

References
----------
* E. Hairer, S. P. Norsett, G. Wanner, *Solving Ordinary Differential Equations I*, 2nd ed.,
  Springer 1993: order conditions and rooted trees (II.2), Dormand-Prince 5(4) with
  Shampine's dense output (II.5, II.6), DOP853 (II.5, II.10; coefficients of the code
  DOP853 by Hairer & Wanner).
* J. R. Dormand, P. J. Prince, "A family of embedded Runge-Kutta formulae",
  J. Comput. Appl. Math. 6 (1980) 19-26.
* L. F. Shampine, "Some practical Runge-Kutta formulas", Math. Comp. 46 (1986) 135-150.
* P. Bogacki, L. F. Shampine, "A 3(2) pair of Runge-Kutta formulas", Appl. Math. Lett.
  2 (1989) 321-325.
* E. Hairer, G. Wanner, *Solving Ordinary Differential Equations II*, 2nd ed., Springer
  1996, VI.4 (Rosenbrock methods, RODAS) and the code RODAS (coefficients METH = 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

__all__ = [
    "ROSENBROCK",
    "TABLEAUX",
    "ButcherTableau",
    "RosenbrockTableau",
    "order_residuals",
    "rooted_trees",
    "rosenbrock_residuals",
]

_TOL = 1e-11


# --------------------------------------------------------------------------------------
# rooted trees and order conditions
# --------------------------------------------------------------------------------------
@cache
def rooted_trees(order: int) -> tuple:
    """All rooted trees with ``order`` vertices, as canonical nested tuples.

    A tree is the sorted tuple of its subtrees (the single vertex is ``()``).  There are
    1, 1, 2, 4, 9, 20, 48, 115 trees of orders 1..8 (Hairer, Norsett & Wanner I, II.2).
    """
    if order == 1:
        return ((),)
    trees = set()
    for forest in _forests(order - 1, order - 1):
        trees.add(tuple(sorted(forest)))
    return tuple(sorted(trees))


def _forests(n: int, max_part: int):
    """Multisets of trees with ``n`` vertices in total (parts of size <= max_part)."""
    if n == 0:
        yield ()
        return
    for size in range(min(n, max_part), 0, -1):
        for tree in rooted_trees(size):
            for rest in _forests(n - size, size):
                if rest and _tree_size(rest[0]) == size and rest[0] < tree:
                    continue  # canonical: non-increasing order within the same size
                yield (tree,) + rest


@cache
def _tree_size(tree: tuple) -> int:
    return 1 + sum(_tree_size(sub) for sub in tree)


@cache
def _density(tree: tuple) -> int:
    """gamma(t): |t| * product of the densities of the subtrees."""
    out = _tree_size(tree)
    for sub in tree:
        out *= _density(sub)
    return out


def _stage_weights(A: np.ndarray, tree: tuple, cache: dict) -> np.ndarray:
    """Vector g(t) with b . g(t) the elementary weight Phi(t) (product of A @ g(subtree))."""
    if tree in cache:
        return cache[tree]
    out = np.ones(A.shape[0])
    for sub in tree:
        out = out * (A @ _stage_weights(A, sub, cache))
    cache[tree] = out
    return out


def order_residuals(A: np.ndarray, b: np.ndarray, order: int) -> float:
    """Largest |Phi(t) - 1/gamma(t)| over all trees with at most ``order`` vertices.

    ``b`` may be shorter than ``A`` (it is padded with zeros).
    """
    A = np.asarray(A, float)
    bb = np.zeros(A.shape[0])
    bb[: len(b)] = b
    cache: dict = {}
    worst = 0.0
    for p in range(1, order + 1):
        for tree in rooted_trees(p):
            phi = bb @ _stage_weights(A, tree, cache)
            worst = max(worst, abs(phi - 1.0 / _density(tree)))
    return worst


def _dense_residuals(A: np.ndarray, dense: np.ndarray, order: int) -> float:
    """Largest violation of the continuous order conditions of the dense output.

    For every tree t with |t| <= order the polynomial sum_i b_i(theta) g_i(t) must equal
    theta**|t| / gamma(t); coefficient j (power theta**(j+1)) is compared.
    """
    cache: dict = {}
    worst = 0.0
    for p in range(1, order + 1):
        for tree in rooted_trees(p):
            coeffs = dense.T @ _stage_weights(A, tree, cache)
            target = np.zeros(dense.shape[1])
            if p > dense.shape[1]:  # a polynomial of lower degree cannot match theta**p
                worst = max(worst, 1.0 / _density(tree))
                continue
            target[p - 1] = 1.0 / _density(tree)
            worst = max(worst, float(np.max(np.abs(coeffs - target))))
    return worst


# --------------------------------------------------------------------------------------
# ButcherTableau
# --------------------------------------------------------------------------------------
def _frozen(x) -> np.ndarray | None:
    if x is None:
        return None
    arr = np.array(x, dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class ButcherTableau:
    """An explicit Runge-Kutta method, checked on construction (see module docstring).

    Parameters
    ----------
    name : str
        Method name (the public API name, e.g. ``"rk45"``).
    c : array, shape (s_total,)
        Nodes.
    A : array, shape (s_total, s_total)
        Strictly lower triangular coefficients (rows ``s..`` are extra dense-output stages).
    b : array, shape (s,)
        Weights of the propagated solution; ``s = len(b)`` is the number of stages of a step.
    b_err : array, shape (s,), or None
        Error weights ``b - b_hat`` (sum zero); None for fixed-step-only methods.
    order : int
        Order of the propagated solution (checked).
    error_order : int or None
        Order of the embedded solution ``b - b_err`` (checked).
    dense : array, shape (s_total, q), or None
        Dense output coefficients, see module docstring.
    dense_order : int or None
        Order of the dense output (checked).
    b_err_low : array, shape (s,), or None
        Second, lower-order error estimator (DOP853's order-3 one), combined as in Hairer's
        code; ``low_order`` is the order of ``b - b_err_low`` (checked).
    reference : str
        Where the coefficients come from.

    Raises
    ------
    ValueError
        If any consistency or order condition fails (the message says which).

    Examples
    --------
    >>> from biosnn.solvers.tableaux import TABLEAUX
    >>> rk45 = TABLEAUX["rk45"]
    >>> rk45.n_stages, rk45.fsal, rk45.new_point_stage
    (7, True, 6)
    """

    name: str
    c: np.ndarray
    A: np.ndarray
    b: np.ndarray
    b_err: np.ndarray | None = None
    order: int = 1
    error_order: int | None = None
    dense: np.ndarray | None = None
    dense_order: int | None = None
    b_err_low: np.ndarray | None = None
    low_order: int | None = None
    reference: str = ""

    def __post_init__(self):
        for name in ("c", "A", "b", "b_err", "dense", "b_err_low"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        self._check_shapes()
        self._check_consistency()
        self._check_orders()

    # checks ---------------------------------------------------------------------------
    def _fail(self, what: str):
        raise ValueError(f"Butcher tableau {self.name!r}: {what}")

    def _check_shapes(self):
        st, s = self.c.shape[0], self.b.shape[0]
        if self.c.ndim != 1 or self.A.shape != (st, st) or s > st or s < 1:
            self._fail(f"inconsistent shapes c {self.c.shape}, A {self.A.shape}, b {self.b.shape}")
        for name in ("b_err", "b_err_low"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (s,):
                self._fail(f"{name} must have shape ({s},), got {arr.shape}")
        if self.dense is not None and (self.dense.ndim != 2 or self.dense.shape[0] != st):
            self._fail(f"dense must have shape ({st}, q), got {self.dense.shape}")

    def _check_consistency(self):
        if np.any(np.triu(self.A) != 0):
            self._fail("A is not strictly lower triangular (the method would be implicit)")
        rows = self.A.sum(axis=1)
        if not np.allclose(rows, self.c, rtol=0, atol=_TOL):
            bad = int(np.argmax(np.abs(rows - self.c)))
            self._fail(f"row {bad} of A sums to {rows[bad]!r}, but c[{bad}] = {self.c[bad]!r}")
        if abs(self.b.sum() - 1.0) > _TOL:
            self._fail(f"weights b sum to {self.b.sum()!r}, not 1")
        for name in ("b_err", "b_err_low"):
            arr = getattr(self, name)
            if arr is not None and abs(arr.sum()) > _TOL:
                self._fail(f"error weights {name} sum to {arr.sum()!r}, not 0")
        if self.dense is not None:
            at_one = self.dense.sum(axis=1)
            target = np.zeros(self.c.shape[0])
            target[: self.n_stages] = self.b
            if not np.allclose(at_one, target, rtol=0, atol=1e-10):
                self._fail("dense output at theta = 1 does not reproduce the step (b)")

    def _check_orders(self):
        checks = [("method", self.b, self.order)]
        if self.b_err is not None:
            if self.error_order is None:
                self._fail("b_err given without error_order")
            checks.append(("embedded method (b - b_err)", self.b - self.b_err, self.error_order))
        if self.b_err_low is not None:
            checks.append(
                (
                    "low embedded method (b - b_err_low)",
                    self.b - self.b_err_low,
                    self.low_order or 1,
                )
            )
        for what, weights, order in checks:
            res = order_residuals(self.A, weights, order)
            if res > 1e-10:
                self._fail(
                    f"the {what} violates an order-{order} condition (largest residual {res:.3g})"
                )
        if self.dense is not None:
            res = _dense_residuals(self.A, self.dense, self.dense_order or 1)
            if res > 1e-9:
                self._fail(
                    f"the dense output violates an order-{self.dense_order} condition "
                    f"(largest residual {res:.3g})"
                )

    # derived --------------------------------------------------------------------------
    @property
    def n_stages(self) -> int:
        """s: stages of a step (``len(b)``)."""
        return int(self.b.shape[0])

    @property
    def n_stages_total(self) -> int:
        """s_total: stages including the extra dense-output stages."""
        return int(self.c.shape[0])

    @property
    def adaptive(self) -> bool:
        """True when the method has an error estimator."""
        return self.b_err is not None

    @property
    def new_point_stage(self) -> int | None:
        """Index of the stage equal to ``f(t0 + h, y1)``, or None."""
        s = self.n_stages
        for i in range(1, self.n_stages_total):
            row = np.zeros(self.n_stages_total)
            row[:s] = self.b
            if (
                self.c[i] == 1.0
                and np.array_equal(self.A[i], np.where(np.arange(len(row)) < i, row, 0.0))
                and not np.any(row[i:])
            ):
                return i
        return None

    @property
    def fsal(self) -> bool:
        """First Same As Last: the next step can reuse the new-point stage as its k_0."""
        return self.new_point_stage is not None

    @property
    def error_exponent_order(self) -> int | None:
        """Power of h of the error norm (what the step-size controller assumes)."""
        if self.b_err is None:
            return None
        if self.b_err_low is not None:
            return self.order
        return self.error_order + 1

    def dense_weights(self, theta) -> np.ndarray:
        """b_i(theta) for theta of shape (m,): array (s_total, m)."""
        theta = np.atleast_1d(np.asarray(theta, float))
        powers = theta[None, :] ** np.arange(1, self.dense.shape[1] + 1)[:, None]
        return self.dense @ powers

    def __repr__(self) -> str:
        kind = "adaptive" if self.adaptive else "fixed-step"
        return (
            f"ButcherTableau({self.name!r}, order={self.order}, stages={self.n_stages}, "
            f"{kind}, fsal={self.fsal})"
        )


# --------------------------------------------------------------------------------------
# the catalogue
# --------------------------------------------------------------------------------------
def _lower(rows, n):
    A = np.zeros((n, n))
    for i, row in enumerate(rows):
        A[i + 1, : len(row)] = row
    return A


def _euler():
    return ButcherTableau(
        "euler",
        c=[0.0],
        A=[[0.0]],
        b=[1.0],
        order=1,
        reference="Euler (1768); Hairer, Norsett & Wanner I, II.1",
    )


def _midpoint():
    return ButcherTableau(
        "midpoint",
        c=[0.0, 0.5],
        A=[[0, 0], [0.5, 0]],
        b=[0.0, 1.0],
        order=2,
        reference="Runge (1895); Hairer, Norsett & Wanner I, II.1",
    )


def _heun():
    return ButcherTableau(
        "heun",
        c=[0.0, 1.0],
        A=[[0, 0], [1.0, 0]],
        b=[0.5, 0.5],
        order=2,
        reference="Heun (1900), explicit trapezoidal rule; HNW I, II.1",
    )


def _rk4():
    A = _lower([[0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], 4)
    return ButcherTableau(
        "rk4",
        c=[0, 0.5, 0.5, 1.0],
        A=A,
        b=[1 / 6, 1 / 3, 1 / 3, 1 / 6],
        order=4,
        reference="Kutta (1901), the classical RK4; HNW I, II.1",
    )


def _rk23():
    # Bogacki & Shampine (1989).  Stage 3 is f(t0+h, y1) (FSAL); the dense output is the
    # cubic Hermite interpolant through y0, f0, y1, f1 (order 3).
    A = _lower([[1 / 2], [0, 3 / 4], [2 / 9, 1 / 3, 4 / 9]], 4)
    b = [2 / 9, 1 / 3, 4 / 9, 0.0]
    b_hat = [7 / 24, 1 / 4, 1 / 3, 1 / 8]
    dense = [[1, -4 / 3, 5 / 9], [0, 1, -2 / 3], [0, 4 / 3, -8 / 9], [0, -1, 1]]
    return ButcherTableau(
        "rk23",
        c=[0, 1 / 2, 3 / 4, 1],
        A=A,
        b=b,
        b_err=np.subtract(b, b_hat),
        order=3,
        error_order=2,
        dense=dense,
        dense_order=3,
        reference="Bogacki & Shampine, Appl. Math. Lett. 2 (1989) 321-325",
    )


def _rk45():
    # Dormand & Prince (1980), HNW I, Table II.5.2; dense output of Shampine (1986),
    # HNW I, II.6 (order 4).  Stage 6 is f(t0+h, y1) (FSAL).
    A = _lower(
        [
            [1 / 5],
            [3 / 40, 9 / 40],
            [44 / 45, -56 / 15, 32 / 9],
            [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
            [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
            [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
        ],
        7,
    )
    b = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0]
    b_hat = [5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40]
    dense = [
        [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
        [0, 0, 0, 0],
        [0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
        [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
        [0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
        [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
        [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
    ]
    return ButcherTableau(
        "rk45",
        c=[0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1],
        A=A,
        b=b,
        b_err=np.subtract(b, b_hat),
        order=5,
        error_order=4,
        dense=dense,
        dense_order=4,
        reference="Dormand & Prince, J. Comput. Appl. Math. 6 (1980) 19-26; dense output "
        "Shampine, Math. Comp. 46 (1986) 135-150; HNW I, II.5-II.6",
    )


# DOP853 (Hairer & Wanner's code DOP853, HNW I, II.5 and II.10).  Nonzero entries by the
# code's 1-based names: stage i, column j.
_DOP853_C = {
    2: 0.526001519587677318785587544488e-01,
    3: 0.789002279381515978178381316732e-01,
    4: 0.118350341907227396726757197510e00,
    5: 0.281649658092772603273242802490e00,
    6: 0.333333333333333333333333333333e00,
    7: 0.25e00,
    8: 0.307692307692307692307692307692e00,
    9: 0.651282051282051282051282051282e00,
    10: 0.6e00,
    11: 0.857142857142857142857142857142e00,
    12: 1.0,
    13: 1.0,
    14: 0.1e00,
    15: 0.2e00,
    16: 0.777777777777777777777777777778e00,
}
_DOP853_A = {
    (2, 1): 5.26001519587677318785587544488e-2,
    (3, 1): 1.97250569845378994544595329183e-2,
    (3, 2): 5.91751709536136983633785987549e-2,
    (4, 1): 2.95875854768068491816892993775e-2,
    (4, 3): 8.87627564304205475450678981324e-2,
    (5, 1): 2.41365134159266685502369798665e-1,
    (5, 3): -8.84549479328286085344864962717e-1,
    (5, 4): 9.24834003261792003115737966543e-1,
    (6, 1): 3.7037037037037037037037037037e-2,
    (6, 4): 1.70828608729473871279604482173e-1,
    (6, 5): 1.25467687566822425016691814123e-1,
    (7, 1): 3.7109375e-2,
    (7, 4): 1.70252211019544039314978060272e-1,
    (7, 5): 6.02165389804559606850219397283e-2,
    (7, 6): -1.7578125e-2,
    (8, 1): 3.70920001185047927108779319836e-2,
    (8, 4): 1.70383925712239993810214054705e-1,
    (8, 5): 1.07262030446373284651809199168e-1,
    (8, 6): -1.53194377486244017527936158236e-2,
    (8, 7): 8.27378916381402288758473766002e-3,
    (9, 1): 6.24110958716075717114429577812e-1,
    (9, 4): -3.36089262944694129406857109825e0,
    (9, 5): -8.68219346841726006818189891453e-1,
    (9, 6): 2.75920996994467083049415600797e1,
    (9, 7): 2.01540675504778934086186788979e1,
    (9, 8): -4.34898841810699588477366255144e1,
    (10, 1): 4.77662536438264365890433908527e-1,
    (10, 4): -2.48811461997166764192642586468e0,
    (10, 5): -5.90290826836842996371446475743e-1,
    (10, 6): 2.12300514481811942347288949897e1,
    (10, 7): 1.52792336328824235832596922938e1,
    (10, 8): -3.32882109689848629194453265587e1,
    (10, 9): -2.03312017085086261358222928593e-2,
    (11, 1): -9.3714243008598732571704021658e-1,
    (11, 4): 5.18637242884406370830023853209e0,
    (11, 5): 1.09143734899672957818500254654e0,
    (11, 6): -8.14978701074692612513997267357e0,
    (11, 7): -1.85200656599969598641566180701e1,
    (11, 8): 2.27394870993505042818970056734e1,
    (11, 9): 2.49360555267965238987089396762e0,
    (11, 10): -3.0467644718982195003823669022e0,
    (12, 1): 2.27331014751653820792359768449e0,
    (12, 4): -1.05344954667372501984066689879e1,
    (12, 5): -2.00087205822486249909675718444e0,
    (12, 6): -1.79589318631187989172765950534e1,
    (12, 7): 2.79488845294199600508499808837e1,
    (12, 8): -2.85899827713502369474065508674e0,
    (12, 9): -8.87285693353062954433549289258e0,
    (12, 10): 1.23605671757943030647266201528e1,
    (12, 11): 6.43392746015763530355970484046e-1,
    # stage 13 is f(t0 + h, y1): its row is b (filled in below)
    (14, 1): 5.61675022830479523392909219681e-2,
    (14, 7): 2.53500210216624811088794765333e-1,
    (14, 8): -2.46239037470802489917441475441e-1,
    (14, 9): -1.24191423263816360469010140626e-1,
    (14, 10): 1.5329179827876569731206322685e-1,
    (14, 11): 8.20105229563468988491666602057e-3,
    (14, 12): 7.56789766054569976138603589584e-3,
    (14, 13): -8.298e-3,
    (15, 1): 3.18346481635021405060768473261e-2,
    (15, 6): 2.83009096723667755288322961402e-2,
    (15, 7): 5.35419883074385676223797384372e-2,
    (15, 8): -5.49237485713909884646569340306e-2,
    (15, 11): -1.08347328697249322858509316994e-4,
    (15, 12): 3.82571090835658412954920192323e-4,
    (15, 13): -3.40465008687404560802977114492e-4,
    (15, 14): 1.41312443674632500278074618366e-1,
    (16, 1): -4.28896301583791923408573538692e-1,
    (16, 6): -4.69762141536116384314449447206e0,
    (16, 7): 7.68342119606259904184240953878e0,
    (16, 8): 4.06898981839711007970213554331e0,
    (16, 9): 3.56727187455281109270669543021e-1,
    (16, 13): -1.39902416515901462129418009734e-3,
    (16, 14): 2.9475147891527723389556272149e0,
    (16, 15): -9.15095847217987001081870187138e0,
}
_DOP853_B = {
    1: 5.42937341165687622380535766363e-2,
    6: 4.45031289275240888144113950566e0,
    7: 1.89151789931450038304281599044e0,
    8: -5.8012039600105847814672114227e0,
    9: 3.1116436695781989440891606237e-1,
    10: -1.52160949662516078556178806805e-1,
    11: 2.01365400804030348374776537501e-1,
    12: 4.47106157277725905176885569043e-2,
}
_DOP853_BHH = {
    1: 0.244094488188976377952755905512e00,
    9: 0.733846688281611857341361741547e00,
    12: 0.220588235294117647058823529412e-01,
}
_DOP853_ER = {
    1: 0.1312004499419488073250102996e-01,
    6: -0.1225156446376204440720569753e01,
    7: -0.4957589496572501915214079952e00,
    8: 0.1664377182454986536961530415e01,
    9: -0.3503288487499736816886487290e00,
    10: 0.3341791187130174790297318841e00,
    11: 0.8192320648511571246570742613e-01,
    12: -0.2235530786388629525884427845e-01,
}
# Dense output: rcont5..rcont8 = h * sum_j D[r][j] k_j  (1-based stage j).
_DOP853_D = {
    5: {
        1: -0.84289382761090128651353491142e01,
        6: 0.56671495351937776962531783590e00,
        7: -0.30689499459498916912797304727e01,
        8: 0.23846676565120698287728149680e01,
        9: 0.21170345824450282767155149946e01,
        10: -0.87139158377797299206789907490e00,
        11: 0.22404374302607882758541771650e01,
        12: 0.63157877876946881815570249290e00,
        13: -0.88990336451333310820698117400e-01,
        14: 0.18148505520854727256656404962e02,
        15: -0.91946323924783554000451984436e01,
        16: -0.44360363875948939664310572000e01,
    },
    6: {
        1: 0.10427508642579134603413151009e02,
        6: 0.24228349177525818288430175319e03,
        7: 0.16520045171727028198505394887e03,
        8: -0.37454675472269020279518312152e03,
        9: -0.22113666853125306036270938578e02,
        10: 0.77334326684722638389603898808e01,
        11: -0.30674084731089398182061213626e02,
        12: -0.93321305264302278729567221706e01,
        13: 0.15697238121770843886131091075e02,
        14: -0.31139403219565177677282850411e02,
        15: -0.93529243588444783865713862664e01,
        16: 0.35816841486394083752465898540e02,
    },
    7: {
        1: 0.19985053242002433820987653617e02,
        6: -0.38703730874935176555105901742e03,
        7: -0.18917813819516756882830838328e03,
        8: 0.52780815920542364900561016686e03,
        9: -0.11573902539959630126141871134e02,
        10: 0.68812326946963000169666922661e01,
        11: -0.10006050966910838403183860980e01,
        12: 0.77771377980534432092869265740e00,
        13: -0.27782057523535084065932004339e01,
        14: -0.60196695231264120758267380846e02,
        15: 0.84320405506677161018159903784e02,
        16: 0.11992291136182789328035130030e02,
    },
    8: {
        1: -0.25693933462703749003312586129e02,
        6: -0.15418974869023643374053993627e03,
        7: -0.23152937917604549567536039109e03,
        8: 0.35763911791061412378285349910e03,
        9: 0.93405324183624310003907691704e02,
        10: -0.37458323136451633156875139351e02,
        11: 0.10409964950896230045147246184e03,
        12: 0.29840293426660503123344363579e02,
        13: -0.43533456590011143754432175058e02,
        14: 0.96324553959188282948394950600e02,
        15: -0.39177261675615439165231486172e02,
        16: -0.14972683625798562581422125276e03,
    },
}


def _vector(entries: dict, n: int) -> np.ndarray:
    out = np.zeros(n)
    for j, v in entries.items():
        out[j - 1] = v
    return out


def _dop853_dense(b16: np.ndarray) -> np.ndarray:
    """Hairer's nested DOP853 interpolant rewritten as ``dense`` (16, 7).

    The code evaluates ``r1 + th*(r2 + (1-th)*(r3 + th*(r4 + (1-th)*(r5 + th*(r6 +
    (1-th)*(r7 + th*r8))))))`` with ``r1 = y0``, ``r2 = y1 - y0 = h b.k``,
    ``r3 = h k_1 - r2``, ``r4 = r2 - h k_13 - r3`` and ``r5..r8`` as in ``_DOP853_D``.
    Each ``r`` (r >= 2) is ``h * w_r . k``; it multiplies the polynomial
    ``th**ceil(r/2) * (1-th)**floor((r-1)/2)`` (r2: th, r3: th(1-th), r4: th^2(1-th), ...).
    """
    n = 16
    e1, e13 = np.eye(n)[0], np.eye(n)[12]
    w = {2: b16.copy()}
    w[3] = e1 - w[2]
    w[4] = w[2] - e13 - w[3]
    for r in (5, 6, 7, 8):
        w[r] = _vector(_DOP853_D[r], n)
    dense = np.zeros((n, 7))
    P = np.polynomial.polynomial
    for r in range(2, 9):
        poly = P.polymul(P.polypow([0, 1], r // 2), P.polypow([1, -1], (r - 1) // 2))
        poly = np.pad(poly, (0, 8 - len(poly)))
        dense += np.outer(w[r], poly[1:8])
    return dense


def _dop853():
    n = 16
    c = _vector(_DOP853_C, n)
    A = np.zeros((n, n))
    for (i, j), v in _DOP853_A.items():
        A[i - 1, j - 1] = v
    b = _vector(_DOP853_B, 12)
    A[12, :12] = b
    # make the row sums exact (the decimal coefficients carry ~1e-17 rounding)
    b_hat3 = _vector(_DOP853_BHH, 12)
    b16 = np.pad(b, (0, 4))
    return ButcherTableau(
        "dop853",
        c=c,
        A=A,
        b=b,
        b_err=_vector(_DOP853_ER, 12),
        order=8,
        error_order=5,
        dense=_dop853_dense(b16),
        dense_order=7,
        b_err_low=b - b_hat3,
        low_order=3,
        reference="Hairer, Norsett & Wanner I (1993), II.5 and II.10, code DOP853 "
        "(Dormand & Prince 8(5,3) with 7th-order dense output)",
    )


# --------------------------------------------------------------------------------------
# Rosenbrock
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RosenbrockTableau:
    """A Rosenbrock method in Hairer & Wanner's implementation form, checked on construction.

    With ``W = I/(gamma*h) - J`` (J the Jacobian at (t0, y0)) a step solves, for
    ``i = 0 .. s-1``::

        W u_i = f(t0 + c[i]*h, y0 + sum_{j<i} a[i, j] u_j) + sum_{j<i} (C[i, j]/h) u_j
                + h * d[i] * df/dt(t0, y0)
        y1    = y0 + sum_i m[i] u_i,       err = sum_i (m[i] - m_hat[i]) u_i
        y(t0 + theta*h) = y0 + sum_i u_i * sum_j dense[i, j] theta**(j+1)

    (Hairer & Wanner II, IV.7, eq. (7.25); code RODAS).  The classical coefficients of
    the book's Table (``alpha_ij``, ``gamma_ij``, ``b``, ``b_hat``) are derived:
    ``Gamma = (diag(1/gamma) - C)^-1``, ``alpha = a Gamma``, ``b = m Gamma``, and the
    order conditions of Hairer & Wanner II, Table IV.7.1 (up to order 4) are checked for
    ``b`` (``order``) and ``b_hat`` (``error_order``).

    Examples
    --------
    >>> from biosnn.solvers.tableaux import ROSENBROCK
    >>> r = ROSENBROCK["rodas4"]
    >>> r.n_stages, r.order, r.gamma
    (6, 4, 0.25)
    """

    name: str
    gamma: float
    c: np.ndarray
    d: np.ndarray
    a: np.ndarray
    C: np.ndarray
    m: np.ndarray
    m_hat: np.ndarray
    order: int
    error_order: int
    dense: np.ndarray | None = None
    dense_order: int | None = None
    reference: str = ""

    def __post_init__(self):
        for name in ("c", "d", "a", "C", "m", "m_hat", "dense"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        s = self.c.shape[0]
        if self.a.shape != (s, s) or self.C.shape != (s, s) or self.m.shape != (s,):
            raise ValueError(f"Rosenbrock tableau {self.name!r}: inconsistent shapes")
        if np.any(np.triu(self.a) != 0) or np.any(np.triu(self.C) != 0):
            raise ValueError(
                f"Rosenbrock tableau {self.name!r}: a and C must be strictly lower triangular"
            )
        if not np.allclose(self.alpha.sum(axis=1), self.c, atol=1e-12):
            raise ValueError(f"Rosenbrock tableau {self.name!r}: rows of alpha do not sum to c")
        if not np.allclose(self.gamma_ij.sum(axis=1), self.d, atol=1e-12):
            raise ValueError(f"Rosenbrock tableau {self.name!r}: rows of Gamma do not sum to d")
        for what, b, p in (
            ("method", self.b, self.order),
            ("embedded method", self.b_hat, self.error_order),
        ):
            res = rosenbrock_residuals(
                self.alpha, self.gamma_ij - np.diag(np.diag(self.gamma_ij)), self.gamma, b, p
            )
            if res > 1e-10:
                raise ValueError(
                    f"Rosenbrock tableau {self.name!r}: the {what} violates an "
                    f"order-{p} condition (largest residual {res:.3g})"
                )
        if self.dense is not None and not np.allclose(self.dense.sum(axis=1), self.m, atol=1e-12):
            raise ValueError(
                f"Rosenbrock tableau {self.name!r}: dense output at theta = 1 "
                "does not reproduce the step"
            )

    @property
    def n_stages(self) -> int:
        return int(self.c.shape[0])

    @property
    def m_err(self) -> np.ndarray:
        """Error weights ``m - m_hat`` on the u_i."""
        return self.m - self.m_hat

    @property
    def gamma_matrix(self) -> np.ndarray:
        """Gamma (lower triangular, diagonal gamma): the classical gamma_ij."""
        s = self.n_stages
        return np.linalg.inv(np.eye(s) / self.gamma - self.C)

    @property
    def gamma_ij(self) -> np.ndarray:
        return self.gamma_matrix

    @property
    def alpha(self) -> np.ndarray:
        """Classical alpha_ij (strictly lower)."""
        return np.tril(self.a @ self.gamma_matrix, -1)

    @property
    def b(self) -> np.ndarray:
        return self.m @ self.gamma_matrix

    @property
    def b_hat(self) -> np.ndarray:
        return self.m_hat @ self.gamma_matrix

    @property
    def error_exponent_order(self) -> int:
        return self.error_order + 1

    def __repr__(self) -> str:
        return (
            f"RosenbrockTableau({self.name!r}, order={self.order}, "
            f"stages={self.n_stages}, gamma={self.gamma})"
        )


def rosenbrock_residuals(alpha, gamma_off, gamma, b, order) -> float:
    """Largest residual of the Rosenbrock order conditions up to ``order`` (<= 4).

    Hairer & Wanner II, Table IV.7.1, with beta_ij = alpha_ij + gamma_ij (j < i),
    beta_i = sum_j beta_ij, alpha_i = sum_j alpha_ij.
    """
    if order > 4:
        raise ValueError("Rosenbrock order conditions are implemented up to order 4")
    beta = alpha + gamma_off
    ai, bi = alpha.sum(axis=1), beta.sum(axis=1)
    g = gamma
    conds = [(b.sum(), 1.0)]
    if order >= 2:
        conds.append((b @ bi, 0.5 - g))
    if order >= 3:
        conds += [(b @ ai**2, 1 / 3), (b @ (beta @ bi), 1 / 6 - g + g**2)]
    if order >= 4:
        conds += [
            (b @ ai**3, 1 / 4),
            (b @ (ai * (alpha @ bi)), 1 / 8 - g / 3),
            (b @ (beta @ ai**2), 1 / 12 - g / 3),
            (b @ (beta @ (beta @ bi)), 1 / 24 - g / 2 + 1.5 * g**2 - g**3),
        ]
    return max(abs(x - y) for x, y in conds)


def _rodas4():
    # Hairer & Wanner's RODAS (METH = 1): order 4(3), stiffly accurate, L-stable,
    # gamma = 0.25; dense output of order 3.
    a = _lower(
        [
            [0.1544000000000000e01],
            [0.9466785280815826e00, 0.2557011698983284e00],
            [0.3314825187068521e01, 0.2896124015972201e01, 0.9986419139977817e00],
            [
                0.1221224509226641e01,
                0.6019134481288629e01,
                0.1253708332932087e02,
                -0.6878860361058950e00,
            ],
            [
                0.1221224509226641e01,
                0.6019134481288629e01,
                0.1253708332932087e02,
                -0.6878860361058950e00,
                1.0,
            ],
        ],
        6,
    )
    C = _lower(
        [
            [-0.5668800000000000e01],
            [-0.2430093356833875e01, -0.2063599157091915e00],
            [-0.1073529058151375e00, -0.9594562251023355e01, -0.2047028614809616e02],
            [
                0.7496443313967647e01,
                -0.1024680431464352e02,
                -0.3399990352819905e02,
                0.1170890893206160e02,
            ],
            [
                0.8083246795921522e01,
                -0.7981132988064893e01,
                -0.3152159432874371e02,
                0.1631930543123136e02,
                -0.6058818238834054e01,
            ],
        ],
        6,
    )
    m = np.array([a[4, 0], a[4, 1], a[4, 2], a[4, 3], 1.0, 1.0])
    m_hat = np.array([a[4, 0], a[4, 1], a[4, 2], a[4, 3], 1.0, 0.0])
    # Hairer's interpolant y0*(1-th) + th*(y1 + (1-th)*(K2 + th*K3)), K_r = sum_j D_rj u_j
    d2 = np.array(
        [
            0.1012623508344586e02,
            -0.7487995877610167e01,
            -0.3480091861555747e02,
            -0.7992771707568823e01,
            0.1025137723295662e01,
            0.0,
        ]
    )
    d3 = np.array(
        [
            -0.6762803392801253e00,
            0.6087714651680015e01,
            0.1643084320892478e02,
            0.2476722511418386e02,
            -0.6594389125716872e01,
            0.0,
        ]
    )
    dense = np.outer(m, [1, 0, 0]) + np.outer(d2, [1, -1, 0]) + np.outer(d3, [0, 1, -1])
    return RosenbrockTableau(
        "rodas4",
        gamma=0.25,
        c=[0, 0.386, 0.21, 0.63, 1.0, 1.0],
        d=[0.25, -0.1043, 0.1035, -0.3620000000000023e-01, 0.0, 0.0],
        a=a,
        C=C,
        m=m,
        m_hat=m_hat,
        order=4,
        error_order=3,
        dense=dense,
        dense_order=3,
        reference="Hairer & Wanner, Solving ODEs II (1996), VI.4, code RODAS (METH = 1)",
    )


TABLEAUX: dict = {
    t.name: t for t in (_euler(), _midpoint(), _heun(), _rk4(), _rk23(), _rk45(), _dop853())
}
"""Explicit Runge-Kutta methods by API name."""

ROSENBROCK: dict = {"rodas4": _rodas4()}
"""Rosenbrock methods by API name."""
