"""`/v1/content`: put and get content-addressed blobs (task inputs, results) on a node."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from learnchain.net.api_models import errors
from learnchain.storage.blobstore import BlobError, digest_of_cid
from learnchain.storage.digest_store import cid_of_digest, digest_store


class ContentBody(BaseModel):
    data: str = Field(description="0x-prefixed hex of the blob")


class ContentStored(BaseModel):
    digest: str = Field(description="0x SHA-256 of the blob")
    cid: str = Field(description="CIDv1 (raw, sha2-256) of the blob")
    size: int


class ContentBlob(BaseModel):
    data: str = Field(description="0x-prefixed hex of the blob")
    size: int


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def add_content_routes(api: FastAPI, chain: Any) -> None:
    store = digest_store(chain)

    @api.post("/v1/content", summary="Store a blob; returns its SHA-256 digest and CID",
              response_model=ContentStored, responses=errors(400, 413, 422))
    def put(body: ContentBody) -> Any:
        try:
            data = bytes.fromhex(body.data.removeprefix("0x"))
            digest = store.put(data)
        except (ValueError, BlobError) as exc:
            return _error(400, "bad-content", str(exc))
        return {"digest": "0x" + digest.hex(), "cid": cid_of_digest(digest), "size": len(data)}

    @api.get("/v1/content/{ref}", summary="A blob by 0x digest or CID",
             response_model=ContentBlob, responses=errors(400, 404, 422))
    def get(ref: str) -> Any:
        try:
            digest = bytes.fromhex(ref[2:]) if ref.startswith("0x") else digest_of_cid(ref)
        except (ValueError, BlobError) as exc:
            return _error(400, "bad-content-id", str(exc))
        data = store.get(digest) if len(digest) == 32 else None
        if data is None:
            return _error(404, "not-found", f"no content {ref}")
        return {"data": "0x" + data.hex(), "size": len(data)}
