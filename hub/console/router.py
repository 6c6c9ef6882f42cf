"""The console's pages under ``/console``: sign-in, dashboard, search, a message, dead letters,
unroutable messages, the audit log's verification status.

How requests are guarded, in order: a page needs a live session (its cookie: random, HttpOnly,
SameSite=Strict, Secure over TLS, path ``/console``), else it sends the browser to the sign-in page;
every POST needs the session's CSRF token in its form (the sign-in form: a token also set as a cookie,
the double-submit pattern), else 403; a change (replay, re-route) needs the role operator or admin,
else 403 — an auditor is refused whatever the request looks like, and the refusal is recorded like
every other console action (``actions.py``). Pages send a strict Content-Security-Policy: no script at
all, styles only from ``/console/static``.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine

from lienthong.compose import Hub
from lienthong.console import queries
from lienthong.console.actions import record_action
from lienthong.console.audit_status import Verification, audit_status, verify_now
from lienthong.console.i18n import LANGUAGES, Language, translator
from lienthong.console.users import ConsoleSession, ConsoleUser, ConsoleUsers
from lienthong.errors import HubError, NotFoundError
from lienthong.store import DeliveryState, MessageFilter
from lienthong.trail import vietnam_time

__all__ = ["console_router"]

PREFIX: Final = "/console"
SESSION_COOKIE: Final = "lt_console_session"
LOGIN_COOKIE: Final = "lt_console_login"
LANG_COOKIE: Final = "lt_console_lang"
#: A console form is a few fields; anything longer is not one.
MAX_FORM: Final = 16 * 1024
HERE = Path(__file__).parent
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


class _Refused(Exception):
    """Answer the request with a page of ``status`` saying ``key`` (a word of ``i18n.WORDS``)."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["vntime"] = lambda at: vietnam_time(at) if at is not None else ""
    return env


def language_of(request: Request) -> Language:
    chosen = request.cookies.get(LANG_COOKIE, "vi")
    return "en" if chosen == "en" else "vi"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _local_path(target: str) -> str:
    """A redirect target inside the console only (never another site: no open redirect)."""
    if not target.startswith(PREFIX + "/") or target.startswith("//") or "\\" in target:
        return PREFIX + "/"
    return target


Form = dict[str, str] | _Refused


async def _form(request: Request) -> Form:
    """An ``application/x-www-form-urlencoded`` body, bounded: the first value of each field (or the
    refusal of a body too long to be a console form). A dependency, read on the event loop, so that
    the handlers are plain functions FastAPI runs in its thread pool: password hashing and database
    calls never hold up the loop that serves intake."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return _Refused(413, "bad_request")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


FormFields = Annotated[Form, Depends(_form)]


class _Console:
    """What every console route needs: the hub, its engine, the users, the templates."""

    def __init__(self, hub: Hub, engine: Engine) -> None:
        self.hub = hub
        self.engine = engine
        self.users = ConsoleUsers(engine)
        self.templates = _environment()
        #: The last verification of the audit log asked for in this process (any user may ask).
        self.verification: Verification | None = None

    def page(self, request: Request, name: str, code: int = 200, **values: Any) -> HTMLResponse:
        language = language_of(request)
        html = self.templates.get_template(name).render(
            t=translator(language),
            lang=language,
            languages=LANGUAGES,
            path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            prefix=PREFIX,
            **values,
        )
        return HTMLResponse(html, status_code=code, headers=SECURITY_HEADERS)

    def refused(self, request: Request, exc: _Refused, session: ConsoleSession | None = None) -> HTMLResponse:
        return self.page(
            request, "refused.html", exc.status, session=session, reason=exc.key, status=exc.status
        )

    def current(self, request: Request) -> ConsoleSession | None:
        return self.users.session(request.cookies.get(SESSION_COOKIE, ""))

    def record(
        self, user: ConsoleUser | None, action: str, target: str, detail: Mapping[str, object]
    ) -> None:
        record_action(self.engine, user, action, target, detail)

    def guarded(
        self, handler: Callable[[Request, ConsoleSession], Response]
    ) -> Callable[[Request], Response]:
        """A read-only page: a session, or the sign-in page."""

        def run(request: Request) -> Response:
            session = self.current(request)
            if session is None:
                return _to_login(request)
            try:
                return handler(request, session)
            except _Refused as exc:
                return self.refused(request, exc, session)
            except NotFoundError:
                return self.refused(request, _Refused(404, "not_found"), session)

        return run

    def change(
        self, request: Request, form: Form, action: str, *, read_only: bool = False
    ) -> tuple[ConsoleSession, dict[str, str]] | Response:
        """A POST: a session, its CSRF token, and (unless ``read_only``: it changes nothing, like
        verifying the log) a role that may change things."""
        session = self.current(request)
        if session is None:
            return _to_login(request)
        if isinstance(form, _Refused):
            return self.refused(request, form, session)
        target = form.get("message_id", "-")
        if not hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode()):
            self.record(session.user, f"{action}-refused", target, {"why": "csrf"})
            return self.refused(request, _Refused(403, "forbidden_csrf"), session)
        if not read_only and not session.user.role.may_change:
            self.record(session.user, f"{action}-refused", target, {"why": "role"})
            return self.refused(request, _Refused(403, "forbidden_role"), session)
        return session, form


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login?next={quote(target)}", status_code=303)


def console_router(hub: Hub) -> APIRouter:
    """The console's routes for ``hub``; none when its store has no SQL engine (the in-memory store)."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    engine: Engine | None = getattr(hub.store, "engine", None)
    if engine is None:
        return router
    console = _Console(hub, engine)
    _sign_in_routes(router, console)
    _page_routes(router, console)
    _change_routes(router, console)
    return router


def _sign_in_routes(router: APIRouter, c: _Console) -> None:
    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = PREFIX + "/") -> Response:
        token = secrets.token_urlsafe(32)
        response = c.page(
            request, "login.html", session=None, csrf=token, next=_local_path(next), failed=False
        )
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=3600,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
        return response

    @router.post("/login", response_class=HTMLResponse)
    def login(request: Request, form: FormFields) -> Response:
        if isinstance(form, _Refused):
            return c.refused(request, form)
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not cookie or not hmac.compare_digest(form.get("csrf", "").encode(), cookie.encode()):
            return c.refused(request, _Refused(403, "forbidden_csrf"))
        name, next_page = form.get("user", "").strip(), _local_path(form.get("next", PREFIX + "/"))
        user = c.users.authenticate(name, form.get("password", ""))
        if user is None:
            c.record(None, "login-refused", name or "-", {"user": name or "-"})
            return c.page(request, "login.html", 401, session=None, csrf=cookie, next=next_page, failed=True)
        session = c.users.open_session(user)
        c.record(user, "login", user.name, {})
        response = RedirectResponse(next_page, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    @router.post("/logout")
    def logout(request: Request, form: FormFields) -> Response:
        session = c.current(request)
        if session is None:
            return _to_login(request)
        if isinstance(form, _Refused):
            return c.refused(request, form, session)
        if not hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode()):
            return c.refused(request, _Refused(403, "forbidden_csrf"), session)
        c.users.close_session(session.token)
        c.record(session.user, "logout", session.user.name, {})
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    @router.get("/lang/{language}")
    def switch_language(request: Request, language: str, next: str = PREFIX + "/") -> Response:
        response = RedirectResponse(_local_path(next), status_code=303)
        if language in LANGUAGES:
            year = 365 * 86400
            response.set_cookie(
                LANG_COOKIE, language, max_age=year, path=PREFIX, samesite="strict", secure=_secure(request)
            )
        return response

    @router.get("/static/console.css")
    def stylesheet() -> Response:
        css = (HERE / "static" / "console.css").read_text(encoding="utf-8")
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @router.get("")
    def root() -> Response:
        return RedirectResponse(PREFIX + "/", status_code=307)


def _page_routes(router: APIRouter, c: _Console) -> None:
    hub = c.hub

    def dashboard_page(request: Request, session: ConsoleSession) -> Response:
        board = queries.dashboard(hub, c.engine)
        return c.page(request, "dashboard.html", session=session, board=board, states=list(DeliveryState))

    def search_page(request: Request, session: ConsoleSession) -> Response:
        params: Mapping[str, str] = request.query_params
        terms = queries.Search(**{k: params.get(k, "") for k in queries.Search.__dataclass_fields__})
        error = None
        records = []
        try:
            records = queries.search(hub, terms)
        except HubError as exc:
            error = exc.message
        states = [s.value for s in DeliveryState] + ["unroutable"]
        return c.page(
            request,
            "messages.html",
            session=session,
            terms=terms,
            records=records,
            error=error,
            states=states,
        )

    def detail_page(request: Request, session: ConsoleSession) -> Response:
        try:
            message_id = uuid.UUID(request.path_params["message_id"])
        except ValueError:
            raise _Refused(404, "not_found") from None
        record = hub.store.get_message(message_id)
        return c.page(
            request,
            "message.html",
            session=session,
            record=record,
            payload=queries.shown_payload(record.envelope.payload, record.envelope.content_type),
            signature=queries.signature_of(hub, record),
            timeline=queries.timeline(record),
            trail=queries.dossier_trail(hub, record),
        )

    def dead_page(request: Request, session: ConsoleSession) -> Response:
        done = request.query_params.get("replayed")
        return c.page(request, "dead.html", session=session, records=queries.dead_letters(hub), done=done)

    def unroutable_page(request: Request, session: ConsoleSession) -> Response:
        done = request.query_params.get("rerouted")
        return c.page(request, "unroutable.html", session=session, records=queries.unroutable(hub), done=done)

    def audit_page(request: Request, session: ConsoleSession) -> Response:
        status = audit_status(c.engine, c.verification)
        return c.page(request, "audit.html", session=session, status=status)

    for path, handler in (
        ("/", dashboard_page),
        ("/messages", search_page),
        ("/messages/{message_id}", detail_page),
        ("/dead-letters", dead_page),
        ("/unroutable", unroutable_page),
        ("/audit", audit_page),
    ):
        router.add_api_route(path, c.guarded(handler), methods=["GET"], response_class=HTMLResponse)


def _change_routes(router: APIRouter, c: _Console) -> None:
    hub = c.hub

    @router.post("/dead-letters/replay")
    def replay(request: Request, form: FormFields) -> Response:
        checked = c.change(request, form, "replay")
        if isinstance(checked, Response):
            return checked
        session, fields = checked
        try:
            message_id = uuid.UUID(fields.get("message_id", ""))
        except ValueError:
            return c.refused(request, _Refused(400, "bad_request"), session)
        targets = [fields["target"]] if fields.get("target") else []
        flt = MessageFilter(message_ids=[message_id], targets=targets, states=(DeliveryState.DEAD,))
        replayed = hub.store.replay_dead(flt)
        c.record(session.user, "replay", str(message_id), {"targets": targets, "deliveries": replayed})
        return RedirectResponse(f"{PREFIX}/dead-letters?replayed={len(replayed)}", status_code=303)

    @router.post("/unroutable/reroute")
    def reroute(request: Request, form: FormFields) -> Response:
        checked = c.change(request, form, "reroute")
        if isinstance(checked, Response):
            return checked
        session, fields = checked
        try:
            message_id = uuid.UUID(fields.get("message_id", ""))
        except ValueError:
            return c.refused(request, _Refused(400, "bad_request"), session)
        rerouted = hub.intake.reroute_unroutable([message_id], limit=1)
        c.record(session.user, "reroute", str(message_id), {"rerouted": len(rerouted)})
        return RedirectResponse(f"{PREFIX}/unroutable?rerouted={len(rerouted)}", status_code=303)

    @router.post("/audit/verify")
    def verify(request: Request, form: FormFields) -> Response:
        """Recompute the audit log now; auditors may (it changes nothing) and the request is recorded."""
        checked = c.change(request, form, "audit-verify", read_only=True)
        if isinstance(checked, Response):
            return checked
        session, _fields = checked
        c.verification = verify_now(c.engine, datetime.now(UTC))
        c.record(session.user, "audit-verify", "audit-log", {"ok": c.verification.ok})
        return RedirectResponse(f"{PREFIX}/audit", status_code=303)
