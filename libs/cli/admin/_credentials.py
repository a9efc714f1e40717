"""Where the admin client finds the API address and the login to use.

Precedence, per value: a command-line flag, then its environment variable
(typer folds those two together before we see them), then
`<data dir>/secrets/admin.json`, which the directory service writes on its
first start. The file is what makes `parley admin ...` work right after
`make run` without any flags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8010"
API_PREFIX = "/api/v1"
SECRETS_FILE = Path("secrets") / "admin.json"


class CredentialsError(Exception):
    """The login could not be determined; `hint` says what to do about it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class ConnectionOptions:
    """What the user gave on the command line or in the environment (None: not given)."""

    url: str | None
    user: str | None
    password: str | None
    data_dir: Path


@dataclass(frozen=True)
class Connection:
    """A complete way to reach and log in to the admin API."""

    base_url: str
    user: str
    password: str

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX


def secrets_path(data_dir: Path) -> Path:
    return data_dir / SECRETS_FILE


def normalize_base_url(url: str) -> str:
    """Accept both `http://host:8010` and `http://host:8010/api/v1`, since both get pasted."""
    url = url.strip().rstrip("/")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    return url


def read_secrets_file(path: Path) -> dict[str, Any] | None:
    """The parsed file, None when it does not exist; a broken file is an error, not silence."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CredentialsError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CredentialsError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise CredentialsError(f"{path} should hold a JSON object with url, user and password")
    return data


def _file_value(data: dict[str, Any] | None, key: str) -> str | None:
    value = (data or {}).get(key)
    return value if isinstance(value, str) and value else None


START_HINT = (
    "start the suite with `make run` or `parley up` (the directory service writes that file on its "
    "first start), or pass --user/--password (or set PARLEY_ADMIN_USER/PARLEY_ADMIN_PASSWORD)"
)


def missing_credentials(path: Path, *, data: dict[str, Any] | None, user: str | None) -> CredentialsError:
    """Say precisely what is missing: the whole login, or only the password of a named user."""
    if user is not None:
        file_user = _file_value(data, "user")
        why = f" ({path} holds the password of {file_user!r})" if file_user else ""
        return CredentialsError(f"no password given for {user!r}{why}", hint=START_HINT)
    why = f"{path} has no usable user and password" if data is not None else f"{path} was not found"
    return CredentialsError(f"no admin credentials: {why} and none were given", hint=START_HINT)


def _secrets_for(options: ConnectionOptions, path: Path) -> dict[str, Any] | None:
    """The secrets file when something is still missing.

    With user and password given, the file could only supply the URL, so a
    broken file is ignored rather than blocking a login that is complete.
    """
    have_login = options.user is not None and options.password is not None
    if have_login and options.url is not None:
        return None
    try:
        return read_secrets_file(path)
    except CredentialsError:
        if have_login:
            return None
        raise


def discover_connection(options: ConnectionOptions) -> Connection:
    """Combine the given options with the secrets file into one connection.

    The file's password is only used for the file's own user: pairing a user
    named on the command line with somebody else's password would only earn
    a confusing 401 (and count as a failed login against that user).
    """
    path = secrets_path(options.data_dir)
    data = _secrets_for(options, path)
    file_user = _file_value(data, "user")
    user = options.user or file_user
    password = options.password
    if password is None and user is not None and user == file_user:
        password = _file_value(data, "password")
    if not user or password is None:
        raise missing_credentials(path, data=data, user=options.user)
    url = options.url or _file_value(data, "url") or DEFAULT_URL
    return Connection(base_url=normalize_base_url(url), user=user, password=password)
