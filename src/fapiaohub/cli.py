"""The `fapiaohub` command: serve, workers, the demo, imports and exports, tenants, unify, migrations."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from fapiaohub.store.engine import make_engine, upgrade


class _Cli(typer.Typer):
    """The command with a top-level handler: any failure is one line on stderr and exit status 1;
    ``--debug`` shows the traceback instead."""

    debug = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the whole point: no traceback unless --debug
            if self.debug:
                raise
            err_console.print(f"[red]error:[/red] {escape(one_line(exc))}", soft_wrap=True)
            sys.exit(1)


def one_line(exc: BaseException) -> str:
    """What went wrong, on one line, for a person: the database's own message for database errors."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from fapiaohub.config import SettingsError

    if isinstance(exc, SettingsError):
        return str(exc)
    if isinstance(exc, DBAPIError):
        detail = " ".join(str(exc.orig).split()) if exc.orig is not None else type(exc).__name__
        return f"database: {detail}"
    if isinstance(exc, SQLAlchemyError):
        return f"database: {' '.join(str(exc).split())}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    text = " ".join(str(exc).split())
    # not a failure we know how to explain: say so, and how to see more
    return f"{type(exc).__name__}: {text} (`fapiaohub --debug …` shows the traceback)"


app = _Cli(help="fapiaohub: a self-hosted invoice data hub speaking the Ekuaibao invoice API.",
           no_args_is_help=True, pretty_exceptions_enable=False)
tenant_app = typer.Typer(help="Corporations (tenants) and their API keys.", no_args_is_help=True)
taxpayer_app = typer.Typer(help="Taxpayers (纳税人) of a corporation.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
unify_app = typer.Typer(help="Unified invoicing (统一开票): platforms and their batches.", no_args_is_help=True)
unify_corp_app = typer.Typer(help="Unify corporations (统一开票方).", no_args_is_help=True)
unify_app.add_typer(unify_corp_app, name="corporation")
user_app = typer.Typer(help="Console users: people who sign in to /console (admin or viewer).", no_args_is_help=True)
app.add_typer(user_app, name="user")
sandbox_app = typer.Typer(help="The sandbox tax bureau, for integrators' tests.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(unify_app, name="unify")
app.add_typer(tenant_app, name="tenant")
app.add_typer(taxpayer_app, name="taxpayer")
app.add_typer(db_app, name="db")
task_app = typer.Typer(help="Collection tasks: list, show (every rejected and skipped record), cancel, revert.",
                       no_args_is_help=True)
app.add_typer(task_app, name="task")
secrets_app = typer.Typer(help="The key that seals stored secrets (FAPIAOHUB_SECRET_KEY).", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (sqlite:///file.db or postgresql://…); "
                 "default $FAPIAOHUB_DATABASE_URL, else sqlite:///fapiaohub.db"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
LogFormatOption = Annotated[
    str | None, typer.Option("--log-format", help="plain or json (one JSON object per line); "
                             "default $FAPIAOHUB_LOG_FORMAT, else plain")]


@app.callback()
def main_options(
    config_file: Annotated[
        Path | None, typer.Option("--config", help="Settings file (FAPIAOHUB_…=value lines, like .env); "
                                  "the environment overrides it. Default ./.env when present.")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback when a command fails.")] = False,
) -> None:
    """Options of every command; the settings are checked here, before the command runs."""
    from fapiaohub import config  # pydantic-settings: imported when a command runs, not for --help

    _Cli.debug = debug
    if config_file is not None:
        # the environment carries it to the server processes uvicorn starts
        os.environ[config.CONFIG_ENV] = str(config_file.resolve())
    config.load_settings()  # a bad setting stops here, with one line naming it


def _log_format(flag: str | None) -> str:
    from fapiaohub import config

    if flag is not None and flag not in ("plain", "json"):
        _fail(f"--log-format must be plain or json, not {flag!r}")
    chosen = flag or config.load_settings().log_format
    os.environ["FAPIAOHUB_LOG_FORMAT"] = chosen  # for the server processes
    return chosen


def _engine(db: str | None) -> Engine:
    from fapiaohub import config

    engine = make_engine(config.database_url(db))
    upgrade(engine)
    return engine


def _fail(message: str) -> NoReturn:
    # soft_wrap: one line per error even when stderr is a pipe; escape: file names may hold [ ]
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _print_record(kind: str, record: dict[str, Any]) -> None:
    where = ", ".join(str(part) for part in (record["file"], record["sheet"], record["row"]) if part)
    console.print(f"  {kind} {where}: {record['reason']}", markup=False, soft_wrap=True)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the schema to the latest version."""
    from fapiaohub import config

    engine = make_engine(config.database_url(db))
    upgrade(engine)
    console.print(f"schema is up to date on {engine.url.render_as_string()}")


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Option("--name", help="Corporation name.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a corporation and print its corpId, appKey and appSecurity (shown only once)."""
    from fapiaohub.auth.service import create_tenant

    if not name.strip():
        _fail("--name must not be empty")
    with _engine(db).begin() as conn:
        creds = create_tenant(conn, name.strip())
    out = {"corpId": creds.corp_id, "appKey": creds.app_key, "appSecurity": creds.app_security}
    if as_json:
        _print_json(out)
        return
    for key, value in out.items():
        console.print(f"{key:12} {value}")
    console.print("[yellow]appSecurity is stored hashed and cannot be shown again.[/yellow]")


@taxpayer_app.command("add")
def taxpayer_add(
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    nsrsbh: Annotated[str, typer.Option("--nsrsbh", help="纳税人识别号 (统一社会信用代码).")],
    name: Annotated[str, typer.Option("--name", help="Taxpayer name.")],
    no_collection: Annotated[
        bool, typer.Option("--no-collection", help="Register with 全量采集 switched off.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a taxpayer of a corporation, with invoice collection on unless --no-collection."""
    from fapiaohub.domain.validation import classify_taxpayer_id
    from fapiaohub.store.taxpayers import add_taxpayer

    nsrsbh = nsrsbh.strip().upper()
    kind = classify_taxpayer_id(nsrsbh)
    if kind == "invalid":
        _fail(f"--nsrsbh {nsrsbh!r} is not a valid 统一社会信用代码 or older 15/17/20-character tax id")
    engine = _engine(db)
    try:
        with engine.begin() as conn:
            _require_corporation(conn, corp)
            tp = add_taxpayer(conn, corp, nsrsbh, name.strip(), collection_enabled=not no_collection)
    except IntegrityError:
        _fail(f"taxpayer {nsrsbh} is already registered for corporation {corp}")
    out = {"corpId": tp.corp_id, "nsrsbh": tp.nsrsbh, "name": tp.name,
           "collectionEnabled": tp.collection_enabled}
    if as_json:
        _print_json(out)
        return
    if kind == "legacy":
        err_console.print(f"[yellow]note:[/yellow] {nsrsbh} is an older (non-USCC) tax id")
    console.print(f"registered {tp.nsrsbh} {tp.name} for {tp.corp_id}"
                  f" (collection {'on' if tp.collection_enabled else 'off'})")


@taxpayer_app.command("channel")
def taxpayer_channel(
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    nsrsbh: Annotated[str, typer.Option("--nsrsbh", help="The taxpayer.")],
    channel: Annotated[str, typer.Option("--channel", help="files (default), upstream, or sandbox (invented "
                                                          "invoices: test taxpayers only).")],
    db: DbOption = None,
) -> None:
    """Set how the taxpayer's collection tasks without a source collect."""
    from fapiaohub.store.taxpayers import CHANNELS, set_channel

    if channel not in CHANNELS:
        _fail(f"--channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    engine = _engine(db)
    with engine.begin() as conn:
        if not set_channel(conn, corp, nsrsbh, channel):
            _fail(f"taxpayer {nsrsbh} is not registered for corporation {corp}")
    console.print(f"tasks of {nsrsbh} without a source now use the {channel} channel")
    if channel == "sandbox":
        err_console.print("[yellow]note:[/yellow] sandbox tasks write invented invoices (flagged "
                          "沙箱发票（非真实数据）) into this taxpayer's months")


@task_app.command("revert")
def task_revert(
    task_id: Annotated[str, typer.Argument(help="The task to undo (its taskId).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Undo a finished task: delete the invoices it inserted, restore those it changed."""
    from fapiaohub.errors import BusinessError
    from fapiaohub.tasks import repository

    engine = _engine(db)
    with engine.connect() as conn:
        corp = repository.task_corporation(conn, task_id)
    if corp is None:
        _fail(f"no task {task_id}")
    try:
        with engine.begin() as conn:
            result = repository.revert_task(conn, corp, task_id)
    except BusinessError as err:
        _fail(err.message)
    if as_json:
        _print_json(result)
        return
    console.print(f"{result['message']} (recorded as task {result['taskId']})")


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a new key for FAPIAOHUB_SECRET_KEY (keep it outside the database and its backups)."""
    from fapiaohub.sealing import new_key

    typer.echo(new_key())


@secrets_app.command("rotate")
def secrets_rotate(db: DbOption = None) -> None:
    """Re-seal every stored secret under FAPIAOHUB_SECRET_KEY; old keys in FAPIAOHUB_OLD_SECRET_KEYS
    open what they sealed. Afterwards the old keys can be dropped."""
    from fapiaohub import config
    from fapiaohub.sealing import Sealer, SealError
    from fapiaohub.tasks import repository

    settings = config.load_settings(db)
    if not settings.secret_key:
        _fail("FAPIAOHUB_SECRET_KEY is not set")
    try:
        sealer = Sealer(settings.secret_key, settings.old_secret_keys)
    except ValueError as exc:
        _fail(str(exc))
    engine = _engine(db)
    try:
        with engine.begin() as conn:
            count = repository.reseal_options(conn, sealer.rotate)
    except SealError as exc:
        _fail(f"{exc}: list the key that sealed it in FAPIAOHUB_OLD_SECRET_KEYS")
    console.print(f"re-sealed {count} stored secrets under the current key")


def _require_corporation(conn: Connection, corp: str) -> None:
    from fapiaohub.auth.repository import corporation_exists

    if not corporation_exists(conn, corp):
        _fail(f"no corporation with corpId {corp!r} (create one with `fapiaohub tenant create`)")


@user_app.command("add")
def user_add(
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    name: Annotated[str, typer.Option("--name", help="Sign-in name (unique within the corporation).")],
    role: Annotated[str, typer.Option("--role", help="admin (everything) or viewer (read only).")] = "viewer",
    set_password: Annotated[
        bool, typer.Option("--password", help="Type the password at a hidden prompt instead of printing one.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Create a console user; prints a one-time password unless --password prompts for one."""
    from fapiaohub.console import repository, users

    name = name.strip()
    if role not in users.ROLES:
        _fail(f"--role must be one of {', '.join(users.ROLES)}, not {role!r}")
    if not name or len(name) > 64:
        _fail("--name must be 1 to 64 characters")
    password = _ask_password() if set_password else users.new_password()
    engine = _engine(db)
    try:
        with engine.begin() as conn:
            _require_corporation(conn, corp)
            repository.add_user(conn, corp, name, users.hash_password(password), role)
    except IntegrityError:
        _fail(f"user {name!r} already exists in corporation {corp}")
    console.print(f"created {role} {escape(name)} of {corp}")
    if not set_password:
        console.print(f"one-time password: {password}", markup=False, highlight=False)
        console.print("[yellow]it is stored hashed and cannot be shown again; change it with "
                      "`fapiaohub user password`.[/yellow]")


def _ask_password() -> str:
    from fapiaohub.console import users

    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    problem = users.check_password_rules(password)
    if problem:
        _fail(problem)
    return str(password)


@user_app.command("list")
def user_list(
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a corporation's console users."""
    from fapiaohub.console import repository

    with _engine(db).connect() as conn:
        _require_corporation(conn, corp)
        rows = repository.list_users(conn, corp)
    out = [{"name": r.name, "role": r.role, "disabled": r.disabled, "failedAttempts": r.failed_attempts,
            "lockedUntil": r.locked_until.isoformat() if r.locked_until else None} for r in rows]
    if as_json:
        _print_json(out)
        return
    table = Table("name", "role", "state", "failed sign-ins")
    for item in out:
        state = "disabled" if item["disabled"] else ("locked" if item["lockedUntil"] else "active")
        table.add_row(escape(str(item["name"])), str(item["role"]), state, str(item["failedAttempts"]))
    console.print(table)


@user_app.command("disable")
def user_disable(
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    name: Annotated[str, typer.Option("--name", help="The user.")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again instead.")] = False,
    db: DbOption = None,
) -> None:
    """Disable a console user (their sessions end at once), or --enable them again."""
    from fapiaohub.console import repository

    with _engine(db).begin() as conn:
        if repository.set_disabled(conn, corp, name, not enable) is None:
            _fail(f"no user {name!r} in corporation {corp}")
    console.print(f"{escape(name)} is {'enabled' if enable else 'disabled'}")


@user_app.command("password")
def user_password(
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    name: Annotated[str, typer.Option("--name", help="The user.")],
    set_password: Annotated[
        bool, typer.Option("--password", help="Type the password at a hidden prompt instead of printing one.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Reset a console user's password (prints a one-time one); clears a lock-out and ends their sessions."""
    from fapiaohub.console import repository, users

    password = _ask_password() if set_password else users.new_password()
    with _engine(db).begin() as conn:
        if not repository.set_password(conn, corp, name, users.hash_password(password)):
            _fail(f"no user {name!r} in corporation {corp}")
    console.print(f"password of {escape(name)} changed")
    if not set_password:
        console.print(f"one-time password: {password}", markup=False, highlight=False)


@unify_corp_app.command("add")
def unify_corporation_add(
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation invoiced.")],
    code: Annotated[str, typer.Option("--code", help="The platform's code, e.g. its tax id.")],
    name: Annotated[str, typer.Option("--name", help="The platform's name.")],
    channel: Annotated[str, typer.Option("--channel", help="Channel, as Ekuaibao lists it.")] = "OFFLINE",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a unify corporation (or update the one with this code); prints its id."""
    from fapiaohub.unify.service import upsert_corporation

    if not code.strip() or not name.strip():
        _fail("--code and --name must not be empty")
    with _engine(db).begin() as conn:
        _require_corporation(conn, corp)
        item = upsert_corporation(conn, corp, code=code.strip(), name=name.strip(), channel=channel)
    if as_json:
        _print_json(item)
    else:
        console.print(f"unify corporation {item['id']}  {item['name']} (version {item['version']})")


@unify_app.command("import")
def unify_import(
    path: Annotated[Path, typer.Argument(help="BATCHES.json (format in docs/api.md).")],
    corp: Annotated[str | None, typer.Option("--corp", help="corpId; overrides the file's corpId.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Push every batch of a JSON file, all or nothing."""
    from fapiaohub.unify.batch_file import BatchFileError, import_batch_file

    try:
        results = import_batch_file(_engine(db), path, corp)
    except BatchFileError as exc:
        _fail(str(exc))
    if as_json:
        _print_json(results)
        return
    for result in results:
        console.print(f"batch {result['batchNo']} → id {result['id']}, updateTime {result['updateTime']}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (use PostgreSQL for more than 1).")] = 1,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run collection tasks in the server processes.")
    ] = False,
    db: DbOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Migrate the database, then serve the API (each process also runs a collection worker)."""
    from fapiaohub import config

    url = config.database_url(db)
    upgrade(make_engine(url))
    _run_server(url, host, port, workers, embedded_worker=not no_worker, log_format=_log_format(log_format))


def _run_server(url: str, host: str, port: int, workers: int, *, embedded_worker: bool = True,
                log_format: str = "plain") -> None:
    import tempfile

    import uvicorn

    from fapiaohub.logs import log_config

    # server processes build their own app from the environment
    os.environ["FAPIAOHUB_DATABASE_URL"] = url
    os.environ["FAPIAOHUB_EMBEDDED_WORKER"] = "1" if embedded_worker else "0"
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # several processes: prometheus-client's multiprocess mode, so /metrics adds up all of them
        # (a fresh directory each start: values of a previous run must not be counted again)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fapiaohub-metrics-")
    uvicorn.run(
        "fapiaohub.api.app:create_app", factory=True, host=host, port=port, workers=workers,
        log_config=log_config(log_format), server_header=False,
    )


@app.command()
def worker(
    db: DbOption = None,
    lease: Annotated[float, typer.Option(help="Seconds a claimed task stays ours without a heartbeat.")] = 30.0,
    poll: Annotated[float, typer.Option(help="Seconds to wait when the queue is empty.")] = 1.0,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve this worker's Prometheus metrics on this port.")
    ] = None,
    log_format: LogFormatOption = None,
) -> None:
    """Run a standalone collection worker (several may share one PostgreSQL)."""
    import logging.config
    import signal
    import threading

    from fapiaohub import config
    from fapiaohub.logs import log_config
    from fapiaohub.tasks.worker import Worker

    logging.config.dictConfig(log_config(_log_format(log_format)))
    settings = config.load_settings(db)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    Worker(_engine(settings.database_url), lease_seconds=lease, poll_seconds=poll, settings=settings).run(stop)


@app.command("import")
def import_files(
    files: Annotated[list[Path], typer.Argument(help="Bureau export .xlsx, 数电 XML, OFD or PDF files.")],
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    nsrsbh: Annotated[str, typer.Option("--nsrsbh", help="The collecting taxpayer.")],
    jxxbz: Annotated[str, typer.Option("--jxxbz", help="jx: invoices received; xx: issued.")],
    kpyf: Annotated[str | None, typer.Option("--kpyf", help="Only this month (yyyyMM).")] = None,
    lease: Annotated[float, typer.Option(
        "--lease", min=0.5, help="Seconds the import's hold on its task lasts unless renewed (as a worker's)."
    )] = 30.0,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import invoice files as a collection task, here and now; prints what was stored and rejected."""
    import logging

    from fapiaohub.collection.query import check_direction, check_kpyf
    from fapiaohub.errors import BusinessError
    from fapiaohub.tasks import repository
    from fapiaohub.tasks.service import TaskFile, create_file_task
    from fapiaohub.tasks.worker import Worker

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        _fail(f"no such file: {', '.join(missing)}")
    engine = _engine(db)
    # the task is created held by this command's worker: a server's worker polling the same
    # database cannot take it first; if this command dies, the hold runs out after --lease seconds
    worker = Worker(engine, lease_seconds=lease)
    try:
        check_direction(jxxbz)
        month = check_kpyf(kpyf) if kpyf else None
        with engine.begin() as conn:
            _require_corporation(conn, corp)
            new = repository.NewTask(corp, nsrsbh, jxxbz, month, None, "files", {})
            task = create_file_task(conn, new, lambda _: [TaskFile(p.name, str(p.resolve()), p.stat().st_size)
                                                          for p in files], claimed_by=worker.holding)
    except BusinessError as err:
        _fail(f"{err.message} (code {err.code})")
    if task["state"] != repository.PROCESSING:
        _fail(f"task {task['taskId']} is {task['state']}: {task['message']}")
    with Progress(TextColumn("importing {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("files, {task.fields[records]} records read"),
                  console=err_console, disable=as_json or not err_console.is_terminal) as bar:
        bar_task = bar.add_task("import", total=len(files), name=files[0].name, records=0)

        def progress(name: str, records: int, done: bool) -> None:
            if done:
                bar.update(bar_task, advance=1)
            else:
                bar.update(bar_task, name=name, records=records)

        # the command prints the outcome itself: the worker's outcome log line would repeat it
        logging.getLogger("fapiaohub.worker").setLevel(logging.ERROR)
        try:
            worker.run_held(task["taskId"], progress)
        except KeyboardInterrupt:  # Ctrl+C: end the task now rather than when its lease runs out
            worker.abandon(task["taskId"], "处理中断：导入被用户中止")
            raise
    with engine.connect() as conn:
        result = repository.get_task(conn, corp, task["taskId"])
    if as_json:
        _print_json(result)
    else:
        counts = result["counts"]
        console.print(f"task {result['taskId']}: {result['state']} ({result['code']}) {result['message']}")
        console.print(f"inserted {counts['inserted']}, updated {counts['updated']}, unchanged {counts['unchanged']}, "
                      f"rejected {counts['rejected']}, skipped {counts['skipped']}")
        for rejection in result["rejections"][:20]:
            _print_record("rejected", rejection)
        if counts["rejected"] > 20:
            console.print(f"  … and {counts['rejected'] - 20} more: fapiaohub task show {result['taskId']} --corp {corp}")
    if result["state"] != repository.PROCESSED:
        raise typer.Exit(1)


@sandbox_app.command("set")
def sandbox_set(
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    nsrsbh: Annotated[str, typer.Option("--nsrsbh", help="The taxpayer.")],
    fail_code: Annotated[
        str | None, typer.Option("--fail-code", help="End its tasks with this seed code (4001, 4003, 4043 …).")
    ] = None,
    invoices: Annotated[int, typer.Option("--invoices", min=0, help="Invoices per month when it succeeds.")] = 40,
    db: DbOption = None,
) -> None:
    """Mark a taxpayer sandbox and configure how the sandbox tax bureau answers its tasks."""
    from fapiaohub.store.taxpayers import find_taxpayer, set_channel
    from fapiaohub.tasks.sources import set_sandbox_behaviour

    engine = _engine(db)
    with engine.connect() as conn:
        tp = find_taxpayer(conn, corp, nsrsbh)
    if tp is None:
        _fail(f"taxpayer {nsrsbh} is not registered for corporation {corp}")
    try:
        set_sandbox_behaviour(engine, tp.id, fail_code, invoices)
    except ValueError as exc:
        _fail(str(exc))
    with engine.begin() as conn:  # configuring the sandbox for a taxpayer marks it a sandbox taxpayer
        set_channel(conn, corp, nsrsbh, "sandbox")
    outcome = f"fail with {fail_code}" if fail_code else f"succeed with {invoices} invoices a month"
    console.print(f"sandbox tasks of {nsrsbh} will {outcome}")


@app.command("export")
def export_command(
    nsrsbh: Annotated[str, typer.Option("--nsrsbh", help="The taxpayer.")],
    jxxbz: Annotated[str, typer.Option("--jxxbz", help="jx: invoices received; xx: issued.")],
    first: Annotated[str, typer.Option("--from", help="First month, yyyyMM.")],
    last: Annotated[str, typer.Option("--to", help="Last month, yyyyMM.")],
    fmt: Annotated[str, typer.Option("--format", help="xlsx, csv or jsonl (docs/exports.md).")],
    out: Annotated[str, typer.Option("--out", help="File to write (replaced only when complete), or - for stdout.")],
    corp: Annotated[str | None, typer.Option("--corp", help="corpId (local store).")] = None,
    remote: Annotated[str | None, typer.Option("--remote", help="Base URL of a compatible server.")] = None,
    app_key: Annotated[str | None, typer.Option("--app-key", help="appKey for --remote.")] = None,
    app_security: Annotated[str | None, typer.Option("--app-security", help="appSecurity for --remote.")] = None,
    db: DbOption = None,
) -> None:
    """Export a taxpayer's invoices of a range of months, from the local store or a remote server."""
    import sys

    from sqlalchemy.exc import SQLAlchemyError

    from fapiaohub.client import FapiaohubError
    from fapiaohub.collection.query import check_direction, check_kpyf
    from fapiaohub.errors import BusinessError
    from fapiaohub.exports import FORMATS, STDOUT, export, local_source, remote_source

    try:
        check_direction(jxxbz)
        start, end = check_kpyf(first), check_kpyf(last)
    except BusinessError as err:
        _fail(err.message)
    if start > end:
        _fail(f"--from {first} is after --to {last}")
    if fmt not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)}")
    to_stdout = out == STDOUT
    if to_stdout and fmt == "xlsx" and sys.stdout.isatty():
        _fail("an xlsx workbook is binary: redirect standard output (--out - > file.xlsx) or give --out FILE")
    if not to_stdout:
        target = Path(out)
        if target.is_dir():
            _fail(f"--out {out} is a directory; give a file name")
        if not target.parent.is_dir():
            _fail(f"--out {out}: directory {target.parent} does not exist")
        if not os.access(target.parent, os.W_OK):
            _fail(f"--out {out}: directory {target.parent} is not writable")
    if not remote and not corp:
        _fail("give --corp (local store) or --remote with --app-key and --app-security")
    if remote and not (app_key and app_security):
        _fail("--remote needs --app-key and --app-security")
    try:
        if remote:
            assert app_key
            assert app_security
            source = remote_source(remote, app_key, app_security, nsrsbh, jxxbz, start, end)
        else:
            assert corp
            source = local_source(_engine(db), corp, nsrsbh, jxxbz, start, end)
        # progress on a terminal only; with --out - the data has stdout, so messages go to stderr
        with Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TextColumn("invoices"),
                      TimeRemainingColumn(), console=err_console, transient=True,
                      disable=not err_console.is_terminal) as bar:
            task = bar.add_task("export", total=source.total)
            count = export(source.records, fmt, out, progress=lambda n: bar.update(task, completed=n))
    except BrokenPipeError:
        # the reader of --out - went away (| head): stop writing; point stdout at nothing so that the
        # interpreter's final flush does not print a second error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _fail("export stopped: the reader of standard output closed it")
    except (LookupError, FapiaohubError, OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        _fail(f"export failed, no file written: {detail}" if not to_stdout else f"export failed: {detail}")
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        _fail(f"export failed (database): {detail}")
    except KeyboardInterrupt:
        _fail("export interrupted" + ("" if to_stdout else ", no file written"))
    (err_console if to_stdout else console).print(
        f"wrote {count} invoices to {'standard output' if to_stdout else escape(out)}", soft_wrap=True)


@app.command()
def demo(
    db: DbOption = None,
    load_only: Annotated[bool, typer.Option("--load-only", help="Load the demo data and exit.")] = False,
    as_json: JsonOption = False,
    invoices: Annotated[
        int | None, typer.Option("--invoices", min=1, help="Load this many invoices (default 3000 once).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    force: Annotated[
        bool, typer.Option("--force", help="Add the demo even to a database that holds other corporations.")
    ] = False,
    write_samples: Annotated[
        Path | None, typer.Option("--write-samples", help="Only write sample input files (bureau export xlsx, "
                                  "数电 XML) into this directory, and exit.")
    ] = None,
) -> None:
    """Create the database if missing, load the demo corporation, print how to call it, and serve."""
    from fapiaohub import config
    from fapiaohub.auth.repository import other_corporations
    from fapiaohub.console.users import ensure_user
    from fapiaohub.demo.generator import DEMO_CORP_ID
    from fapiaohub.demo.load import DEFAULT_INVOICES, load_demo

    if write_samples is not None:
        _write_samples(write_samples)
        return
    url = config.database_url(db)
    engine = _engine(url)
    with engine.connect() as conn:
        others = other_corporations(conn, DEMO_CORP_ID)
    if others and not force:
        _fail(f"{engine.url.render_as_string()} holds {others} other corporation(s): the demo tenant's "
              "credentials are public, so it is not added to a database in use. Give the demo its own "
              "database (--db sqlite:///demo.db), or --force")
    quiet = as_json or not console.is_terminal
    with Progress(
        TextColumn("loading demo invoices"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err_console, disable=quiet,
    ) as bar:
        task = bar.add_task("load", total=invoices or DEFAULT_INVOICES)
        summary = load_demo(engine, invoices, progress=lambda n: bar.advance(task, n))
    with engine.begin() as conn:
        ensure_user(conn, summary.corp_id, summary.console_user, summary.console_password, "admin")
    engine.dispose()
    if as_json:
        _print_json({"corpId": summary.corp_id, "appKey": summary.app_key,
                     "appSecurity": summary.app_security, "taxpayers": summary.taxpayers,
                     "console": {"user": summary.console_user, "password": summary.console_password}})
    else:
        _print_demo(summary, host, port, serving=not load_only)
    if not load_only:
        _run_server(url, host, port, 1)


def _write_samples(directory: Path) -> None:
    from fapiaohub.demo.generator import demo_taxpayers
    from fapiaohub.demo.samples import SAMPLE_MONTH, write_samples

    if directory.exists() and not directory.is_dir():
        _fail(f"--write-samples {directory} is a file, not a directory")
    written = write_samples(directory)
    for sample in written:
        console.print(f"wrote {escape(str(sample.path))}: {sample.what}", soft_wrap=True)
    nsrsbh = demo_taxpayers()[0].nsrsbh
    console.print(f"\nImport them into a corporation that has taxpayer {nsrsbh} (`fapiaohub taxpayer add`):\n"
                  f"  fapiaohub import {shlex.quote(str(directory))}/* --corp CORP_ID --nsrsbh {nsrsbh} "
                  f"--jxxbz jx --kpyf {SAMPLE_MONTH}", soft_wrap=True, markup=False, highlight=False)


def _print_demo(summary: Any, host: str, port: int, *, serving: bool) -> None:
    from fapiaohub.demo.generator import DEMO_MONTHS

    table = Table(title="fapiaohub demo", show_header=False)
    table.add_row("corpId", summary.corp_id)
    table.add_row("appKey", summary.app_key)
    table.add_row("appSecurity", summary.app_security)
    for tp in summary.taxpayers:
        table.add_row("taxpayer", f"{tp['nsrsbh']}  {tp['name']}")
    table.add_row("invoices", f"{summary.invoices_total} ({summary.invoices_loaded} loaded now)")
    table.add_row("console", f"http://{host}:{port}/console  corpId {summary.corp_id}, "
                  f"user {summary.console_user}, password {summary.console_password}")
    console.print(table)
    base = f"http://{host}:{port}"
    auth = json.dumps({"appKey": summary.app_key, "appSecurity": summary.app_security})
    query = json.dumps({
        "corpId": summary.corp_id, "nsrsbh": summary.taxpayers[0]["nsrsbh"], "fplx": "81",
        "kpyf": str(DEMO_MONTHS[0]), "jxxbz": "jx", "page": {"pageSize": 10, "currentPage": 1},
    }, ensure_ascii=False)
    token = (f"TOKEN=$(curl -s -X POST {base}/api/openapi/v1/auth/getAccessToken "
             f"-H 'Content-Type: application/json' -d {shlex.quote(auth)} "
             "| python3 -c 'import sys,json; print(json.load(sys.stdin)[\"value\"][\"accessToken\"])')")
    call = (f"curl -s -X POST \"{base}/api/openapi/v2/invoice/v2/getInvoiceCollectionData"
            f"?accessToken=$TOKEN\" -H 'Content-Type: application/json' -d {shlex.quote(query)}")
    console.print("\nTry it (paste into another terminal):" if serving else
                  "\nWith the server running (fapiaohub serve, same database), try:", style="bold")
    # soft_wrap keeps each command on one line, so it pastes as it is
    console.print(f"{token} && {call}", soft_wrap=True, markup=False, highlight=False)
    if serving:
        console.print(f"\nServing on {base} (API docs at {base}/docs); Ctrl+C stops.\n")



@task_app.command("list")
def task_list(
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    nsrsbh: Annotated[str, typer.Option("--nsrsbh", help="The taxpayer.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """A taxpayer's latest 100 tasks, newest first."""
    from fapiaohub.errors import BusinessError
    from fapiaohub.tasks import repository

    try:
        with _engine(db).connect() as conn:
            tasks = repository.list_tasks(conn, corp, nsrsbh)
    except BusinessError as err:
        _fail(f"{err.message} (code {err.code})")
    if as_json:
        _print_json(tasks)
        return
    table = Table("source", "jxxbz", "kpyf", "state", "inserted", "updated", "rejected", "message")
    table.columns.insert(0, Column("taskId", no_wrap=True))
    for task in tasks:
        counts = task["counts"]
        table.add_row(task["taskId"], task["source"], task["jxxbz"], task["kpyf"], task["state"],
                      str(counts["inserted"]), str(counts["updated"]), str(counts["rejected"]), escape(task["message"]))
    console.print(table)


@task_app.command("show")
def task_show(
    task_id: Annotated[str, typer.Argument(help="The task's id.")],
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """A task's state and counts, and every record it rejected or skipped (file, sheet, row, reason)."""
    from fapiaohub.errors import BusinessError
    from fapiaohub.tasks import repository

    try:
        with _engine(db).connect() as conn:
            task = repository.get_task(conn, corp, task_id)
            records = repository.task_records(conn, corp, task_id)
    except BusinessError as err:
        _fail(f"{err.message} (code {err.code})")
    if as_json:
        _print_json({**task, "records": records})
        return
    counts = task["counts"]
    console.print(f"task {task['taskId']} ({task['source']}, {task['nsrsbh']} {task['jxxbz']} {task['kpyf']}): "
                  f"{task['state']} ({task['code']}) {task['message']}", markup=False, soft_wrap=True)
    console.print(f"inserted {counts['inserted']}, updated {counts['updated']}, unchanged {counts['unchanged']}, "
                  f"rejected {counts['rejected']}, skipped {counts['skipped']}")
    for record in records:
        _print_record(record["kind"], record)


@task_app.command("cancel")
def task_cancel(
    task_id: Annotated[str, typer.Argument(help="The task's id.")],
    corp: Annotated[str, typer.Option("--corp", help="corpId of the corporation.")],
    db: DbOption = None,
) -> None:
    """Cancel a task that no worker has started."""
    from fapiaohub.errors import BusinessError
    from fapiaohub.tasks import repository

    try:
        with _engine(db).begin() as conn:
            task = repository.cancel_task(conn, corp, task_id)
    except BusinessError as err:
        _fail(err.message)
    console.print(f"task {task['taskId']}: {task['state']}, {task['message']}", markup=False)

if __name__ == "__main__":
    app()
