"""Alembic migrations per owning service.

Each owning service keeps its migration scripts in
`services/<name>/migrations/` with its own version table
(`alembic_version_<name>`), so several services could even share one
PostgreSQL database without stepping on each other. `parley up`,
`parley migrate` and the service itself (on start) call `upgrade()`.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from libs.db import create_engine


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files(f"services.{service}") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Bring `service`'s schema to `revision` (blocking; call outside an event loop)."""
    command.upgrade(alembic_config(service, url), revision)


async def upgrade_async(service: str, url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, service, url, revision)


def run_env(context: EnvironmentContext, target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py: online migration over the async engine."""
    config = context.config
    service = config.attributes.get("service") or config.get_main_option("service") or "parley"
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic config has no sqlalchemy.url; call libs.db.migrations.upgrade()")
    opts: dict[str, Any] = {
        "target_metadata": target_metadata,
        "version_table": f"alembic_version_{service}",
        "render_as_batch": True,  # SQLite needs batch mode for ALTER
        "compare_type": True,
    }

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, **opts)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(do_run)
                await connection.commit()
        finally:
            await engine.dispose()

    # Alembic is synchronous; when called from a thread (upgrade_async) there is no loop here.
    asyncio.run(run_async())
