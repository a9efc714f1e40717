"""The SASL mechanisms of AUTH (RFC 4954) that the SMTP service offers: PLAIN, LOGIN, SCRAM-SHA-256.

The session decodes the client's lines; this module knows what each
mechanism's steps mean and asks the directory whether the password is right.
The password never reaches a log line.
"""

from __future__ import annotations

from typing import Any, Protocol

from libs.auth import scram_server
from libs.auth.directory_client import AuthOutcome
from libs.auth.scram_server import Challenge, ScramExchange
from services.smtp.policy import auth_verdict
from services.smtp.protocol import (
    LOGIN_PASSWORD_CHALLENGE,
    LOGIN_USERNAME_CHALLENGE,
    AuthResponse,
    AuthStarted,
    Reply,
    Session,
    decode_plain,
)

MECHANISMS = ("SCRAM-SHA-256", "PLAIN", "LOGIN")


class Authenticator(Protocol):
    async def authenticate(self, username: str, password: str, *, client_address: str | None) -> Any: ...

    async def scram_params(self, username: str) -> tuple[str, int] | None: ...

    async def authenticate_scram(
        self, username: str, auth_message: str, proof: str, *, client_address: str | None
    ) -> AuthOutcome: ...


def malformed() -> Reply:
    return Reply(501, "5.5.2", "Malformed authentication response")


class SaslExchange:
    """The state of one AUTH exchange (only LOGIN needs any: the user name between steps)."""

    def __init__(self, authenticator: Authenticator, *, client_address: str | None) -> None:
        self.authenticator = authenticator
        self.client_address = client_address
        self._login_username: str | None = None
        self._scram: ScramExchange | None = None

    async def step(self, session: Session, event: AuthStarted | AuthResponse) -> bytes:
        if isinstance(event, AuthStarted):
            self._login_username = None
            self._scram = ScramExchange(self.authenticator, client_address=self.client_address)
            data = event.initial_response
        else:
            data = event.data
        if event.mechanism == "PLAIN":
            if data is None or (isinstance(event, AuthStarted) and data == b""):
                # No initial response: an empty challenge asks for it (RFC 4954 section 4).
                return session.auth_challenge(b"")
            return await self._plain(session, data)
        if event.mechanism == "LOGIN":
            return await self._login(session, event, data)
        if event.mechanism == scram_server.MECHANISM:
            return await self._scram_step(session, data)
        return session.auth_failed(Reply(504, "5.5.4", "Unrecognized authentication type"))

    async def _plain(self, session: Session, data: bytes) -> bytes:
        try:
            credentials = decode_plain(data)
        except (ValueError, UnicodeDecodeError):
            return session.auth_failed(malformed())
        if credentials.acts_for_another:  # RFC 4616 authzid naming someone else: not supported
            return session.auth_failed(Reply(535, "5.7.8", "Authorization identity not permitted"))
        return await self._verify(session, credentials.username, credentials.password)

    async def _login(self, session: Session, event: AuthStarted | AuthResponse, data: bytes | None) -> bytes:
        if isinstance(event, AuthStarted):
            if not data:
                return session.auth_challenge(LOGIN_USERNAME_CHALLENGE)
            return self._remember_username(session, data)
        if self._login_username is None:
            return self._remember_username(session, data or b"")
        username, self._login_username = self._login_username, None
        try:
            password = (data or b"").decode("utf-8")
        except UnicodeDecodeError:
            return session.auth_failed(malformed())
        return await self._verify(session, username, password)

    def _remember_username(self, session: Session, data: bytes) -> bytes:
        try:
            self._login_username = data.decode("utf-8")
        except UnicodeDecodeError:
            return session.auth_failed(malformed())
        if not self._login_username:
            return session.auth_failed(malformed())
        return session.auth_challenge(LOGIN_PASSWORD_CHALLENGE)

    async def _verify(self, session: Session, username: str, password: str) -> bytes:
        if not username or not password:
            return session.auth_failed(None)
        verdict = await self.authenticator.authenticate(username, password, client_address=self.client_address)
        if verdict.account is not None:
            return session.auth_succeeded(verdict.account)
        return session.auth_failed(verdict.reply)

    async def _scram_step(self, session: Session, data: bytes | None) -> bytes:
        if self._scram is None:  # an AUTH exchange always starts with AuthStarted
            return session.auth_failed(malformed())
        try:
            step = await self._scram.step(data)
        except (scram_server.ScramError, UnicodeDecodeError):
            self._scram = None
            return session.auth_failed(malformed())
        if isinstance(step, Challenge):
            return session.auth_challenge(step.data)
        self._scram = None
        verdict = auth_verdict(step)
        if verdict.account is not None:
            return session.auth_succeeded(verdict.account)
        return session.auth_failed(verdict.reply)
