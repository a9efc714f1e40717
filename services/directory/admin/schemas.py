"""Request and response bodies of the admin REST API.

Limits on every field keep oversize input a 422 with a message, never a
database error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Name = Field(min_length=1, max_length=320)
Secret = Field(min_length=1, max_length=1024)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DomainCreate(Strict):
    name: str = Name
    aliases: list[str] = Field(default_factory=list, max_length=100)
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict)


class DomainUpdate(Strict):
    enabled: bool | None = None
    settings: dict[str, Any] | None = None


class DomainAliasCreate(Strict):
    name: str = Name


class DomainOut(BaseModel):
    name: str
    aliases: list[str]
    enabled: bool
    settings: dict[str, Any]
    created_at: datetime


class AccountCreate(Strict):
    address: str = Name
    password: str | None = Field(None, min_length=1, max_length=1024)
    real_name: str = Field("", max_length=255)
    enabled: bool = True
    quota_bytes: int | None = Field(None, ge=0)
    quota_messages: int | None = Field(None, ge=0)
    domain_admin: bool = False
    settings: dict[str, Any] = Field(default_factory=dict)


class AccountUpdate(Strict):
    real_name: str | None = Field(None, max_length=255)
    enabled: bool | None = None
    quota_bytes: int | None = Field(None, ge=0)
    quota_messages: int | None = Field(None, ge=0)
    domain_admin: bool | None = None


class PasswordSet(Strict):
    password: str = Secret


class AccountOut(BaseModel):
    address: str
    domain: str
    name: str
    real_name: str
    enabled: bool
    quota_bytes: int | None
    quota_messages: int | None
    domain_admin: bool
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class AliasCreate(Strict):
    address: str = Name
    target: str = Name


class AliasUpdate(Strict):
    target: str = Name


class AliasOut(BaseModel):
    address: str
    domain: str
    target: str


class ForwarderCreate(Strict):
    address: str = Name
    targets: list[str] = Field(min_length=1, max_length=100)


class ForwarderUpdate(Strict):
    targets: list[str] = Field(min_length=1, max_length=100)


class ForwarderOut(BaseModel):
    address: str
    domain: str
    targets: list[str]


class GroupCreate(Strict):
    address: str = Name
    real_name: str = Field("", max_length=255)
    members: list[str] = Field(default_factory=list, max_length=10_000)


class GroupUpdate(Strict):
    real_name: str | None = Field(None, max_length=255)


class MemberAdd(Strict):
    address: str = Name


class GroupOut(BaseModel):
    address: str
    domain: str
    real_name: str
    members: list[str]


class AdminCreate(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    password: str = Secret


class AdminOut(BaseModel):
    name: str
    created_at: datetime


class WhoAmI(BaseModel):
    name: str
    role: str
    domain: str


class DkimKeyCreate(Strict):
    selector: str | None = Field(None, min_length=1, max_length=63, description="default: <algorithm>-<YYYYMMDD>")
    algorithm: str = Field("rsa", description="rsa (rsa-sha256, 2048-bit) or ed25519 (ed25519-sha256)")
    active: bool = Field(True, description="sign with it (the newest active key of a domain signs)")


class DkimKeyUpdate(Strict):
    active: bool


class DkimKeyOut(BaseModel):
    domain: str
    selector: str
    algorithm: str
    active: bool
    signing: bool = Field(description="this is the key the signer uses now")
    created_at: datetime
    public_key: str
    dns_name: str
    dns_record: str = Field(description="the TXT record's text to publish at dns_name")
    dns_zone_line: str = Field(description="the same as a zone-file line, in strings of at most 255 characters")
