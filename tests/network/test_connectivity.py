"""Connectivity rules (biosnn.network.connectivity).

Where each expected number comes from:

* FixedProbability(p): every pair is an independent Bernoulli(p) trial, so the number of
  synapses is Binomial(n_pairs, p) (n_pairs = n_pre*n_post, or n*(n - 1) without self
  connections) and each out-degree is Binomial(n_post, p).  Counts are compared with the
  binomial mean +- 5 standard deviations (a fixed seed; a correct sampler fails with
  probability below 1e-6).
* Histograms that must be uniform are checked with Pearson's chi-square statistic against
  df + 5*sqrt(2*df) (chi-square with df degrees of freedom has mean df and variance 2*df).
* FixedInDegree / FixedOutDegree(k): each degree is exactly k; the chosen k-subset is
  uniform over all C(n, k) subsets.
* DistanceDependent(p0, sigma): in a bin of pairs with distances d_m, the number connected
  is a sum of independent Bernoulli(p0*exp(-d_m**2/(2 sigma**2))) trials: its mean and
  variance are the sums of p and p*(1 - p).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest

from biosnn.network import connectivity as conn
from biosnn.network.connectivity import (
    AllToAll,
    Blocks,
    DistanceDependent,
    FixedInDegree,
    FixedOutDegree,
    FixedProbability,
    FromArrays,
    FromSparse,
    OneToOne,
    bytes_per_synapse,
    csr,
)


def _binomial_ok(count, n, p, k=5.0):
    return abs(count - n * p) <= k * math.sqrt(n * p * (1 - p)) + 1e-9


def _chi2_ok(observed, expected):
    observed = np.asarray(observed, float)
    expected = np.broadcast_to(np.asarray(expected, float), observed.shape)
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    df = observed.size - 1
    return chi2 < df + 5 * math.sqrt(2 * df), chi2


def _check_sorted_unique(pre, post, n_post):
    assert pre.dtype == np.int32 and post.dtype == np.int32
    keys = pre.astype(np.int64) * n_post + post
    assert np.all(np.diff(keys) > 0), "not sorted by (pre, post) or has duplicate pairs"


@pytest.mark.parametrize(
    "n_pre, n_post, p", [(400, 300, 0.05), (2000, 2000, 0.002), (100, 100, 0.7)]
)
def test_fixed_probability_counts_are_binomial(n_pre, n_post, p):
    pre, post = FixedProbability(p).build(n_pre, n_post, np.random.default_rng(0))
    _check_sorted_unique(pre, post, n_post)
    assert _binomial_ok(pre.size, n_pre * n_post, p)
    assert pre.min() >= 0 and pre.max() < n_pre and post.max() < n_post
    # out-degrees are Binomial(n_post, p): their mean and variance
    out = np.bincount(pre, minlength=n_pre)
    assert abs(out.mean() - n_post * p) < 5 * math.sqrt(n_post * p * (1 - p) / n_pre)
    var = n_post * p * (1 - p)
    assert abs(out.var() - var) < 5 * var * math.sqrt(2 / n_pre) + 5 * math.sqrt(var / n_pre)
    # targets are uniform: the in-degree histogram
    ok, chi2 = _chi2_ok(np.bincount(post, minlength=n_post), pre.size / n_post)
    assert ok, chi2


def test_fixed_probability_no_self_and_edges():
    n, p = 1500, 0.01
    pre, post = FixedProbability(p, allow_self=False).build(
        n, n, np.random.default_rng(1), same=True
    )
    assert not np.any(pre == post)
    _check_sorted_unique(pre, post, n)
    assert _binomial_ok(pre.size, n * (n - 1), p)
    # the self-exclusion only applies to a population onto itself
    pre2, post2 = FixedProbability(1.0, allow_self=False).build(5, 5, 0)
    assert pre2.size == 25
    pre3, post3 = FixedProbability(1.0, allow_self=False).build(5, 5, 0, same=True)
    assert pre3.size == 20 and not np.any(pre3 == post3)
    assert FixedProbability(0.0).build(10, 10, 0)[0].size == 0
    assert FixedProbability(0.5).build(0, 10, 0)[0].size == 0


def test_fixed_probability_in_many_chunks(monkeypatch):
    """Small chunks: many row blocks and many geometric batches give the same statistics."""
    monkeypatch.setattr(conn, "_CHUNK", 50)
    n, p = 600, 0.03
    pre, post = FixedProbability(p, allow_self=False).build(
        n, n, np.random.default_rng(2), same=True
    )
    _check_sorted_unique(pre, post, n)
    assert not np.any(pre == post)
    assert _binomial_ok(pre.size, n * (n - 1), p)
    ok, chi2 = _chi2_ok(np.bincount(post, minlength=n), pre.size / n)
    assert ok, chi2


def test_fixed_probability_64000_neurons_80_synapses_each():
    """The size named in the contract (5.1 M synapses); statistics only, no timing."""
    n = 64_000
    p = 80 / n
    pre, post = FixedProbability(p).build(n, n, np.random.default_rng(3), same=True)
    assert _binomial_ok(pre.size, n * n, p)
    _check_sorted_unique(pre, post, n)


def test_determinism():
    for rule in (
        FixedProbability(0.1),
        FixedInDegree(7),
        FixedOutDegree(7),
        DistanceDependent(0.5, 20.0),
    ):
        pos = np.linspace(0, 100, 50)
        a = rule.build(50, 50, np.random.default_rng(11), pos_pre=pos, pos_post=pos)
        b = rule.build(50, 50, np.random.default_rng(11), pos_pre=pos, pos_post=pos)
        c = rule.build(50, 50, np.random.default_rng(12), pos_pre=pos, pos_post=pos)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert not (a[0].size == c[0].size and np.array_equal(a[1], c[1]))
        # an int seed is the same as default_rng(seed)
        d = rule.build(50, 50, 11, pos_pre=pos, pos_post=pos)
        assert np.array_equal(a[1], d[1])


@pytest.mark.parametrize("allow_self", [True, False])
@pytest.mark.parametrize("k", [1, 30, 200, 299])
def test_fixed_in_degree_exact(k, allow_self):
    n = 300
    pre, post = FixedInDegree(k, allow_self=allow_self).build(
        n, n, np.random.default_rng(k), same=True
    )
    _check_sorted_unique(pre, post, n)
    assert np.all(np.bincount(post, minlength=n) == k)
    if not allow_self:
        assert not np.any(pre == post)


@pytest.mark.parametrize("allow_self", [True, False])
@pytest.mark.parametrize("k", [1, 30, 200, 299])
def test_fixed_out_degree_exact(k, allow_self):
    n = 300
    pre, post = FixedOutDegree(k, allow_self=allow_self).build(
        n, n, np.random.default_rng(k), same=True
    )
    _check_sorted_unique(pre, post, n)
    assert np.all(np.bincount(pre, minlength=n) == k)
    if not allow_self:
        assert not np.any(pre == post)


@pytest.mark.parametrize("n_cand, k", [(10, 2), (10, 5)])  # sparse path, permutation path
def test_fixed_in_degree_subsets_are_uniform(n_cand, k):
    subsets = list(itertools.combinations(range(n_cand), k))
    n_post = 200 * len(subsets)
    pre, post = FixedInDegree(k).build(n_cand, n_post, np.random.default_rng(5))
    # group the sources of each target (pre-sorted order -> target-sorted order)
    order = np.lexsort((pre, post))
    chosen = pre[order].reshape(n_post, k)
    index = {s: m for m, s in enumerate(subsets)}
    counts = np.bincount([index[tuple(row)] for row in chosen.tolist()], minlength=len(subsets))
    ok, chi2 = _chi2_ok(counts, 200)
    assert ok, chi2


def test_fixed_out_degree_subsets_are_uniform_without_self():
    # 4 neurons onto themselves, k = 2 of the 3 others: each of the 3 subsets has 1/3
    counts = np.zeros((4, 3))
    rng = np.random.default_rng(6)
    for _ in range(1500):
        pre, post = FixedOutDegree(2, allow_self=False).build(4, 4, rng, same=True)
        for i in range(4):
            others = [j for j in range(4) if j != i]
            left_out = (set(others) - set(post[pre == i].tolist())).pop()
            counts[i, others.index(left_out)] += 1
    for row in counts:
        ok, chi2 = _chi2_ok(row, 500)
        assert ok, chi2


def test_degree_larger_than_candidates_is_an_error():
    with pytest.raises(ValueError, match="needs 10 distinct sources.*only 9.*excluded"):
        FixedInDegree(10, allow_self=False).build(10, 10, 0, same=True)
    with pytest.raises(ValueError, match="needs 11 distinct targets.*only 10"):
        FixedOutDegree(11).build(5, 10, 0)
    assert FixedInDegree(10).build(10, 10, 0, same=True)[0].size == 100
    with pytest.raises(ValueError, match="non-negative integer"):
        FixedInDegree(2.5)
    with pytest.raises(ValueError, match="non-negative integer"):
        FixedOutDegree(-1)


def test_distance_dependent_matches_gaussian_profile():
    n, p0, sigma = 1500, 0.8, 60.0
    rng = np.random.default_rng(8)
    pos = rng.uniform(0, 1000, (n, 2))
    pre, post = DistanceDependent(p0, sigma, allow_self=False).build(
        n, n, rng, same=True, pos_pre=pos
    )
    _check_sorted_unique(pre, post, n)
    assert not np.any(pre == post)
    connected = np.zeros((n, n), bool)
    connected[pre, post] = True
    d = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    off = ~np.eye(n, dtype=bool)
    p = p0 * np.exp(-(d**2) / (2 * sigma**2))
    edges = np.arange(0, 301, 20.0)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = off & (d >= lo) & (d < hi)
        mean, var = p[sel].sum(), (p[sel] * (1 - p[sel])).sum()
        got = connected[sel].sum()
        assert abs(got - mean) <= 5 * math.sqrt(var) + 1, (lo, hi, got, mean)
    # far apart: almost never (p < 0.8*exp(-12.5) per pair)
    assert connected[off & (d > 300)].sum() <= 5


def test_distance_dependent_units_and_errors():
    pos = np.linspace(0, 500, 40)
    a = DistanceDependent(0.5, 100.0).build(40, 40, 3, same=True, pos_pre=pos)
    b = DistanceDependent(0.5, "0.1 mm").build(40, 40, 3, same=True, pos_pre=pos)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="needs the positions of the source"):
        DistanceDependent(0.5, 10.0).build(5, 5, 0)
    with pytest.raises(ValueError, match=r"shape \(5, d\)"):
        DistanceDependent(0.5, 10.0).build(5, 5, 0, pos_pre=np.zeros(4), pos_post=np.zeros(5))
    with pytest.raises(ValueError, match="2-D but the target"):
        DistanceDependent(0.5, 10.0).build(
            5, 5, 0, pos_pre=np.zeros((5, 2)), pos_post=np.zeros((5, 3))
        )
    with pytest.raises(ValueError, match="not a length"):
        DistanceDependent(0.5, "10 ms")
    with pytest.raises(ValueError, match="positive length"):
        DistanceDependent(0.5, 0.0)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5", True])
def test_probability_outside_0_1_is_an_error(p):
    with pytest.raises(ValueError, match=r"probability .* in \[0, 1\]"):
        FixedProbability(p)


def test_all_to_all_and_one_to_one():
    pre, post = AllToAll().build(3, 4, 0)
    assert pre.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and post.tolist() == [0, 1, 2, 3] * 3
    pre, post = AllToAll(allow_self=False).build(3, 3, 0, same=True)
    assert list(zip(pre.tolist(), post.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 2),
        (2, 0),
        (2, 1),
    ]
    pre, post = OneToOne().build(4, 4, 0)
    assert pre.tolist() == post.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="equal size"):
        OneToOne().build(3, 4, 0)
    with pytest.raises(ValueError, match="no synapse"):
        OneToOne(allow_self=False).build(3, 3, 0, same=True)
    with pytest.raises(ValueError, match="n_pre == n_post"):
        AllToAll().build(3, 4, 0, same=True)
    with pytest.raises(ValueError, match="non-negative integer"):
        AllToAll().build(-1, 4, 0)


def test_blocks_pools_and_private_inputs():
    # Blocks(a, b): i -> j exactly when i // a == j // b, all to all inside a block
    pre, post = Blocks(2).build(4, 4)
    assert list(zip(pre.tolist(), post.tolist(), strict=True)) == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
        (2, 2),
        (2, 3),
        (3, 2),
        (3, 3),
    ]
    # synfire chain: 9 pools of 100 -> the next pool, 100 x 100 synapses per pool pair
    pre, post = Blocks(100).build(900, 900)
    assert pre.size == 9 * 100 * 100 and np.all(pre // 100 == post // 100)
    # 10 private sources per target: each target j gets exactly sources 10j .. 10j + 9
    pre, post = Blocks(10, 1).build(50, 5)
    assert pre.size == 50 and np.all(pre // 10 == post)
    assert np.array_equal(np.bincount(post), [10] * 5)
    # a partial last block and no self-connections inside a population
    pre, post = Blocks(3, allow_self=False).build(5, 5, same=True)
    assert (3, 3) not in set(zip(pre.tolist(), post.tolist(), strict=True))
    assert sorted(zip(pre.tolist(), post.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 2),
        (2, 0),
        (2, 1),
        (3, 4),
        (4, 3),
    ]
    # unequal sizes: only the blocks both sides have (2 source blocks, 3 target blocks)
    pre, post = Blocks(2, 1).build(4, 3)
    assert post.max() == 1
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="pre_size must be a whole number >= 1"):
            Blocks(bad)
    with pytest.raises(ValueError, match="post_size"):
        Blocks(2, 0)


def test_rules_are_frozen_values():
    rule = FixedProbability(0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.p = 0.2
    assert rule == FixedProbability(0.1) and hash(rule) == hash(FixedProbability(0.1))
    assert repr(FixedInDegree(5, allow_self=False)) == "FixedInDegree(k=5, allow_self=False)"
    assert repr(FromArrays([0, 1], [1, 0])) == "FromArrays(<2 pairs>, allow_self=True)"
    assert AllToAll().values(2, 2) is None


def test_from_arrays_keeps_duplicates_in_stable_order():
    i = [2, 0, 2, 0, 1]
    j = [1, 3, 1, 0, 1]
    w = [10.0, 20.0, 30.0, 40.0, 50.0]
    rule = FromArrays(i, j, values=w)
    pre, post = rule.build(3, 4, 0)
    assert pre.tolist() == [0, 0, 1, 2, 2] and post.tolist() == [0, 3, 1, 1, 1]
    assert rule.values(3, 4).tolist() == [40.0, 20.0, 50.0, 10.0, 30.0]
    assert rule.order(3, 4).tolist() == [3, 1, 4, 0, 2]
    # no self pairs when asked, a population onto itself
    rule = FromArrays([0, 1, 1], [0, 0, 1], values=[1, 2, 3], allow_self=False)
    pre, post = rule.build(2, 2, 0, same=True)
    assert list(zip(pre.tolist(), post.tolist(), strict=True)) == [(1, 0)]
    assert rule.values(2, 2, same=True).tolist() == [2.0]
    assert FromArrays([], []).build(3, 3, 0)[0].size == 0


def test_from_arrays_errors():
    with pytest.raises(ValueError, match="source index 5 is out of range for a group of 3"):
        FromArrays([5], [0]).build(3, 3, 0)
    with pytest.raises(ValueError, match="target index 3 is out of range"):
        FromArrays([0], [3]).build(3, 3, 0)
    with pytest.raises(ValueError, match="same length"):
        FromArrays([0, 1], [0])
    with pytest.raises(ValueError, match="negative"):
        FromArrays([-1], [0])
    with pytest.raises(ValueError, match="integer"):
        FromArrays([0.5], [0])
    with pytest.raises(ValueError, match="one entry per pair"):
        FromArrays([0, 1], [0, 1], values=[1.0])


def test_from_sparse_scipy_and_dense():
    import scipy.sparse as sp

    rows = np.array([2, 0, 0, 1, 2, 0])
    cols = np.array([1, 2, 0, 1, 1, 2])
    data = np.array([1.0, 2.0, 3.0, 0.0, 4.0, 5.0])  # (2,1) twice -> 5; (0,2) twice -> 7
    matrix = sp.coo_matrix((data, (rows, cols)), shape=(3, 3))
    rule = FromSparse(matrix)
    pre, post = rule.build(3, 3, 0)
    assert list(zip(pre.tolist(), post.tolist(), strict=True)) == [(0, 0), (0, 2), (2, 1)]
    assert rule.values(3, 3).tolist() == [3.0, 7.0, 5.0]
    assert matrix.nnz == 6 and matrix.row.tolist() == rows.tolist()  # input not changed
    pre, post = FromSparse(matrix, allow_self=False).build(3, 3, 0, same=True)
    assert list(zip(pre.tolist(), post.tolist(), strict=True)) == [(0, 2), (2, 1)]
    assert FromSparse(matrix, allow_self=False).values(3, 3, same=True).tolist() == [7.0, 5.0]
    dense = matrix.toarray()
    assert np.array_equal(
        FromSparse(dense).build(3, 3, 0)[1], FromSparse(matrix.tocsr()).build(3, 3, 0)[1]
    )
    with pytest.raises(ValueError, match=r"shape \(3, 3\) but the groups need \(3, 4\)"):
        rule.build(3, 4, 0)
    with pytest.raises(ValueError, match="2-D matrix"):
        FromSparse(np.zeros(3))
    with pytest.raises(ValueError, match="not finite"):
        FromSparse(np.array([[np.inf]]))


def test_csr_of_unsorted_synapses():
    rng = np.random.default_rng(9)
    pre = rng.integers(0, 50, 400)
    post = rng.integers(0, 60, 400)
    indptr, indices, order = csr(pre, post, 50)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32 and indptr.size == 51
    assert np.array_equal(indptr, np.searchsorted(np.sort(pre), np.arange(51)))
    # within a row: the order the synapses were given (stable)
    for i in range(50):
        rows = np.flatnonzero(pre == i)
        assert np.array_equal(order[indptr[i] : indptr[i + 1]], rows)
        assert np.array_equal(indices[indptr[i] : indptr[i + 1]], post[rows])
    indptr, indices, order = csr(np.zeros(0, int), np.zeros(0, int), 3)
    assert indptr.tolist() == [0, 0, 0, 0] and indices.size == 0
    with pytest.raises(ValueError, match="outside 0..2"):
        csr([3], [0], 3)


def test_bytes_per_synapse():
    pre, post = FixedOutDegree(10).build(100, 100, 0)
    indptr, indices, _ = csr(pre, post, 100)
    w = np.zeros(pre.size)
    assert bytes_per_synapse(pre.size, indptr, indices, w) == (101 * 8 + 1000 * 4 + 1000 * 8) / 1000
    assert bytes_per_synapse(0, indptr) == 0.0


# -- the examples of docs/network_building.md run -------------------------------------------

_DOC = Path(__file__).resolve().parents[2] / "docs" / "network_building.md"
_BLOCKS = re.findall(r"```python\n(.*?)```", _DOC.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(_BLOCKS)))
def test_doc_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(
        compile(_BLOCKS[index], f"docs/network_building.md block {index}", "exec"),  # noqa: S102
        namespace,
    )
    capsys.readouterr()
    assigned = set(re.findall(r"^(\w+)\s*=", _BLOCKS[index], flags=re.M))
    assert assigned <= set(namespace), sorted(assigned - set(namespace))


def test_doc_has_examples():
    assert len(_BLOCKS) >= 3
