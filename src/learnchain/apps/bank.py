"""The native token: integer balances, transfers, and genesis allocations."""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import App, AppError, Args, Bank, CallContext, query_method, tx_method
from learnchain.core.crypto import parse_address
from learnchain.core.state import StateView


class BankApp(App):
    name = "bank"

    def genesis(self, ctx: CallContext, config: dict[str, Any]) -> None:
        bank = Bank(ctx.overlay)
        for address_text, amount in config.get("allocations", {}).items():
            if not isinstance(amount, int) or amount < 0:
                raise AppError(f"genesis allocation for {address_text} must be a non-negative int")
            bank.mint(parse_address(address_text), amount)

    @tx_method
    def transfer(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """The receipt's `transfer` event records who paid whom how much."""
        a = Args(args)
        to, amount = a.address("to"), a.int("amount", minimum=1)
        ctx.bank.pay(to, amount)
        ctx.emit("transfer", sender=ctx.sender, to=to, amount=amount)

    @query_method
    def balance(self, state: StateView, args: dict[str, Any]) -> int:
        address = Args(args).address("address")
        return int(state.get("bal/" + address.hex(), 0))

    @query_method
    def supply(self, state: StateView, args: dict[str, Any]) -> int:
        return int(state.get("supply", 0))

    @query_method
    def escrow(self, state: StateView, args: dict[str, Any]) -> int:
        a = Args(args)
        return int(state.get(f"esc/{a.str('app')}/{a.str('escrow')}", 0))
