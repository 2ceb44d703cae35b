"""HTTP hardening shared by the user API and the peer endpoint.

* Body limits are enforced while the body streams in (``Content-Length`` or chunked): the
  node never holds more than the limit of one request, and answers 413 as soon as it is
  passed. The API's limit fits the largest transaction as hex JSON; the peer endpoint's the
  largest protocol frame.
* Every error the server can produce, including 404/405 from routing, malformed JSON or
  invalid UTF-8 in a body, and any unexpected exception (500), is JSON ``{error, detail}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("learnchain.api")

API_BODY_LIMIT = 1 << 20  # 1 MiB: a 128 KiB transaction is 256 KiB as hex JSON
P2P_PREFIX = "/p2p/"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def p2p_body_limit() -> int:
    from learnchain.net.protocol import MAX_MESSAGE_SIZE

    return MAX_MESSAGE_SIZE


class BodyLimitMiddleware:
    """Read a request body up to its limit, then hand it to the app; 413 past the limit."""

    def __init__(self, app: Any, api_limit: int = API_BODY_LIMIT,
                 p2p_limit: int | None = None) -> None:
        self.app = app
        self.api_limit = api_limit
        self.p2p_limit = p2p_limit if p2p_limit is not None else p2p_body_limit()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.p2p_limit if scope["path"].startswith(P2P_PREFIX) else self.api_limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _send_error(send, 400, "bad-request", "Content-Length is not a number")
                return
            if too_big:
                await _send_error(send, 413, "too-large", _too_large(limit))
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:  # stop reading: never hold more than the limit
                await _send_error(send, 413, "too-large", _too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> str:
    return f"request bodies here are limited to {limit} bytes"


async def _send_error(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


_HTTP_KINDS = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "malformed request"


def install_error_handlers(api: FastAPI) -> None:
    """Routing errors, validation errors and crashes as ``{error, detail}`` JSON."""

    @api.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such route; the API lives under /v1 (see /docs)"
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # e.g. invalid UTF-8: a body the node could not parse, like any malformed JSON
            return JSONResponse({"error": "invalid-request", "detail": "the request body is "
                                 "not valid JSON text (UTF-8)"}, status_code=422)
        return JSONResponse({"error": _HTTP_KINDS.get(exc.status_code, "http-error"),
                             "detail": detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @api.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid-request", "detail": _validation_detail(exc)},
                            status_code=422)

    @api.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal", "detail": f"internal error "
                             f"({type(exc).__name__}); the node logged it"}, status_code=500)


def swagger_assets() -> Path | None:
    """Swagger UI 5 (renders OpenAPI 3.1) as packaged by fastapi-offline on PyPI."""
    try:
        import fastapi_offline
    except ImportError:  # pragma: no cover - a dependency; /docs then says how to get it
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").exists() else None


def install_offline_docs(api: FastAPI) -> None:
    """Swagger UI at /docs from a packaged copy of its assets: the page works with no
    internet (no CDN, no favicon fetch). The explorer at / links to it."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    assets = swagger_assets()
    if assets is not None:
        api.mount("/static/swagger", StaticFiles(directory=assets), name="swagger")

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if assets is None:
            return HTMLResponse("<p>Install fastapi-offline for the offline API docs; the "
                                "schema is at <a href='/openapi.json'>/openapi.json</a>.</p>")
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{api.title} · docs",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="data:,")
