"""The `wallet` app: layered medical wallets, record metadata, grants, access log, recovery.

The chain holds facts, never plaintext (seed §4 "only the hash of data needs to be on the
blockchain"): per record version its originator, CID, layer, record type, capsule hash, owner
key epoch and block time (the seed's ``{originator, IPFS, lastUpdate}`` struct, extended).
Nothing is overwritten: an update appends a version, a deletion appends a fact.

State layout (namespace `wallet/`): `params`; `keys/{addr}` (published Umbral keys);
`owner/{addr}` → wallet id; `w/{wid}` (owner, institution, key epochs, recovery);
`rec/{wid}/{rid}` (layer, type, versions, deleted); `recn/{wid}` + `reci/{wid}/{n}` (record
ids in order, one key each so adding stays O(1));
`grant/{gid}`, `grants/{wid}`; `auth/{addr}` (institution authorisation); `proxies`;
`log/{wid}/{n}` + `logn/{wid}` (access log: the activities layer's on-chain part);
`used/{request}/{proxy}` (replay guard); `cids/{n}` + `cidn` (pin/unpin feed for nodes).
"""

from __future__ import annotations

import hashlib
from typing import Any

from learnchain.apps.base import App, Args, CallContext, query_method, tx_method
from learnchain.apps.identity import has_role, is_member
from learnchain.apps.wallet import rules
from learnchain.apps.wallet.cases import CasesMixin
from learnchain.apps.wallet.forums import ForumsMixin
from learnchain.apps.wallet.review import ReviewMixin
from learnchain.apps.wallet.rewards import RewardsMixin
from learnchain.apps.wallet.rules import Params, WalletError
from learnchain.apps.wallet.studies import StudiesMixin
from learnchain.core.crypto import parse_address
from learnchain.core.state import StateView
from learnchain.privacy.records import RECORD_TYPES
from learnchain.privacy.sharing import AccessRequest
from learnchain.storage.cid import BlobError, digest_of_any_cid

MAX_PROXIES = 16
MAX_BATCH = 256


def wallet_id(owner: bytes) -> bytes:
    """The hash-based wallet id (seed §2.2.1), fixed at opening: P in every record."""
    return hashlib.sha256(b"learnchain/wallet/" + owner).digest()[:20]


def _identity(state: StateView) -> StateView:
    """Read-only view of the identity app beside a query's own view."""
    return StateView(state._source, "identity", writable=False)


def _key(a: Args, name: str) -> bytes:
    return a.bytes(name, size=33)


class _Counters:
    """Counters a batch bumps once per item and writes once at the end: the same final state
    as bumping them item by item, with two state writes per record fewer."""

    def __init__(self, state: StateView) -> None:
        self.state = state
        self.values: dict[str, int] = {}

    def take(self, key: str) -> int:
        value = self.values.get(key)
        if value is None:
            value = self.state.get(key, 0)
        self.values[key] = value + 1
        return value

    def flush(self) -> None:
        for key, value in self.values.items():
            self.state.set(key, value)


class WalletApp(StudiesMixin, ReviewMixin, ForumsMixin, CasesMixin, RewardsMixin, App):
    name = "wallet"

    def genesis(self, ctx: CallContext, config: dict[str, Any]) -> None:
        params = Params(**config.get("params", {}))
        ctx.state.set("params", vars(params))
        proxies = {}
        for entry in config.get("proxies", []):
            proxies[parse_address(entry["address"]).hex()] = {"url": entry.get("url", "")}
        ctx.state.set("proxies", proxies)

    # --- helpers ---------------------------------------------------------------------------
    def _wallet(self, state: StateView, wid: bytes) -> dict[str, Any]:
        wallet = state.get("w/" + wid.hex())
        if wallet is None:
            raise WalletError(f"no wallet 0x{wid.hex()}")
        return wallet

    def _owned(self, ctx: CallContext, wid: bytes) -> dict[str, Any]:
        wallet = self._wallet(ctx.state, wid)
        if wallet["owner"] != ctx.sender:
            raise WalletError("only the wallet's owner may do this")
        return wallet

    def _require_member_or_institution(self, ctx: CallContext) -> None:
        identity = ctx.read("identity")
        if not (is_member(identity, ctx.sender) or has_role(identity, ctx.sender, "institution")):
            raise WalletError("only a consortium member or a registered institution may do this")

    @staticmethod
    def _feed(state: StateView, cid: str, op: str, counters: _Counters | None = None) -> None:
        if counters is None:
            n = state.get("cidn", 0)
            state.set("cidn", n + 1)
        else:
            n = counters.take("cidn")
        state.set(f"cids/{n}", {"cid": cid, "op": op})

    # --- keys and wallets ------------------------------------------------------------------
    @tx_method
    def publish_keys(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """An identity's Umbral encryption and kfrag-verifying public keys."""
        a = Args(args)
        record = ctx.read("identity").get("id/" + ctx.sender.hex())
        if not record or record.get("revoked"):
            raise WalletError("only identities registered by a KYC authority publish keys")
        ctx.state.set("keys/" + ctx.sender.hex(), {"enc": _key(a, "enc"), "ver": _key(a, "ver")})

    @tx_method
    def open(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Open the sender's one wallet, naming the consortium member that did their KYC."""
        a = Args(args)
        institution = a.address("institution")
        identity = ctx.read("identity")
        if not has_role(identity, ctx.sender, "patient"):
            raise WalletError("a wallet is opened only for an identity registered as patient")
        if not is_member(identity, institution):
            raise WalletError("the KYC institution must be a consortium member")
        if ctx.state.has("owner/" + ctx.sender.hex()):
            raise WalletError("this identity already has a wallet (one wallet per identity)")
        keys = ctx.state.get("keys/" + ctx.sender.hex())
        if keys is None:
            raise WalletError("publish Umbral keys (publish_keys) before opening a wallet")
        wid = wallet_id(ctx.sender)
        if ctx.state.has("w/" + wid.hex()):
            raise WalletError("a wallet with this id exists already")
        ctx.state.set("w/" + wid.hex(), {
            "id": wid, "owner": ctx.sender, "institution": institution, "keys": [keys],
            "opened": ctx.block.height, "recovery": None, "recovering": None})
        ctx.state.set("owner/" + ctx.sender.hex(), wid)
        ctx.emit("opened", wallet=wid, owner=ctx.sender, institution=institution)
        return {"wallet": wid}

    # --- records ---------------------------------------------------------------------------
    @tx_method
    def add_record(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """A new record (version 1) or a new version of one; never an overwrite."""
        a = Args(args)
        state = ctx.state  # one view for the whole call (the property builds a new one)
        wallet = self._writable_wallet(ctx, state, a.bytes("wallet", size=20))
        return self._add_one(ctx, state, wallet, ctx.read("identity"), args)

    @tx_method
    def add_records(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Up to `MAX_BATCH` records in one transaction (e.g. importing a FHIR bundle); each
        item has the fields of `add_record` but the wallet. All or none are added."""
        a = Args(args)
        items = a.list("records")
        if not 1 <= len(items) <= MAX_BATCH:
            raise WalletError(f"a batch holds 1..{MAX_BATCH} records")
        state = ctx.state
        wallet = self._writable_wallet(ctx, state, a.bytes("wallet", size=20))
        identity = ctx.read("identity")
        counters = _Counters(state)
        for item in items:
            if not isinstance(item, dict):
                raise WalletError("each batch item is a map")
            self._add_one(ctx, state, wallet, identity, item, counters)
        counters.flush()
        return {"count": len(items)}

    def _writable_wallet(self, ctx: CallContext, state: StateView,
                         wid: bytes) -> dict[str, Any]:
        wallet = self._wallet(state, wid)
        if wallet["recovering"] is not None and ctx.sender != wallet["owner"]:
            raise WalletError("the wallet is being recovered; only its owner writes now")
        return wallet

    def _add_one(self, ctx: CallContext, state: StateView, wallet: dict[str, Any],
                 identity: StateView, args: dict[str, Any],
                 counters: _Counters | None = None) -> dict[str, Any]:
        a = Args(args)
        wid, rid = wallet["id"], a.bytes("record", size=16)
        layer, rtype = rules.validate_layer(a.str("layer", max_len=64)), a.str("rtype")
        cid, capsule_hash = a.str("cid", max_len=64), a.bytes("capsule_hash", size=32)
        version = a.int("version", minimum=1)
        if rtype not in RECORD_TYPES:
            raise WalletError(f"unknown record type {rtype!r}; types: {', '.join(RECORD_TYPES)}")
        try:
            digest_of_any_cid(cid)
        except BlobError as exc:
            raise WalletError(f"cid: {exc}") from None
        rules.validate_write(state, identity, wallet, ctx.sender, layer, ctx.block.height)
        key = f"rec/{wid.hex()}/{rid.hex()}"
        record = state.get(key)
        if record is None:
            if version != 1:
                raise WalletError("a new record starts at version 1")
            record = {"layer": layer, "rtype": rtype, "versions": [], "deleted": None}
            if counters is None:
                count = state.get("recn/" + wid.hex(), 0)
                state.set("recn/" + wid.hex(), count + 1)
            else:
                count = counters.take("recn/" + wid.hex())
            state.set(f"reci/{wid.hex()}/{count}", rid)
        else:
            if record["deleted"] is not None:
                raise WalletError("the record was deleted; add a new record instead")
            if version != len(record["versions"]) + 1:
                raise WalletError(f"version must be {len(record['versions']) + 1} "
                                  f"(the record has {len(record['versions'])})")
            if layer != record["layer"] or rtype != record["rtype"]:
                raise WalletError("a new version keeps the record's layer and type")
        record["versions"].append({
            "cid": cid, "capsule_hash": capsule_hash, "originator": ctx.sender,
            "height": ctx.block.height, "last_update": ctx.block.time,
            "epoch": len(wallet["keys"]) - 1})
        state.set(key, record)
        self._feed(state, cid, "pin", counters)
        self.note_contribution(state, wid, ctx.sender, rid, version, layer, ctx.block.height)
        ctx.emit("record", wallet=wid, record=rid, version=version, cid=cid, layer=layer)
        return {"record": rid, "version": version}

    @tx_method
    def delete_record(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """Unpin every version everywhere; the chain keeps the hashes and this fact."""
        a = Args(args)
        wid, rid = a.bytes("wallet", size=20), a.bytes("record", size=16)
        self._owned(ctx, wid)
        key = f"rec/{wid.hex()}/{rid.hex()}"
        record = ctx.state.get(key)
        if record is None or record["deleted"] is not None:
            raise WalletError("no such record, or it was deleted already")
        record["deleted"] = {"by": ctx.sender, "height": ctx.block.height}
        ctx.state.set(key, record)
        for entry in record["versions"]:
            self._feed(ctx.state, entry["cid"], "unpin")
        ctx.emit("deleted", wallet=wid, record=rid)

    # --- grants ----------------------------------------------------------------------------
    def _new_grant(self, ctx: CallContext, wallet: dict[str, Any], a: Args, kind: str,
                   grantee: bytes | None, layers: list[str], write: bool) -> bytes:
        gid = a.bytes("grant", size=16)
        if ctx.state.has("grant/" + gid.hex()):
            raise WalletError("a grant with this id exists")
        proxies = [bytes(p) for p in a.list("proxies")]
        threshold = a.int("threshold", minimum=1)
        known = ctx.state.get("proxies", {})
        if not 1 <= len(proxies) <= MAX_PROXIES or len(set(proxies)) != len(proxies):
            raise WalletError(f"name 1..{MAX_PROXIES} distinct proxies")
        for proxy in proxies:
            if proxy.hex() not in known:
                raise WalletError(f"0x{proxy.hex()} is not a registered re-encryption proxy")
        if threshold > len(proxies):
            raise WalletError(f"threshold {threshold} exceeds the {len(proxies)} proxies")
        wid = wallet["id"]
        grants = ctx.state.get("grants/" + wid.hex(), [])
        if len(grants) >= Params.from_state(ctx.state).max_grants_per_wallet:
            raise WalletError("this wallet has the maximum number of grants")
        expiry = a.int("expiry", default=0)
        if expiry and expiry <= ctx.block.height:
            raise WalletError("the expiry height has passed already")
        ctx.state.set("grant/" + gid.hex(), {
            "id": gid, "wallet": wid, "kind": kind, "grantee": grantee,
            "grantee_pk": _key(a, "grantee_pk"), "layers": layers, "write": write,
            "expiry": expiry, "threshold": threshold, "proxies": proxies,
            "epoch": len(wallet["keys"]) - 1, "created": ctx.block.height, "revoked": None})
        ctx.state.set("grants/" + wid.hex(), [*grants, gid])
        return gid

    @tx_method
    def grant(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Share layers with a grantee through m-of-n proxies, until an optional height."""
        a = Args(args)
        wallet = self._owned(ctx, a.bytes("wallet", size=20))
        grantee = a.address("grantee")
        layers = [rules.validate_layer(x) for x in a.list("layers")]
        rules.validate_grant_layers(ctx.read("identity"), grantee, layers)
        keys = ctx.state.get("keys/" + grantee.hex())
        if keys is None or keys["enc"] != _key(a, "grantee_pk"):
            raise WalletError("grantee_pk must be the grantee's published Umbral key")
        gid = self._new_grant(ctx, wallet, a, "share", grantee, layers,
                              a.bool("write", default=False))
        ctx.emit("granted", wallet=wallet["id"], grant=gid, grantee=grantee)
        return {"grant": gid}

    @tx_method
    def revoke(self, ctx: CallContext, args: dict[str, Any]) -> None:
        a = Args(args)
        gid = a.bytes("grant", size=16)
        grant = ctx.state.get("grant/" + gid.hex())
        if grant is None:
            raise WalletError("no such grant")
        self._owned(ctx, grant["wallet"])
        if grant["revoked"] is not None:
            raise WalletError("the grant was revoked already")
        grant["revoked"] = ctx.block.height
        ctx.state.set("grant/" + gid.hex(), grant)
        ctx.emit("revoked", wallet=grant["wallet"], grant=gid)

    # --- consortium: proxies and institution authorisation ---------------------------------
    @tx_method
    def register_proxy(self, ctx: CallContext, args: dict[str, Any]) -> None:
        if not is_member(ctx.read("identity"), ctx.sender):
            raise WalletError("only consortium members register re-encryption proxies")
        a = Args(args)
        proxies = ctx.state.get("proxies", {})
        proxies[a.address("address").hex()] = {"url": a.str("url", default="")}
        ctx.state.set("proxies", proxies)

    @tx_method
    def authorise(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """An institution vouches for a professional (needed to read identification) or a
        researcher (needed to publish studies; role caps still keep them off raw layers)."""
        self._require_member_or_institution(ctx)
        a = Args(args)
        professional = a.address("professional")
        identity = ctx.read("identity")
        if not (has_role(identity, professional, "professional")
                or has_role(identity, professional, "researcher")):
            raise WalletError("only registered professionals or researchers can be authorised")
        if a.bool("revoke", default=False):
            ctx.state.delete("auth/" + professional.hex())
        else:
            ctx.state.set("auth/" + professional.hex(),
                          {"by": ctx.sender, "height": ctx.block.height})

    # --- the access log --------------------------------------------------------------------
    @tx_method
    def log_access(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """A proxy records an access it served; the chain re-checks P(Ps, Kc) itself."""
        if ctx.sender.hex() not in ctx.state.get("proxies", {}):
            raise WalletError("only registered proxies log accesses")
        from learnchain.privacy.errors import PrivacyError

        try:
            request = AccessRequest.from_plain(Args(args).dict("request"))
            requester = request.requester()
        except PrivacyError as exc:
            raise WalletError(str(exc)) from None
        found = rules.permit(ctx.state, ctx.read("identity"), request.plain(), requester,
                             ctx.block.height)
        if ctx.sender not in found["grant"]["proxies"]:
            raise WalletError("this proxy holds no fragment of that grant")
        used = f"used/{request.request_id.hex()}/{ctx.sender.hex()}"
        if ctx.state.has(used):
            raise WalletError("replayed access request: this proxy served it already")
        ctx.state.set(used, ctx.block.height)
        wid = request.wallet
        n = ctx.state.get("logn/" + wid.hex(), 0)
        ctx.state.set(f"log/{wid.hex()}/{n}", {
            "grantee": requester, "record": request.record, "version": request.version,
            "grant": request.grant, "proxy": ctx.sender, "request": request.request_id,
            "height": ctx.block.height, "time": ctx.block.time})
        ctx.state.set("logn/" + wid.hex(), n + 1)
        self.note_study_delivery(ctx.state, request.grant, request.record, ctx.block.height)
        ctx.emit("access", wallet=wid, record=request.record, grantee=requester)
        return {"entry": n}

    # --- recovery --------------------------------------------------------------------------
    @tx_method
    def set_recovery(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """The owner's recovery grant: kfrags to a recovery key whose secret only the KYC
        institution can open (`kit`, Umbral-wrapped for the institution)."""
        a = Args(args)
        wallet = self._owned(ctx, a.bytes("wallet", size=20))
        gid = self._new_grant(ctx, wallet, a, "recovery", None, list(rules.LAYERS), False)
        kit = a.dict("kit")
        wallet["recovery"] = {"grant": gid, "kit": {"capsule": Args(kit).bytes("capsule"),
                                                     "ct": Args(kit).bytes("ct")}}
        ctx.state.set("w/" + wallet["id"].hex(), wallet)
        return {"grant": gid}

    @tx_method
    def recover_start(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """The KYC institution, having re-identified the patient, names their new key."""
        a = Args(args)
        wallet = self._wallet(ctx.state, a.bytes("wallet", size=20))
        if ctx.sender != wallet["institution"]:
            raise WalletError("only the wallet's KYC institution starts a recovery")
        if wallet["recovery"] is None:
            raise WalletError("this wallet has no recovery grant (set_recovery)")
        new_owner = a.address("new_owner")
        if not has_role(ctx.read("identity"), new_owner, "patient"):
            raise WalletError("the new key must be registered as patient")
        if ctx.state.has("owner/" + new_owner.hex()):
            raise WalletError("the new key already has a wallet")
        if ctx.state.get("keys/" + new_owner.hex()) is None:
            raise WalletError("the new key has not published Umbral keys")
        kit = a.dict("kit")
        wallet["recovering"] = {"new_owner": new_owner, "since": ctx.block.height,
                                "kit": {"capsule": Args(kit).bytes("capsule"),
                                        "ct": Args(kit).bytes("ct")}}
        ctx.state.set("w/" + wallet["id"].hex(), wallet)
        ctx.emit("recovery-started", wallet=wallet["id"], new_owner=new_owner)

    @tx_method
    def recover_cancel(self, ctx: CallContext, args: dict[str, Any]) -> None:
        wallet = self._owned(ctx, Args(args).bytes("wallet", size=20))
        if wallet["recovering"] is None:
            raise WalletError("no recovery is in progress")
        wallet["recovering"] = None
        ctx.state.set("w/" + wallet["id"].hex(), wallet)
        ctx.emit("recovery-cancelled", wallet=wallet["id"])

    @tx_method
    def recover_finish(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """After the delay the new key owns the wallet and may use the recovery grant."""
        wallet = self._wallet(ctx.state, Args(args).bytes("wallet", size=20))
        pending = wallet["recovering"]
        if pending is None or ctx.sender != pending["new_owner"]:
            raise WalletError("no recovery names the sender as the new owner")
        delay = Params.from_state(ctx.state).recovery_delay
        if ctx.block.height < pending["since"] + delay:
            raise WalletError(f"the recovery can finish at height {pending['since'] + delay}")
        ctx.state.delete("owner/" + wallet["owner"].hex())
        ctx.state.set("owner/" + ctx.sender.hex(), wallet["id"])
        grant = ctx.state.get("grant/" + wallet["recovery"]["grant"].hex())
        grant["grantee"] = ctx.sender
        ctx.state.set("grant/" + grant["id"].hex(), grant)
        wallet["keys"] = [*wallet["keys"], ctx.state.get("keys/" + ctx.sender.hex())]
        wallet.update(owner=ctx.sender, recovering=None, recovered_kit=pending["kit"],
                      recovered_grant=grant["id"], recovery=None)
        ctx.state.set("w/" + wallet["id"].hex(), wallet)
        ctx.emit("recovered", wallet=wallet["id"], owner=ctx.sender)

    # --- queries ---------------------------------------------------------------------------
    @query_method
    def wallet(self, state: StateView, args: dict[str, Any]) -> Any:
        return state.get("w/" + Args(args).bytes("wallet", size=20).hex())

    @query_method
    def wallet_of(self, state: StateView, args: dict[str, Any]) -> Any:
        return state.get("owner/" + Args(args).address("address").hex())

    @query_method
    def keys(self, state: StateView, args: dict[str, Any]) -> Any:
        return state.get("keys/" + Args(args).address("address").hex())

    @query_method
    def record(self, state: StateView, args: dict[str, Any]) -> Any:
        a = Args(args)
        return state.get(f"rec/{a.bytes('wallet', size=20).hex()}/"
                         f"{a.bytes('record', size=16).hex()}")

    @query_method
    def records(self, state: StateView, args: dict[str, Any]) -> list[dict[str, Any]]:
        a = Args(args)
        wid, layer = a.bytes("wallet", size=20), a.str("layer", default="")
        out = []
        count = state.get("recn/" + wid.hex(), 0)
        for rid in state.get_many([f"{wid.hex()}/{i}" for i in range(count)], prefix="reci/"):
            record = state.get(f"rec/{wid.hex()}/{rid.hex()}")
            if not layer or rules.covers(layer, record["layer"]):
                out.append({"record": rid, **record})
        return out

    @query_method
    def grant_info(self, state: StateView, args: dict[str, Any]) -> Any:
        return state.get("grant/" + Args(args).bytes("grant", size=16).hex())

    @query_method
    def grants(self, state: StateView, args: dict[str, Any]) -> list[Any]:
        wid = Args(args).bytes("wallet", size=20)
        return [state.get("grant/" + g.hex()) for g in state.get("grants/" + wid.hex(), [])]

    @query_method
    def access_log(self, state: StateView, args: dict[str, Any]) -> list[Any]:
        wid = Args(args).bytes("wallet", size=20)
        return [state.get(f"log/{wid.hex()}/{i}") for i in range(state.get("logn/" + wid.hex(), 0))]

    @query_method
    def proxies(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        return dict(state.get("proxies", {}))

    @query_method
    def authorisation(self, state: StateView, args: dict[str, Any]) -> Any:
        return state.get("auth/" + Args(args).address("professional").hex())

    @query_method
    def cid_feed(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        start = Args(args).int("start", default=0)
        total = state.get("cidn", 0)
        return {"total": total,
                "entries": [state.get(f"cids/{i}") for i in range(start, min(total, start + 500))]}

    @query_method
    def permit(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        """P(Ps, Kc) at `height` for a signed request; what a proxy needs to re-encrypt."""
        from learnchain.privacy.errors import PrivacyError

        a = Args(args)
        try:
            request = AccessRequest.from_plain(a.dict("request"))
            requester = request.requester()
        except PrivacyError as exc:
            raise WalletError(str(exc)) from None
        found = rules.permit(state, _identity(state), request.plain(), requester,
                             a.int("height"))
        proxy = args.get("proxy")
        if isinstance(proxy, bytes) and state.has(f"used/{request.request_id.hex()}/{proxy.hex()}"):
            raise WalletError("replayed access request: the chain logged it for this proxy")
        grant = found["grant"]
        wallet = state.get("w/" + grant["wallet"].hex())
        owner_keys = wallet["keys"][grant["epoch"]]
        return {"grant": grant["id"], "requester": requester, "threshold": grant["threshold"],
                "proxies": grant["proxies"], "grantee_pk": grant["grantee_pk"],
                "delegating_pk": owner_keys["enc"], "verifying_pk": owner_keys["ver"]}
