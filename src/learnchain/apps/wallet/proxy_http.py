"""The proxy service over HTTP (`/v1/proxy/…`, JSON with 0x-hex bytes) and its client.

Run one per proxy with `learnchain wallet proxy serve`; it talks to its consortium node's API
for chain state and to submit access-log transactions.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from learnchain.apps.wallet.proxy import ProxyService
from learnchain.apps.wallet.rules import WalletError
from learnchain.net.jsonview import from_json, to_json
from learnchain.privacy.errors import AccessDenied, PrivacyError
from learnchain.privacy.sharing import AccessRequest


def create_proxy_app(service: ProxyService) -> Any:
    from fastapi import Body, FastAPI, Request
    from fastapi.responses import JSONResponse

    api = FastAPI(title="learnchain re-encryption proxy",
                  description="Holds key fragments; re-encrypts for permitted, logged requests.")

    required = Body(...)

    @api.exception_handler(PrivacyError)
    async def _privacy(_: Request, exc: PrivacyError) -> JSONResponse:
        status = 403 if isinstance(exc, AccessDenied) else 400
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)},
                            status_code=status)

    @api.exception_handler(WalletError)
    async def _wallet(_: Request, exc: WalletError) -> JSONResponse:
        return JSONResponse({"error": "wallet", "detail": str(exc)}, status_code=400)

    def _args(body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise AccessDenied("the request body must be a JSON object")
        return from_json(body)

    @api.get("/v1/proxy/info", summary="This proxy's address")
    def info() -> dict[str, Any]:
        return {"address": to_json(service.address), "chain_id": service.chain.chain_id}

    @api.post("/v1/proxy/kfrags", summary="Store this proxy's fragment of a grant (owner-signed)")
    def kfrags(body: dict[str, Any] = required) -> dict[str, Any]:
        a = _args(body)
        service.accept_kfrag(a["grant"], a["kfrag"], a["signature"])
        return {"stored": True}

    @api.post("/v1/proxy/drop", summary="Delete a grant's fragment (owner-signed)")
    def drop(body: dict[str, Any] = required) -> dict[str, Any]:
        a = _args(body)
        return {"dropped": service.drop(a["grant"], a["signature"])}

    @api.post("/v1/proxy/reencrypt", summary="S = (Ps, Kc): a capsule fragment, logged on chain")
    def reencrypt(body: dict[str, Any] = required) -> dict[str, Any]:
        a = _args(body)
        served = service.reencrypt(AccessRequest.from_plain(a["request"]), a["capsule"])
        return {"cfrag": to_json(served.cfrag), "log_tx": to_json(served.log_tx)}

    @api.post("/v1/proxy/sweep", summary="Drop fragments of revoked or expired grants")
    def sweep() -> dict[str, Any]:
        return {"dropped": service.sweep()}

    return api


class HttpProxy:
    def __init__(self, address: bytes, url: str, timeout: float = 60.0) -> None:
        import httpx

        self.address = address
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            response = self.http.post(path, json=to_json(body))
        except httpx.HTTPError as exc:
            raise AccessDenied(f"proxy unreachable: {exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json()
                message = f"{detail.get('error')}: {detail.get('detail')}"
            except ValueError:
                message = response.text
            raise AccessDenied(message)
        return from_json(response.json())

    def give_kfrag(self, grant: bytes, kfrag: bytes, signature: bytes) -> None:
        self._post("/v1/proxy/kfrags", {"grant": grant, "kfrag": kfrag, "signature": signature})

    def drop(self, grant: bytes, signature: bytes) -> None:
        self._post("/v1/proxy/drop", {"grant": grant, "signature": signature})

    def reencrypt(self, request: AccessRequest, capsule: bytes) -> bytes:
        return bytes(self._post("/v1/proxy/reencrypt",
                                {"request": request.plain(), "capsule": capsule})["cfrag"])


class ThreadedServer:
    """Serve an ASGI app from a thread on loopback (tests, the scripted scenario)."""

    def __init__(self, app: Any, port: int | None = None, host: str = "127.0.0.1") -> None:
        import uvicorn

        from learnchain.net.server import KEEP_ALIVE_S, free_port

        self.host, self.port = host, port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port,
                                                    log_level="warning",
                                                    timeout_keep_alive=KEEP_ALIVE_S))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="proxy-api")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
