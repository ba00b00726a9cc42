"""RFC 6962 / 9162 Merkle tree: the Certificate Transparency test vectors, and rejections."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seal.merkle import (
    EMPTY_ROOT,
    Tree,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (index, size, proof)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CONSISTENCY = [  # (first, second, proof)
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        2,
        8,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def hexes(proof: list[bytes]) -> list[str]:
    return [p.hex() for p in proof]


def unhex(proof: list[str]) -> list[bytes]:
    return [bytes.fromhex(p) for p in proof]


def test_roots_for_sizes_0_to_8() -> None:
    tree = Tree()
    assert tree.root().hex() == ROOTS[0] == EMPTY_ROOT.hex()
    for n, data in enumerate(LEAVES, start=1):
        tree.append(data)
        assert tree.root().hex() == ROOTS[n]
        assert root_of(LEAVES[:n]).hex() == ROOTS[n]
    for n in range(9):  # a head of any earlier size from the grown tree
        assert tree.root(n).hex() == ROOTS[n]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_vectors(index: int, size: int, proof: list[str]) -> None:
    tree = Tree(leaf_hash(d) for d in LEAVES)
    assert hexes(tree.inclusion_proof(index, size)) == proof
    root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, unhex(proof), root)


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_vectors(first: int, second: int, proof: list[str]) -> None:
    tree = Tree(leaf_hash(d) for d in LEAVES)
    assert hexes(tree.consistency_proof(first, second)) == proof
    assert verify_consistency(
        first, second, unhex(proof), bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
    )


def flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def test_every_proof_verifies_and_every_corruption_is_rejected() -> None:
    leaves = [bytes([i, i * 7 % 256]) for i in range(37)]
    tree = Tree(leaf_hash(d) for d in leaves)
    for n in range(1, len(leaves) + 1):
        root = tree.root(n)
        for i in range(n):
            leaf, proof = leaf_hash(leaves[i]), tree.inclusion_proof(i, n)
            assert verify_inclusion(leaf, i, n, proof, root)
            bad = [
                (leaf, i + 1, n, proof, root),  # wrong index
                # wrong size (the probes of the CT reference tests: the tree's height changes)
                (leaf, i, n * 2, proof, root),
                (leaf, i, n // 2, proof, root),
                (leaf_hash(b"other"), i, n, proof, root),  # wrong leaf
                (leaf, i, n, proof, flip(root)),  # wrong root
                (leaf, i, n, [*proof, root], root),  # extended proof
            ]
            if proof:
                bad.append((leaf, i, n, proof[:-1], root))  # truncated proof
                bad.append((leaf, i, n, [flip(proof[0]), *proof[1:]], root))  # flipped bit
            if i > 0:
                bad.append((leaf, i - 1, n, proof, root))
            if i ^ 2 != i:
                bad.append((leaf, i ^ 2, n, proof, root))
            for case in bad:
                assert not verify_inclusion(*case), (i, n, case[1:3])
        for m in range(1, n + 1):
            proof = tree.consistency_proof(m, n)
            first, second = tree.root(m), root
            assert verify_consistency(m, n, proof, first, second)
            if m == n:
                assert not verify_consistency(m, n, [first], first, second)
                continue
            bad_cases = [
                (m, n, proof, flip(first), second),  # wrong old root
                (m, n, proof, first, flip(second)),  # wrong new root
                (m, n, [*proof, first], first, second),  # extended
                (m, n, proof[:-1], first, second),  # truncated
                (m, n, [flip(proof[0]), *proof[1:]], first, second),  # flipped bit
                (m, n * 2, proof, first, second),  # wrong sizes, as the CT reference probes
                (m, n // 2, proof, first, second),
                (m - 1, n, proof, first, second),
                (m + 1, n, proof, first, second),
                (m ^ 2, n, proof, first, second),
            ]
            for case in bad_cases:
                assert not verify_consistency(*case), (m, n)


def test_empty_and_trivial_cases() -> None:
    assert verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    assert not verify_inclusion(leaf_hash(b""), 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ValueError):
        Tree().inclusion_proof(0, 1)
    with pytest.raises(ValueError):
        Tree([leaf_hash(b"a")]).consistency_proof(0, 1)


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=40))
def test_incremental_tree_agrees_with_the_recursive_definition(leaves: list[bytes]) -> None:
    def mth(items: list[bytes]) -> bytes:
        if not items:
            return EMPTY_ROOT
        if len(items) == 1:
            return leaf_hash(items[0])
        k = 1 << ((len(items) - 1).bit_length() - 1)
        import hashlib

        return hashlib.sha256(b"\x01" + mth(items[:k]) + mth(items[k:])).digest()

    tree = Tree()
    for data in leaves:
        tree.append(data)
    assert all(tree.root(n) == mth(leaves[:n]) for n in range(len(leaves) + 1))
