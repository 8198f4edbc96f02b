"""Numeric core of root-cause localisation: candidate elements and their scores.

Input: per-leaf arrays ``actual`` (a), ``expected`` (e) and null ``variance`` (v) of one
*additive* quantity, already made comparable (for a ratio measure ``a`` is the actual numerator
and ``e`` the numerator at the actual denominator and the expected rate, see ``localize.py``),
plus integer codes of each dimension. Output: every element (a combination of 1..max_depth
dimension values) with its sums and score.

The score of an element S is G(S) = (A_S - E_S)^2 / V_S, the chi-square of its total deviation.
With Poisson variance (v = e) it is also the part of the leaf-level chi-square sum((a-e)^2/e)
that one scale factor on S explains (the weighted least-squares fit of a ~ k*e inside S has
k = A_S/E_S and removes exactly (A_S - E_S)^2 / E_S). Two properties make G the right yardstick:
when all children of S deviate by the same relative amount, G(S) is the *sum* of the children's
G, so the general element wins; when only one child C deviates, G(S) = G(C) * V_C / V_S < G(C),
so the specific element wins. Everything is a group sum, so one ``np.bincount`` per dimension
combination scores all of its elements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np


class Members(Sequence):
    """The elements of a search as (dimension index, value code) tuples, built when one is read.

    A depth-2 search over a multi-million-row cube scores millions of elements and reads a handful;
    one Python tuple per element would cost ~250 bytes each (hundreds of MB), the code arrays kept
    here cost ``depth`` integers per element."""

    def __init__(self, combos: list[tuple[int, ...]], keys: list[np.ndarray]):
        self._combos = combos  # dimension indices of each combination searched
        self._keys = keys  # per combination: (n_elements, depth) value codes
        self._starts = np.cumsum([0] + [len(k) for k in keys])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, i):  # type: ignore[override]
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = int(np.searchsorted(self._starts, i, side="right")) - 1
        return tuple(zip(self._combos[k], map(int, self._keys[k][i - self._starts[k]])))


@dataclass(frozen=True)
class Candidates:
    """All scored elements, one row per element (parallel arrays).

    ``members[i]`` is a tuple of (dimension index, value code) pairs, sorted by dimension index;
    ``actual``/``expected``/``variance`` are the element's sums, ``gain`` its score G.
    """

    members: Sequence[tuple[tuple[int, int], ...]]
    actual: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    gain: np.ndarray
    n_leaves: np.ndarray
    depth: np.ndarray


def enumerate_candidates(
    codes: np.ndarray,
    cardinalities: list[int],
    actual: np.ndarray,
    expected: np.ndarray,
    variance: np.ndarray,
    mask: np.ndarray,
    max_depth: int,
) -> Candidates:
    """Score every element of depth 1..max_depth over the leaves where ``mask`` is true.

    ``codes`` is an (n_leaves, n_dims) int array of value codes. Only elements with at least one
    leaf under ``mask`` are returned.
    """
    n_dims = codes.shape[1]
    combos: list[tuple[int, ...]] = []
    keys_of: list[np.ndarray] = []
    acts, exps, vars_, counts, depths = [], [], [], [], []
    rows = np.flatnonzero(mask)
    a_rows, e_rows, v_rows = actual[rows], expected[rows], variance[rows]
    for depth in range(1, min(max_depth, n_dims) + 1):
        for combo in combinations(range(n_dims), depth):
            if rows.size == 0:
                break
            # Compress the combination's observed keys: the full product of cardinalities can be
            # huge for high-cardinality dimensions, the observed combinations never exceed n.
            shape = tuple(cardinalities[j] for j in combo)
            flat = np.ravel_multi_index(tuple(codes[rows, j] for j in combo), shape)
            uniq, group = np.unique(flat, return_inverse=True)
            group = group.reshape(-1)
            size = uniq.size
            keys = np.column_stack(np.unravel_index(uniq, shape))
            acts.append(np.bincount(group, weights=a_rows, minlength=size))
            exps.append(np.bincount(group, weights=e_rows, minlength=size))
            vars_.append(np.bincount(group, weights=v_rows, minlength=size))
            counts.append(np.bincount(group, minlength=size))
            depths.append(np.full(size, depth))
            combos.append(combo)
            keys_of.append(keys)
    act = np.concatenate(acts) if acts else np.zeros(0)
    exp = np.concatenate(exps) if exps else np.zeros(0)
    var = np.concatenate(vars_) if vars_ else np.zeros(0)
    return Candidates(
        members=Members(combos, keys_of),
        actual=act,
        expected=exp,
        variance=var,
        gain=(act - exp) ** 2 / var if var.size else var,
        n_leaves=np.concatenate(counts).astype(int) if counts else np.zeros(0, int),
        depth=np.concatenate(depths) if depths else np.zeros(0, int),
    )


def leaves_of(codes: np.ndarray, member: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Boolean mask of the leaves that belong to an element."""
    inside = np.ones(codes.shape[0], dtype=bool)
    for j, value in member:
        inside &= codes[:, j] == value
    return inside


def is_ancestor(general: tuple[tuple[int, int], ...], specific: tuple[tuple[int, int], ...]) -> bool:
    """True when ``general`` is a strict ancestor of ``specific`` (its pairs are a strict subset)."""
    return len(general) < len(specific) and set(general) <= set(specific)
