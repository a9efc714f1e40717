"""Alembic environment of the storage service (see libs/db/migrations.py)."""

from alembic import context

from libs.db.migrations import run_env
from services.storage.models import Base

run_env(context, Base.metadata)
