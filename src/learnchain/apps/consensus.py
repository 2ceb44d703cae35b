"""Consensus parameters under governance: difficulty, the active miner set, the controller,
and the transaction fee rate.

Only the controller (a person or the run-time RL engine, named in genesis) may change them, and
only to values the chain's engine accepts; miners must hold the `miner` identity role, so the
consortium's KYC decides who can ever be made a miner.
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import App, AppError, Args, CallContext, query_method, tx_method
from learnchain.apps.identity import has_role
from learnchain.consensus.base import ConsensusEngine, ConsensusParams
from learnchain.core.crypto import parse_address
from learnchain.core.state import StateView

FEE_PER_BYTE = "fee_per_byte"
MAX_FEE_PER_BYTE = 2**40
# Parameters the app itself owns (the engine validates the rest). Absent from a genesis file
# means 0 (free), which keeps the genesis of chains made before fees existed unchanged.
APP_PARAMS = {FEE_PER_BYTE: 0}


def fee_per_byte(cp: ConsensusParams) -> int:
    """The governed minimum fee per encoded transaction byte."""
    return int(cp.params.get(FEE_PER_BYTE, 0))


def validate_app_params(params: dict[str, Any]) -> None:
    """Raise AppError for a bad app-owned parameter."""
    rate = params.get(FEE_PER_BYTE, 0)
    if not isinstance(rate, int) or isinstance(rate, bool) or not 0 <= rate <= MAX_FEE_PER_BYTE:
        raise AppError(f"consensus parameter '{FEE_PER_BYTE}' must be an integer in "
                       f"[0, {MAX_FEE_PER_BYTE}], got {rate!r}")


def read_params(view: StateView) -> ConsensusParams:
    return ConsensusParams(
        params=dict(view.get("params", {})),
        miners=tuple(view.get("miners", [])),
        controller=view.get("controller"),
    )


class ConsensusApp(App):
    name = "consensus"

    def __init__(self, engine: ConsensusEngine) -> None:
        self.engine = engine

    def genesis(self, ctx: CallContext, config: dict[str, Any]) -> None:
        params = {**self.engine.default_params(), **config.get("params", {})}
        try:
            self.engine.validate_params(params)
            validate_app_params(params)
        except (ValueError, AppError) as exc:
            raise AppError(f"genesis consensus params: {exc}") from None
        ctx.state.set("params", params)
        ctx.state.set("miners", [parse_address(m) for m in config.get("miners", [])])
        controller = config.get("controller")
        ctx.state.set("controller", parse_address(controller) if controller else None)

    def _require_controller(self, ctx: CallContext) -> None:
        controller = ctx.state.get("controller")
        if controller is None or ctx.sender != controller:
            raise AppError("only the consensus controller named in genesis may change "
                           "consensus parameters")

    @tx_method
    def set_params(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        self._require_controller(ctx)
        updates = Args(args).dict("params")
        current = ctx.state.get("params", {})
        unknown = set(updates) - set(current) - set(APP_PARAMS)
        if unknown:
            raise AppError(f"unknown consensus parameter(s): {', '.join(sorted(unknown))}")
        params = {**current, **updates}
        validate_app_params(params)
        try:
            self.engine.validate_params(params)
        except ValueError as exc:
            raise AppError(str(exc)) from None
        ctx.state.set("params", params)
        ctx.emit("params", **updates)
        return params

    @tx_method
    def set_miners(self, ctx: CallContext, args: dict[str, Any]) -> int:
        self._require_controller(ctx)
        miners = Args(args).list("miners")
        identity = ctx.read("identity")
        for miner in miners:
            if not isinstance(miner, bytes) or len(miner) != 20:
                raise AppError("miners must be a list of 20-byte addresses")
            if not has_role(identity, miner, "miner"):
                raise AppError(f"0x{miner.hex()} does not hold the 'miner' role; "
                               "a consortium member must register it first")
        if len(set(miners)) != len(miners) or not miners:
            raise AppError("the miner set must be non-empty and without duplicates")
        ctx.state.set("miners", list(miners))
        ctx.emit("miners", count=len(miners))
        return len(miners)

    @tx_method
    def set_controller(self, ctx: CallContext, args: dict[str, Any]) -> None:
        self._require_controller(ctx)
        ctx.state.set("controller", Args(args).address("controller"))

    @query_method
    def params(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        cp = read_params(state)
        return {"params": {**APP_PARAMS, **cp.params}, "miners": list(cp.miners),
                "controller": cp.controller}
