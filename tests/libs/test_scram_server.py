"""libs.auth.scram_server: the SCRAM-SHA-256 server messages every front end shares."""

from __future__ import annotations

import base64

import pytest

from libs.auth import scram_server


def test_client_first_is_parsed_and_names_are_unescaped() -> None:
    first = scram_server.parse_client_first(b"n,,n=a=2Cb=3Dc@example.test,r=nonce123")
    assert (first.username, first.nonce, first.bare) == (
        "a,b=c@example.test",
        "nonce123",
        "n=a=2Cb=3Dc@example.test,r=nonce123",
    )


@pytest.mark.parametrize(
    "message",
    [
        b"y,,n=a@b.c,r=x",  # channel binding offered
        b"p=tls-unique,,n=a@b.c,r=x",  # channel binding required
        b"n,a=admin@b.c,n=a@b.c,r=x",  # authorization identity
        b"n,,r=x",  # no user name
        b"n,,n=a@b.c",  # no nonce
        b"n,,n=a=ZZb,r=x",  # bad escape
        b"n=a@b.c,r=x",  # no GS2 header
    ],
)
def test_client_first_refusals(message: bytes) -> None:
    with pytest.raises(scram_server.ScramError):
        scram_server.parse_client_first(message)


def test_server_first_extends_the_client_nonce() -> None:
    first = scram_server.parse_client_first(b"n,,n=a@b.c,r=abc")
    server_first = scram_server.server_first(first, salt="c2FsdA==", iterations=4096)
    nonce, salt, iterations = server_first.split(",")
    assert nonce.startswith("r=abc") and len(nonce) > len("r=abc") + 16
    assert (salt, iterations) == ("s=c2FsdA==", "i=4096")


def test_client_final_needs_the_same_nonce_and_no_channel_binding() -> None:
    final = scram_server.parse_client_final(b"c=biws,r=abcxyz,p=cHJvb2Y=", expected_nonce="abcxyz", gs2_header="n,,")
    assert (final.proof, final.without_proof) == ("cHJvb2Y=", "c=biws,r=abcxyz")
    with pytest.raises(scram_server.ScramError):
        scram_server.parse_client_final(b"c=biws,r=other,p=cHJvb2Y=", expected_nonce="abcxyz", gs2_header="n,,")
    with pytest.raises(scram_server.ScramError):
        scram_server.parse_client_final(b"c=eSws,r=abcxyz,p=cHJvb2Y=", expected_nonce="abcxyz", gs2_header="n,,")


def test_an_authorization_identity_naming_the_user_itself_is_accepted() -> None:
    first = scram_server.parse_client_first(b"n,a=a=2Cb@c.d,n=a=2Cb@c.d,r=abc")
    assert (first.username, first.gs2_header, first.bare) == ("a,b@c.d", "n,a=a=2Cb@c.d,", "n=a=2Cb@c.d,r=abc")
    binding = base64.b64encode(b"n,a=a=2Cb@c.d,").decode()
    final = scram_server.parse_client_final(
        f"c={binding},r=abcxyz,p=cHJvb2Y=".encode(), expected_nonce="abcxyz", gs2_header=first.gs2_header
    )
    assert final.without_proof == f"c={binding},r=abcxyz"
    with pytest.raises(scram_server.ScramError):  # the header must match the client-first's
        scram_server.parse_client_final(
            b"c=biws,r=abcxyz,p=cHJvb2Y=", expected_nonce="abcxyz", gs2_header=first.gs2_header
        )
