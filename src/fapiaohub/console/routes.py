"""The console's pages under /console: sign-in, overview, ledger, invoice, tasks, taxpayers (server-rendered)."""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from fapiaohub import wire
from fapiaohub.console import i18n, ledger, repository, users
from fapiaohub.console.users import ConsoleUser
from fapiaohub.domain.codes import DIRECTIONS, FPLX, FPZT, SPECIAL_KEYS, TDYWLX, fplx_name
from fapiaohub.domain.invoice import Invoice
from fapiaohub.domain.validation import classify_taxpayer_id
from fapiaohub.errors import BusinessError
from fapiaohub.exports import export
from fapiaohub.store.taxpayers import add_taxpayer
from fapiaohub.tasks import repository as task_repository
from fapiaohub.tasks.routes import MAX_FILES, _store_uploads, upload_form

HERE = Path(__file__).parent
COOKIE = "fapiaohub_console"
LOGIN_COOKIE = "fapiaohub_console_login"  # double-submit CSRF token of the sign-in form (no session yet)
CSRF_HEADER = "x-csrf-token"
CST = timezone(timedelta(hours=8), "CST")

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))


class SignInRequired(Exception):  # noqa: N818 - what the page needs, not what went wrong
    """No live session: pages redirect to the sign-in form."""


class PageError(Exception):
    """A console error shown as a page (or JSON for the upload's fetch), never a stack trace."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def install(app: FastAPI) -> None:
    """Add the console to the API app: its pages, static files and error pages."""
    app.include_router(router)
    app.state.ledger_cache = ledger.VersionedCache()
    app.mount("/console/static", StaticFiles(directory=str(HERE / "static")), name="console-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        if request.method != "GET" or request.headers.get(CSRF_HEADER):
            return JSONResponse({"error": "请先登录"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/console/login?{urlencode({'next': target})}", status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        if request.headers.get(CSRF_HEADER):
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return templates.TemplateResponse(request, "error.html", {"status": exc.status, "message": exc.message,
                                                                   "user": None, "lang": i18n.language(request.cookies)}, status_code=exc.status)


# ---- who is asking: the one place that scopes the console to a corporation --------------------------


def current_user(request: Request) -> ConsoleUser:
    """The signed-in user; every console query takes ``user.corp_id`` from here and nowhere else."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired()
    with _engine(request).connect() as conn:
        user = users.session_user(conn, token)
    if user is None:
        raise SignInRequired()
    request.state.corp_id = user.corp_id
    return user


def admin_user(user: ConsoleUser = Depends(current_user)) -> ConsoleUser:  # noqa: B008
    """Admins only: a viewer's request is refused here, whatever the page showed."""
    if not user.is_admin:
        raise PageError(403, "只读用户（viewer）无权执行此操作")
    return user


def check_csrf(user: ConsoleUser, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(sent, user.csrf_token):
        raise PageError(403, "表单已过期或来源无效（CSRF校验失败），请刷新页面后重试")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _render(request: Request, name: str, user: ConsoleUser | None, status: int = 200, **context: Any) -> Response:
    context.update(user=user, active=name.removesuffix(".html"), lang=i18n.language(request.cookies))
    return templates.TemplateResponse(request, name, context, status_code=status)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


# ---- formatting helpers available to every template ----------------------------------------------


def money(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):,.2f}"


def month_label(kpyf: int) -> str:
    return f"{kpyf // 100}-{kpyf % 100:02d}"


def epoch_ms(value: int | None) -> str:
    """Task times (epoch ms, as the API gives them) in China Standard Time, where the users are."""
    if not value:
        return ""
    return datetime.fromtimestamp(value / 1000, CST).strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["ms"] = epoch_ms
templates.env.filters["money"] = money
templates.env.filters["month"] = month_label
# 特定要素 keys → the first (shortest-listed) label real files give them
SPECIAL_LABELS: dict[str, str] = {}
for _label, _key in SPECIAL_KEYS.items():
    SPECIAL_LABELS.setdefault(_key, _label)
TASK_STATES = {"toProcess": "待处理", "processing": "处理中", "processed": "已完成", "failed": "失败",
               "disabled": "未开通", "notSupported": "不支持"}
templates.env.globals.update(t=i18n.t)
templates.env.globals.update(DIRECTIONS=DIRECTIONS, FPZT=FPZT, fplx_name=lambda c: FPLX.get(c, (c,))[0],
                             SPECIAL_LABELS=SPECIAL_LABELS, TASK_STATES=TASK_STATES)


# ---- sign-in ---------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    # only our own pages: never an absolute URL or //host (an open redirect)
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console/overview"


@router.get("")
@router.get("/")
def console_home() -> Response:
    return RedirectResponse("/console/overview", status_code=303)


@router.get("/lang")
def switch_language(to: str = "zh", next: str | None = None) -> Response:  # noqa: A002
    """The header's language link: remember the choice in the ``lang`` cookie and go back."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(i18n.COOKIE, to if to in i18n.LANGS else "zh", max_age=365 * 24 * 3600, samesite="lax",
                        path="/console")
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None, corp: str = "") -> Response:  # noqa: A002
    return _login_page(request, next, corp, "", 200)


def _login_page(request: Request, target: str | None, corp: str, error: str, status: int) -> Response:
    token = secrets.token_urlsafe(24)
    response = _render(request, "login.html", None, status, csrf=token, next=_safe_next(target), corp=corp,
                       error=error)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request),
                        path="/console")
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    field = {key: str(form.get(key) or "") for key in ("corp", "name", "password", "csrf", "next")}
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    if not field["csrf"] or not hmac.compare_digest(field["csrf"], cookie):
        return _login_page(request, field["next"], field["corp"], "登录表单已过期，请重试", 403)
    if not (field["corp"].strip() and field["name"].strip() and field["password"]):
        return _login_page(request, field["next"], field["corp"], "请填写企业代码、用户名和密码", 400)

    def check() -> tuple[users.SignIn, str | None]:
        with _engine(request).begin() as conn:
            result = users.authenticate(conn, field["corp"].strip(), field["name"].strip(), field["password"])
            token = users.start_session(conn, result.user_id) if result.user_id is not None else None
        return result, token

    result, token = await run_in_threadpool(check)
    if token is None:
        return _login_page(request, field["next"], field["corp"], result.error, 401)
    response = RedirectResponse(_safe_next(field["next"]), status_code=303)
    response.set_cookie(COOKIE, token, max_age=users.SESSION_SECONDS, httponly=True, samesite="lax",
                        secure=_secure(request), path="/console")
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    user = await run_in_threadpool(current_user, request)
    form = await request.form()
    check_csrf(user, str(form.get("csrf") or ""))
    token = request.cookies.get(COOKIE, "")

    def end() -> None:
        with _engine(request).begin() as conn:
            users.end_session(conn, token)

    await run_in_threadpool(end)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# ---- overview --------------------------------------------------------------------------------------


def _months_back(last: int, count: int) -> list[int]:
    year, month = divmod(last, 100)
    result = []
    for _ in range(count):
        result.append(year * 100 + month)
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(result))


def _pick_taxpayer(taxpayers: list[Any], wanted: str | None) -> Any:
    if wanted:
        for tp in taxpayers:
            if str(tp.id) == wanted:
                return tp
        raise PageError(404, f"纳税人 {wanted} 不存在")
    return taxpayers[0] if taxpayers else None


@router.get("/overview")
def overview(request: Request, taxpayer: str | None = None, month: str | None = None,
             user: ConsoleUser = Depends(current_user)) -> Response:  # noqa: B008
    with _engine(request).connect() as conn:
        taxpayers = repository.list_taxpayers(conn, user.corp_id)
        tp = _pick_taxpayer(taxpayers, taxpayer)
        if tp is None:
            return _render(request, "overview.html", user, taxpayers=[], tp=None)
        if month:
            parsed = ledger.parse_month(month)
            if parsed is None:
                raise PageError(400, f"月份（month）应为yyyy-MM：{month}")
            last = parsed[0] * 100 + parsed[1]
        else:
            last = repository.latest_month(conn, user.corp_id, tp.id) or int(datetime.now(UTC).strftime("%Y%m"))
        months = _months_back(last, 12)
        rows = repository.monthly_totals(conn, user.corp_id, tp.id, months[0], months[-1])
        by_fplx = repository.month_split(conn, user.corp_id, tp.id, last, "fplx")
        by_status = repository.month_split(conn, user.corp_id, tp.id, last, "fpzt_dm")
        top = {d: repository.top_counterparties(conn, user.corp_id, tp.id, last, d) for d in ("jx", "xx")}
    empty = {"count": 0, "je": Decimal(0), "se": Decimal(0), "jshj": Decimal(0)}
    table = {(d, m): dict(empty) for d in ("jx", "xx") for m in months}
    for row in rows:
        table[(row.direction, row.kpyf)] = {"count": row.count, "je": row.je, "se": row.se, "jshj": row.jshj}
    chart = {
        "labels": [month_label(m) for m in months],
        "jx": [str(table[("jx", m)]["jshj"]) for m in months],
        "xx": [str(table[("xx", m)]["jshj"]) for m in months],
    }
    return _render(request, "overview.html", user, taxpayers=taxpayers, tp=tp, months=months, table=table,
                   month=last, chart=chart, by_fplx=by_fplx, by_status=by_status, top=top)


# ---- ledger ----------------------------------------------------------------------------------------


def _ledger_query(request: Request, conn: Any, user: ConsoleUser) -> tuple[list[Any], ledger.LedgerQuery]:
    taxpayers = repository.list_taxpayers(conn, user.corp_id)
    query = ledger.parse(request.query_params, {tp.id for tp in taxpayers})
    return taxpayers, query


@router.get("/ledger")
def ledger_page(request: Request, user: ConsoleUser = Depends(current_user)) -> Response:  # noqa: B008
    with _engine(request).connect() as conn:
        taxpayers, query = _ledger_query(request, conn, user)
        taxpayer_ids = [tp.id for tp in taxpayers]
        cache = request.app.state.ledger_cache
        # read before what is cached under it: a value is never older than the version it is kept under
        version = repository.ledger_version(conn, user.corp_id, query.filter)
        counterparties: repository.Counterparties | repository.Unknown = repository.UNKNOWN
        if repository.reads_by_counterparty(query.filter, query.sort):
            counterparties = cache.get(("counterparties", user.corp_id, query.filter, version),
                                       lambda: repository.party_counterparties(conn, user.corp_id, query.filter,
                                                                               taxpayer_ids))
        rows = repository.ledger_page(conn, user.corp_id, query.filter, query.sort, query.after,
                                      ledger.PAGE_SIZE + 1, taxpayer_ids, counterparties)
        totals = cache.get(("totals", user.corp_id, query.filter, version),
                           lambda: repository.ledger_totals(conn, user.corp_id, query.filter))
    more = len(rows) > ledger.PAGE_SIZE
    rows = rows[: ledger.PAGE_SIZE]
    base = urlencode(query.values)
    next_link = (f"/console/ledger?{urlencode({**query.values, 'after': ledger.cursor(rows[-1], query.sort)})}"
                 if more else None)
    return _render(request, "ledger.html", user, taxpayers=taxpayers, q=query.values, errors=query.errors,
                   rows=rows, totals=totals, next_link=next_link, first_link=f"/console/ledger?{base}",
                   paged=query.after is not None, export_query=base, sorts=repository.SORTS,
                   kinds=sorted(FPLX), status_codes=FPZT)


@router.get("/ledger/export")
def ledger_export(request: Request, format: str = "xlsx",  # noqa: A002
                  user: ConsoleUser = Depends(current_user)) -> Response:  # noqa: B008

    if format not in ("xlsx", "csv"):
        raise PageError(400, f"导出格式（format）只能是xlsx或csv：{format}")
    handle, name = tempfile.mkstemp(suffix=f".{format}", prefix="fapiaohub-ledger-")
    os.close(handle)
    try:
        with _engine(request).connect() as conn:
            _, query = _ledger_query(request, conn, user)
            docs = repository.ledger_docs(conn, user.corp_id, query.filter)
            export((Invoice.from_doc(wire.loads(doc)) for doc in docs), format, Path(name))
    except Exception:
        os.unlink(name)
        raise
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    media = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if format == "xlsx"
             else "text/csv; charset=utf-8")
    return FileResponse(name, media_type=media, filename=f"ledger-{stamp}.{format}",
                        background=BackgroundTask(os.unlink, name))


# ---- one invoice -----------------------------------------------------------------------------------

FIELD_LABELS = [
    ("fplx", "发票类型"), ("fpdm", "发票代码"), ("fphm", "发票号码"), ("kprq", "开票日期"), ("fpzt_dm", "发票状态"),
    ("xfsbh", "销方识别号"), ("xfmc", "销方名称"), ("xsfdzdh", "销方地址电话"), ("xsfyhzh", "销方开户行及账号"),
    ("gfsbh", "购方识别号"), ("gfmc", "购方名称"), ("gmfdzdh", "购方地址电话"), ("gmfyhzh", "购方开户行及账号"),
    ("je", "金额"), ("se", "税额"), ("jshj", "价税合计"), ("jym", "校验码"), ("skm", "密码区"), ("bz", "备注"),
    ("kpr", "开票人"), ("skr", "收款人"), ("fhr", "复核人"), ("kjlx", "开具类型"), ("tspz_dm", "特殊票种"),
    ("xhqd_bz", "销货清单标识"), ("kpjh", "开票机号"), ("tslsh", "推送流水号"), ("tdywlx", "特定业务类型"),
    ("xf_sjswjg_dm", "销方省级税务机关"), ("xf_dsswjg_dm", "销方地市税务机关"), ("xf_qxswjg_dm", "销方区县税务机关"),
]


# Invoice.origin: the format the stored values were read from ('' for the API doors, sandbox and upstream)
ORIGINS = {"xlsx": "xlsx（税局导出）", "xml": "xml（数电XML）", "ofd": "ofd", "pdf": "pdf", "": ""}


def _field_value(inv: Invoice, key: str) -> str:
    value = getattr(inv, key)
    if key == "fplx":
        return f"{value} {fplx_name(value)}" if value in FPLX else str(value)
    if key == "fpzt_dm":
        return f"{value} {FPZT.get(value, '')}"
    if key == "tdywlx" and value:
        return f"{value} {TDYWLX.get(value, '')}"
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


@router.get("/invoices/{invoice_id}")
def invoice_page(request: Request, invoice_id: int,
                 user: ConsoleUser = Depends(current_user)) -> Response:  # noqa: B008
    with _engine(request).connect() as conn:
        row = repository.invoice_detail(conn, user.corp_id, invoice_id)
        if row is None:  # another corporation's invoice looks exactly like a missing one
            raise PageError(404, f"发票 {invoice_id} 不存在")
        history = repository.history_of(conn, invoice_id)
        task = repository.origin_task(conn, user.corp_id, row.created_by_task) if row.created_by_task else None
        task_files = repository.files_of(conn, task.id) if task is not None else []
    inv = Invoice.from_doc(wire.loads(row.doc))
    fields = [(label, _field_value(inv, key)) for key, label in FIELD_LABELS if getattr(inv, key) not in ("", None)]
    past = [{"fpzt": f"{h.fpzt_dm} {FPZT.get(h.fpzt_dm, '')}", "replaced_at": h.replaced_at, "task_id": h.task_id,
             "jshj": Invoice.from_doc(wire.loads(h.doc)).jshj} for h in history]
    return _render(request, "invoice.html", user, row=row, inv=inv, fields=fields, flags=wire.loads(row.flags),
                   history=past, task=task, task_files=task_files, origin=ORIGINS.get(inv.origin, inv.origin))


# ---- tasks -----------------------------------------------------------------------------------------


def _task_dict(row: Any) -> dict[str, Any]:
    view = task_repository.task_view(row, row.nsrsbh)
    view["done"] = row.state not in ("toProcess", "processing")
    return view


@router.get("/tasks")
def tasks_page(request: Request, user: ConsoleUser = Depends(current_user)) -> Response:  # noqa: B008
    with _engine(request).connect() as conn:
        rows = repository.list_tasks(conn, user.corp_id)
        taxpayers = repository.list_taxpayers(conn, user.corp_id)
    return _render(request, "tasks.html", user, tasks=[_task_dict(r) for r in rows], taxpayers=taxpayers,
                   max_files=MAX_FILES)


def _task_or_404(request: Request, user: ConsoleUser, task_id: str) -> tuple[dict[str, Any], list[Any]]:
    with _engine(request).connect() as conn:
        row = repository.get_task(conn, user.corp_id, task_id)
        if row is None:
            raise PageError(404, f"任务 {task_id} 不存在")
        return _task_dict(row), repository.files_of(conn, task_id)


@router.get("/tasks/{task_id}")
def task_page(request: Request, task_id: str, user: ConsoleUser = Depends(current_user)) -> Response:  # noqa: B008
    task, files = _task_or_404(request, user, task_id)
    return _render(request, "task.html", user, task=task, files=files)


@router.get("/tasks/{task_id}/status")
def task_status(request: Request, task_id: str, user: ConsoleUser = Depends(current_user)) -> Response:  # noqa: B008
    task, _ = _task_or_404(request, user, task_id)
    return JSONResponse({key: task[key] for key in ("taskId", "state", "code", "message", "counts", "done")})


@router.get("/tasks/{task_id}/rejections.xlsx")
def task_rejections(request: Request, task_id: str,
                    user: ConsoleUser = Depends(current_user)) -> Response:  # noqa: B008

    task, _ = _task_or_404(request, user, task_id)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("拒绝记录")
    sheet.append(["文件", "工作表", "行", "原因"])
    for item in task["rejections"]:
        sheet.append([item.get("file", ""), item.get("sheet", ""), item.get("row", ""), item.get("reason", "")])
    handle, name = tempfile.mkstemp(suffix=".xlsx", prefix="fapiaohub-rejections-")
    os.close(handle)
    book.save(name)
    return FileResponse(name, filename=f"rejections-{task_id}.xlsx", background=BackgroundTask(os.unlink, name),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@router.post("/tasks/upload")
async def task_upload(request: Request) -> Response:
    """Files dropped on the tasks page → a file-import task, as the API's upload creates one."""
    user = await run_in_threadpool(current_user, request)
    admin_user(user)
    settings = request.app.state.settings
    limit = settings.max_upload_bytes
    form = await upload_form(request, limit, lambda _declared: PageError(413, f"上传过大：上限{limit}字节"),
                             lambda exc: PageError(400, f"上传格式错误：{exc}"))
    try:
        check_csrf(user, request.headers.get(CSRF_HEADER) or str(form.get("csrf") or ""))
        uploads = [value for value in form.getlist("files") if isinstance(value, UploadFile)]
        if not uploads:
            raise PageError(400, "请选择至少一个文件")
        taxpayer_id, direction = str(form.get("taxpayer") or ""), str(form.get("direction") or "")
        if direction not in DIRECTIONS:
            raise PageError(400, "方向（direction）只能是jx（进项）或xx（销项）")

        def create() -> dict[str, Any]:
            with _engine(request).connect() as conn:
                tp = (repository.get_taxpayer(conn, user.corp_id, int(taxpayer_id))
                      if taxpayer_id.isdigit() else None)
            if tp is None:
                raise PageError(400, f"纳税人（taxpayer）无效：{taxpayer_id}")
            new = task_repository.NewTask(user.corp_id, tp.nsrsbh, direction, None, None, "files", {})
            try:
                return _store_uploads(_engine(request), settings.data_dir, new, uploads)
            except BusinessError as err:
                raise PageError(400, err.message) from None

        task = await run_in_threadpool(create)
    finally:
        await form.close()
    return JSONResponse({"taskId": task["taskId"], "state": task["state"], "message": task["message"]})


# ---- unify (统一开票): read-only for both roles ------------------------------------------------------


@router.get("/unify")
def unify_page(request: Request, user: ConsoleUser = Depends(current_user)) -> Response:  # noqa: B008
    with _engine(request).connect() as conn:
        corporations = repository.list_unify_corporations(conn, user.corp_id)
    return _render(request, "unify.html", user, corporations=corporations)


@router.get("/unify/{unify_corp_id}")
def unify_corporation_page(request: Request, unify_corp_id: str,
                           user: ConsoleUser = Depends(current_user)) -> Response:  # noqa: B008
    with _engine(request).connect() as conn:
        corporation = repository.get_unify_corporation(conn, user.corp_id, unify_corp_id)
        if corporation is None:  # another corporation's looks exactly like a missing one
            raise PageError(404, f"统一开票方 {unify_corp_id} 不存在")
        batches = repository.unify_batches(conn, user.corp_id, unify_corp_id)
        members: dict[str, list[Any]] = {}
        for item in repository.unify_batch_invoices(conn, user.corp_id, [b.id for b in batches]):
            members.setdefault(item.batch_id, []).append(item)
    return _render(request, "unify_corporation.html", user, corporation=corporation, batches=batches,
                   members=members)


# ---- taxpayers -------------------------------------------------------------------------------------


@router.get("/taxpayers")
def taxpayers_page(request: Request, user: ConsoleUser = Depends(current_user),  # noqa: B008
                   error: str = "") -> Response:
    with _engine(request).connect() as conn:
        taxpayers = repository.list_taxpayers(conn, user.corp_id)
    return _render(request, "taxpayers.html", user, taxpayers=taxpayers, error=error[:200])


@router.post("/taxpayers")
async def taxpayer_add(request: Request) -> Response:
    user = admin_user(await run_in_threadpool(current_user, request))
    form = await request.form()
    check_csrf(user, str(form.get("csrf") or ""))
    nsrsbh = str(form.get("nsrsbh") or "").strip().upper()
    name = str(form.get("name") or "").strip()
    if classify_taxpayer_id(nsrsbh) == "invalid":
        return _redirect_error(f"纳税人识别号无效：{nsrsbh}")
    if not name:
        return _redirect_error("请填写纳税人名称")

    def add() -> bool:
        try:
            with _engine(request).begin() as conn:
                add_taxpayer(conn, user.corp_id, nsrsbh, name[:200], collection_enabled=True)
        except IntegrityError:
            return False
        return True

    if not await run_in_threadpool(add):
        return _redirect_error(f"纳税人 {nsrsbh} 已存在")
    return RedirectResponse("/console/taxpayers", status_code=303)


def _redirect_error(message: str) -> Response:
    return RedirectResponse(f"/console/taxpayers?{urlencode({'error': message})}", status_code=303)


@router.post("/taxpayers/{taxpayer_id}/collection")
async def taxpayer_collection(request: Request, taxpayer_id: int) -> Response:
    user = admin_user(await run_in_threadpool(current_user, request))
    form = await request.form()
    check_csrf(user, str(form.get("csrf") or ""))
    enabled = str(form.get("enabled") or "") == "1"

    def switch() -> bool:
        with _engine(request).begin() as conn:
            return repository.set_collection(conn, user.corp_id, taxpayer_id, enabled)

    if not await run_in_threadpool(switch):
        raise PageError(404, f"纳税人 {taxpayer_id} 不存在")
    return RedirectResponse("/console/taxpayers", status_code=303)

