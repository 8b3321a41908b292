"""Configuration from TIERTRACE_* environment variables; the defaults give the embedded mode."""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy import exc as sa_exc
from sqlalchemy import make_url

from tiertrace.db import make_engine

#: Where people reach the portal unless TIERTRACE_BASE_URL says otherwise: `tiertrace serve`'s address.
DEFAULT_BASE_URL = "http://127.0.0.1:8000"

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Everything the processes read from the environment, resolved once."""

    data_dir: Path
    database_url: str
    amqp_url: str | None
    secret_key: str
    #: A forwarded request is due this many days before the request it was forwarded from.
    tier_margin_days: int = 7
    #: Due date of a request that names none and has no parent to inherit from.
    default_due_days: int = 42
    #: Days after its due date before an overdue request is escalated to the requester.
    escalation_grace_days: int = 14
    #: Seconds between two runs of the overdue sweep (mark overdue, remind, escalate) in the bus.
    overdue_sweep_seconds: float = 300.0
    #: Prefix for bus names (exchange, queues), so several deployments or test runs share one broker.
    bus_prefix: str = ""
    #: Where people reach the portal; invitation links start with it.
    base_url: str = DEFAULT_BASE_URL
    #: The web session cookie's Secure flag; None: Secure except on a loopback host.
    secure_cookies: bool | None = None
    #: Whether webhooks may be delivered to loopback, private and link-local addresses (off: no SSRF).
    webhook_allow_private: bool = False
    #: How many reverse proxies in front of the portal append to X-Forwarded-For; 0: trust no such
    #: header, the client is the connection's peer (the per-address login limit counts per client).
    trusted_proxies: int = 0

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: the bus runs in-process."""
        return not self.amqp_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, sessions: bool = True) -> Settings:
        """Read TIERTRACE_* variables; create the data folder and a persistent secret key when needed.

        `sessions=False` is for a process that signs no web session (the worker): its `secret_key` is
        TIERTRACE_SECRET_KEY, possibly empty, and no key file is created. Raises ConfigurationError,
        naming the variable, for a value that is not of its setting's type.
        """
        env = os.environ if env is None else env
        days = "a whole number of days (0 or more)"
        # Every value is checked before the data folder and the secret key are created.
        margin = _typed(env, "TIERTRACE_TIER_MARGIN_DAYS", _count, cls.tier_margin_days, days)
        due = _typed(env, "TIERTRACE_DEFAULT_DUE_DAYS", _count, cls.default_due_days, days)
        grace = _typed(env, "TIERTRACE_ESCALATION_GRACE_DAYS", _count, cls.escalation_grace_days, days)
        sweep = _typed(
            env,
            "TIERTRACE_OVERDUE_SWEEP_SECONDS",
            _seconds,
            cls.overdue_sweep_seconds,
            "a number of seconds (0 or more; 0: never)",
        )
        secure_cookies = _typed(env, "TIERTRACE_SECURE_COOKIES", parse_bool, None, "true or false")
        allow_private = _typed(env, "TIERTRACE_WEBHOOK_ALLOW_PRIVATE", parse_bool, None, "true or false")
        amqp_url = _typed(env, "TIERTRACE_AMQP_URL", _amqp_url, None, "an amqp:// or amqps:// URL")
        proxies = _typed(env, "TIERTRACE_TRUSTED_PROXIES", _count, 0, "a whole number (0 or more)")
        data_dir = _data_dir(env)
        secret_key = env.get("TIERTRACE_SECRET_KEY") or ""
        generate_key = sessions and not secret_key
        if not env.get("TIERTRACE_DATABASE_URL") or generate_key:
            data_dir.mkdir(parents=True, exist_ok=True)
        if generate_key:
            secret_key = _persistent_secret(data_dir / "secret_key")
        return cls(
            data_dir=data_dir,
            database_url=database_url_from_env(env),
            amqp_url=amqp_url,
            secret_key=secret_key,
            bus_prefix=env.get("TIERTRACE_BUS_PREFIX", ""),
            base_url=base_url_from_env(env),
            tier_margin_days=margin,
            default_due_days=due,
            escalation_grace_days=grace,
            overdue_sweep_seconds=sweep,
            secure_cookies=secure_cookies,
            webhook_allow_private=bool(allow_private),
            trusted_proxies=proxies,
        )


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("negative")
    return value


def _seconds(text: str) -> float:
    """A finite, non-negative number of seconds: a negative or NaN pause made the sweep spin."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError("not a pause")
    return value


class ConfigurationError(ValueError):
    """A TIERTRACE_* variable whose value is not of its setting's type; the message names it."""


def _typed(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T, what: str) -> T:
    """The variable `name` read by `parse`; `default` when unset or empty. `what` says what it must be."""
    text = env.get(name)
    if text is None or not text.strip():
        return default
    try:
        return parse(text.strip())
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be {what}, not {display_url(text)!r}") from exc


def database_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """TIERTRACE_DATABASE_URL, else the SQLite file in TIERTRACE_DATA_DIR. Creates nothing, so a command
    that only reads can check that the database is there first."""
    env = os.environ if env is None else env
    return env.get("TIERTRACE_DATABASE_URL") or f"sqlite:///{_data_dir(env) / 'tiertrace.sqlite3'}"


def missing_database_file(url: str) -> str | None:
    """What to tell someone whose `url` names a SQLite file that is not there; None otherwise.

    Connecting would create an empty file, which later commands would take for a database: a command
    that must not create the database checks this first.
    """
    path = sqlite_file(url)
    if path is None or path.exists():
        return None
    return (
        f"no database at {path}; run `tiertrace db upgrade` first, or point TIERTRACE_DATA_DIR "
        "(or TIERTRACE_DATABASE_URL) at an existing one"
    )


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


#: The databases tiertrace runs on, as a URL that cannot be used is told.
SUPPORTED_DATABASES = (
    "tiertrace supports SQLite (sqlite:///FILE) and PostgreSQL (postgresql://USER:PASSWORD@HOST:PORT/NAME, "
    "through psycopg)"
)


def unusable_database(url: str, error: Exception) -> str | None:
    """The line to stop on when `error` means that the database at `url` cannot be used: a URL that does
    not parse, no SQLAlchemy dialect or no driver for it, or (OperationalError) a server, database, file
    or credentials that are not there. None when `error` is about something else."""
    if isinstance(error, sa_exc.NoSuchModuleError | ModuleNotFoundError):
        reason = _missing_driver(url, error)
    elif isinstance(error, sa_exc.ArgumentError | sa_exc.OperationalError):
        cause = error.orig if isinstance(error, sa_exc.DBAPIError) else error
        reason = " ".join(str(cause).split())
    else:
        reason = None
    if reason is None:
        return None
    return f"cannot use the database at {display_url(url)}: {reason}; check TIERTRACE_DATABASE_URL"


def unusable_database_url(url: str) -> str | None:
    """`unusable_database`'s line when no engine can be made for `url` (a URL that does not parse, no
    dialect or no driver for it); None when one can. Connects nowhere, so creates nothing."""
    try:
        make_engine(url).dispose()
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        return unusable_database(url, exc)
    return None


def _missing_driver(url: str, error: Exception) -> str | None:
    """Why no engine can be made for `url`, when `error` is that failure: no SQLAlchemy dialect for its
    scheme, or the dialect's driver module not installed. None when `error` is about something else."""
    # Make the engine again (it does not connect, so creates nothing) and compare the failures: a module
    # missing elsewhere in a command must not be blamed on the database.
    try:
        make_engine(url).dispose()
    except sa_exc.NoSuchModuleError as probe:
        if isinstance(error, sa_exc.NoSuchModuleError) and str(probe) == str(error):
            backend = make_url(url).get_backend_name()
            return f"no driver for {backend} databases is installed; {SUPPORTED_DATABASES}"
    except ModuleNotFoundError as probe:
        if isinstance(error, ModuleNotFoundError) and probe.name is not None and probe.name == error.name:
            return f"its driver, the Python module {probe.name}, is not installed; {SUPPORTED_DATABASES}"
    except Exception:
        return None  # the probe failed otherwise: the command's own error is the one to report
    return None


def display_url(url: str) -> str:
    """`url` fit to print: a password in it is masked (user:***@host)."""
    # The user and password end where SQLAlchemy's URL grammar ends them: at ":" / "/" and at "@".
    return re.sub(r"^([\w+.-]+://[^:/@]*):[^@]*@", r"\1:***@", url)


def base_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """TIERTRACE_BASE_URL, else DEFAULT_BASE_URL. Creates nothing, like `database_url_from_env`."""
    env = os.environ if env is None else env
    return env.get("TIERTRACE_BASE_URL") or DEFAULT_BASE_URL


def _data_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("TIERTRACE_DATA_DIR", "tiertrace-data")).resolve()


def _amqp_url(text: str) -> str:
    # pika takes any URL (http://host:5672/ reached the broker's default vhost as guest); refuse the rest.
    if urlsplit(text).scheme not in ("amqp", "amqps"):
        raise ValueError(text)
    return text


def parse_bool(text: str | None) -> bool | None:
    """'true'/'false' (and 1/0, yes/no, on/off) as a bool; None for unset or empty. Raises ValueError."""
    if text is None or not text.strip():
        return None
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r} (use true or false)")


def _persistent_secret(path: Path) -> str:
    # Sessions and CSRF tokens must survive a restart, so a generated key is kept beside the database.
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
