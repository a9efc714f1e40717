"""Base classes for every payload that rides the bus."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """A frozen bus payload. An incompatible change is a new model, not an edited field."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = 1


class Event(Message):
    """A fact that happened, published on `SUBJECT` (or a subject built from it)."""

    SUBJECT: ClassVar[str] = ""

    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def subject(self) -> str:
        return self.SUBJECT


def dead_letter_subject(subject: str) -> str:
    """Where a subscriber parks a payload it could not parse (James ADR 0037)."""
    return f"deadletter.{subject}"
