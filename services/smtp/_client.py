"""One SMTP transaction to a remote server (aiosmtplib), with a result per recipient.

How this works: connect, EHLO, STARTTLS when the server offers it
(opportunistic TLS, RFC 3207 and RFC 7435: encrypted whenever possible,
certificates not verified, because most MX hosts do not present a name
their domain could be checked against), EHLO again, MAIL with the
parameters the server supports (SIZE, BODY=8BITMIME, SMTPUTF8, and the DSN
parameters RET/ENVID/NOTIFY/ORCPT when it offers DSN), one RCPT per
recipient, DATA, QUIT. A STARTTLS that fails is tried once more in plain
text, as Postfix's `may` level does.

Every recipient ends with the reply that decided it: the RCPT reply if that
refused it, else the reply after DATA. Connection failures and timeouts are
reported as a 4xx `Reply` for every recipient, so the caller has one kind
of answer to sort into delivered / deferred / bounced.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass

import aiosmtplib

from libs.contracts.smtp import Notify, OutboundRecipient, Return
from services.smtp._routes import Hop


@dataclass(frozen=True, slots=True)
class RemoteReply:
    code: int
    text: str  # the reply text, enhanced code first when the server sent one

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def enhanced(self) -> str:
        first = self.text.split(" ", 1)[0]
        parts = first.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts) and first[0] in "245":
            return first
        return f"{str(self.code)[0]}.0.0"

    def diagnostic(self) -> str:
        return f"{self.code} {self.text}".strip()


@dataclass(frozen=True, slots=True)
class Envelope:
    reverse_path: str
    recipients: Sequence[OutboundRecipient]
    size: int
    eight_bit: bool = False
    smtputf8: bool = False
    ret: Return | None = None
    envid: str | None = None


@dataclass(frozen=True, slots=True)
class TransactionResult:
    hop: Hop
    replies: dict[str, RemoteReply]  # recipient address -> the reply that decided it
    dsn_offered: bool = False


class Client:
    def __init__(self, *, local_hostname: str, connect_timeout: float, command_timeout: float) -> None:
        self.local_hostname = local_hostname
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.tls_context = ssl.create_default_context()
        self.tls_context.check_hostname = False
        self.tls_context.verify_mode = ssl.CERT_NONE

    async def send(self, hop: Hop, envelope: Envelope, content: bytes) -> TransactionResult:
        result = await self._send(hop, envelope, content, tls=True)
        if result is None:  # STARTTLS failed: once more without it
            result = await self._send(hop, envelope, content, tls=False)
        assert result is not None
        return result

    async def _send(self, hop: Hop, envelope: Envelope, content: bytes, *, tls: bool) -> TransactionResult | None:
        smtp = aiosmtplib.SMTP(
            hostname=hop.host,
            port=hop.port,
            local_hostname=self.local_hostname,
            timeout=self.command_timeout,
            start_tls=False,
            validate_certs=False,
        )
        every = [r.address for r in envelope.recipients]
        try:
            try:
                await smtp.connect(timeout=self.connect_timeout)
            except aiosmtplib.SMTPConnectResponseError as exc:
                return TransactionResult(hop, _all(every, RemoteReply(exc.code, exc.message)))
            except (aiosmtplib.SMTPException, OSError) as exc:
                return TransactionResult(hop, _all(every, RemoteReply(451, f"4.4.1 Connection to {hop.host} failed: "
                                                                           f"{_describe(exc)}")))  # fmt: skip
            await smtp.ehlo()
            if tls and smtp.supports_extension("starttls"):
                try:
                    await smtp.starttls(tls_context=self.tls_context)
                except (aiosmtplib.SMTPException, ssl.SSLError, OSError):
                    return None
                await smtp.ehlo()
            return await self._transaction(smtp, hop, envelope, content)
        except aiosmtplib.SMTPResponseException as exc:
            return TransactionResult(hop, _all(every, RemoteReply(exc.code, exc.message)))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return TransactionResult(hop, _all(every, RemoteReply(451, f"4.4.2 Connection to {hop.host} lost: "
                                                                       f"{_describe(exc)}")))  # fmt: skip
        finally:
            smtp.close()

    async def _transaction(
        self, smtp: aiosmtplib.SMTP, hop: Hop, envelope: Envelope, content: bytes
    ) -> TransactionResult:
        every = [r.address for r in envelope.recipients]
        dsn = smtp.supports_extension("dsn")
        if envelope.smtputf8 and not smtp.supports_extension("smtputf8"):
            # RFC 6531 section 3.2: a message that needs SMTPUTF8 cannot go to a server without it.
            reply = RemoteReply(553, "5.6.7 The receiving server does not support SMTPUTF8 addresses")
            return TransactionResult(hop, _all(every, reply), dsn)
        options = [f"SIZE={envelope.size}"] if smtp.supports_extension("size") else []
        if envelope.eight_bit and smtp.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        if envelope.smtputf8:
            options.append("SMTPUTF8")
        if dsn and envelope.ret is not None:
            options.append(f"RET={envelope.ret.value}")
        if dsn and envelope.envid:
            options.append(f"ENVID={encode_xtext(envelope.envid)}")
        encoding = "utf-8" if envelope.smtputf8 else "ascii"
        await smtp.mail(envelope.reverse_path, options=options, encoding=encoding)
        replies: dict[str, RemoteReply] = {}
        accepted: list[str] = []
        for recipient in envelope.recipients:
            try:
                await smtp.rcpt(recipient.address, options=rcpt_options(recipient) if dsn else [], encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                replies[recipient.address] = RemoteReply(exc.code, exc.message)
                continue
            accepted.append(recipient.address)
        if accepted:
            try:
                response = await smtp.data(content)
            except aiosmtplib.SMTPResponseException as exc:
                replies.update(_all(accepted, RemoteReply(exc.code, exc.message)))
            else:
                replies.update(_all(accepted, RemoteReply(response.code, response.message)))
        else:
            try:
                await smtp.rset()
            except (aiosmtplib.SMTPException, OSError):
                pass
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        return TransactionResult(hop, replies, dsn)


def rcpt_options(recipient: OutboundRecipient) -> list[str]:
    """NOTIFY and ORCPT passed on to a server that offers DSN (RFC 3461 section 4)."""
    options: list[str] = []
    if recipient.notify:
        order = [n for n in Notify if n in recipient.notify]
        options.append("NOTIFY=" + ",".join(n.value for n in order))
    if recipient.orcpt:
        kind, _, address = recipient.orcpt.partition(";")
        options.append(f"ORCPT={kind};{encode_xtext(address)}")
    return options


def encode_xtext(text: str) -> str:
    """RFC 3461 section 4: "+", "=", controls and non-ASCII as "+XX"."""
    out = []
    for byte in text.encode():
        out.append(chr(byte) if 0x21 <= byte <= 0x7E and byte not in (0x2B, 0x3D) else f"+{byte:02X}")
    return "".join(out)


def _all(addresses: Sequence[str], reply: RemoteReply) -> dict[str, RemoteReply]:
    return dict.fromkeys(addresses, reply)


def _describe(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
