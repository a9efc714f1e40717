"""The durability contract of the queue: no 250 for a remote recipient unless JetStream stored it.

The suite runs against a nats-server without JetStream, so the MAIL_OUTBOUND
stream cannot exist: a message for a remote recipient must get a temporary
failure (the client keeps it and retries), while local delivery goes on.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from collections.abc import Iterator

import httpx
import pytest

from libs.testing.natsd import NatsServer
from libs.testing.ports import free_ports
from libs.testing.services import ServiceProcess
from tests.storage.conftest import ADMIN_PASSWORD, start_directory, start_storage

pytestmark = pytest.mark.timeout(120)

DOMAIN = "example.test"
CAROL = f"carol@{DOMAIN}"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def submission_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    data_dir = tmp_path_factory.mktemp("smtp-no-jetstream")
    blob_env = {"PARLEY_BLOB_BACKEND": "local", "PARLEY_BLOB_LOCAL_DIR": str(data_dir / "blobs")}
    processes: list[ServiceProcess] = []
    with NatsServer(jetstream=False) as nats:
        try:
            directory, admin_url = start_directory(data_dir / "directory", nats.url)
            processes.append(directory)
            processes.append(
                start_storage(data_dir, nats.url, f"sqlite+aiosqlite:///{data_dir / 'storage.sqlite3'}", blob_env)
            )
            mx, submission, ops = free_ports(3)
            processes.append(
                ServiceProcess(
                    "smtp",
                    env={
                        "PARLEY_DATA_DIR": str(data_dir / "smtp"),
                        "PARLEY_NATS_URL": nats.url,
                        "PARLEY_LOG_FORMAT": "console",
                        "PARLEY_SMTP_MX_PORT": str(mx),
                        "PARLEY_SMTP_SUBMISSION_PORT": str(submission),
                        "PARLEY_SMTP_SUBMISSIONS_PORT": "0",
                        "PARLEY_SMTP_LMTP_PORT": "0",
                        "PARLEY_SMTP_OPS_PORT": str(ops),
                        "PARLEY_SMTP_HOSTNAME": "mx.example.test",
                        "PARLEY_SMTP_DNS_SERVERS": "127.0.0.1:9",  # nothing answers: no lookup leaves the machine
                        **blob_env,
                    },
                    ops_port=ops,
                    data_dir=data_dir / "smtp",
                ).start()
            )
            with httpx.Client(base_url=f"{admin_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30) as admin:
                assert admin.post("/domains", json={"name": DOMAIN}).status_code == 201
                assert admin.post("/accounts", json={"address": CAROL, "password": PASSWORD}).status_code == 201
            yield submission
        finally:
            for process in reversed(processes):
                process.stop()


def send(port: int, recipients: list[str]) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    marker = uuid.uuid4().hex
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.starttls(context=context)
        client.login(CAROL, PASSWORD)
        body = f"From: <{CAROL}>\r\nSubject: {marker}\r\n\r\nhello\r\n"
        client.sendmail(CAROL, recipients, body)


def test_remote_recipient_gets_a_temporary_failure_when_the_queue_cannot_store_it(submission_port: int) -> None:
    with pytest.raises(smtplib.SMTPDataError) as failure:
        send(submission_port, ["friend@elsewhere.test"])
    assert failure.value.smtp_code == 451
    assert failure.value.smtp_error.startswith(b"4.3.0")


def test_local_delivery_does_not_need_the_queue(submission_port: int) -> None:
    send(submission_port, [CAROL])  # raises on anything but 250
