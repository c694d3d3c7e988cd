"""`casebook …`: serve, migrate and inspect the systems."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from casebook.platform.settings import Settings

if TYPE_CHECKING:
    from casebook.engines.ledger.verify import Report
    from casebook.engines.matching.simulator import SimulationStats
    from casebook.platform.capacity import CapacityModel

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
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    server: Annotated[
        str,
        typer.Option(
            help="HTTP server: granian (Rust HTTP/WebSocket I/O) or uvicorn (pure-Python "
            "protocol on uvloop + httptools)."
        ),
    ] = "granian",
    redirect_port: Annotated[
        int | None,
        typer.Option(
            help="Also answer short links (/s/<code>, and /<code> on verified custom domains) "
            "on this port, from a dedicated redirect listener in every worker: the URL "
            "Shortener's redirect tier."
        ),
    ] = None,
    simulate: Annotated[
        float,
        typer.Option(
            help="Run market-maker and noise-trader bots on every trading venue served, at "
            "this many actions a second each (0: off; one worker only)."
        ),
    ] = 0.0,
) -> None:
    """Serve every built system (or --only some) on one port, migrating the database first."""
    import json
    import os
    import shutil

    if server not in ("granian", "uvicorn"):
        typer.echo(f"--server must be granian or uvicorn, not {server!r}.", err=True)
        raise typer.Exit(2)
    if simulate:
        if not 0 < simulate <= 1000:
            typer.echo("--simulate must be between 0 and 1000 actions a second.", err=True)
            raise typer.Exit(2)
        if workers > 1:
            # Each worker would run bots of its own on the same books.
            typer.echo(
                "--simulate runs the bots inside the server: serve with --workers 1, or run "
                "`casebook simulate trading` beside a cluster.",
                err=True,
            )
            raise typer.Exit(2)
        os.environ["CASEBOOK_SIMULATE_TRADING"] = str(simulate)
    if redirect_port is not None:
        if not 0 < redirect_port < 65536 or redirect_port == port:
            typer.echo("--redirect-port must be a free TCP port other than --port.", err=True)
            raise typer.Exit(2)
        # Read by the URL Shortener's settings in every worker.
        os.environ["CASEBOOK_URL_SHORTENER_REDIRECT_PORT"] = str(redirect_port)
        os.environ["CASEBOOK_URL_SHORTENER_REDIRECT_HOST"] = host
    # A server process lives long: fit the garbage collector to it (`app.tune_gc`) unless the
    # operator chose otherwise.
    os.environ.setdefault("CASEBOOK_TUNE_GC", "true")
    settings = Settings()
    if only:
        # uvicorn's workers build the app from the environment, so the choice travels there.
        os.environ["CASEBOOK_SYSTEMS"] = json.dumps(list(only))
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    if workers > 1 and not settings.uses_redis:
        from casebook.app import enabled_systems

        realtime = [s.slug for s in enabled_systems(settings, only or []) if s.realtime]
        if realtime:
            # The in-process bus cannot carry a message from the worker that stored it to the
            # sockets another worker holds.
            typer.echo(
                f"{', '.join(realtime)} deliver over WebSockets, which needs a bus shared by the "
                "workers: set CASEBOOK_REDIS_URL, serve with --workers 1, or leave them out "
                "with --only.",
                err=True,
            )
            raise typer.Exit(2)
    if workers > 1:
        # Each worker would otherwise own every order book of the matching engine: N books per
        # instrument. In cluster mode one worker at a time owns each (a lease) and the others
        # route commands to it over the bus (Redis: required above for the trading systems).
        os.environ.setdefault("CASEBOOK_MATCHING_CLUSTER", "1")
        # Migrate and seed once here so the workers do not race each other to do it.
        if settings.migrates_on_start:
            asyncio.run(_migrate(settings))
        if settings.loads_demo_data:
            asyncio.run(_seed(settings, only or []))
        os.environ["CASEBOOK_AUTO_MIGRATE"] = "false"
        os.environ["CASEBOOK_DEMO_DATA"] = "false"
        # Each worker writes its metrics to files here, so /metrics adds up all workers.
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            metrics_dir = settings.var_dir / "metrics"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    typer.echo(f"Casebook on http://{host}:{port}/  (database: {settings.resolved_database_url})")
    if redirect_port is not None:
        typer.echo(f"Short links also on http://{host}:{redirect_port}/s/<code>")
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            "casebook.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            access_log=False,
            # No protocol pings from the server: the sockets that need liveness keep their own
            # (the chat gateway's heartbeat and idle sweep; the streams' ping frames), as they
            # must under granian, which sends none. uvicorn's every 20 s per socket were 1,000
            # frames a second with 10,000 chat sockets, and a timer each kept alive between them.
            ws_ping_interval=None,
        )
        return
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        "casebook.app:create_served_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        websockets=True,
        log_level=LogLevels(settings.log_level.lower()),
        log_access=False,
        respawn_failed_workers=True,  # as uvicorn's supervisor does: a crashed worker comes back
    ).serve()


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

    systems = enabled_systems(settings, only)
    platform = Platform.start(settings)
    started = []
    try:
        # As the app's lifespan does: a system's demo may use what its startup hook builds
        # (the URL shortener's code allocator, say) and the jobs it registers.
        for system in systems:
            if system.on_startup:
                await system.on_startup(platform)
            started.append(system)
        await platform.jobs.start()
        for system in systems:
            if system.demo:
                typer.echo(f"seeding {system.slug}…")
                await system.demo(platform)
    finally:
        for system in reversed(started):
            if system.on_shutdown:
                await system.on_shutdown(platform)
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


def _capacity_model(slug: str) -> CapacityModel:
    """The capacity model of system `slug`; exits with a message when there is none."""
    from casebook.systems import all_systems

    system = next((s for s in all_systems() if s.slug == slug), None)
    if system is None:
        raise typer.BadParameter(f"unknown system {slug!r} (see `casebook systems`)")
    if system.capacity is None:
        typer.echo(f"{slug}: no capacity model yet (its seed estimate is not made runnable)")
        raise typer.Exit(1)
    return system.capacity


@app.command()
def capacity(
    slug: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The seed's capacity estimate recomputed: derived figures, the seed's values, its slips."""
    import json

    from casebook.platform.capacity import format_capacity_table

    model = _capacity_model(slug)
    if as_json:
        typer.echo(json.dumps(model.as_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(format_capacity_table(model))


@app.command()
def load(
    slug: str,
    rate: Annotated[str, typer.Option(help="seed, peak, or requests per second.")] = "seed",
    duration: Annotated[float, typer.Option(help="Seconds of load (at most 600).")] = 10.0,
    url: Annotated[str, typer.Option(help="Server under test (loopback only).")] = (
        "http://127.0.0.1:8000"
    ),
    connections: Annotated[int, typer.Option(help="HTTP connections to the server.")] = 64,
    p99_ms: Annotated[
        float | None, typer.Option(help="p99 latency a node must stay under (default: model's).")
    ] = None,
    setup_size: Annotated[
        int | None, typer.Option(help="Items to create before the run for reads to spread over.")
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(help="Generator processes sharing the schedule (default: by rate, ≤ cores)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Drive a running server open-loop at the seed's rate and read:write mix; report latency."""
    import json

    import httpx

    from casebook.platform import loadgen
    from casebook.platform.capacity import SetupFailed

    try:
        loadgen.require_loopback(url)
    except loadgen.TargetRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    model = _capacity_model(slug)
    if model.load is None:
        typer.echo(f"{slug}: its capacity model names no load mix")
        raise typer.Exit(1)
    try:
        plan = loadgen.LoadPlan(
            base_url=url,
            rate=model.rate(rate),
            duration=duration,
            connections=connections,
            p99_threshold_ms=p99_ms or model.p99_target_ms,
            setup_size=setup_size,
            processes=processes,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(
        f"{slug}: {plan.rate:,.0f} requests/s for {plan.duration:g} s against {url} "
        f"({plan.process_count()} generator process{'es' * (plan.process_count() > 1)})"
    )

    def tick(t: loadgen.Tick) -> None:
        typer.echo(
            f"  {t.second:>3} s  sent {t.sent:>6,}  ok {t.ok:>6,}  errors {t.errors:>5,}  "
            f"in flight {t.in_flight:,}",
            err=as_json,
        )

    def setup_done(seconds: float) -> None:
        typer.echo(f"  setup done in {seconds:.1f} s", err=as_json)

    try:
        # uvloop (installed with uvicorn[standard]) cuts the generator's own cost per request.
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            report = runner.run(
                loadgen.run_load(model.load, plan, on_tick=tick, on_setup_done=setup_done)
            )
    except (httpx.HTTPError, SetupFailed) as exc:
        typer.echo(f"error: cannot set up the load test against {url}: {exc!r}", err=True)
        raise typer.Exit(1) from None
    except RuntimeError as exc:  # a generator process failed
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        typer.echo(loadgen.format_load_report(report, model))
    raise typer.Exit(0 if report.held else 3)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Benchmark to run, e.g. url-shortener.")],
) -> None:
    """Run bench/<name>.py from the source checkout; options after the name go to it.

    `casebook bench url-shortener -- --help` lists the benchmark's own options."""
    import importlib
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = root / "bench" / f"{name.replace('-', '_')}.py"
    if not script.is_file():
        typer.echo(f"no benchmark {name!r}: {script} does not exist (run from a checkout)")
        raise typer.Exit(1)
    sys.path.insert(0, str(root))
    module = importlib.import_module(f"bench.{script.stem}")
    raise typer.Exit(module.main(list(ctx.args)))


simulate_app = typer.Typer(help="Simulated activity on the systems.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")


@simulate_app.command("trading")
def simulate_trading(
    venue: Annotated[str, typer.Option(help="The trading system's venue.")] = "stock-exchange",
    duration: Annotated[float, typer.Option(help="Seconds to run.")] = 30.0,
    rate: Annotated[float, typer.Option(help="Bot actions per second (at most).")] = 50.0,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same run.")] = 1,
    symbol: Annotated[
        list[str] | None, typer.Option("--symbol", help="Trade only these symbols.")
    ] = None,
) -> None:
    """Market makers and noise traders on a venue's books, through the venue API (in process).

    Loads the system's demo listings when the venue lists nothing; prints progress each second."""
    from casebook.platform.errors import Problem

    settings = Settings()
    asyncio.run(_migrate(settings))
    try:
        stats = asyncio.run(
            _simulate_trading(
                settings, venue, seed, tuple(symbol or ()), duration=duration, rate=rate
            )
        )
    except Problem as problem:
        typer.echo(f"error: {problem.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"done: {stats.line()}")


async def _simulate_trading(
    settings: Settings,
    venue_name: str,
    seed: int,
    symbols: tuple[str, ...],
    *,
    duration: float | None = None,
    steps: int | None = None,
    rate: float = 50.0,
) -> SimulationStats:
    """Start the venue's system in a platform of its own, then run the simulator on it."""
    from casebook.app import enabled_systems
    from casebook.engines.matching import venue as venues
    from casebook.platform.context import Platform
    from casebook.platform.errors import NotFound
    from casebook.simulate import has_venue, simulate

    chosen = [s for s in enabled_systems(settings, [venue_name]) if s.slug == venue_name]
    if not chosen:
        raise NotFound(f"{venue_name!r} is not a built system with a venue.")
    system = chosen[0]
    platform = Platform.start(settings)
    try:
        if system.on_startup:
            await system.on_startup(platform)
        if not has_venue(platform, system):
            raise NotFound(f"{venue_name!r} is not a built system with a venue.")
        venue = venues.get(platform, venue_name)
        if not venue.listed and system.demo:
            typer.echo(f"{venue_name} lists nothing: loading its demo listings…")
            await system.demo(platform)
        return await simulate(
            platform,
            system,
            seed=seed,
            symbols=symbols,
            rate=rate,
            duration=duration,
            steps=steps,
            on_ready=lambda sim: typer.echo(
                f"simulating {', '.join(i.symbol for i in sim.instruments)} on {venue_name}"
            ),
            progress=lambda s: typer.echo(s.line()),
        )
    finally:
        if system.on_shutdown:
            await system.on_shutdown(platform)
        await platform.close()


ledger_app = typer.Typer(help="The ledger engine's books.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Recompute every balance from the transfers and check the books; exit 1 on any break.

    Checks: per currency the balances sum to zero; no non-negative account is below zero; each
    account's counters equal the sums of its transfers; every hold is resolved at most once and
    as its status says; running balances agree with the counters.
    """
    settings = Settings()
    report = asyncio.run(_ledger_verify(settings))
    typer.echo(f"{report.accounts:,} accounts, {report.transfers:,} transfers")
    for line in report.breaks:
        typer.echo(f"BREAK  {line}")
    if not report.ok:
        typer.echo(f"{len(report.breaks)} break(s): the books do not balance")
        raise typer.Exit(1)
    typer.echo("ok: the books balance")


async def _ledger_verify(settings: Settings) -> Report:
    from casebook.engines.ledger.verify import verify
    from casebook.platform.db import Database

    db = Database(settings.resolved_database_url)
    try:
        async with db.session() as session:
            return await verify(session, progress=lambda step: typer.echo(f"checking {step}…"))
    finally:
        await db.dispose()


def main() -> None:
    app()
