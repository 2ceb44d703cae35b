"""The prediction market's transactions, mixed into `CollabApp` (kept apart for size).

Phases: `market_open` (bounty + committed piece hashes) → the chain draws the piece to reveal
early → `market_reveal_early` opens participation → `add_data` stakes → `market_end` →
`market_reveal` of every other piece, the last of which settles the reward phase in that
transaction (`mechanisms.compute_market_rewards`) → authors `refund` (collect) and, after the
any-address wait, anyone may `report` an author's uncollected balance; `market_abort` if the
provider never reveals.
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import AppError, Args, CallContext, tx_method
from learnchain.apps.collab import mechanisms as mech
from learnchain.apps.collab.models import DictStore, Model, build_model
from learnchain.apps.collab.state_store import (
    State,
    StateStore,
    escrow_name,
    get_dyn,
    model_items,
    put_dyn,
)

MAX_PIECES = 256


class MarketMethods:
    """Market transactions; needs `_definition` and `_contribution` from `CollabApp`."""

    _definition: Any
    _contribution: Any


    def _market(self, ctx: CallContext, args: Args) -> tuple[int, dict[str, Any],
                                                              dict[str, Any]]:
        model_id = args.int("model_id")
        definition = self._definition(ctx.state, model_id)
        if definition["mechanism"] != "market":
            raise AppError("this model does not use the prediction market mechanism")
        market = ctx.state.get(f"m/{model_id}/mk")
        if market is None:
            raise AppError("no market has been opened for this model")
        return model_id, definition, market

    @tx_method
    def market_open(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Stake a bounty and commit to a hidden test set (SHA-256 of each piece)."""
        a = Args(args)
        model_id = a.int("model_id")
        st = ctx.state
        definition = self._definition(st, model_id)
        if definition["mechanism"] != "market":
            raise AppError("this model does not use the prediction market mechanism")
        if st.has(f"m/{model_id}/mk"):
            raise AppError("this model already has a market")
        bounty = a.int("bounty", minimum=1)
        hashes = a.list("hashes")
        if not 2 <= len(hashes) <= MAX_PIECES or not all(
                isinstance(h, bytes) and len(h) == 32 for h in hashes):
            raise AppError(f"hashes must be 2 to {MAX_PIECES} SHA-256 digests (32 bytes)")
        ctx.bank.deposit(escrow_name(model_id), bounty)
        # The piece to reveal is drawn at the end of the *next* block, from randomness seeded
        # by this block's hash: unknown when the provider signs, so it cannot be ground by
        # re-signing variants of this transaction.
        draw_height = ctx.block.height + 1
        st.set(f"m/{model_id}/mk", {
            "provider": ctx.sender, "bounty": bounty, "hashes": hashes,
            "reveal_index": None, "draw_height": draw_height, "phase": "initialization",
            "n": 0, "first": get_dyn(st, model_id)["n"], "opened": ctx.block.time,
            "start": None, "end": None, "reward_end": None, "revealed": [],
            "outcome": None,
        })
        st.set("pending_draws", [*st.get("pending_draws", []), model_id])
        ctx.emit("market_opened", model_id=model_id, draw_height=draw_height)
        return {"model_id": model_id, "draw_height": draw_height}

    def end_block(self, ctx: CallContext) -> None:
        """Draw the early-reveal piece of markets opened in the previous block."""
        st = ctx.state
        pending = st.get("pending_draws")
        if not pending:
            return
        waiting = []
        for model_id in pending:
            market = st.get(f"m/{model_id}/mk")
            if ctx.block.height < market["draw_height"]:
                waiting.append(model_id)
                continue
            market["reveal_index"] = ctx.random_below(len(market["hashes"]))
            st.set(f"m/{model_id}/mk", market)
            ctx.emit("market_reveal_drawn", model_id=model_id,
                     reveal_index=market["reveal_index"])
        st.set("pending_draws", waiting)

    def _check_piece(self, market: dict[str, Any], index: int, piece: Any) -> None:
        if not 0 <= index < len(market["hashes"]):
            raise AppError("no test-set piece has that index")
        if mech.piece_hash(piece) != market["hashes"][index]:
            raise AppError("the piece does not match its committed hash")

    @tx_method
    def market_reveal_early(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Reveal the piece chain randomness picked; this opens the market to contributions."""
        a = Args(args)
        model_id, _, market = self._market(ctx, a)
        if market["phase"] != "initialization":
            raise AppError("the initial test-set piece has already been revealed")
        if market["reveal_index"] is None:
            raise AppError(f"the piece to reveal is drawn at the end of block "
                           f"{market['draw_height']}; reveal it after that block")
        piece = a.list("piece")
        self._check_piece(market, market["reveal_index"], piece)
        ctx.state.set(f"m/{model_id}/mk/p/{market['reveal_index']}", piece)
        market.update(phase="participation", start=ctx.block.time,
                      revealed=[market["reveal_index"]])
        ctx.state.set(f"m/{model_id}/mk", market)
        return {"phase": "participation"}

    @tx_method
    def market_end(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Close participation once the minimum length or contribution count is reached."""
        a = Args(args)
        model_id, definition, market = self._market(ctx, a)
        if market["phase"] != "participation":
            raise AppError("the market is not in its participation phase")
        options = mech.MarketOptions.from_plain(definition["mparams"])
        if (market["n"] < options.min_contributions
                and ctx.block.time < market["start"] + options.min_length_s):
            raise AppError(mech.E_MARKET_EARLY)
        market.update(phase="reveal", end=ctx.block.time)
        ctx.state.set(f"m/{model_id}/mk", market)
        return {"phase": "reveal"}

    @tx_method
    def market_reveal(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Reveal one more test-set piece; the last one triggers the reward computation."""
        a = Args(args)
        model_id, definition, market = self._market(ctx, a)
        if market["phase"] != "reveal":
            raise AppError("the market is not waiting for its test set")
        index, piece = a.int("index"), a.list("piece")
        if index in market["revealed"]:
            raise AppError("that piece has already been revealed")
        self._check_piece(market, index, piece)
        options = mech.MarketOptions.from_plain(definition["mparams"])
        market["test_n"] = market.get("test_n", 0) + len(piece)
        if market["test_n"] > options.max_test_samples:
            raise AppError(f"the test set exceeds the market's {options.max_test_samples} "
                           "samples")
        st = ctx.state
        st.set(f"m/{model_id}/mk/p/{index}", piece)
        market["revealed"] = sorted([*market["revealed"], index])
        if len(market["revealed"]) == len(market["hashes"]):
            self._settle(ctx, model_id, definition, market)
        st.set(f"m/{model_id}/mk", market)
        return {"phase": market["phase"], "outcome": market["outcome"]}

    def _market_entries(self, st: State, model_id: int,
                        market: dict[str, Any]) -> list[mech.MarketEntry]:
        entries = []
        for n in range(market["first"], market["first"] + market["n"]):
            c = self._contribution(st, model_id, n)
            entries.append(mech.MarketEntry(c.author, c.data, c.label, c.deposit))
        return entries

    def _settle(self, ctx: CallContext, model_id: int, definition: dict[str, Any],
                market: dict[str, Any]) -> None:
        st = ctx.state
        test_x: list[list[int]] = []
        test_y: list[int] = []
        for i in range(len(market["hashes"])):
            if i == market["reveal_index"]:
                continue  # public since the start: contributors could have fitted it
            for data, label in st.get(f"m/{model_id}/mk/p/{i}"):
                test_x.append(data)
                test_y.append(label)
        initial = dict(model_items(st, model_id))

        def fresh() -> Model:
            return build_model(definition["type"], definition["params"],
                               DictStore(dict(initial)))

        options = mech.MarketOptions.from_plain(definition["mparams"])
        outcome = mech.compute_market_rewards(fresh, self._market_entries(st, model_id, market),
                                              test_x, test_y, market["bounty"], options)
        for author, amount in outcome.payouts.items():
            st.set(f"m/{model_id}/mk/b/{author.hex()}", amount)
        if outcome.provider_refund:
            ctx.bank.release(escrow_name(model_id), market["provider"], outcome.provider_refund)
        # Deploy the model trained on the contributions that survived the reward phase.
        dyn = get_dyn(st, model_id)
        store = StateStore(st, model_id, dyn)
        final = outcome.final_model
        assert isinstance(final.store, DictStore)
        for key, value in final.store.items():
            if initial.get(key) != value:
                store.set(key, value)
        dyn["last"] = ctx.block.time
        put_dyn(st, model_id, dyn)
        market.update(phase="collect", reward_end=ctx.block.time, outcome={
            "base_correct": outcome.base_correct, "final_correct": outcome.final_correct,
            "test_size": outcome.test_size, "provider_refund": outcome.provider_refund,
            "survivors": len(outcome.survivors),
            # per-pass scores are kept when small (they explain every payout); large
            # markets keep only rounds and drops so the record stays a few kilobytes
            "passes": [p.to_plain() if sum(len(q.scores) for q in outcome.passes) <= 5_000
                       else {"ticks": p.ticks, "dropped": len(p.dropped),
                             "contributions": p.contributions} for p in outcome.passes],
            "payouts": {a.hex(): v for a, v in outcome.payouts.items()},
        })
        ctx.emit("market_settled", model_id=model_id, provider_refund=outcome.provider_refund)

    @tx_method
    def market_abort(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Anyone settles a market whose provider did not reveal the test set in time."""
        a = Args(args)
        model_id, definition, market = self._market(ctx, a)
        options = mech.MarketOptions.from_plain(definition["mparams"])
        if market["phase"] != "reveal" or ctx.block.time < market["end"] + \
                options.reveal_window_s:
            raise AppError("the provider still has time to reveal the test set")
        stakes: dict[bytes, int] = {}
        for entry in self._market_entries(ctx.state, model_id, market):
            stakes[entry.author] = stakes.get(entry.author, 0) + entry.stake
        shares, remainder = mech.abort_split(stakes, market["bounty"])
        for author, amount in shares.items():
            ctx.state.set(f"m/{model_id}/mk/b/{author.hex()}", amount)
        if remainder:
            ctx.bank.release(escrow_name(model_id), definition["owner"], remainder)
        market.update(phase="collect", reward_end=ctx.block.time,
                      outcome={"aborted": True, "owner_remainder": remainder,
                               "payouts": {a.hex(): v for a, v in shares.items()}})
        ctx.state.set(f"m/{model_id}/mk", market)
        return {"phase": "collect", "owner_remainder": remainder}

    def _market_collect(self, ctx: CallContext, model_id: int, author: bytes,
                        recipient: bytes) -> dict[str, Any]:
        market = ctx.state.get(f"m/{model_id}/mk")
        if market is None or market["phase"] != "collect":
            raise AppError(mech.E_REWARD_PENDING)
        key = f"m/{model_id}/mk/b/{author.hex()}"
        amount = ctx.state.get(key, 0)
        if amount == 0:
            raise AppError(mech.E_NOTHING_LEFT)
        ctx.state.set(key, 0)
        ctx.bank.release(escrow_name(model_id), recipient, amount)
        ctx.emit("market_paid", model_id=model_id, author=author, to=recipient, amount=amount)
        return {"amount": amount}

    def _market_take(self, ctx: CallContext, model_id: int, reporter: bytes,
                     author: bytes) -> dict[str, Any]:
        """Unclaimed winnings go to whoever asks after the any-address wait.

        The author's balance moves (the reference cleared the reporter's by mistake).
        """
        definition = self._definition(ctx.state, model_id)
        market = ctx.state.get(f"m/{model_id}/mk")
        if market is None or market["phase"] != "collect":
            raise AppError(mech.E_REWARD_PENDING)
        options = mech.MarketOptions.from_plain(definition["mparams"])
        if ctx.block.time - market["reward_end"] < options.any_wait_s:
            raise AppError(mech.E_TOO_EARLY)
        return self._market_collect(ctx, model_id, author, reporter)
