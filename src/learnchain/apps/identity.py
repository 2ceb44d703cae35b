"""Consortium membership and identities with roles (KYC done off-chain by authorities).

Consortium members are institutions named in genesis; each member is an authority that can
register identities with roles and revoke them. New members join, and members leave, only by a
majority of current members approving the same proposal, so no single institution controls
who may mine or register patients.
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import App, AppError, Args, CallContext, query_method, tx_method
from learnchain.core.crypto import parse_address
from learnchain.core.state import StateView

ROLES = frozenset({"patient", "professional", "institution", "researcher", "miner", "controller"})


def has_role(state: StateView, address: bytes, role: str) -> bool:
    record = state.get("id/" + address.hex())
    return bool(record) and role in record["roles"] and not record.get("revoked", False)


def is_member(state: StateView, address: bytes) -> bool:
    return address in state.get("members", [])


class IdentityApp(App):
    name = "identity"

    def genesis(self, ctx: CallContext, config: dict[str, Any]) -> None:
        members = [parse_address(m) for m in config.get("members", [])]
        ctx.state.set("members", sorted(set(members)))
        for address_text, roles in config.get("identities", {}).items():
            for role in roles:
                self._grant(ctx, parse_address(address_text), role, "genesis")

    def _require_member(self, ctx: CallContext) -> None:
        if not is_member(ctx.read(self.name), ctx.sender or b""):
            raise AppError("only consortium members (authorities) may do this; "
                           "ask a member to submit it")

    def _grant(self, ctx: CallContext, address: bytes, role: str, label: str) -> None:
        if role not in ROLES:
            raise AppError(f"unknown role {role!r}; roles: {', '.join(sorted(ROLES))}")
        key = "id/" + address.hex()
        record = ctx.state.get(key) or {"roles": [], "label": label, "revoked": False}
        if role not in record["roles"]:
            record["roles"] = sorted([*record["roles"], role])
        record["revoked"] = False
        ctx.state.set(key, record)

    @tx_method
    def register(self, ctx: CallContext, args: dict[str, Any]) -> None:
        self._require_member(ctx)
        a = Args(args)
        address, role = a.address("address"), a.str("role")
        self._grant(ctx, address, role, a.str("label", default=""))
        ctx.emit("registered", address=address, role=role, by=ctx.sender)

    @tx_method
    def revoke(self, ctx: CallContext, args: dict[str, Any]) -> None:
        self._require_member(ctx)
        a = Args(args)
        address, role = a.address("address"), a.str("role", default="")
        key = "id/" + address.hex()
        record = ctx.state.get(key)
        if not record:
            raise AppError("no identity is registered at that address")
        if role:
            if role not in record["roles"]:
                raise AppError(f"the identity does not hold role {role!r}")
            record["roles"] = [r for r in record["roles"] if r != role]
        else:
            record["revoked"] = True
        ctx.state.set(key, record)
        ctx.emit("revoked", address=address, role=role or "*", by=ctx.sender)

    @tx_method
    def propose_membership(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Approve adding (`join`) or removing (`leave`) a member; applies at a majority."""
        self._require_member(ctx)
        a = Args(args)
        address, action = a.address("address"), a.str("action")
        if action not in ("join", "leave"):
            raise AppError("action must be 'join' or 'leave'")
        members: list[bytes] = ctx.state.get("members", [])
        if (action == "join") == (address in members):
            raise AppError("that address is already a member" if action == "join"
                           else "that address is not a member")
        key = f"proposal/{action}/{address.hex()}"
        approvals: list[bytes] = ctx.state.get(key, [])
        if ctx.sender in approvals:
            raise AppError("you already approved this proposal")
        approvals = sorted([*approvals, ctx.sender])
        if 2 * len(approvals) > len(members):
            members = sorted([*members, address]) if action == "join" else [
                m for m in members if m != address]
            if not members:
                raise AppError("the consortium cannot remove its last member")
            ctx.state.set("members", members)
            ctx.state.delete(key)
            ctx.emit("membership", address=address, action=action)
            return {"applied": True, "approvals": len(approvals)}
        ctx.state.set(key, approvals)
        return {"applied": False, "approvals": len(approvals)}

    @query_method
    def identity(self, state: StateView, args: dict[str, Any]) -> Any:
        return state.get("id/" + Args(args).address("address").hex())

    @query_method
    def members(self, state: StateView, args: dict[str, Any]) -> list[bytes]:
        return list(state.get("members", []))

    @query_method
    def has_role(self, state: StateView, args: dict[str, Any]) -> bool:
        a = Args(args)
        return has_role(state, a.address("address"), a.str("role"))
