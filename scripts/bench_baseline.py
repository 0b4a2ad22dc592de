"""The floor `make bench` compares Gatehouse against: a bare Litestar app, one query, one Jinja page.

    granian --interface asgi --factory scripts.bench_baseline:create_app

`GET /users/{id}` runs one primary-key SELECT on Gatehouse's `users` table through an asyncpg pool
(the driver Gatehouse's SQLAlchemy engine uses) and renders a small autoescaped template with the
row's email. No middleware, sessions, CSRF or logging: whatever Gatehouse does on top of this is
what the ratio in `make bench` measures. Reads DATABASE_URL and DB_POOL_SIZE, like Gatehouse.
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

import asyncpg
from jinja2 import DictLoader, Environment, select_autoescape
from litestar import Litestar, MediaType, Request, get
from litestar.exceptions import NotFoundException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

__all__ = ("create_app",)

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Profile</title></head>
<body>
  <main>
    <h1>Profile</h1>
    <p>Signed in as <strong>{{ email }}</strong>.</p>
  </main>
</body>
</html>
"""

USER_EMAIL = "SELECT email FROM users WHERE id = $1"


def asyncpg_dsn(url: str) -> str:
    """DATABASE_URL without a SQLAlchemy driver suffix (`postgresql+asyncpg://` → `postgresql://`)."""
    _, rest = url.split("://", 1)
    return f"postgresql://{rest}"


@get("/users/{user_id:uuid}", media_type=MediaType.HTML)
async def user_page(request: Request[Any, Any, Any], user_id: UUID) -> Template:
    """One primary-key lookup, one small page."""
    pool: asyncpg.Pool = request.app.state.pool
    email = await pool.fetchval(USER_EMAIL, user_id)
    if email is None:
        raise NotFoundException()
    return Template(template_name="user.html", context={"email": email})


@get("/healthz", media_type=MediaType.TEXT)
async def healthz() -> str:
    """Up (the pool is opened at startup, so being up means the database answered)."""
    return "ok"


async def open_pool(app: Litestar) -> None:
    """Startup hook: a fixed-size pool, DB_POOL_SIZE connections opened up front."""
    size = int(os.environ.get("DB_POOL_SIZE", "10"))
    app.state.pool = await asyncpg.create_pool(
        asyncpg_dsn(os.environ["DATABASE_URL"]), min_size=size, max_size=size
    )


async def close_pool(app: Litestar) -> None:
    """Shutdown hook: close the pool."""
    await app.state.pool.close()


def create_app() -> Litestar:
    """The baseline app (a factory, like Gatehouse's, so each Granian worker builds its own)."""
    environment = Environment(
        loader=DictLoader({"user.html": PAGE}), autoescape=select_autoescape(default=True)
    )
    return Litestar(
        route_handlers=[user_page, healthz],
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment)),
        on_startup=[open_pool],
        on_shutdown=[close_pool],
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
