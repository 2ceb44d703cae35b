"""`/v1/finality`: the split report and the controller-signed checkpoint, over HTTP.

Mounted next to the peer protocol (a checkpoint that a node accepts is passed on to its peers).
Errors are JSON `{error, detail}` like the rest of the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from learnchain.core.errors import InvalidCheckpoint
from learnchain.core.finality import Checkpoint
from learnchain.net.p2p import P2PNode

MAX_CHECKPOINT_BODY = 4096


def finality_status(p2p: P2PNode) -> dict[str, Any]:
    chain = p2p.chain
    cp, split = chain.checkpoint, chain.split
    return {"height": chain.height, "head": "0x" + chain.head_hash.hex(),
            "finality_bound": chain.genesis_config.max_reorg_depth,
            "checkpoint": None if cp is None else cp.to_json(),
            "split": None if split is None else split.to_json(),
            "diverged_peers": [p.addr for p in p2p.ready_peers() if p.diverged]}


def finality_router(p2p: P2PNode) -> APIRouter:
    router = APIRouter(prefix="/v1/finality", tags=["finality"])

    @router.get("", summary="Finality bound, checkpoint in force, and any chain split seen")
    def status() -> dict[str, Any]:
        return finality_status(p2p)

    @router.post("/checkpoint", summary="Submit a checkpoint signed by the governance "
                                        "controller; it is passed on to peers")
    async def checkpoint(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_CHECKPOINT_BODY:
            return JSONResponse({"error": "too-large", "detail": "a checkpoint is under 4 KiB"},
                                status_code=413)
        try:
            import json

            checkpoint = Checkpoint.from_json(json.loads(body))
            accepted = p2p.accept_checkpoint(checkpoint)
        except (InvalidCheckpoint, ValueError) as exc:
            return JSONResponse({"error": "invalid-checkpoint", "detail": str(exc)},
                                status_code=400)
        return JSONResponse({"accepted": accepted, **finality_status(p2p)})

    return router


def mount_finality(api: FastAPI, p2p: P2PNode) -> None:
    api.include_router(finality_router(p2p))
