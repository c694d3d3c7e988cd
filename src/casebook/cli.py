"""`casebook …`: serve, migrate and inspect the systems."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from casebook.platform.settings import Settings

app = typer.Typer(
    help="Casebook: 43 system-design case studies, built for real.", no_args_is_help=True
)


@app.command()
def serve(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Serve only these slugs.")
    ] = None,
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
        # Migrate and seed once here so the workers do not race each other to do it.
        if settings.migrates_on_start:
            asyncio.run(_migrate(settings))
        if settings.loads_demo_data:
            asyncio.run(_seed(settings, only or []))
        os.environ["CASEBOOK_AUTO_MIGRATE"] = "false"
        os.environ["CASEBOOK_DEMO_DATA"] = "false"
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
def seed(
    only: Annotated[list[str] | None, typer.Option("--only", help="Seed only these slugs.")] = None,
) -> None:
    """Load each built system's demo data (idempotent: running it twice adds nothing)."""
    settings = Settings()
    asyncio.run(_migrate(settings))
    asyncio.run(_seed(settings, only or []))


async def _seed(settings: Settings, only: list[str]) -> None:
    from casebook.app import enabled_systems
    from casebook.platform.context import Platform

    platform = Platform.start(settings)
    try:
        for system in enabled_systems(settings, only):
            if system.demo:
                typer.echo(f"seeding {system.slug}…")
                await system.demo(platform)
    finally:
        await platform.close()


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


@app.command()
def features(
    slugs: Annotated[
        list[str] | None, typer.Argument(help="Systems to show (default: all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Per seed feature: covered by N tests, or NOT COVERED (read from the test suite's markers)."""
    import json

    from casebook.platform import featurecov
    from casebook.platform.registry import select
    from casebook.systems import all_systems

    try:
        chosen = select(all_systems(), slugs or [])
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    counts = featurecov.collect_counts(featurecov.tests_directory())
    statuses = featurecov.coverage(chosen, counts)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "slug": s.slug,
                        "feature": s.feature_id,
                        "title": s.title,
                        "tests": s.tests,
                        "covered": s.covered,
                    }
                    for s in statuses
                ],
                indent=2,
            )
        )
    else:
        for s in statuses:
            state = (
                f"covered ({s.tests} test{'s' if s.tests != 1 else ''})"
                if s.covered
                else "NOT COVERED"
            )
            typer.echo(f"{s.slug}  {s.feature_id}  {state}")
    unknown = featurecov.unknown_markers(all_systems(), counts)
    if unknown:
        for slug, fid in unknown:
            typer.echo(f"error: tests mark unknown feature {slug} {fid}", err=True)
        raise typer.Exit(1)


def main() -> None:
    app()
