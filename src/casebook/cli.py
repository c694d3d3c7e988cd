"""`casebook …`: serve, migrate and inspect the systems."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from casebook.platform.settings import Settings

app = typer.Typer(help="Casebook: 43 system-design case studies, built for real.", no_args_is_help=True)


@app.command()
def serve(
    only: Annotated[list[str] | None, typer.Option("--only", help="Serve only these slugs.")] = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve every built system (or --only some) on one port, migrating the database first."""
    import json
    import os

    import uvicorn

    settings = Settings()
    if only:
        # uvicorn's workers build the app from the environment, so the choice travels there.
        os.environ["CASEBOOK_SYSTEMS"] = json.dumps(list(only))
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    if workers > 1:
        # Migrate once here so the workers do not race each other to create tables.
        asyncio.run(_migrate(settings))
        os.environ["CASEBOOK_AUTO_MIGRATE"] = "false"
    typer.echo(f"Casebook on http://{host}:{port}/  (database: {settings.resolved_database_url})")
    uvicorn.run(
        "casebook.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


async def _migrate(settings: Settings) -> None:
    from casebook.migrations import upgrade
    from casebook.platform.db import Database

    database = Database(settings.resolved_database_url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()


@app.command()
def migrate() -> None:
    """Create or upgrade every table to the newest schema."""
    settings = Settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_migrate(settings))
    typer.echo(f"migrated {settings.resolved_database_url}")


@app.command()
def systems() -> None:
    """List every system of the catalogue with its status."""
    from casebook.systems import all_systems

    for system in all_systems():
        status = "built" if system.built else "not yet"
        typer.echo(
            f"{system.number:>2}  {system.slug:<20} {system.group:<16} seed {system.seed}  "
            f"{len(system.features):>2} features  {status}"
        )


def main() -> None:
    app()
