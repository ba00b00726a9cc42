"""Ed25519 through ``cryptography`` (RFC 8032 §7.1 vectors) and canonical JSON."""

from __future__ import annotations

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from seal.signing import b64u, canonical, load_public_key, public_key_text, sign, unb64u, verify

# RFC 8032 §7.1, TEST 1, 2 and 3: secret key, public key, message, signature (hex).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
        "1cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
        "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760"
        "984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors(secret: str, public: str, message: str, signature: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert unb64u(public_key_text(key)).hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature
    load_public_key(b64u(bytes.fromhex(public))).verify(
        bytes.fromhex(signature), bytes.fromhex(message)
    )


def test_envelope_round_trip_and_any_change_breaks_it() -> None:
    key = Ed25519PrivateKey.generate()
    public = load_public_key(public_key_text(key))
    envelope = sign(key, {"type": "commitment", "round": 7, "seat": "3", "名": "王"})
    assert verify(public, envelope)["round"] == 7
    for broken in (
        {**envelope, "body": {**envelope["body"], "round": 8}},
        {
            **envelope,
            "signature": b64u(
                bytes([unb64u(envelope["signature"])[0] ^ 1]) + unb64u(envelope["signature"])[1:]
            ),
        },
        {**envelope, "extra": 1},
        {"body": envelope["body"]},
        "junk",
    ):
        with pytest.raises(ValueError):
            verify(public, broken)
    other = load_public_key(public_key_text(Ed25519PrivateKey.generate()))
    with pytest.raises(ValueError):
        verify(other, envelope)


def test_canonical_json_is_rfc8785() -> None:
    assert canonical({"b": 1, "a": "中", "c": {"z": None, "y": [True, "x"]}}) == (
        '{"a":"中","b":1,"c":{"y":[true,"x"],"z":null}}'.encode()
    )


def test_base64url_is_strict() -> None:
    for bad in ("AA==", "A", "!!", "AB"):  # padding, impossible length, alphabet, non-canonical
        with pytest.raises(ValueError):
            unb64u(bad)
    assert unb64u("AAE") == b"\x00\x01"


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53) + 1, 2**53 - 1)
        | st.text(st.characters(codec="utf-8"), max_size=8),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=6), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_the_fast_encoder_gives_rfc8785_bytes(value: object) -> None:
    assert canonical(value) == rfc8785.dumps(value)
