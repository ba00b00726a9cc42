"""The tamper-evident log's Merkle tree, exactly as RFC 6962 / RFC 9162 §2.1 define it.

Terms:
- *leaf hash*: SHA-256(0x00 ‖ leaf bytes); *node hash*: SHA-256(0x01 ‖ left ‖ right).
- *tree head* of size n: the Merkle Tree Hash of the first n leaves, splitting each
  range at the largest power of two smaller than its size; the empty tree's hash is
  SHA-256 of nothing.
- *inclusion proof*: the audit path showing leaf m is in the tree of size n.
- *consistency proof*: shows the tree of size m is a prefix of the tree of size n.

:class:`Tree` keeps every complete power-of-two subtree, so appending is O(log n) and a
head, inclusion proof or consistency proof for any size up to n costs O(log n) hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """An append-only Merkle tree over leaf hashes."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append_hash(h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, data: bytes) -> int:
        """Add a leaf's bytes; returns its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, h: bytes) -> int:
        index = self.size
        self._levels[0].append(h)
        level, position = 0, index
        while position % 2 == 1:  # a right child completes its parent
            parent = node_hash(self._levels[level][position - 1], self._levels[level][position])
            level, position = level + 1, position // 2
            if len(self._levels) == level:
                self._levels.append([])
            self._levels[level].append(parent)
        return index

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def _hash(self, start: int, n: int) -> bytes:
        """MTH of leaves [start, start + n)."""
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            return self._levels[n.bit_length() - 1][start // n]
        k = _split(n)
        return node_hash(self._hash(start, k), self._hash(start + k, n - k))

    def root(self, size: int | None = None) -> bytes:
        """The tree head hash over the first ``size`` leaves (all when None)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError("size beyond the tree")
        return self._hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) of RFC 9162 §2.1.3.1."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError("index or size out of range")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, n: int) -> list[bytes]:
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return self._path(m, start, k) + [self._hash(start + k, n - k)]
        return self._path(m - k, start + k, n - k) + [self._hash(start, k)]

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """PROOF(first, D[second]) of RFC 9162 §2.1.4.1."""
        second = self.size if second is None else second
        if not 0 < first <= second <= self.size:
            raise ValueError("sizes out of range")
        return self._subproof(first, 0, second, True)

    def _subproof(self, m: int, start: int, n: int, whole: bool) -> list[bytes]:
        if m == n:
            return [] if whole else [self._hash(start, n)]
        k = _split(n)
        if m <= k:
            return self._subproof(m, start, k, whole) + [self._hash(start + k, n - k)]
        return self._subproof(m - k, start + k, n - k, False) + [self._hash(start, k)]


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf byte strings."""
    return Tree(leaf_hash(d) for d in leaves).root()


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, given the leaf hash."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """RFC 9162 §2.1.4.2."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
