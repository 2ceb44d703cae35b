"""Professional collaboration (seed §3.1.3, §3.2.1): cases, colleagues, patient consent, and
a per-case contributor log. The chain side, mixed into the wallet app.

A *case* is a treating professional's work on one wallet over some layers. The treating
professional (the *lead*) opens it: they must be a professional whom an institution authorised
(`wallet.authorise`, the authorisation of Wallets I) and hold a live grant from the patient
covering every layer of the case. The lead invites a colleague by address (`invite_colleague`,
the colleague must be an institution-authorised professional too). Nothing is shared yet: only
the patient can make re-encryption fragments (they need the owner's secret key), and the chain
only lets the patient consent. `consent_colleague` is the patient's on-chain consent: it creates
an ordinary `share` grant to the colleague scoped to exactly the case's layers (read, or
read-write if the patient says so). The colleague then reads through the proxies under the
existing permissioning function P(Ps, Kc) (`rules.permit`), so every rule of Wallets I holds for
them: revocation (`revoke` of that grant, or `withdraw_consent`) stops every further read; role
caps are checked at every read, so a colleague who holds (or later acquires) the researcher role
(our pharmaceutical role) never reads identification or profile, whatever the patient granted.

Every record version added to a wallet while a case is open is appended to that case's
contributor log when its writer is a member of the case (the lead or a consented colleague) and
its layer lies in the case's layers: who added which record version, under which institution's
authorisation, at which height. The log is append-only and queryable (`case_log`).

State (namespace `wallet/`): `case/{cid}`; `cases/{wid}` (open case ids of a wallet);
`caselog/{cid}/{n}` + `caselogn/{cid}`.
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import Args, CallContext, query_method, tx_method
from learnchain.apps.identity import has_role
from learnchain.apps.wallet import rules
from learnchain.apps.wallet.rules import WalletError, authorised_for_identification
from learnchain.core.state import StateView

CASE_ID_SIZE = 16
MAX_CASES_PER_WALLET = 64
MAX_CASE_MEMBERS = 16


def validate_case_layers(layers: list[Any]) -> list[str]:
    """A case covers 1..4 distinct profile or activities layers (identification is read under
    the lead's own grant only; a colleague needs the patient's direct grant for it)."""
    if not isinstance(layers, list) or not 1 <= len(layers) <= 4 or len(set(layers)) != len(
            layers):
        raise WalletError("a case names 1..4 distinct layers")
    for layer in layers:
        rules.validate_layer(layer)
        if rules.root_of(layer) == "identification":
            raise WalletError("a case covers profile or activities layers, not identification")
    return list(layers)


def _covered(grant: dict[str, Any], layer: str, height: int) -> bool:
    return rules.grant_active(grant, height) is None and any(
        rules.covers(g, layer) for g in grant["layers"])


def _authorised_professional(state: StateView, identity: StateView, who: bytes,
                             what: str) -> None:
    if not has_role(identity, who, "professional"):
        raise WalletError(f"the {what} must be registered as professional")
    if not authorised_for_identification(state, identity, who):
        raise WalletError(f"the {what} needs an institution's authorisation (wallet authorise)")


class CasesMixin:
    """Transactions and queries of professional collaboration; `WalletApp` inherits them."""

    @staticmethod
    def _case(state: StateView, cid: bytes) -> dict[str, Any]:
        case = state.get("case/" + cid.hex())
        if case is None:
            raise WalletError(f"no case 0x{cid.hex()}")
        return case

    @tx_method
    def open_case(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """The treating professional opens a case on a wallet whose layers they hold a grant of."""
        a = Args(args)
        state, identity = ctx.state, ctx.read("identity")
        cid, wid = a.bytes("case", size=CASE_ID_SIZE), a.bytes("wallet", size=20)
        layers = validate_case_layers(a.list("layers"))
        if state.has("case/" + cid.hex()):
            raise WalletError("a case with this id exists")
        if state.get("w/" + wid.hex()) is None:
            raise WalletError(f"no wallet 0x{wid.hex()}")
        _authorised_professional(state, identity, ctx.sender, "treating professional")
        grants = [state.get("grant/" + g.hex()) for g in state.get("grants/" + wid.hex(), [])]
        for layer in layers:
            if not any(g["grantee"] == ctx.sender and g["kind"] == "share"
                       and _covered(g, layer, ctx.block.height) for g in grants):
                raise WalletError(f"the treating professional holds no live grant of {layer!r} "
                                  "in this wallet")
        open_cases = state.get("cases/" + wid.hex(), [])
        if len(open_cases) >= MAX_CASES_PER_WALLET:
            raise WalletError("this wallet has the maximum number of open cases")
        state.set("case/" + cid.hex(), {
            "id": cid, "wallet": wid, "lead": ctx.sender, "layers": layers,
            "opened": ctx.block.height, "closed": None, "members": []})
        state.set("cases/" + wid.hex(), [*open_cases, cid])
        ctx.emit("case", case=cid, wallet=wid, lead=ctx.sender)
        return {"case": cid}

    @tx_method
    def invite_colleague(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """The lead names a colleague; nothing is shared until the patient consents."""
        a = Args(args)
        state = ctx.state
        case = self._case(state, a.bytes("case", size=CASE_ID_SIZE))
        colleague = a.address("colleague")
        if ctx.sender != case["lead"]:
            raise WalletError("only the case's treating professional invites colleagues")
        if case["closed"] is not None:
            raise WalletError("the case is closed")
        _authorised_professional(state, ctx.read("identity"), colleague, "colleague")
        if colleague == case["lead"] or any(m["colleague"] == colleague
                                            for m in case["members"]):
            raise WalletError("that professional is in the case already")
        if len(case["members"]) >= MAX_CASE_MEMBERS:
            raise WalletError(f"a case has at most {MAX_CASE_MEMBERS} colleagues")
        case["members"].append({"colleague": colleague, "invited": ctx.block.height,
                                "grant": None, "consented": None})
        state.set("case/" + case["id"].hex(), case)
        ctx.emit("invited", case=case["id"], colleague=colleague)

    @tx_method
    def consent_colleague(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """The patient's consent: a grant to the invited colleague of exactly the case's layers
        (the client then hands the proxies their fragments, as for any grant)."""
        a = Args(args)
        state, identity = ctx.state, ctx.read("identity")
        case = self._case(state, a.bytes("case", size=CASE_ID_SIZE))
        wallet = self._owned(ctx, case["wallet"])  # type: ignore[attr-defined]
        if case["closed"] is not None:
            raise WalletError("the case is closed")
        colleague = a.address("colleague")
        member = next((m for m in case["members"] if m["colleague"] == colleague), None)
        if member is None:
            raise WalletError("the treating professional has not invited that colleague")
        if member["grant"] is not None:
            raise WalletError("consent was given already (withdraw it and consent again)")
        _authorised_professional(state, identity, colleague, "colleague")
        rules.validate_grant_layers(identity, colleague, case["layers"])
        keys = state.get("keys/" + colleague.hex())
        if keys is None or keys["enc"] != a.bytes("grantee_pk", size=33):
            raise WalletError("grantee_pk must be the colleague's published Umbral key")
        gid = self._new_grant(ctx, wallet, a, "share", colleague,  # type: ignore[attr-defined]
                              list(case["layers"]), a.bool("write", default=True))
        grant = state.get("grant/" + gid.hex())
        grant["case"] = case["id"]
        state.set("grant/" + gid.hex(), grant)
        member.update(grant=gid, consented=ctx.block.height)
        state.set("case/" + case["id"].hex(), case)
        ctx.emit("consented", case=case["id"], colleague=colleague, grant=gid)
        return {"grant": gid}

    @tx_method
    def withdraw_consent(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """The patient takes a colleague out of the case: their case grant is revoked (the
        client then asks the proxies to drop the fragments)."""
        a = Args(args)
        case = self._case(ctx.state, a.bytes("case", size=CASE_ID_SIZE))
        self._owned(ctx, case["wallet"])  # type: ignore[attr-defined]
        colleague = a.address("colleague")
        member = next((m for m in case["members"] if m["colleague"] == colleague), None)
        if member is None or member["grant"] is None:
            raise WalletError("that colleague holds no consent in this case")
        grant = ctx.state.get("grant/" + member["grant"].hex())
        if grant["revoked"] is not None:
            raise WalletError("the consent was withdrawn already")
        grant["revoked"] = ctx.block.height
        ctx.state.set("grant/" + grant["id"].hex(), grant)
        ctx.emit("revoked", wallet=case["wallet"], grant=grant["id"])

    @tx_method
    def close_case(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """The lead or the patient closes a case: its colleagues' grants are revoked, the
        contributor log stays."""
        a = Args(args)
        state = ctx.state
        case = self._case(state, a.bytes("case", size=CASE_ID_SIZE))
        wallet = state.get("w/" + case["wallet"].hex())
        if ctx.sender not in (case["lead"], wallet["owner"]):
            raise WalletError("only the treating professional or the patient closes a case")
        if case["closed"] is not None:
            raise WalletError("the case is closed already")
        for member in case["members"]:
            if member["grant"] is not None:
                grant = state.get("grant/" + member["grant"].hex())
                if grant["revoked"] is None:
                    grant["revoked"] = ctx.block.height
                    state.set("grant/" + grant["id"].hex(), grant)
        case["closed"] = ctx.block.height
        state.set("case/" + case["id"].hex(), case)
        state.set("cases/" + case["wallet"].hex(),
                  [c for c in state.get("cases/" + case["wallet"].hex(), []) if c != case["id"]])
        ctx.emit("case-closed", case=case["id"])

    @staticmethod
    def note_contribution(state: StateView, wid: bytes, writer: bytes, rid: bytes,
                          version: int, layer: str, height: int) -> None:
        """Called for every record version added: log it in each open case of the wallet whose
        layers cover it and of which the writer is a live member (lead or consented colleague)."""
        for cid in state.get("cases/" + wid.hex(), []):
            case = state.get("case/" + cid.hex())
            if not any(rules.covers(g, layer) for g in case["layers"]):
                continue
            if writer == case["lead"]:
                role = "lead"
            else:
                member = next((m for m in case["members"] if m["colleague"] == writer
                               and m["grant"] is not None), None)
                if member is None or rules.grant_active(
                        state.get("grant/" + member["grant"].hex()), height) is not None:
                    continue
                role = "colleague"
            auth = state.get("auth/" + writer.hex()) or {}
            n = state.get("caselogn/" + cid.hex(), 0)
            state.set(f"caselog/{cid.hex()}/{n}", {
                "by": writer, "role": role, "institution": auth.get("by"), "record": rid,
                "version": version, "layer": layer, "height": height})
            state.set("caselogn/" + cid.hex(), n + 1)

    @query_method
    def case(self, state: StateView, args: dict[str, Any]) -> Any:
        return state.get("case/" + Args(args).bytes("case", size=CASE_ID_SIZE).hex())

    @query_method
    def cases(self, state: StateView, args: dict[str, Any]) -> list[Any]:
        """Open cases of a wallet."""
        wid = Args(args).bytes("wallet", size=20)
        return [state.get("case/" + c.hex()) for c in state.get("cases/" + wid.hex(), [])]

    @query_method
    def case_log(self, state: StateView, args: dict[str, Any]) -> list[Any]:
        """Who added which record version to the case, in order (optionally one contributor)."""
        a = Args(args)
        cid = a.bytes("case", size=CASE_ID_SIZE)
        by = a.address("by") if args.get("by") is not None else None
        entries = [state.get(f"caselog/{cid.hex()}/{i}")
                   for i in range(state.get("caselogn/" + cid.hex(), 0))]
        return [e for e in entries if by is None or e["by"] == by]
