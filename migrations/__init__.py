"""Alembic migrations. Every schema change is a migration that runs on SQLite and PostgreSQL.

`upgrade(url)` is what `tiertrace db upgrade`, `tiertrace serve` and the test harness call.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An alembic Config for `url` that works from a source checkout and from an installed package."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # "%" is alembic's interpolation character; a password may contain one.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` (default: the newest)."""
    command.upgrade(alembic_config(url), revision)
