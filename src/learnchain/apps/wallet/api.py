"""Dedicated `/v1/wallet/…` read routes for the interaction models: studies, forums, patient
review, collaboration cases and reward programmes.

These are views of on-chain state with declared response models (so the OpenAPI schema is a
contract). Everything that changes state is a transaction signed by its sender on their own
machine and submitted to `POST /v1/transactions` — the node never holds a patient's or a
researcher's key — and everything that touches plaintext (matching, deriving study records,
badges, reading records) runs in the wallet client (`apps.wallet.*_client`). Errors are JSON
`{error, detail}`: 400 for malformed ids (`bad-hex`), 404 for unknown objects (`not-found`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from learnchain.net.api import ApiError
from learnchain.net.api_models import errors
from learnchain.net.jsonview import to_json
from learnchain.node import Node

HEX = "0x-prefixed hexadecimal"


class StudyView(BaseModel):
    id: str = Field(description=f"study id ({HEX}, 8 bytes)")
    researcher: str
    criteria: dict[str, Any] = Field(description="{condition, age_min, age_max, reference_date}")
    fields: list[str]
    reward: int = Field(description="reward per participant, base units (escrowed)")
    slots: int
    deadline: int = Field(description="block height")
    layer: str
    published: int
    joined: int = Field(description="participants holding a slot (matched and opted in)")
    rostered: int = Field(description="participant ids ever on the roster")
    delivered: int = Field(description="participants whose derived record was read (logged)")
    paid: int
    refunded: int | None = Field(description="escrow returned at close, or null while open")


class StudyCounts(BaseModel):
    study: str
    slots: int
    joined: int
    delivered: int
    paid: int
    escrow_left: int = Field(description="base units still in the study's escrow")


class ParticipantView(BaseModel):
    participant: str = Field(description="per-study participant id (HMAC, not an address)")
    wallet: str
    grant: str
    record: str
    joined: int
    delivered: int | None
    paid: int | None
    withdrawn: int | None


class ForumView(BaseModel):
    id: str
    condition: str
    title: str
    by: str
    members: int
    posts: int


class Badge(BaseModel):
    condition: str
    professional: str


class ForumMember(BaseModel):
    pseudonym: str = Field(description="per-forum pseudonym address (unlinkable across forums)")
    badge: Badge
    joined: int


class ForumPost(BaseModel):
    by: str
    cid: str
    height: int


class FlagView(BaseModel):
    flag: int
    record: str
    version: int
    professional: str
    note: str = Field(description="record id of the patient's sealed reason")
    height: int
    answer: dict[str, Any] | None


class CaseMember(BaseModel):
    colleague: str
    invited: int
    grant: str | None = Field(description="the case grant the patient's consent created")
    consented: int | None


class CaseView(BaseModel):
    id: str
    wallet: str
    lead: str
    layers: list[str]
    opened: int
    closed: int | None
    members: list[CaseMember]


class Contribution(BaseModel):
    by: str
    role: str = Field(description="lead or colleague")
    institution: str | None = Field(description="the institution that authorised the writer")
    record: str
    version: int
    layer: str
    height: int


class RewardView(BaseModel):
    id: str
    funder: str
    rtype: str
    layer: str
    amount: int
    slots: int
    deadline: int
    institutions: list[str]
    opened: int
    paid: int
    refunded: int | None
    escrow_left: int


def _hex(text: str, what: str, size: int) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise ApiError(400, "bad-hex", f"{what} must be {HEX}") from None
    if len(raw) != size:
        raise ApiError(400, "bad-hex", f"{what} must be {size} bytes")
    return raw


def wallet_router(node: Node) -> APIRouter:
    router = APIRouter(prefix="/v1/wallet", tags=["wallet"])
    chain = node.chain

    def query(method: str, **args: Any) -> Any:
        return chain.query("wallet", method, args)

    def found(value: Any, what: str) -> Any:
        if value is None:
            raise ApiError(404, "not-found", f"no {what}")
        return value

    def escrow(kind: str, ident: bytes) -> int:
        from learnchain.apps.base import Bank

        with chain.lock:
            return Bank(chain.state).escrow_balance("wallet", f"{kind}/{ident.hex()}")

    @router.get("/studies", summary="Published studies (patients match them locally)",
                response_model=list[StudyView])
    def studies() -> Any:
        return to_json(query("studies"))

    @router.get("/studies/{study}", summary="One study", response_model=StudyView,
                responses=errors(400, 404, 422))
    def study(study: str) -> Any:
        return to_json(found(query("study", study=_hex(study, "study", 8)), "such study"))

    @router.get("/studies/{study}/counts", summary="How many matched (opted in), delivered and "
                "were paid, and the escrow left", response_model=StudyCounts,
                responses=errors(400, 404, 422))
    def study_counts(study: str) -> Any:
        sid = _hex(study, "study", 8)
        s = found(query("study", study=sid), "such study")
        return {"study": to_json(sid), "slots": s["slots"], "joined": s["joined"],
                "delivered": s["delivered"], "paid": s["paid"],
                "escrow_left": escrow("study", sid)}

    @router.get("/studies/{study}/participants", summary="The roster: participant ids only",
                response_model=list[ParticipantView], responses=errors(400, 404, 422))
    def participants(study: str) -> Any:
        sid = _hex(study, "study", 8)
        found(query("study", study=sid), "such study")
        return to_json(query("participants", study=sid))

    @router.get("/forums", summary="Search forums by condition code (members are pseudonyms)",
                response_model=list[ForumView], responses=errors(422))
    def forums(condition: str = Query("", max_length=32, description="condition code")) -> Any:
        return to_json(query("forums", condition=condition))

    @router.get("/forums/{forum}/members", summary="A forum's badged pseudonyms",
                response_model=list[ForumMember], responses=errors(400, 404, 422))
    def forum_members(forum: str) -> Any:
        fid = _hex(forum, "forum", 8)
        found(query("forum", forum=fid), "such forum")
        return to_json(query("forum_members", forum=fid))

    @router.get("/forums/{forum}/posts", summary="A forum's posts (content ids)",
                response_model=list[ForumPost], responses=errors(400, 404, 422))
    def forum_posts(forum: str) -> Any:
        fid = _hex(forum, "forum", 8)
        found(query("forum", forum=fid), "such forum")
        return to_json(query("forum_posts", forum=fid))

    @router.get("/wallets/{wallet}/flags", summary="Patient review: every flag and its answer",
                response_model=list[FlagView], responses=errors(400, 404, 422))
    def flags(wallet: str) -> Any:
        wid = _hex(wallet, "wallet", 20)
        found(query("wallet", wallet=wid), "such wallet")
        return [{"flag": i, **f} for i, f in enumerate(to_json(query("flags", wallet=wid)))]

    @router.get("/wallets/{wallet}/cases", summary="Open collaboration cases of a wallet",
                response_model=list[CaseView], responses=errors(400, 404, 422))
    def wallet_cases(wallet: str) -> Any:
        wid = _hex(wallet, "wallet", 20)
        found(query("wallet", wallet=wid), "such wallet")
        return to_json(query("cases", wallet=wid))

    @router.get("/cases/{case}", summary="A collaboration case: lead, layers, colleagues",
                response_model=CaseView, responses=errors(400, 404, 422))
    def case(case: str) -> Any:
        return to_json(found(query("case", case=_hex(case, "case", 16)), "such case"))

    @router.get("/cases/{case}/contributors", summary="Who added which record version",
                response_model=list[Contribution], responses=errors(400, 404, 422))
    def contributors(case: str, by: str = Query("", max_length=42,
                                                 description="only this address")) -> Any:
        cid = _hex(case, "case", 16)
        found(query("case", case=cid), "such case")
        args: dict[str, Any] = {"case": cid}
        if by:
            args["by"] = _hex(by, "by", 20)
        return to_json(chain.query("wallet", "case_log", args))

    @router.get("/rewards/{programme}", summary="An institution's reward programme",
                response_model=RewardView, responses=errors(400, 404, 422))
    def reward(programme: str) -> Any:
        pid = _hex(programme, "programme", 8)
        found_p = found(query("reward_programme", programme=pid), "such reward programme")
        return {**to_json(found_p), "escrow_left": escrow("reward", pid)}

    return router
