"""`/v1/rlpow/fraud`: submit an rlpow fraud proof over HTTP and list this node's verdicts.

A proof that holds is applied (the block is rolled back and refused, the proposer banned) and
passed on to peers, exactly as if a peer had sent it. Errors are JSON `{error, detail}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from learnchain.net.p2p import P2PNode


def fraud_status(p2p: P2PNode) -> dict[str, Any]:
    engine = p2p.chain.engine
    convicted = getattr(engine, "convicted", {})
    proven = getattr(engine, "proven_invalid", {})
    return {"convicted": {"0x" + k.hex(): "0x" + v.hex() for k, v in convicted.items()},
            "invalid_blocks": {"0x" + k.hex(): v for k, v in proven.items()}}


def fraud_router(p2p: P2PNode) -> APIRouter:
    from learnchain.consensus.rlpow_fraud import MAX_PROOF_BYTES

    router = APIRouter(prefix="/v1/rlpow/fraud", tags=["rlpow"])

    @router.get("", summary="Miners convicted by fraud proofs and the blocks proven invalid")
    def status() -> dict[str, Any]:
        return fraud_status(p2p)

    error = {"description": "JSON {error, detail}"}

    @router.post("", summary="Submit a fraud proof (canonical CBOR bytes); if it holds it "
                             "is applied and passed on to peers",
                 responses={400: {**error, "description": "the proof does not check"},
                            409: {**error, "description": "this node cannot check it yet; "
                                  "it is kept and checked again as the head moves"},
                            413: {**error, "description": "larger than a proof can be"}})
    async def submit(request: Request) -> JSONResponse:
        from learnchain.consensus.rlpow_fraud import FraudProofError, Unverifiable

        body = await request.body()
        if len(body) > MAX_PROOF_BYTES:
            return JSONResponse({"error": "too-large",
                                 "detail": f"a fraud proof is at most {MAX_PROOF_BYTES} bytes"},
                                status_code=413)
        try:
            verdict = p2p.submit_fraud_proof(body)
        except FraudProofError as exc:
            return JSONResponse({"error": "invalid-fraud-proof", "detail": str(exc)},
                                status_code=400)
        except Unverifiable as exc:
            return JSONResponse({"error": "unverifiable",
                                 "detail": f"{exc}; kept, and checked again as the head moves"},
                                status_code=409)
        return JSONResponse(verdict)

    return router


def mount_fraud(api: FastAPI, p2p: P2PNode) -> None:
    api.include_router(fraud_router(p2p))
