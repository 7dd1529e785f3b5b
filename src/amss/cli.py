"""The ``amss`` command line: serve | server | worker | migrate | seed | keys | audit | import."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import uvicorn
import uvloop

from amss.config import (
    ConfigurationError,
    Settings,
    load_settings,
    require_production_settings,
)
from amss.db import migrate as migrations
from amss.db.connect import database_urls
from amss.db.engine import WORKER_STATEMENT_TIMEOUT_MS, Database
from amss.db.roles import privilege_problems
from amss.kit.keys import generate_key_pair
from amss.kit.logging import configure_logging, get_logger
from amss.kit.tracing import setup_tracing

if TYPE_CHECKING:
    from amss.grpc.server import GrpcServer

cli = typer.Typer(
    name="amss",
    help="AMSS — Aircraft Maintenance Scheduling System.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_log = get_logger("amss.cli")


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``finally`` blocks (embedded server stop) run.

    uvicorn re-raises the signal it caught once it has shut down; with the default
    handler the process would die on the spot and leave the embedded PostgreSQL running.
    """

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _settings(*, default_env: str = "development") -> Settings:
    """The environment's settings; ``APP_ENV`` defaults per command (SPEC §2)."""
    os.environ.setdefault("APP_ENV", default_env)
    settings = load_settings()
    configure_logging(settings.log_level)
    _exit_on_sigterm()
    return settings


def _production_checks(settings: Settings, *, needs_database: bool = True) -> None:
    """Fail closed: refuse what production must not run without; warn about the rest."""
    require_production_settings(settings, needs_database=needs_database)
    if not settings.is_production:
        return
    if not settings.trusted_proxies:
        _log.warning(
            "TRUSTED_PROXIES is empty: X-Forwarded-For is ignored and every request is "
            "attributed to the peer address (the load balancer, behind one)"
        )
    if settings.webhook_allow_private:
        _log.warning(
            "WEBHOOK_ALLOW_PRIVATE=true in production: webhooks may reach private networks"
        )


def _warn_about_the_role(settings: Settings, url: str) -> None:
    """Production should run as a role that owns nothing (SPEC §10); one URL still works."""
    if not settings.is_production:
        return
    for problem in privilege_problems(url):
        _log.warning(
            f"{problem}; connect as a restricted role and migrate with DB_MIGRATE_URL "
            "(docs/operations.md, Two database roles)"
        )


def _refuse_demo_in_production(settings: Settings, what: str) -> None:
    if settings.is_production:
        raise ConfigurationError(
            f"APP_ENV: {what} creates demo users with a published password; refused in production"
        )


def _seal_secrets(url: str, settings: Settings) -> None:
    """Encrypt webhook secrets stored before encryption existed (idempotent)."""
    from amss.kit.secretbox import secret_box
    from amss.webhooks.service import seal_plaintext_secrets

    async def run() -> int:
        database = Database.connect(url, pool_size=1)
        try:
            return await seal_plaintext_secrets(database, secret_box(settings))
        finally:
            await database.dispose()

    sealed = asyncio.run(run())
    if sealed:
        _log.info("webhook secrets encrypted at rest", count=sealed)


def _seed(url: str) -> None:
    from amss.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

    async def run() -> None:
        database = Database.connect(url, pool_size=1)
        try:
            result = await seed_demo(database)
        finally:
            await database.dispose()
        state = "created" if result.created_organization else "already present"
        typer.echo(
            f"demo organization {state} (id {result.org_id}); {result.created_users} user(s) "
            f"and {result.created_aircraft} aircraft added"
        )

    asyncio.run(run())
    logins = ", ".join(user[0] for user in DEMO_USERS)
    typer.echo(f"demo logins: {logins} — password {DEMO_PASSWORD}")


def http_server(app: Any, listen: tuple[str, int]) -> uvicorn.Server:
    """The uvicorn server every AMSS HTTP listener runs (and the benchmarks' bare app)."""
    return uvicorn.Server(http_config(app, listen))


class ApiServer(uvicorn.Server):
    """The REST server with the gRPC server beside it: when a signal stops uvicorn, both
    stop together — new calls refused, calls in flight given the grace period."""

    def __init__(self, config: uvicorn.Config, grpc_server: GrpcServer) -> None:
        super().__init__(config)
        self.grpc_server = grpc_server

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await asyncio.gather(super().shutdown(sockets=sockets), self.grpc_server.stop())


def http_config(app: Any, listen: tuple[str, int]) -> uvicorn.Config:
    host, port = listen
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=15,
        timeout_graceful_shutdown=10,
        # Client addresses come from TRUSTED_PROXIES only (amss.kit.clientip): uvicorn's
        # own X-Forwarded-For handling would believe any peer listed in its defaults.
        proxy_headers=False,
        h11_max_incomplete_event_size=64 * 1024,
    )


def _print_urls(settings: Settings, with_worker: bool) -> None:
    host, port = settings.http_listen
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    lines = [
        "",
        f"  AMSS {settings.app_env} server",
        f"  API         http://{shown}:{port}/api/v1",
        f"  Swagger UI  http://{shown}:{port}/docs",
        f"  OpenAPI     http://{shown}:{port}/openapi.yaml",
        f"  Health      http://{shown}:{port}/health  ·  /ready  ·  /metrics",
        f"  gRPC        {shown}:{settings.grpc_listen[1]}  (amss.v1, reflection on)",
    ]
    if with_worker:
        lines.append(
            "  Worker      in process (periodic due sweep, retention, stalled-job recovery)"
        )
    typer.echo("\n".join([*lines, "  Stop with Ctrl-C.", ""]))


async def _run(settings: Settings, url: str, *, api: bool, worker: bool) -> None:
    """The REST and gRPC APIs and/or the worker in one event loop; stopping one stops the
    other."""
    from amss.app import create_app
    from amss.worker import create_worker_app, run_worker

    setup_tracing(
        settings, service="amss-" + ("serve" if api and worker else "server" if api else "worker")
    )
    database = Database.connect(url)
    # Jobs get a pool of their own with longer limits: a sweep never waits on API traffic.
    jobs_database = (
        Database.connect(
            url, pool_size=4, pool_timeout=30, statement_timeout_ms=WORKER_STATEMENT_TIMEOUT_MS
        )
        if worker
        else None
    )
    tasks: list[asyncio.Task[Any]] = []
    grpc_server = None
    server: uvicorn.Server
    try:
        if api:
            from amss.grpc.server import start_grpc_server

            app = create_app(settings, database)
            # The gRPC API shares the REST app's key set and rate-limit counters.
            grpc_server = await start_grpc_server(
                settings, database, app.state.signer, app.state.rate_limiter, settings.grpc_listen
            )
            server = ApiServer(http_config(app, settings.http_listen), grpc_server)
            _print_urls(settings, worker)
        else:
            server = http_server(
                create_app(settings, database, api=False), settings.worker_http_listen
            )
        tasks.append(asyncio.create_task(server.serve(), name="http"))
        if jobs_database is not None:
            worker_app = create_worker_app(settings, jobs_database, url)
            tasks.append(
                asyncio.create_task(
                    run_worker(worker_app, name=settings.worker_id, install_signal_handlers=False),
                    name="worker",
                )
            )
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()
    finally:
        if grpc_server is not None:
            # When uvicorn never reached its shutdown (it failed to start): calls in flight
            # finish (up to the grace period) before the pool goes away.
            await grpc_server.stop()
        await database.dispose()
        if jobs_database is not None:
            await jobs_database.dispose()


def _serve_forever(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived process on uvloop: the event loop every request passes through."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _run_http(settings: Settings, url: str, *, worker: bool) -> None:
    _serve_forever(_run(settings, url, api=True, worker=worker))


@cli.command()
def serve(
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo organization first.")] = False,
) -> None:
    """All-in-one: REST, gRPC and the worker; embedded PostgreSQL when DB_URL is unset."""
    # The quick start reaches receivers on this machine; production must opt in explicitly.
    if os.environ.get("APP_ENV", "development") != "production":
        os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE", "true")
    settings = _settings(default_env="development")
    _production_checks(settings, needs_database=False)
    if demo:
        _refuse_demo_in_production(settings, "--demo")
    with database_urls(settings) as urls:
        migrations.upgrade(urls.migrate)
        _seal_secrets(urls.app, settings)
        if demo:
            _seed(urls.app)
        _run_http(settings, urls.app, worker=True)


@cli.command()
def seed() -> None:
    """Load the demo organization and its users (idempotent; migrates first)."""
    settings = _settings()
    _refuse_demo_in_production(settings, "'amss seed'")
    with database_urls(settings) as urls:
        migrations.upgrade(urls.migrate)
        _seed(urls.app)


audit_cli = typer.Typer(help="The audit trail.", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")


@audit_cli.command("verify")
def audit_verify(
    org: Annotated[
        str | None, typer.Option("--org", help="Organization id; every organization when omitted.")
    ] = None,
) -> None:
    """Recompute each organization's hash chain; exit 1 at the first broken link."""
    from amss.audit.service import verify_all
    from amss.db.uow import UnitOfWork

    settings = _settings()
    try:
        org_id = uuid.UUID(org) if org else None
    except ValueError:
        typer.echo(f"--org: {org!r} is not an organization id (UUID)", err=True)
        raise typer.Exit(2) from None

    async def run() -> bool:
        database = Database.connect(url, pool_size=1)
        try:
            async with UnitOfWork(database.session_factory) as uow:
                results = await verify_all(uow, org_id)
        finally:
            await database.dispose()
        if org_id is not None and not results:
            typer.echo(f"organization {org_id} not found", err=True)
            return False
        healthy = True
        for found_id, name, result in results:
            if result.ok:
                typer.echo(f"ok      {found_id}  {name}: {result.checked} rows")
            else:
                healthy = False
                typer.echo(
                    f"BROKEN  {found_id}  {name}: first broken seq {result.first_broken_seq} "
                    f"(id {result.first_broken_id}), {result.checked} rows checked"
                )
        return healthy

    with database_urls(settings) as urls:
        url = urls.app
        if not asyncio.run(run()):
            raise typer.Exit(1)


IMPORT_TYPES_HELP = "aircraft, parts, programs, compliance or utilization"


@cli.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or XLSX file.")
    ],
    import_type: Annotated[str, typer.Option("--type", help=IMPORT_TYPES_HELP)],
    org: Annotated[str, typer.Option("--org", help="Organization id (UUID).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and report; apply nothing.")
    ] = False,
) -> None:
    """Import a file into an organization and follow it to the end with a progress bar.

    The import is stored like an upload (a worker may take it too; every step locks the
    import, so none is done twice) and processed here. Exits 1 when rows were invalid or
    the import failed.
    """
    settings = _settings()
    try:
        org_id = uuid.UUID(org)
    except ValueError:
        typer.echo(f"--org: {org!r} is not an organization id (UUID)", err=True)
        raise typer.Exit(2) from None
    content = file.read_bytes()
    if len(content) > settings.import_max_bytes:
        typer.echo(f"{file}: larger than IMPORT_MAX_BYTES ({settings.import_max_bytes})", err=True)
        raise typer.Exit(2)
    with database_urls(settings) as urls:
        code = asyncio.run(_import(urls.app, org_id, import_type, file.name, content, dry_run))
    if code:
        raise typer.Exit(code)


async def _import(
    url: str, org_id: uuid.UUID, import_type: str, name: str, content: bytes, dry_run: bool
) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from sqlalchemy import select

    from amss.auth.rules import Caller
    from amss.db.tables import organizations
    from amss.db.uow import UnitOfWork
    from amss.imports import jobs as import_jobs
    from amss.imports import service as imports
    from amss.kit.errors import AppError
    from amss.kit.pagination import Page

    console = Console(stderr=True)
    database = Database.connect(url, pool_size=3, statement_timeout_ms=WORKER_STATEMENT_TIMEOUT_MS)
    caller = Caller.system(org_id)
    try:
        async with UnitOfWork(database.session_factory) as uow:
            found = await uow.session.scalar(
                select(organizations.c.id).where(
                    organizations.c.id == org_id, organizations.c.deleted_at.is_(None)
                )
            )
            if found is None:
                console.print(f"organization {org_id} not found")
                return 2
            try:
                pending = await imports.create_import(
                    uow,
                    caller,
                    import_type=import_type,
                    filename=name,
                    content=content,
                    dry_run=dry_run,
                )
            except AppError as error:
                console.print(f"refused: {error.message}")
                return 2
        processing = asyncio.create_task(import_jobs.run_import(database, pending.id, org_id))
        with Progress(
            TextColumn("{task.description:<11}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task("pending", total=None)
            while True:
                async with UnitOfWork(database.session_factory) as uow:
                    current = await imports.get_import(uow, caller, pending.id)
                applying = current.status in ("applying", "completed")
                progress.update(
                    bar,
                    description=current.status,
                    total=current.summary.valid if applying else None,
                    completed=current.summary.applied,
                )
                if processing.done():
                    break
                await asyncio.sleep(0.25)  # the server-side status, read as it moves
        await processing
        async with UnitOfWork(database.session_factory) as uow:
            done = await imports.get_import(uow, caller, pending.id)
            invalid, _ = await imports.list_rows(uow, caller, pending.id, Page(20, 0), "invalid")
    finally:
        await database.dispose()
    summary = done.summary
    typer.echo(
        f"import {done.id}: {done.status}; {summary.total} rows, {summary.valid} valid, "
        f"{summary.invalid} invalid, {summary.applied} applied ({summary.unchanged} unchanged)"
    )
    if done.ignored_columns:
        typer.echo(f"ignored columns: {', '.join(done.ignored_columns)}")
    for row in invalid:
        typer.echo(f"row {row.row_number}: {'; '.join(row.errors)}")
    if summary.invalid > len(invalid):
        typer.echo(f"… and {summary.invalid - len(invalid)} more (GET /imports/{done.id}/rows)")
    if done.failure:
        typer.echo(f"failed: {done.failure}")
    return 0 if done.status == "completed" and summary.invalid == 0 else 1


@cli.command()
def server() -> None:
    """REST and gRPC APIs, for production: needs DB_URL and an up-to-date schema."""
    settings = _settings(default_env="production")
    _production_checks(settings)
    if not settings.db_url:
        raise ConfigurationError(
            "DB_URL: required by 'amss server' (use 'amss serve' for the embedded database)"
        )
    pending = migrations.pending_revisions(settings.db_url)
    if pending:
        typer.echo(
            f"{len(pending)} migration(s) pending ({', '.join(pending)}); run 'amss migrate' first",
            err=True,
        )
        raise typer.Exit(1)
    _warn_about_the_role(settings, settings.db_url)
    _run_http(settings, settings.db_url, worker=False)


@cli.command()
def worker() -> None:
    """Background jobs only, with /health, /ready and /metrics on WORKER_HTTP_ADDR."""
    settings = _settings(default_env="production")
    _production_checks(settings)
    if not settings.db_url:
        raise ConfigurationError(
            "DB_URL: required by 'amss worker' (use 'amss serve' for the embedded database)"
        )
    pending = migrations.pending_revisions(settings.db_url)
    if pending:
        typer.echo(f"{len(pending)} migration(s) pending; run 'amss migrate' first", err=True)
        raise typer.Exit(1)
    _warn_about_the_role(settings, settings.db_url)
    _seal_secrets(settings.db_url, settings)
    _serve_forever(_run(settings, settings.db_url, api=False, worker=True))


@cli.command()
def migrate(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when migrations are pending; change nothing.")
    ] = False,
) -> None:
    """Apply database migrations as the owner (DB_MIGRATE_URL, else DB_URL, else embedded)."""
    settings = _settings()
    with database_urls(settings) as urls:
        url = urls.migrate
        pending = migrations.pending_revisions(url)
        if check:
            if pending:
                typer.echo(f"{len(pending)} migration(s) pending: {', '.join(pending)}")
                raise typer.Exit(1)
            typer.echo("database schema is up to date")
            return
        migrations.upgrade(url)
        typer.echo(f"applied {len(pending)} migration(s)" if pending else "nothing to apply")
        if settings.secrets_key or not settings.is_production:
            _seal_secrets(url, settings)
        else:
            typer.echo(
                "SECRETS_KEY not set: webhook secrets stored before encryption stay plaintext "
                "until 'amss worker' starts with the key",
                err=True,
            )


@cli.command()
def keys(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write jwt_private.pem and jwt_public.pem into this folder."),
    ] = None,
    bits: Annotated[int, typer.Option(min=2048, max=8192, help="RSA key size.")] = 2048,
    secrets: Annotated[
        bool, typer.Option("--secrets", help="Print a new SECRETS_KEY (Fernet key) instead.")
    ] = False,
) -> None:
    """Generate an RSA key pair for JWT signing (RS256), or a key for SECRETS_KEY."""
    if secrets:
        from amss.kit.secretbox import new_key

        typer.echo(new_key())
        return
    pair = generate_key_pair(bits)
    if out is None:
        typer.echo(pair.private_pem + pair.public_pem, nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out / "jwt_private.pem", out / "jwt_public.pem"
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pair.private_pem)
    public_path.write_text(pair.public_pem)
    typer.echo(f"wrote {private_path} (mode 600) and {public_path}")


secrets_cli = typer.Typer(help="Webhook signing secrets at rest.", no_args_is_help=True)
cli.add_typer(secrets_cli, name="secrets")


@secrets_cli.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every webhook secret with the first key of SECRETS_KEY (after adding a key)."""
    from amss.kit.secretbox import secret_box
    from amss.webhooks.service import rotate_secrets

    settings = _settings()

    async def run(url: str) -> int:
        database = Database.connect(url, pool_size=1)
        try:
            return await rotate_secrets(database, secret_box(settings))
        finally:
            await database.dispose()

    with database_urls(settings) as urls:
        count = asyncio.run(run(urls.app))
    typer.echo(f"re-encrypted {count} webhook secret(s) with the first key of SECRETS_KEY")


def main() -> None:
    try:
        cli()
    except ConfigurationError as error:
        print(f"amss: {error}", file=sys.stderr)
        raise SystemExit(2) from None
