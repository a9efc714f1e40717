"""The queue entry built at end of data: remote targets with their DSN parameters."""

from __future__ import annotations

from services.smtp._submit import outbound_message, wants_sent_copy
from services.smtp.protocol import (
    Address,
    BodyType,
    DsnNotify,
    DsnReturn,
    Envelope,
    MailParameters,
    OriginalRecipient,
    RcptParameters,
    Recipient,
)

DIGEST = "a" * 64
FRIEND = Address("Friend", "elsewhere.test")
FORWARDER = Address("fwd", "example.test")
ALICE = Address("alice", "example.test")


def envelope(**mail: object) -> Envelope:
    recipients = (
        Recipient(FRIEND, RcptParameters(notify=frozenset({DsnNotify.SUCCESS, DsnNotify.FAILURE}),
                                         orcpt=OriginalRecipient("rfc822", "Friend@elsewhere.test"))),
        Recipient(FORWARDER, RcptParameters(notify=frozenset({DsnNotify.NEVER}))),
        Recipient(ALICE, RcptParameters()),
    )  # fmt: skip
    return Envelope(Address("carol", "example.test"), MailParameters(**mail), recipients)  # type: ignore[arg-type]


def test_remote_targets_carry_dsn_parameters() -> None:
    remote = {FRIEND: ("Friend@elsewhere.test",), FORWARDER: ("out@far.test", "friend@elsewhere.test")}
    message = outbound_message(
        message_id="s1.1", digest=DIGEST, size=10, envelope=envelope(ret=DsnReturn.HEADERS, envid="E1",
        body=BodyType.EIGHT_BIT_MIME), remote=remote, account="carol@example.test",
    )  # fmt: skip
    assert message is not None
    assert message.reverse_path == "carol@example.test"
    assert (message.ret, message.envid, message.eight_bit) == ("HDRS", "E1", True)
    by_address = {r.address: r for r in message.recipients}
    # The same mailbox reached directly and through the forwarder is queued once.
    assert list(by_address) == ["Friend@elsewhere.test", "out@far.test"]
    assert by_address["Friend@elsewhere.test"].notify == ["SUCCESS", "FAILURE"]
    assert by_address["Friend@elsewhere.test"].orcpt == "rfc822;Friend@elsewhere.test"
    assert by_address["out@far.test"].notify == ["NEVER"]
    assert by_address["out@far.test"].orcpt == "rfc822;fwd@example.test"  # the address the sender used


def test_no_remote_targets_means_nothing_to_queue() -> None:
    assert outbound_message(message_id="m", digest=DIGEST, size=1, envelope=envelope(), remote={}, account=None) is None


def test_null_reverse_path_is_kept_empty() -> None:
    env = Envelope(None, MailParameters(), (Recipient(FRIEND, RcptParameters()),))
    message = outbound_message(message_id="m", digest=DIGEST, size=1, envelope=env,
                               remote={FRIEND: ("friend@elsewhere.test",)}, account=None)  # fmt: skip
    assert message is not None and message.reverse_path == ""


def test_save_sent_setting() -> None:
    assert wants_sent_copy({}) is False
    assert wants_sent_copy({"mail.save_sent": True}) is True
    assert wants_sent_copy({"mail": {"save_sent": True}}) is True
    assert wants_sent_copy({"mail": {"save_sent": "yes"}}) is False
