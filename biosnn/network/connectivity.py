"""Connectivity rules: which neurons of a source group connect to which of a target group.

A rule is a small frozen value; :meth:`Rule.build` draws the synapses::

    pre, post = rule.build(n_pre, n_post, rng, same=False, pos_pre=None, pos_post=None)

and returns two int32 arrays of equal length, sorted by ``(pre, post)``, without duplicate
pairs (except :class:`FromArrays`, which keeps duplicates as given).  ``same=True`` says
that the source is the target population itself; then ``allow_self=False`` removes the
connections ``i -> i``.  ``rng`` is a :class:`numpy.random.Generator` (or an int seed);
the same seed gives the same synapses.

==========================  ============================================================
rule                        synapses
==========================  ============================================================
``AllToAll()``              every pair
``OneToOne()``              ``i -> i`` (needs ``n_pre == n_post``)
``FixedProbability(p)``     each pair independently with probability ``p``
``FixedInDegree(k)``        each target gets exactly ``k`` distinct sources
``FixedOutDegree(k)``       each source gets exactly ``k`` distinct targets
``DistanceDependent(p0,     each pair independently with probability
sigma)``                    ``p0*exp(-d**2/(2*sigma**2))``, ``d`` the distance (um)
``FromArrays(i, j)``        the pairs ``(i[s], j[s])`` (optionally with ``values``)
``FromSparse(matrix)``      the non-zero entries of a matrix (row = pre, column = post);
                            the entries are the synapses' ``values``
``Blocks(a, b=a)``          ``i -> j`` when ``i // a == j // b`` (pool k to pool k, all to
                            all inside; e.g. a synfire chain, private inputs)
==========================  ============================================================

Rules with values (:class:`FromArrays` with ``values=``, :class:`FromSparse`) return them
from :meth:`Rule.values`, in the order of the synapses that ``build`` returns (the engine
uses them as the synaptic variable ``w``).  Every other rule's ``values`` is None.

Algorithms (all vectorised with numpy):

* ``FixedProbability`` and ``DistanceDependent``: the pairs are numbered row by row
  (``pre*n_post + post``) and the gaps between chosen pairs are drawn as geometric random
  numbers with parameter ``p`` ("geometric skips"): this is exactly an independent
  Bernoulli(p) trial per pair, produces the pairs already sorted and costs O(number of
  synapses).  ``DistanceDependent`` draws candidates with ``p0`` and keeps each with
  probability ``exp(-d**2/(2 sigma**2))`` (thinning), so it costs O(p0 * n_pre * n_post).
* ``FixedInDegree`` / ``FixedOutDegree``: for each row ``k`` integers are drawn with
  replacement, sorted, and repeated values are drawn again until every row has ``k``
  distinct values; the result is the first ``k`` distinct values of an independent uniform
  sequence, i.e. a uniform random ``k``-subset.  When ``k`` is more than a third of the
  candidates a random permutation per row is used instead.
* Self connections are excluded by drawing among ``n - 1`` targets and shifting the values
  ``>= i`` by one, which keeps each row sorted.

Examples
--------
>>> import numpy as np
>>> from biosnn.network.connectivity import FixedProbability, FixedInDegree, csr
>>> rng = np.random.default_rng(0)
>>> pre, post = FixedProbability(0.1).build(1000, 1000, rng, same=True)
>>> pre.dtype, bool(abs(pre.size - 100_000) < 2_000)
(dtype('int32'), True)
>>> pre, post = FixedInDegree(20, allow_self=False).build(500, 500, rng, same=True)
>>> np.bincount(post, minlength=500).min(), int(np.sum(pre == post))
(np.int64(20), 0)
>>> indptr, indices, order = csr(pre, post, 500)
>>> int(indptr[-1]) == pre.size
True
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Rule",
    "AllToAll",
    "OneToOne",
    "FixedProbability",
    "FixedInDegree",
    "FixedOutDegree",
    "DistanceDependent",
    "FromArrays",
    "FromSparse",
    "Blocks",
    "csr",
    "bytes_per_synapse",
]

#: Candidate pairs drawn per chunk of rows (bounds the temporary memory to ~100 MB).
_CHUNK = 1 << 22


def _rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator or an integer seed, not {rng!r}")


#: Bytes per synapse while a rule builds (pre, post as int64, sorting, the CSR arrays):
#: the estimate checked against the available memory before building.
BUILD_BYTES_PER_SYNAPSE = 48


def _check_sizes(rule, n_pre, n_post, same):
    for label, n in (("n_pre", n_pre), ("n_post", n_post)):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"{rule!r}: {label} must be a non-negative integer, not {n!r}")
        if n >= 2**31:
            raise ValueError(
                f"{rule!r}: {label} = {n} is too large (at most 2**31 - 1 neurons per group)"
            )
    if same and n_pre != n_post:
        raise ValueError(
            f"{rule!r}: same=True (a population onto itself) needs n_pre == "
            f"n_post, got {n_pre} and {n_post}"
        )
    return int(n_pre), int(n_post)


def _check_probability(owner, name, p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"{owner}: the probability {name} must be a number in [0, 1], not {p!r}")


def _check_degree(owner, k):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
        raise ValueError(f"{owner}: the degree k must be a non-negative integer, not {k!r}")


def _empty():
    return np.zeros(0, np.int32), np.zeros(0, np.int32)


def _split_flat(flat, n_cols, row0, n_rows):
    """Sorted flat indices ``row*n_cols + col`` (rows counted from row0) -> (rows, cols)."""
    bounds = np.searchsorted(flat, np.arange(n_rows + 1, dtype=np.int64) * n_cols)
    rows = np.repeat(np.arange(row0, row0 + n_rows, dtype=np.int64), np.diff(bounds))
    cols = flat - (rows - row0) * n_cols
    return rows, cols


def _bernoulli_pairs(n_pre, n_post, p, rng, skip_self):
    """Yield chunks (pre int64, post int64) of independent Bernoulli(p) pairs, sorted.

    With ``skip_self`` the diagonal is excluded (rows have n_post - 1 candidates).
    """
    n_cols = n_post - 1 if skip_self else n_post
    if p <= 0 or n_pre == 0 or n_cols <= 0:
        return
    rows_per_chunk = max(1, int(_CHUNK / max(p * n_cols, 1.0)))
    for row0 in range(0, n_pre, rows_per_chunk):
        n_rows = min(rows_per_chunk, n_pre - row0)
        total = n_rows * n_cols
        if p >= 1:
            flat = np.arange(total, dtype=np.int64)
        else:
            mean = p * total
            parts, last = [], -1
            while last < total - 1:
                size = int(mean + 6 * math.sqrt(mean) + 64)
                steps = rng.geometric(p, size).astype(np.int64, copy=False)
                steps[0] += last
                positions = np.cumsum(steps)
                parts.append(positions)
                last = int(positions[-1])
                mean = max(p * (total - last), 1.0)
            flat = np.concatenate(parts) if len(parts) > 1 else parts[0]
            flat = flat[: np.searchsorted(flat, total)]
        rows, cols = _split_flat(flat, n_cols, row0, n_rows)
        if skip_self:
            cols += cols >= rows
        yield rows, cols


def _distinct_per_row(n_rows, k, n_cand, rng):
    """(n_rows, k) int64 array: each row a sorted uniform random k-subset of range(n_cand)."""
    if k == 0 or n_rows == 0:
        return np.zeros((n_rows, k), np.int64)
    if 3 * k > n_cand:
        out = np.empty((n_rows, k), np.int64)
        block = max(1, _CHUNK // n_cand)
        for r0 in range(0, n_rows, block):
            keys = rng.random((min(block, n_rows - r0), n_cand))
            chosen = (
                np.argpartition(keys, k - 1, axis=1)[:, :k]
                if k < n_cand
                else np.broadcast_to(np.arange(n_cand), keys.shape)
            )
            out[r0 : r0 + keys.shape[0]] = np.sort(chosen, axis=1)
        return out
    out = rng.integers(0, n_cand, size=(n_rows, k), dtype=np.int64)
    out.sort(axis=1)
    rows = np.arange(n_rows)
    while rows.size:
        sub = out[rows]
        dup = np.zeros(sub.shape, bool)
        dup[:, 1:] = sub[:, 1:] == sub[:, :-1]
        bad = dup.any(axis=1)
        rows, sub, dup = rows[bad], sub[bad], dup[bad]
        if not rows.size:
            break
        sub[dup] = rng.integers(0, n_cand, size=int(dup.sum()), dtype=np.int64)
        sub.sort(axis=1)
        out[rows] = sub
    return out


def _finish(pre, post):
    return (np.ascontiguousarray(pre, dtype=np.int32), np.ascontiguousarray(post, dtype=np.int32))


class Rule:
    """Base class of the connectivity rules (each a frozen dataclass)."""

    allow_self: bool = True

    def build(
        self, n_pre: int, n_post: int, rng=None, same: bool = False, pos_pre=None, pos_post=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The synapses as ``(pre, post)`` int32 arrays sorted by ``(pre, post)``.

        Parameters
        ----------
        n_pre, n_post : int
            Sizes of the source and target groups.
        rng : numpy.random.Generator or int or None
            Random generator (an int is a seed).
        same : bool
            The source is the target population (then ``allow_self`` applies).
        pos_pre, pos_post : array (n, d) in um, optional
            Positions, used by :class:`DistanceDependent` only.
        """
        n_pre, n_post = _check_sizes(self, n_pre, n_post, same)
        expected = self.expected_synapses(n_pre, n_post)
        if expected is not None:
            from biosnn._memory import check_memory

            check_memory(
                BUILD_BYTES_PER_SYNAPSE * expected,
                f"{self!r} between {n_pre} and {n_post} neurons (about {expected:.3g} synapses)",
                "use smaller groups or fewer synapses",
            )
        pre, post = self._build(n_pre, n_post, _rng(rng), bool(same), pos_pre, pos_post)
        return _finish(pre, post)

    def expected_synapses(self, n_pre: int, n_post: int) -> float | None:
        """The expected number of synapses (for the memory check), None if unknown."""
        return None

    def values(self, n_pre: int, n_post: int, same: bool = False) -> np.ndarray | None:
        """Values carried by the rule, one per synapse in ``build``'s order, or None."""
        return None

    def _skip_self(self, same):
        return same and not self.allow_self

    def _build(self, n_pre, n_post, rng, same, pos_pre, pos_post):  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class AllToAll(Rule):
    """Every source to every target (without ``i -> i`` if ``allow_self=False``)."""

    allow_self: bool = True

    def expected_synapses(self, n_pre, n_post):
        return float(n_pre) * n_post

    def _build(self, n_pre, n_post, rng, same, pos_pre, pos_post):
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        if self._skip_self(same):
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return pre, post


@dataclass(frozen=True)
class OneToOne(Rule):
    """Source ``i`` to target ``i``; needs groups of equal size."""

    allow_self: bool = True

    def _build(self, n_pre, n_post, rng, same, pos_pre, pos_post):
        if n_pre != n_post:
            raise ValueError(
                f"OneToOne needs groups of equal size, got n_pre={n_pre} and n_post={n_post}"
            )
        if self._skip_self(same):
            raise ValueError(
                "OneToOne(allow_self=False) from a population onto itself would "
                "make no synapse at all"
            )
        index = np.arange(n_pre, dtype=np.int64)
        return index, index


@dataclass(frozen=True)
class FixedProbability(Rule):
    """Each pair connected independently with probability ``p``.

    The number of synapses of each source is Binomial(n_post, p) (n_post - 1 without self
    connections); the expected total is ``p * n_pre * n_post``.
    """

    p: float
    allow_self: bool = True

    def __post_init__(self):
        _check_probability(f"FixedProbability(p={self.p!r})", "p", self.p)

    def expected_synapses(self, n_pre, n_post):
        return float(self.p) * n_pre * n_post

    def _build(self, n_pre, n_post, rng, same, pos_pre, pos_post):
        chunks = list(_bernoulli_pairs(n_pre, n_post, float(self.p), rng, self._skip_self(same)))
        if not chunks:
            return _empty()
        return (np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks]))


def _fixed_degree(rule, k, n_rows, n_other, skip, rng, picked, row):
    """``k`` distinct partners per row for FixedInDegree (rows: targets) and
    FixedOutDegree (rows: sources): the row indices as a column and the partners
    (n_rows, k), the row itself excluded when ``skip``.
    """
    n_cand = n_other - 1 if skip else n_other
    if k > n_cand and n_rows > 0:
        other = "n_pre" if rule == "FixedInDegree" else "n_post"
        raise ValueError(
            f"{rule}(k={k}) needs {k} distinct {picked} per {row} but "
            f"there are only {n_cand} ({other}={n_other}"
            f"{', self connections excluded' if skip else ''})"
        )
    partners = _distinct_per_row(n_rows, k, n_cand, rng)
    rows = np.arange(n_rows, dtype=np.int64)[:, None]
    if skip:
        partners += partners >= rows
    return rows, partners


@dataclass(frozen=True)
class FixedInDegree(Rule):
    """Each target receives exactly ``k`` distinct sources, chosen uniformly at random."""

    k: int
    allow_self: bool = True

    def __post_init__(self):
        _check_degree(f"FixedInDegree(k={self.k!r})", self.k)

    def expected_synapses(self, n_pre, n_post):
        return float(self.k) * n_post

    def _build(self, n_pre, n_post, rng, same, pos_pre, pos_post):
        targets, sources = _fixed_degree(
            "FixedInDegree",
            int(self.k),
            n_post,
            n_pre,
            self._skip_self(same),
            rng,
            "sources",
            "target",
        )
        keys = np.sort((sources * n_post + targets).ravel())
        return _split_flat(keys, n_post, 0, n_pre)


@dataclass(frozen=True)
class FixedOutDegree(Rule):
    """Each source projects to exactly ``k`` distinct targets, chosen uniformly at random."""

    k: int
    allow_self: bool = True

    def __post_init__(self):
        _check_degree(f"FixedOutDegree(k={self.k!r})", self.k)

    def expected_synapses(self, n_pre, n_post):
        return float(self.k) * n_pre

    def _build(self, n_pre, n_post, rng, same, pos_pre, pos_post):
        k = int(self.k)
        sources, targets = _fixed_degree(
            "FixedOutDegree", k, n_pre, n_post, self._skip_self(same), rng, "targets", "source"
        )
        return np.repeat(sources.ravel(), k), targets.ravel()


def _positions(pos, n, label):
    if pos is None:
        raise ValueError(
            f"DistanceDependent needs the positions of the {label} neurons "
            "(give positions= to the population, an (n, d) array in um)"
        )
    array = np.asarray(pos, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] != n:
        raise ValueError(
            f"the {label} positions must have shape ({n}, d) (in um), got {np.shape(pos)}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"the {label} positions must be finite numbers (um)")
    return array


def _length_um(value, owner):
    if isinstance(value, str):
        from biosnn.units import parse_quantity, parse_unit

        um, dim, _ = parse_quantity(value)
        if dim != parse_unit("meter")[1]:
            raise ValueError(f"{owner}: sigma {value!r} is not a length (e.g. '100 um')")
        return float(um)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{owner}: sigma must be a number (um) or a length such as '100 um', not {value!r}"
        )
    return float(value)


@dataclass(frozen=True)
class DistanceDependent(Rule):
    """Each pair connected independently with ``p = p0*exp(-d**2/(2*sigma**2))``.

    ``d`` is the Euclidean distance between the positions (um) of the two neurons;
    ``sigma`` is a number in um or a string with a length unit (``"150 um"``).  The cost is
    proportional to ``p0 * n_pre * n_post`` (candidates drawn with ``p0``, then thinned).
    """

    p0: float
    sigma: float | str
    allow_self: bool = True

    def __post_init__(self):
        owner = f"DistanceDependent(p0={self.p0!r}, sigma={self.sigma!r})"
        _check_probability(owner, "p0", self.p0)
        sigma = _length_um(self.sigma, owner)
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"{owner}: sigma must be a positive length, not {self.sigma!r}")

    def _build(self, n_pre, n_post, rng, same, pos_pre, pos_post):
        if same and pos_post is None:
            pos_post = pos_pre
        a = _positions(pos_pre, n_pre, "source")
        b = _positions(pos_post, n_post, "target")
        if a.shape[1] != b.shape[1]:
            raise ValueError(
                f"the source positions are {a.shape[1]}-D but the target "
                f"positions are {b.shape[1]}-D"
            )
        scale = -0.5 / _length_um(self.sigma, "DistanceDependent") ** 2
        a_cols = [np.ascontiguousarray(col) for col in a.T]
        b_cols = [np.ascontiguousarray(col) for col in b.T]
        pres, posts = [], []
        for pre, post in _bernoulli_pairs(
            n_pre, n_post, float(self.p0), rng, self._skip_self(same)
        ):
            d2 = np.zeros(pre.size)
            for a_col, b_col in zip(a_cols, b_cols, strict=True):
                diff = a_col[pre]
                diff -= b_col[post]
                diff *= diff
                d2 += diff
            d2 *= scale
            keep = rng.random(pre.size) < np.exp(d2, out=d2)
            pres.append(pre[keep])
            posts.append(post[keep])
        if not pres:
            return _empty()
        return np.concatenate(pres), np.concatenate(posts)


def _index_array(values, label):
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"FromArrays: {label} must be a 1-D array of indices, got shape {array.shape}"
        )
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or np.any(array != np.round(array)):
            raise ValueError(f"FromArrays: {label} must hold integer indices")
    array = array.astype(np.int64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False, repr=False)
class FromArrays(Rule):
    """The synapses ``i[s] -> j[s]`` given explicitly; duplicates are kept.

    ``build`` sorts the pairs stably by ``(pre, post)`` (duplicates keep their order);
    ``values`` (optional, one per pair) comes back from :meth:`values` in that order, and
    :meth:`order` gives the permutation itself so that other per-pair arrays in the order
    of ``i, j`` can be reordered the same way.  With ``allow_self=False`` and ``same`` the
    pairs ``i -> i`` are dropped.
    """

    i: np.ndarray
    j: np.ndarray
    values_: np.ndarray | None = None
    allow_self: bool = True

    def __init__(self, i, j, values=None, allow_self=True):
        i = _index_array(i, "i")
        j = _index_array(j, "j")
        if i.size != j.size:
            raise ValueError(
                f"FromArrays: i and j must have the same length, got {i.size} and {j.size}"
            )
        if i.size and (i.min() < 0 or j.min() < 0):
            raise ValueError("FromArrays: indices must not be negative")
        if values is not None:
            values = np.array(values, dtype=np.float64)
            if values.shape != (i.size,):
                raise ValueError(
                    f"FromArrays: values must have one entry per pair "
                    f"({i.size}), got shape {values.shape}"
                )
            values.setflags(write=False)
        object.__setattr__(self, "i", i)
        object.__setattr__(self, "j", j)
        object.__setattr__(self, "values_", values)
        object.__setattr__(self, "allow_self", bool(allow_self))

    def __repr__(self):
        extra = "" if self.values_ is None else ", values=..."
        return f"FromArrays(<{self.i.size} pairs>{extra}, allow_self={self.allow_self})"

    def order(self, n_pre: int, n_post: int, same: bool = False) -> np.ndarray:
        """Indices into ``i, j`` of the synapses that ``build`` returns, in its order."""
        n_pre, n_post = _check_sizes(self, n_pre, n_post, same)
        if self.i.size and self.i.max() >= n_pre:
            raise ValueError(
                f"FromArrays: source index {int(self.i.max())} is out of range "
                f"for a group of {n_pre}"
            )
        if self.j.size and self.j.max() >= n_post:
            raise ValueError(
                f"FromArrays: target index {int(self.j.max())} is out of range "
                f"for a group of {n_post}"
            )
        order = np.lexsort((self.j, self.i))
        if self._skip_self(same):
            order = order[self.i[order] != self.j[order]]
        return order

    def _build(self, n_pre, n_post, rng, same, pos_pre, pos_post):
        order = self.order(n_pre, n_post, same)
        return self.i[order], self.j[order]

    def values(self, n_pre, n_post, same=False):
        if self.values_ is None:
            return None
        return self.values_[self.order(n_pre, n_post, same)]


@dataclass(frozen=True, eq=False, repr=False)
class FromSparse(Rule):
    """The non-zero entries of a matrix (row = source, column = target).

    ``matrix`` is a scipy.sparse matrix or array, or a dense 2-D array; its shape must be
    ``(n_pre, n_post)``.  Duplicate entries of a sparse matrix are summed and entries equal
    to zero (also explicitly stored ones) are not synapses.  :meth:`values` returns the
    entries in the order of ``build`` (the engine uses them as the weights ``w``).
    """

    rows: np.ndarray
    cols: np.ndarray
    data: np.ndarray
    shape: tuple
    allow_self: bool = True

    def __init__(self, matrix, allow_self=True):
        if hasattr(matrix, "tocoo") and hasattr(matrix, "nnz"):
            coo = matrix.tocoo(copy=True)
            coo.sum_duplicates()  # sorts by (row, col) and adds up duplicates
            rows, cols, data = coo.row, coo.col, np.asarray(coo.data, dtype=np.float64)
            keep = np.flatnonzero(data != 0)
            order = keep[np.lexsort((cols[keep], rows[keep]))]
            rows, cols, data = rows[order], cols[order], data[order]
        else:
            dense = np.asarray(matrix)
            if dense.ndim != 2:
                raise ValueError(
                    f"FromSparse needs a 2-D matrix (rows = sources, columns = "
                    f"targets), got shape {dense.shape}"
                )
            try:
                dense = dense.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError("FromSparse needs a numeric matrix") from None
            rows, cols = np.nonzero(dense)
            data = dense[rows, cols]
        if not np.all(np.isfinite(data)):
            raise ValueError("FromSparse: the matrix holds values that are not finite")
        shape = tuple(int(s) for s in matrix.shape)
        for name, value in (("rows", rows), ("cols", cols), ("data", data)):
            value = np.array(value, dtype=np.float64 if name == "data" else np.int64)
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "allow_self", bool(allow_self))

    def __repr__(self):
        return (
            f"FromSparse(<{self.shape[0]}x{self.shape[1]} matrix, {self.rows.size} "
            f"entries>, allow_self={self.allow_self})"
        )

    def _keep(self, n_pre, n_post, same):
        n_pre, n_post = _check_sizes(self, n_pre, n_post, same)
        if self.shape != (n_pre, n_post):
            raise ValueError(
                f"FromSparse: the matrix has shape {self.shape} but the groups "
                f"need ({n_pre}, {n_post}) (rows = sources, columns = targets)"
            )
        if self._skip_self(same):
            return self.rows != self.cols
        return None

    def _build(self, n_pre, n_post, rng, same, pos_pre, pos_post):
        keep = self._keep(n_pre, n_post, same)
        if keep is None:
            return self.rows, self.cols
        return self.rows[keep], self.cols[keep]

    def values(self, n_pre, n_post, same=False):
        keep = self._keep(n_pre, n_post, same)
        return self.data.copy() if keep is None else self.data[keep]


@dataclass(frozen=True)
class Blocks(Rule):
    """All-to-all inside blocks: source ``i`` connects to target ``j`` when
    ``i // pre_size == j // post_size``.

    ``Blocks(100)`` between ``P[0:900]`` and ``P[100:1000]`` connects every neuron of
    pool ``k`` (100 neurons) to every neuron of pool ``k + 1`` (a synfire chain);
    ``Blocks(10, 1)`` from a group of ``10*n`` sources onto ``n`` targets gives each
    target its own 10 sources.

    Examples
    --------
    >>> pre, post = Blocks(2).build(4, 4)
    >>> list(zip(pre.tolist(), post.tolist()))
    [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3)]
    """

    pre_size: int
    post_size: int | None = None
    allow_self: bool = True

    def __post_init__(self):
        for name in ("pre_size", "post_size"):
            v = getattr(self, name)
            if v is None and name == "post_size":
                continue
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"Blocks: {name} must be a whole number >= 1, not {v!r}")

    def _build(self, n_pre, n_post, rng, same, pos_pre, pos_post):
        a = int(self.pre_size)
        b = int(self.post_size or self.pre_size)
        nblocks = min(-(-n_pre // a), -(-n_post // b))
        pres, posts = [], []
        for k in range(nblocks):
            i = np.arange(k * a, min((k + 1) * a, n_pre), dtype=np.int64)
            j = np.arange(k * b, min((k + 1) * b, n_post), dtype=np.int64)
            pres.append(np.repeat(i, j.size))
            posts.append(np.tile(j, i.size))
        if not pres:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pre, post = np.concatenate(pres), np.concatenate(posts)
        if self._skip_self(same):
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return pre, post


def csr(pre, post, n_pre: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compressed sparse rows of a synapse list.

    Parameters
    ----------
    pre, post : int arrays of equal length
        Source and target of each synapse.
    n_pre : int
        Number of sources.

    Returns
    -------
    indptr : int64 array (n_pre + 1,)
        The synapses of source ``i`` are positions ``indptr[i]:indptr[i+1]``.
    indices : int32 array
        The targets, grouped by source (``post[order]``).
    order : int64 array
        The stable permutation that groups the synapses by source (``arange`` when ``pre``
        is already sorted, as ``build`` returns it); reorder per-synapse arrays with it.

    Examples
    --------
    >>> indptr, indices, order = csr([0, 0, 2], [1, 2, 0], 3)
    >>> indptr.tolist(), indices.tolist(), order.tolist()
    ([0, 2, 2, 3], [1, 2, 0], [0, 1, 2])
    """
    pre = np.asarray(pre)
    post = np.asarray(post)
    if pre.shape != post.shape or pre.ndim != 1:
        raise ValueError(
            f"csr: pre and post must be 1-D arrays of equal length, got shapes "
            f"{pre.shape} and {post.shape}"
        )
    if pre.size and (pre.min() < 0 or pre.max() >= n_pre):
        raise ValueError(f"csr: a source index is outside 0..{n_pre - 1}")
    counts = np.bincount(pre, minlength=n_pre) if pre.size else np.zeros(n_pre, np.int64)
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    if pre.size < 2 or np.all(pre[1:] >= pre[:-1]):
        order = np.arange(pre.size, dtype=np.int64)
        indices = np.ascontiguousarray(post, dtype=np.int32)
    else:
        order = np.argsort(pre, kind="stable").astype(np.int64)
        indices = np.ascontiguousarray(post[order], dtype=np.int32)
    return indptr, indices, order


def bytes_per_synapse(n_synapses: int, *arrays) -> float:
    """Memory per synapse of a synapse group: the sum of ``arrays``' sizes / ``n_synapses``.

    The engine passes every array whose size grows with the synapses (CSR ``indptr`` and
    ``indices``, pre indices, per-synapse variables, heterogeneous delays), so the number
    is what the group really holds, e.g. 4 (int32 target) + 8 (float64 ``w``) plus
    ``8*(n_pre + 1)/n_synapses`` for ``indptr``.  Zero synapses give 0.0.

    Examples
    --------
    >>> import numpy as np
    >>> bytes_per_synapse(1000, np.zeros(11, np.int64), np.zeros(1000, np.int32),
    ...                   np.zeros(1000))
    12.088
    """
    if n_synapses <= 0:
        return 0.0
    return float(sum(np.asarray(a).nbytes for a in arrays)) / n_synapses
