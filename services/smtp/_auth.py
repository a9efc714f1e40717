"""The SASL mechanisms of AUTH (RFC 4954) that the SMTP service offers: PLAIN, LOGIN, SCRAM-SHA-256.

The session decodes the client's lines; this module knows what each
mechanism's steps mean and asks the directory whether the password is right.
The password never reaches a log line.
"""

from __future__ import annotations

from typing import Any, Protocol

from libs.auth import scram_server
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
    ) -> Any: ...


def malformed() -> Reply:
    return Reply(501, "5.5.2", "Malformed authentication response")


class SaslExchange:
    """The state of one AUTH exchange (only LOGIN needs any: the user name between steps)."""

    def __init__(self, authenticator: Authenticator, *, client_address: str | None) -> None:
        self.authenticator = authenticator
        self.client_address = client_address
        self._login_username: str | None = None
        self._scram: tuple[scram_server.ClientFirst, str] | None = None  # client-first, server-first
        self._scram_account: str | None = None

    async def step(self, session: Session, event: AuthStarted | AuthResponse) -> bytes:
        if isinstance(event, AuthStarted):
            self._login_username = None
            self._scram = None
            self._scram_account = None
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
        if credentials.authorization_id and credentials.authorization_id != credentials.username:
            # Acting for someone else (RFC 4616 authzid) is not supported.
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
        try:
            if self._scram_account is not None:
                # The client's (empty) answer to our server-final message completes it.
                account, self._scram_account = self._scram_account, None
                return session.auth_succeeded(account) if not data else session.auth_failed(malformed())
            if self._scram is None:
                if not data:
                    return session.auth_challenge(b"")
                return await self._scram_first(session, data)
            return await self._scram_final(session, data or b"")
        except (scram_server.ScramError, UnicodeDecodeError):
            self._scram = None
            return session.auth_failed(malformed())

    async def _scram_first(self, session: Session, data: bytes) -> bytes:
        client = scram_server.parse_client_first(data)
        params = await self.authenticator.scram_params(client.username)
        if params is None:
            return session.auth_failed(Reply(454, "4.7.0", "Temporary authentication failure"))
        salt, iterations = params
        server_first = scram_server.server_first(client, salt=salt, iterations=iterations)
        self._scram = (client, server_first)
        return session.auth_challenge(server_first.encode())

    async def _scram_final(self, session: Session, data: bytes) -> bytes:
        assert self._scram is not None
        (client, server_first), self._scram = self._scram, None
        nonce = server_first.split(",", 1)[0][2:]
        final = scram_server.parse_client_final(data, expected_nonce=nonce, gs2_header=client.gs2_header)
        auth_message = f"{client.bare},{server_first},{final.without_proof}"
        verdict = await self.authenticator.authenticate_scram(
            client.username, auth_message, final.proof, client_address=self.client_address
        )
        if verdict.account is None or not verdict.signature:
            return session.auth_failed(verdict.reply)
        self._scram_account = verdict.account
        return session.auth_challenge(f"v={verdict.signature}".encode())
