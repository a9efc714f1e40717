"""First-start state: the server secret and the first server administrator.

The first administrator's password comes from PARLEY_DIRECTORY_ADMIN_PASSWORD
or is generated and written to <data dir>/secrets/admin.json (mode 0600),
which `parley admin` reads, so a fresh `make run` is administrable at once.
Both steps do nothing when their row already exists, so replicas may race.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.auth import passwords
from libs.log import get_logger
from services.directory.models import Admin, Meta

SECRET_KEY = "server_secret"
_log = get_logger()


async def server_secret(sessions: async_sessionmaker[AsyncSession]) -> bytes:
    async with sessions() as session:
        row = await session.get(Meta, SECRET_KEY)
        if row is None:
            session.add(Meta(key=SECRET_KEY, value=secrets.token_hex(32)))
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
            row = await session.get(Meta, SECRET_KEY)
        assert row is not None
        return bytes.fromhex(row.value)


def write_credentials_file(path: Path, *, url: str, user: str, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url, "user": user, "password": password}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


async def ensure_first_admin(
    sessions: async_sessionmaker[AsyncSession], *, user: str, password: str | None, credentials_file: Path, url: str
) -> None:
    async with sessions() as session:
        if await session.scalar(select(func.count()).select_from(Admin)):
            return
        generated = password is None
        secret = password or secrets.token_urlsafe(18)
        session.add(Admin(name=user.lower(), password_hash=await asyncio.to_thread(passwords.hash_password, secret)))
        try:
            await session.commit()
        except IntegrityError:
            return  # another replica created it first
    if generated:
        write_credentials_file(credentials_file, url=url, user=user.lower(), password=secret)
    _log.info(
        "directory.admin.bootstrapped",
        admin=user.lower(),
        credentials_file=str(credentials_file) if generated else None,
    )
