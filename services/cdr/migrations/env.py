"""Alembic environment of the cdr service (see libs/db/migrations.py)."""

from alembic import context

from libs.db.migrations import run_env
from services.cdr.models import Base

run_env(context, Base.metadata)
