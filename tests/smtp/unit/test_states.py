"""The transition table: every (state, command) pair has an answer, and wrong order gets 503."""

import pytest

from services.smtp.protocol import RemoteProtocolError, Reply, State
from services.smtp.protocol.parser import Verb
from services.smtp.protocol.states import COMMAND_STATES, TRANSITIONS, transition


@pytest.mark.parametrize("state", sorted(COMMAND_STATES, key=str))
@pytest.mark.parametrize("verb", list(Verb))
def test_every_pair_is_allowed_or_refused_with_a_5yz_reply(state: State, verb: Verb) -> None:
    try:
        target = transition(state, verb)
    except RemoteProtocolError as error:
        assert error.reply.code in (503, 554)
        assert error.reply.enhanced == "5.5.1"
    else:
        assert isinstance(target, State)


def test_table_values_are_states_or_refusals() -> None:
    for (state, verb), target in TRANSITIONS.items():
        assert state in COMMAND_STATES, (state, verb)
        assert isinstance(target, State) or (isinstance(target, Reply) and target.code >= 500)


@pytest.mark.parametrize(
    ("state", "verb", "target"),
    [
        (State.AWAITING_HELO, Verb.EHLO, State.READY),
        (State.AWAITING_HELO, Verb.HELO, State.READY),
        (State.AWAITING_HELO, Verb.LHLO, State.READY),
        (State.HAVE_RECIPIENTS, Verb.EHLO, State.READY),
        (State.READY, Verb.MAIL, State.HAVE_SENDER),
        (State.HAVE_SENDER, Verb.RCPT, State.HAVE_RECIPIENTS),
        (State.HAVE_RECIPIENTS, Verb.RCPT, State.HAVE_RECIPIENTS),
        (State.HAVE_RECIPIENTS, Verb.DATA, State.RECEIVING_DATA),
        (State.HAVE_RECIPIENTS, Verb.BDAT, State.RECEIVING_CHUNK),
        (State.BETWEEN_CHUNKS, Verb.BDAT, State.RECEIVING_CHUNK),
        (State.BETWEEN_CHUNKS, Verb.RSET, State.READY),
        (State.HAVE_SENDER, Verb.RSET, State.READY),
        (State.AWAITING_HELO, Verb.RSET, State.AWAITING_HELO),
        (State.READY, Verb.STARTTLS, State.AWAITING_TLS),
        (State.READY, Verb.AUTH, State.AUTHENTICATING),
        (State.REFUSED, Verb.QUIT, State.CLOSED),
        (State.HAVE_RECIPIENTS, Verb.QUIT, State.CLOSED),
        (State.HAVE_SENDER, Verb.NOOP, State.HAVE_SENDER),
        (State.AWAITING_HELO, Verb.VRFY, State.AWAITING_HELO),
    ],
)
def test_allowed_transitions(state: State, verb: Verb, target: State) -> None:
    assert transition(state, verb) is target


@pytest.mark.parametrize(
    ("state", "verb", "code", "text"),
    [
        (State.AWAITING_HELO, Verb.MAIL, 503, "Send HELO/EHLO/LHLO first"),
        (State.READY, Verb.RCPT, 503, "Need MAIL before RCPT"),
        (State.READY, Verb.DATA, 503, "Need MAIL and RCPT first"),
        (State.HAVE_SENDER, Verb.MAIL, 503, "Sender already specified"),
        (State.HAVE_SENDER, Verb.DATA, 554, "No valid recipients"),
        (State.HAVE_SENDER, Verb.AUTH, 503, "AUTH not permitted during a mail transaction"),
        (State.HAVE_RECIPIENTS, Verb.STARTTLS, 503, "STARTTLS not permitted during a mail transaction"),
        (State.BETWEEN_CHUNKS, Verb.DATA, 503, "DATA not allowed after BDAT"),
        (State.BETWEEN_CHUNKS, Verb.RCPT, 503, "RCPT not allowed after BDAT"),
        (State.REFUSED, Verb.EHLO, 503, "Bad sequence of commands"),
        (State.REFUSED, Verb.NOOP, 503, "Bad sequence of commands"),
    ],
)
def test_refused_transitions(state: State, verb: Verb, code: int, text: str) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        transition(state, verb)
    assert (caught.value.reply.code, caught.value.reply.enhanced, caught.value.reply.text) == (code, "5.5.1", text)


def test_quit_is_allowed_in_every_command_state() -> None:
    for state in COMMAND_STATES:
        assert transition(state, Verb.QUIT) is State.CLOSED


@pytest.mark.parametrize("state", [State.RECEIVING_DATA, State.AUTHENTICATING, State.AWAITING_TLS, State.CLOSED])
def test_non_command_states_have_no_entries(state: State) -> None:
    assert not any(key[0] is state for key in TRANSITIONS)
