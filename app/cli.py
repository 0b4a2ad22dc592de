"""Gatehouse's commands on the `litestar` CLI (`litestar --app app.asgi:create_app <command>`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click
from litestar.plugins import CLIPluginProtocol

if TYPE_CHECKING:
    from litestar import Litestar


class GatehouseCLI(CLIPluginProtocol):
    """Adds `worker` (and later more) to the litestar command."""

    def on_cli_init(self, cli: click.Group) -> None:
        """Register the commands."""

        @cli.command(name="worker", help="Run a background job worker until interrupted.")
        def worker(app: Litestar) -> None:
            from app.worker import run_worker

            asyncio.run(run_worker(app.state.settings))
