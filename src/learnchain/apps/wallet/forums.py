"""Verified forums (seed §3.1.2): per-forum pseudonyms with professional-attested badges.

A consortium member or institution opens a forum on a condition code (its "very high level
aggregation"). A patient joins under a *pseudonym*: the address of a key derived from their
wallet secret and the forum id (`forum_client.pseudonym_key`), different in every forum and
never used anywhere else, so nothing on chain links it to the patient's address or to their
pseudonyms in other forums. What makes the pseudonym trustworthy is a *badge*: a treating
professional (registered, authorised by an institution) who read the patient's condition record
signs (forum, pseudonym, condition); the chain checks that signature and the professional's
standing, so a badge cannot be forged or moved to another forum or pseudonym. Posts are content
ids of (optionally sealed) text, sent by the pseudonym key itself. `forum_members` is the
aggregated search: members by condition, pseudonyms only.

State (namespace `wallet/`): `forum/{fid}`, `forumm/{fid}/{pseudonym}`, `forumn/{fid}` +
`forumi/{fid}/{n}` (members), `forump/{fid}/{n}` + `forumpn/{fid}` (posts), `forumsn` +
`forumsi/{n}` (index of forums, for search by condition).
"""

from __future__ import annotations

import hashlib
from typing import Any

from learnchain.apps.base import Args, CallContext, query_method, tx_method
from learnchain.apps.identity import has_role, is_member
from learnchain.apps.wallet.rules import WalletError, authorised_for_identification
from learnchain.apps.wallet.studies import validate_criteria
from learnchain.core.crypto import recover_address
from learnchain.core.errors import InvalidTransaction
from learnchain.core.state import StateView
from learnchain.storage.cid import BlobError, digest_of_any_cid

FORUM_ID_SIZE = 8


def badge_digest(chain_id: int, forum: bytes, pseudonym: bytes, condition: str) -> bytes:
    """What a professional signs: bound to chain, forum, pseudonym and condition."""
    return hashlib.sha256(b"learnchain/forum-badge/" + chain_id.to_bytes(8, "big") + forum
                          + pseudonym + condition.encode()).digest()


def _condition(code: str) -> str:
    return validate_criteria({"condition": code, "age_min": 0, "age_max": 0,
                              "reference_date": "2000-01-01"})["condition"]


class ForumsMixin:
    """Transactions and queries of verified forums; `WalletApp` inherits them."""

    @tx_method
    def open_forum(self, ctx: CallContext, args: dict[str, Any]) -> None:
        a = Args(args)
        identity = ctx.read("identity")
        if not (is_member(identity, ctx.sender) or has_role(identity, ctx.sender,
                                                             "institution")):
            raise WalletError("only a consortium member or an institution opens forums")
        fid = a.bytes("forum", size=FORUM_ID_SIZE)
        if ctx.state.has("forum/" + fid.hex()):
            raise WalletError("a forum with this id exists")
        ctx.state.set("forum/" + fid.hex(), {"id": fid, "condition": _condition(
            a.str("condition")), "title": a.str("title", max_len=80), "by": ctx.sender})
        n = ctx.state.get("forumsn", 0)
        ctx.state.set(f"forumsi/{n}", fid)
        ctx.state.set("forumsn", n + 1)

    @tx_method
    def join_forum(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """Sent by the pseudonym key with a professional's badge for this forum."""
        a = Args(args)
        fid = a.bytes("forum", size=FORUM_ID_SIZE)
        forum = ctx.state.get("forum/" + fid.hex())
        if forum is None:
            raise WalletError("no such forum")
        identity = ctx.read("identity")
        if identity.get("id/" + ctx.sender.hex()):
            raise WalletError("join with the forum pseudonym key, not a registered identity")
        if ctx.state.has(f"forumm/{fid.hex()}/{ctx.sender.hex()}"):
            raise WalletError("this pseudonym is a member already")
        condition = forum["condition"]
        digest = badge_digest(ctx.block.chain_id, fid, ctx.sender, condition)
        try:
            professional = recover_address(digest, a.bytes("badge", size=65))
        except InvalidTransaction:
            raise WalletError("the badge signature does not recover") from None
        if not (has_role(identity, professional, "professional")
                and authorised_for_identification(ctx.state, identity, professional)):
            raise WalletError("the badge is not signed by an institution-authorised "
                              "professional for this forum, pseudonym and condition")
        n = ctx.state.get("forumn/" + fid.hex(), 0)
        ctx.state.set(f"forumm/{fid.hex()}/{ctx.sender.hex()}", {
            "badge": {"condition": condition, "professional": professional},
            "joined": ctx.block.height})
        ctx.state.set(f"forumi/{fid.hex()}/{n}", ctx.sender)
        ctx.state.set("forumn/" + fid.hex(), n + 1)

    @tx_method
    def post(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        a = Args(args)
        fid = a.bytes("forum", size=FORUM_ID_SIZE)
        if not ctx.state.has(f"forumm/{fid.hex()}/{ctx.sender.hex()}"):
            raise WalletError("only badge-holding members post, under their forum pseudonym")
        cid = a.str("cid", max_len=64)
        try:
            digest_of_any_cid(cid)
        except BlobError as exc:
            raise WalletError(f"cid: {exc}") from None
        n = ctx.state.get("forumpn/" + fid.hex(), 0)
        ctx.state.set(f"forump/{fid.hex()}/{n}", {"by": ctx.sender, "cid": cid,
                                                  "height": ctx.block.height})
        ctx.state.set("forumpn/" + fid.hex(), n + 1)
        return {"post": n}

    @query_method
    def forum_members(self, state: StateView, args: dict[str, Any]) -> list[Any]:
        """Aggregated search: every forum on `condition` and its members' pseudonyms."""
        a = Args(args)
        fid = a.bytes("forum", size=FORUM_ID_SIZE)
        count = state.get("forumn/" + fid.hex(), 0)
        return [{"pseudonym": p, **state.get(f"forumm/{fid.hex()}/{p.hex()}")}
                for p in state.get_many([f"{fid.hex()}/{i}" for i in range(count)],
                                        prefix="forumi/")]

    @query_method
    def forum_posts(self, state: StateView, args: dict[str, Any]) -> list[Any]:
        fid = Args(args).bytes("forum", size=FORUM_ID_SIZE)
        return [state.get(f"forump/{fid.hex()}/{i}")
                for i in range(state.get("forumpn/" + fid.hex(), 0))]

    @query_method
    def forums(self, state: StateView, args: dict[str, Any]) -> list[Any]:
        """Search by condition: every forum (or those on `condition`) with its member count;
        members are pseudonyms, listed by `forum_members`."""
        condition = Args(args).str("condition", default="")
        ids = state.get_many([str(i) for i in range(state.get("forumsn", 0))], prefix="forumsi/")
        out = []
        for fid in ids:
            forum = state.get("forum/" + fid.hex())
            if not condition or forum["condition"] == condition:
                out.append({**forum, "members": state.get("forumn/" + fid.hex(), 0),
                            "posts": state.get("forumpn/" + fid.hex(), 0)})
        return out

    @query_method
    def forum(self, state: StateView, args: dict[str, Any]) -> Any:
        return state.get("forum/" + Args(args).bytes("forum", size=FORUM_ID_SIZE).hex())
