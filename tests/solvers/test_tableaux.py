"""Tableaux check themselves; these tests check the checks and the catalogue.

Numbers: tree counts from Hairer, Norsett & Wanner I, Table II.2.1 (1, 1, 2, 4, 9, 20, 48,
115); orders of the methods from the papers cited in biosnn/solvers/tableaux.py.
"""

import numpy as np
import pytest

from biosnn.solvers.tableaux import (
    ROSENBROCK,
    TABLEAUX,
    ButcherTableau,
    RosenbrockTableau,
    order_residuals,
    rooted_trees,
)

ORDERS = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4, "rk23": 3, "rk45": 5, "dop853": 8}


def test_tree_counts():
    assert [len(rooted_trees(p)) for p in range(1, 9)] == [1, 1, 2, 4, 9, 20, 48, 115]


@pytest.mark.parametrize("name", sorted(TABLEAUX))
def test_catalogue_orders_exact(name):
    tab = TABLEAUX[name]
    assert tab.order == ORDERS[name]
    assert order_residuals(tab.A, tab.b, tab.order) < 1e-12
    # and not one order more (the declared order is the true one)
    assert order_residuals(tab.A, tab.b, tab.order + 1) > 1e-6


@pytest.mark.parametrize("name", sorted(TABLEAUX))
def test_consistency(name):
    tab = TABLEAUX[name]
    np.testing.assert_allclose(tab.A.sum(axis=1), tab.c, atol=1e-12)
    assert abs(tab.b.sum() - 1) < 1e-13
    assert np.all(np.triu(tab.A) == 0)
    if tab.b_err is not None:
        assert abs(tab.b_err.sum()) < 1e-13
    if tab.dense is not None:
        # the interpolant reproduces the step at theta = 1 and y0 at theta = 0
        np.testing.assert_allclose(tab.dense_weights(1.0)[: tab.n_stages, 0], tab.b, atol=1e-12)
        np.testing.assert_allclose(tab.dense_weights(0.0)[:, 0], 0.0)


def test_fsal_is_derived():
    assert TABLEAUX["rk45"].fsal and TABLEAUX["rk45"].new_point_stage == 6
    assert TABLEAUX["rk23"].fsal and TABLEAUX["rk23"].new_point_stage == 3
    assert TABLEAUX["dop853"].new_point_stage == 12  # an extra (dense-output) stage
    assert not TABLEAUX["rk4"].fsal
    assert TABLEAUX["dop853"].n_stages == 12 and TABLEAUX["dop853"].n_stages_total == 16


def test_error_exponents():
    assert TABLEAUX["rk45"].error_exponent_order == 5
    assert TABLEAUX["rk23"].error_exponent_order == 3
    assert TABLEAUX["dop853"].error_exponent_order == 8  # Hairer's combined estimator
    assert ROSENBROCK["rodas4"].error_exponent_order == 4


def test_broken_tableaux_are_refused():
    rk4 = TABLEAUX["rk4"]
    with pytest.raises(ValueError, match="row 1 of A sums"):
        ButcherTableau("bad", c=[0, 0.4, 0.5, 1], A=rk4.A, b=rk4.b, order=4)
    with pytest.raises(ValueError, match="weights b sum"):
        ButcherTableau("bad", c=rk4.c, A=rk4.A, b=[0.2, 1 / 3, 1 / 3, 1 / 6], order=4)
    with pytest.raises(ValueError, match="order-4 condition"):
        ButcherTableau("bad", c=rk4.c, A=rk4.A, b=[1 / 6, 1 / 6, 1 / 2, 1 / 6], order=4)
    with pytest.raises(ValueError, match="strictly lower"):
        ButcherTableau("bad", c=[0.5], A=[[0.5]], b=[1.0], order=1)
    rk45 = TABLEAUX["rk45"]
    with pytest.raises(ValueError, match="error weights"):
        ButcherTableau(
            "bad", c=rk45.c, A=rk45.A, b=rk45.b, b_err=rk45.b_err + 1e-3, order=5, error_order=4
        )
    dense = np.array(rk45.dense)
    dense[2, 1] += 1e-3
    dense[2, 2] -= 1e-3  # still reproduces b at theta = 1, but not order 4
    with pytest.raises(ValueError, match="dense output violates"):
        ButcherTableau(
            "bad",
            c=rk45.c,
            A=rk45.A,
            b=rk45.b,
            b_err=rk45.b_err,
            order=5,
            error_order=4,
            dense=dense,
            dense_order=4,
        )


def test_dop853_dense_matches_hairers_nested_form():
    """The monomial `dense` equals Hairer's nested rcont1..rcont8 evaluation."""
    from biosnn.solvers.tableaux import _DOP853_D

    tab = TABLEAUX["dop853"]
    rng = np.random.default_rng(1)
    K = rng.normal(size=16)  # h*k_i for one scalar state, y0 = 0
    K[12] = tab.b @ K[:12] * 0 + K[12]
    h = 1.0
    r2 = tab.b @ K[:12]
    r3 = K[0] - r2
    r4 = r2 - K[12] - r3
    r = {r_: sum(v * K[j - 1] for j, v in _DOP853_D[r_].items()) for r_ in (5, 6, 7, 8)}
    for th in (0.0, 0.3, 0.77, 1.0):
        s1 = 1 - th
        nested = th * (
            r2 + s1 * (r3 + th * (r4 + s1 * (r[5] + th * (r[6] + s1 * (r[7] + th * r[8])))))
        )
        ours = h * tab.dense_weights(th)[:, 0] @ K
        assert ours == pytest.approx(nested, abs=1e-12)


def test_rodas4():
    r = ROSENBROCK["rodas4"]
    assert r.order == 4 and r.error_order == 3 and r.gamma == 0.25
    np.testing.assert_allclose(r.alpha.sum(axis=1), r.c, atol=1e-12)
    np.testing.assert_allclose(np.diag(r.gamma_ij), 0.25)
    # stiffly accurate: the last stage's argument is y1
    np.testing.assert_allclose(r.a[5, :5], r.m[:5])
    with pytest.raises(ValueError, match="order-4"):
        RosenbrockTableau(
            "bad",
            gamma=r.gamma,
            c=r.c,
            d=r.d,
            a=r.a,
            C=r.C,
            m=r.m + np.array([0, 0, 0, 0, 1e-3, -1e-3]),
            m_hat=r.m_hat,
            order=4,
            error_order=3,
        )
