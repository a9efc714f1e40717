"""Credential primitives against the RFCs' published examples."""

import base64

from libs.auth import digest, passwords, scram

# RFC 7677 section 3: user "user", password "pencil".
RFC7677_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC7677_AUTH_MESSAGE = (
    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
)
RFC7677_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC7677_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_scram_sha256_matches_rfc7677_example() -> None:
    keys = scram.derive_keys("pencil", salt=RFC7677_SALT, iterations=4096)
    signature = scram.verify_proof(
        stored_key=keys.stored_key,
        server_key=keys.server_key,
        auth_message=RFC7677_AUTH_MESSAGE,
        client_proof_b64=RFC7677_PROOF,
    )
    assert signature == RFC7677_SERVER_SIGNATURE


def test_scram_client_side_produces_the_rfc_proof() -> None:
    proof, server_signature = scram.client_proof(
        "pencil", salt=RFC7677_SALT, iterations=4096, auth_message=RFC7677_AUTH_MESSAGE
    )
    assert (proof, server_signature) == (RFC7677_PROOF, RFC7677_SERVER_SIGNATURE)


def test_scram_rejects_wrong_password_and_garbage_proofs() -> None:
    keys = scram.derive_keys("pencil", salt=RFC7677_SALT, iterations=4096)
    wrong, _ = scram.client_proof("pencil2", salt=RFC7677_SALT, iterations=4096, auth_message=RFC7677_AUTH_MESSAGE)
    for proof in (wrong, "not base64!!", "", base64.b64encode(b"short").decode()):
        assert (
            scram.verify_proof(
                stored_key=keys.stored_key,
                server_key=keys.server_key,
                auth_message=RFC7677_AUTH_MESSAGE,
                client_proof_b64=proof,
            )
            is None
        )


# RFC 7616 section 3.9.1: Mufasa / "Circle of Life".
RFC7616 = dict(
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    method="GET",
    uri="/dir/index.html",
    qop="auth",
    nc="00000001",
    cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
)


def test_digest_md5_and_sha256_match_rfc7616_example() -> None:
    for algorithm, expected in (
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ):
        ha1 = digest.ha1(algorithm, "Mufasa", "http-auth@example.org", "Circle of Life")
        assert digest.expected_response(algorithm=algorithm, ha1_hex=ha1, **RFC7616) == expected


def test_digest_rfc2069_style_without_qop() -> None:
    ha1 = digest.ha1("MD5", "alice", "example.test", "pw")
    response = digest.expected_response(
        algorithm="MD5",
        ha1_hex=ha1,
        nonce="n",
        method="REGISTER",
        uri="sip:example.test",
        qop=None,
        nc=None,
        cnonce=None,
    )
    assert len(response) == 32
    assert digest.response_matches(response, response.upper())


def test_digest_refuses_unknown_algorithms() -> None:
    try:
        digest.base_algorithm("SHA-512-256")
    except ValueError as exc:
        assert "unsupported" in str(exc)
    else:
        raise AssertionError("SHA-512-256 is not supported and must say so")


def test_argon2id_hash_and_verify() -> None:
    stored = passwords.hash_password("s3cret")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "s3cret")
    assert not passwords.verify_password(stored, "S3cret")
    assert not passwords.verify_password("not a hash", "s3cret")
