"""The Alembic migrations build exactly the schema the models describe, and can be rolled back."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.models import include_object, metadata
from app.settings import Settings
from tests.support.database import fresh_database, make_settings, migrate


def app_tables(sync_conn: Connection) -> set[str]:
    names = set(inspect(sync_conn).get_table_names())
    return {name for name in names if not name.startswith("saq_") and name != "alembic_version"}


async def table_names(settings: Settings) -> set[str]:
    engine = create_async_engine(settings.sqlalchemy_url)
    async with engine.connect() as conn:
        names = await conn.run_sync(app_tables)
    await engine.dispose()
    return names


async def test_upgrade_downgrade_upgrade_round_trip() -> None:
    url = fresh_database("migrations")
    settings = make_settings(url)
    expected = {table.name for table in metadata.sorted_tables}
    assert await table_names(settings) == expected

    migrate(url, "base", downgrade=True)
    assert await table_names(settings) == set()

    migrate(url, "heads")
    assert await table_names(settings) == expected


async def test_models_and_migrations_do_not_differ(settings: Settings) -> None:
    engine = create_async_engine(settings.sqlalchemy_url)

    def diff(sync_conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn,
            opts={"include_object": include_object, "compare_type": True, "compare_server_default": True},
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    await engine.dispose()
    assert differences == [], f"run `make migration m=...`: models and migrations differ: {differences}"
