"""Pieces of the outbound SMTP client that need no server: DSN parameters and reply classes."""

from __future__ import annotations

from libs.contracts.smtp import Notify, OutboundRecipient
from services.smtp._client import RemoteReply, encode_xtext, rcpt_options


def test_xtext_encodes_plus_equals_controls_and_non_ascii() -> None:
    # RFC 3461 section 4: xchar is "!" to "~" except "+" and "=".
    assert encode_xtext("a+b=c d") == "a+2Bb+3Dc+20d"
    assert encode_xtext("ü") == "+C3+BC"


def test_rcpt_options_for_a_dsn_capable_server() -> None:
    recipient = OutboundRecipient(
        address="x@elsewhere.test", notify=[Notify.FAILURE, Notify.SUCCESS], orcpt="rfc822;fwd+1@example.test"
    )
    assert rcpt_options(recipient) == ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;fwd+2B1@example.test"]
    assert rcpt_options(OutboundRecipient(address="x@elsewhere.test")) == []


def test_reply_classes_and_enhanced_codes() -> None:
    assert RemoteReply(250, "2.0.0 Queued").ok
    assert RemoteReply(550, "5.1.1 No such user").permanent
    assert RemoteReply(550, "5.1.1 No such user").enhanced == "5.1.1"
    assert RemoteReply(451, "Try later").enhanced == "4.0.0"  # no enhanced code: the class only
    assert RemoteReply(421, "4.7.0 Too busy").diagnostic() == "421 4.7.0 Too busy"
