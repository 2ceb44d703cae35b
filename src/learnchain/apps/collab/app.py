"""The `collab` app: shared models anyone can use for free and improve by adding labelled data.

A model lives in state with a client-side encoder and one incentive mechanism:

* `stakeable` — deposit, refund and take (the reference's Stakeable rules);
* `points` — no money; refunds and reports settle a contribution once and earn points/badges;
* `market` — a prediction market: a provider's bounty pays contributors by how much their
  data improves accuracy on a test set the provider committed to in advance.

State layout (namespace `collab/`): `next_id`; per model `m/{id}/def` (fixed definition),
`m/{id}/enc` (encoder, never read on-chain), `m/{id}/dyn` (counters), `m/{id}/s/{key}` (the
model's values), `m/{id}/k/{n}` (log of model keys, so a model can be exported without key
iteration), `m/{id}/c/{n}` (contributions), `m/{id}/a/{address}` + `m/{id}/al/{n}` (authors),
`m/{id}/mk…` (market). Money sits in one escrow per model, `m{id}`.
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import App, AppError, Args, CallContext, query_method, tx_method
from learnchain.apps.collab import mechanisms as mech
from learnchain.apps.collab.encoders import Encoder
from learnchain.apps.collab.interop import class_entries, is_reference_model
from learnchain.apps.collab.models import (
    DictStore,
    Model,
    build_model,
    load_model,
    model_class,
)
from learnchain.core.state import StateView, decode_stored

MECHANISMS = ("stakeable", "points", "market")
MAX_DATA_LEN = 4096
MAX_PIECES = 256


State = StateView


class StateStore:
    """A model store over app state: reads are cached per call, new keys are logged."""

    def __init__(self, state: State, model_id: int, dyn: dict[str, Any] | None) -> None:
        self._state = state
        self._base = f"m/{model_id}/"
        self._prefix = self._base + "s/"
        self._dyn = dyn
        self._cache: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        if key in self._cache:
            return self._cache[key]
        value = self._state.get(self._prefix + key)
        self._cache[key] = value
        return value

    def get_many(self, keys: list[str]) -> list[Any]:
        """Several values at once: the hot path of sparse models."""
        cache, prefix = self._cache, self._prefix
        if not cache:                   # the common case: the first read of this call
            values = self._state.get_many(keys, prefix)
            cache.update(zip(keys, values, strict=True))
            return values
        missing = [k for k in keys if k not in cache]
        if missing:
            values = self._state.get_many(missing, prefix)
            cache.update(zip(missing, values, strict=True))
        return [cache[k] for k in keys]

    def set_many(self, items: dict[str, Any]) -> None:
        """Several values at once (a sparse update writes every listed feature)."""
        if self._dyn is None:
            raise AppError("this model is read-only here")
        cache = self._cache
        for key in items:
            if (cache[key] if key in cache else self.get(key)) is None:
                self._state.set(f"{self._base}k/{self._dyn['keys']}", key)
                self._dyn["keys"] += 1
        cache.update(items)
        prefix = self._prefix
        self._state.set_many(items, prefix)

    def set(self, key: str, value: Any) -> None:
        if self._dyn is None:
            raise AppError("this model is read-only here")
        cache = self._cache
        if (cache[key] if key in cache else self.get(key)) is None:
            self._state.set(f"{self._base}k/{self._dyn['keys']}", key)
            self._dyn["keys"] += 1
        cache[key] = value
        self._state.set(self._prefix + key, value)


def _items(state: StateView, model_id: int) -> list[tuple[str, Any]]:
    """Every (key, value) of a model's state, via the key log."""
    keys_n = get_dyn(state, model_id)["keys"]
    keys = [state.get(f"m/{model_id}/k/{n}") for n in range(keys_n)]
    return sorted((k, state.get(f"m/{model_id}/s/{k}")) for k in keys)


DYN_FIELDS = ("n", "last", "good", "authors", "keys")


def get_dyn(state: State, model_id: int) -> dict[str, Any]:
    """A model's counters: contributions, last update time, total good, authors, model keys."""
    return dict(zip(DYN_FIELDS, state.get(f"m/{model_id}/dyn"), strict=True))


def put_dyn(state: State, model_id: int, dyn: dict[str, Any]) -> None:
    state.set(f"m/{model_id}/dyn", [dyn[f] for f in DYN_FIELDS])


def _escrow(model_id: int) -> str:
    return f"m{model_id}"


class CollabApp(App):
    name = "collab"

    def __init__(self) -> None:
        # Parsed model definitions by their stored bytes (immutable once written). Callers
        # must treat the cached dicts as read-only.
        self._definitions: dict[bytes, tuple[dict[str, Any], dict[str, Any]]] = {}

    # ----- loading -----------------------------------------------------------------------

    @staticmethod
    def _definition(state: StateView, model_id: int) -> dict[str, Any]:
        definition = state.get(f"m/{model_id}/def")
        if definition is None:
            raise AppError(f"no model with id {model_id}")
        return definition

    def _load(self, ctx: CallContext, args: Args) -> tuple[int, dict[str, Any], dict[str, Any],
                                                            Model]:
        model_id = args.int("model_id")
        st = ctx.state
        raw = st.raw(f"m/{model_id}/def")
        if raw is None:
            raise AppError(f"no model with id {model_id}")
        cached = self._definitions.get(raw)
        if cached is None:
            # A definition is only ever replaced whole (add_class writes new bytes), so its
            # parsed form is a pure function of its bytes and may be reused across blocks.
            definition = decode_stored(raw)
            params = model_class(definition["type"]).check_params(dict(definition["params"]))
            definition["stakeable"] = (mech.StakeableParams.from_plain(definition["mparams"])
                                       if definition["mechanism"] == "stakeable" else None)
            if len(self._definitions) > 1024:
                self._definitions.clear()
            cached = self._definitions[raw] = (definition, params)
        definition, params = cached
        dyn = get_dyn(st, model_id)
        model = model_class(definition["type"]).prepared(params, StateStore(st, model_id, dyn))
        return model_id, definition, dyn, model

    @staticmethod
    def _contribution(st: State, model_id: int, n: int) -> mech.Contribution:
        plain = st.get(f"m/{model_id}/c/{n}")
        if plain is None:
            raise AppError(mech.E_NOT_FOUND)
        return mech.Contribution.from_record(n, plain)

    @staticmethod
    def _stats(st: State, model_id: int, address: bytes) -> mech.AuthorStats:
        return mech.AuthorStats.from_record(st.get(f"m/{model_id}/a/{address.hex()}"))

    @staticmethod
    def _save_stats(st: State, model_id: int, address: bytes,
                    stats: mech.AuthorStats) -> None:
        st.set(f"m/{model_id}/a/{address.hex()}", stats.to_record())

    # ----- creating models ---------------------------------------------------------------

    @tx_method
    def create_model(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Deploy a model (possibly trained off-chain) with its encoder and mechanism."""
        a = Args(args)
        doc = a.dict("model")
        if is_reference_model(doc):
            raise AppError("a reference (0xDeCA10B) model file holds floats; convert it on the "
                           "client first (interop.from_reference, or `learnchain collab create "
                           "--model-json FILE`, which does)")
        prototype = load_model(doc)
        encoder = Encoder.from_plain(a.dict("encoder", default={"type": "indices"}))
        mechanism = a.str("mechanism", default="stakeable")
        raw_params = a.dict("mechanism_params", default={})
        if mechanism == "stakeable":
            mparams = mech.StakeableParams.from_plain(raw_params).to_plain()
        elif mechanism == "points":
            mparams = mech.PointsParams.from_plain(raw_params).to_plain()
        elif mechanism == "market":
            mparams = mech.MarketOptions.from_plain(raw_params).to_plain()
        else:
            raise AppError(f"unknown mechanism {mechanism!r}; mechanisms: "
                           f"{', '.join(MECHANISMS)}")
        st = ctx.state
        model_id = st.get("next_id", 0)
        st.set("next_id", model_id + 1)
        st.set(f"m/{model_id}/def", {
            "type": prototype.kind, "params": prototype.params, "mechanism": mechanism,
            "mparams": mparams, "owner": ctx.sender, "created": ctx.block.time,
            "name": a.str("name", default=""),
        })
        st.set(f"m/{model_id}/enc", encoder.to_plain())
        dyn = {"n": 0, "last": ctx.block.time, "good": 0, "authors": 0, "keys": 0}
        store = StateStore(st, model_id, dyn)
        assert isinstance(prototype.store, DictStore)
        for key, value in prototype.store.items():
            store.set(key, value)
        put_dyn(st, model_id, dyn)
        ctx.emit("model_created", model_id=model_id, type=prototype.kind, mechanism=mechanism)
        return {"model_id": model_id}

    @tx_method
    def extend_model(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Owner adds more initial state (models too big for one transaction)."""
        a = Args(args)
        model_id, definition, dyn, model = self._load(ctx, a)
        if ctx.sender != definition["owner"]:
            raise AppError("only the model's owner may initialise its state")
        if dyn["n"] > 0 or ctx.state.has(f"m/{model_id}/mk"):
            raise AppError("the model already has contributions or a market; its state is no "
                           "longer initialisable")
        entries = a.dict("state")
        for key, value in entries.items():
            model.check_entry(key, value)
            model.store.set(key, value)
        put_dyn(ctx.state, model_id, dyn)
        return {"model_id": model_id, "entries": len(entries)}

    @tx_method
    def add_class(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Owner adds a class to a naive Bayes or (sparse) nearest-centroid model (addClass).

        `{model_id, name, num_samples, feature_counts}` for naive Bayes, `{model_id, name,
        centroid, data_count}` for centroids (values scaled by 10^9). Not while a market is
        open: its test set was committed against the existing classes.
        """
        a = Args(args)
        model_id, definition, dyn, model = self._load(ctx, a)
        st = ctx.state
        if ctx.sender != definition["owner"]:
            raise AppError("Sender is not the owner.")
        market = st.get(f"m/{model_id}/mk")
        if market is not None and market["phase"] != "collect":
            raise AppError("cannot add a class while a market is open")
        name = a.str("name")
        k = len(model.classes)
        entries = class_entries(model, k, {key: v for key, v in args.items()
                                           if key not in ("model_id", "name")})
        stored = dict(self._definition(st, model_id))
        stored["params"] = {**stored["params"], "classes": [*stored["params"]["classes"], name]}
        st.set(f"m/{model_id}/def", stored)       # a new definition: new bytes, new cache entry
        model.store.set_many(entries)
        put_dyn(st, model_id, dyn)
        ctx.emit("add_class", model_id=model_id, name=name, index=k)
        return {"model_id": model_id, "index": k}

    @tx_method
    def add_feature_indices(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Owner appends to the feature indices clients select from an embedding
        (addFeatureIndices); only before the first contribution, since it changes what every
        input means."""
        a = Args(args)
        model_id = a.int("model_id")
        st = ctx.state
        definition = self._definition(st, model_id)
        if ctx.sender != definition["owner"]:
            raise AppError("Sender is not the owner.")
        if get_dyn(st, model_id)["n"] > 0:
            raise AppError("the model already has contributions; its feature indices are fixed")
        encoder = Encoder.from_plain(st.get(f"m/{model_id}/enc"))
        encoder = Encoder.from_plain({**encoder.to_plain(), "feature_indices": [
            *encoder.feature_indices, *a.list("indices")]})
        st.set(f"m/{model_id}/enc", encoder.to_plain())
        return {"model_id": model_id, "feature_indices": len(encoder.feature_indices)}

    # ----- contributing ------------------------------------------------------------------

    @tx_method
    def add_data(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Add one labelled sample, attaching the mechanism's deposit or stake."""
        a = Args(args)
        model_id, definition, dyn, model = self._load(ctx, a)
        data = a.list("data")
        if len(data) > MAX_DATA_LEN:
            raise AppError(f"data is longer than {MAX_DATA_LEN} values")
        label = model.check_label(a.int("label"))
        offered = a.int("deposit", default=0)
        now, st, sender = ctx.block.time, ctx.state, ctx.sender
        assert sender is not None
        mechanism = definition["mechanism"]
        if mechanism == "stakeable":
            params = definition["stakeable"]
            taken = mech.accept_deposit(offered, mech.required_deposit(params.cost_weight, now,
                                                                       dyn["last"]))
            claimable = taken
        elif mechanism == "points":
            taken, claimable = 0, 1
        else:
            market = st.get(f"m/{model_id}/mk")
            if market is None or market["phase"] != "participation":
                raise AppError("the market is not accepting contributions")
            options = mech.MarketOptions.from_plain(definition["mparams"])
            if market["n"] >= options.max_contributions:
                raise AppError("the market has reached its maximum number of contributions")
            data = model.check_input(data)
            taken = mech.market_stake(offered, options.allow_greater_deposit)
            claimable = taken
            market["n"] += 1
            st.set(f"m/{model_id}/mk", market)
        if taken:
            ctx.bank.deposit(_escrow(model_id), taken)
        if mechanism != "market":
            model.update(data, label)  # validates `data` (the market path did above)
            dyn["last"] = now
        n = dyn["n"]
        dyn["n"] = n + 1
        st.set(f"m/{model_id}/c/{n}", mech.Contribution.record(sender, data, label, now, taken,
                                                               claimable))
        # Per-author activity (counts, labels, streaks) feeds the points mechanism's badges;
        # the money mechanisms only need to know who contributed, which keeps their add-data
        # transaction one read and one write lighter.
        known = st.get(f"m/{model_id}/a/{sender.hex()}")  # record[0] = contributions
        if mechanism == "points" or known is None or known[0] == 0:
            stats = self._stats(st, model_id, sender)
            if stats.contributions == 0:
                st.set(f"m/{model_id}/al/{dyn['authors']}", sender)
                dyn["authors"] += 1
            stats.record_contribution(label, now)
            self._save_stats(st, model_id, sender, stats)
        put_dyn(st, model_id, dyn)
        # no event: the receipt's result already names the contribution (cheaper receipts)
        return {"contribution": n, "deposit": taken, "time": now}

    @tx_method
    def refund(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Author reclaims a deposit (stakeable), claims a point, or collects market winnings."""
        a = Args(args)
        model_id, definition, dyn, model = self._load(ctx, a)
        st, sender, now = ctx.state, ctx.sender, ctx.block.time
        assert sender is not None
        mechanism = definition["mechanism"]
        if mechanism == "market":
            return self._market_collect(ctx, model_id, sender, sender)
        c = self._contribution(st, model_id, a.int("contribution"))
        prediction = model.predict(c.data)
        amount = 0
        if mechanism == "stakeable":
            params = mech.StakeableParams.from_plain(definition["mparams"])
            amount = mech.refund(c, sender, now, prediction, params)
            if amount:
                ctx.bank.release(_escrow(model_id), sender, amount)
        else:
            mech.points_refund(c, sender, now, prediction,
                               mech.PointsParams.from_plain(definition["mparams"]))
        st.set(f"m/{model_id}/c/{c.id}", c.to_record())
        stats = self._stats(st, model_id, sender)
        stats.good += 1
        self._save_stats(st, model_id, sender, stats)
        dyn["good"] += 1
        put_dyn(st, model_id, dyn)
        ctx.emit("refund", model_id=model_id, contribution=c.id, amount=amount)
        return {"contribution": c.id, "amount": amount}

    @tx_method
    def report(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Take (part of) a bad or abandoned contribution's deposit, or report it for points."""
        a = Args(args)
        model_id, definition, dyn, model = self._load(ctx, a)
        st, sender, now = ctx.state, ctx.sender, ctx.block.time
        assert sender is not None
        mechanism = definition["mechanism"]
        if mechanism == "market":
            return self._market_take(ctx, model_id, sender, a.address("author"))
        c = self._contribution(st, model_id, a.int("contribution"))
        prediction = model.predict(c.data)
        reporter = self._stats(st, model_id, sender)
        amount = 0
        if mechanism == "stakeable":
            params = mech.StakeableParams.from_plain(definition["mparams"])
            amount = mech.take(c, sender, definition["owner"], now, prediction, params,
                               reporter.good, dyn["good"])
            if amount:
                ctx.bank.release(_escrow(model_id), sender, amount)
        else:
            mech.points_report(c, sender, definition["owner"], now, prediction,
                               mech.PointsParams.from_plain(definition["mparams"]))
            author = self._stats(st, model_id, c.author)
            author.bad += 1
            self._save_stats(st, model_id, c.author, author)
        reporter = self._stats(st, model_id, sender)
        reporter.reports += 1
        self._save_stats(st, model_id, sender, reporter)
        st.set(f"m/{model_id}/c/{c.id}", c.to_record())
        ctx.emit("report", model_id=model_id, contribution=c.id, amount=amount)
        return {"contribution": c.id, "amount": amount}

    @tx_method
    def predict(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """A paid prediction: the fee goes to good contributors by their good counts."""
        a = Args(args)
        model_id, definition, dyn, model = self._load(ctx, a)
        prediction = model.predict(a.list("data"))
        fee = a.int("fee", default=0)
        paid = 0
        if fee and definition["mechanism"] in ("stakeable", "points"):
            st = ctx.state
            goods = []
            for n in range(dyn["authors"]):
                author = st.get(f"m/{model_id}/al/{n}")
                goods.append((author, self._stats(st, model_id, author).good))
            for author, share in mech.split_fee(fee, goods):
                ctx.bank.pay(author, share)
                paid += share
        return {"prediction": prediction, "paid": paid}

    # ----- prediction market -------------------------------------------------------------

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
        ctx.bank.deposit(_escrow(model_id), bounty)
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
        initial = dict(_items(st, model_id))

        def fresh() -> Model:
            return build_model(definition["type"], definition["params"],
                               DictStore(dict(initial)))

        options = mech.MarketOptions.from_plain(definition["mparams"])
        outcome = mech.compute_market_rewards(fresh, self._market_entries(st, model_id, market),
                                              test_x, test_y, market["bounty"], options)
        for author, amount in outcome.payouts.items():
            st.set(f"m/{model_id}/mk/b/{author.hex()}", amount)
        if outcome.provider_refund:
            ctx.bank.release(_escrow(model_id), market["provider"], outcome.provider_refund)
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
            ctx.bank.release(_escrow(model_id), definition["owner"], remainder)
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
        ctx.bank.release(_escrow(model_id), recipient, amount)
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

    # ----- queries -----------------------------------------------------------------------

    def _read_model(self, state: StateView, model_id: int) -> tuple[dict[str, Any], Model]:
        definition = self._definition(state, model_id)
        return definition, build_model(definition["type"], definition["params"],
                                       StateStore(state, model_id, None))

    @query_method
    def model(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        model_id = Args(args).int("model_id")
        definition = self._definition(state, model_id)
        encoder = state.get(f"m/{model_id}/enc")
        return {**definition, "model_id": model_id, "encoder": encoder,
                "feature_indices": (encoder or {}).get("feature_indices", []),
                "counters": get_dyn(state, model_id),
                "market": state.get(f"m/{model_id}/mk")}

    @query_method
    def models(self, state: StateView, args: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for model_id in range(state.get("next_id", 0)):
            d = self._definition(state, model_id)
            out.append({"model_id": model_id, "name": d["name"], "type": d["type"],
                        "mechanism": d["mechanism"], "owner": d["owner"]})
        return out

    @query_method
    def prediction(self, state: StateView, args: dict[str, Any]) -> int:
        a = Args(args)
        _, model = self._read_model(state, a.int("model_id"))
        return model.predict(a.list("data"))

    @query_method
    def evaluate(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        a = Args(args)
        _, model = self._read_model(state, a.int("model_id"))
        data, labels = a.list("data"), a.list("labels")
        correct = model.evaluate(data, labels)
        total = len(labels)
        return {"correct": correct, "total": total,
                "accuracy_ppm": correct * 1_000_000 // total if total else 0}

    @query_method
    def deposit_cost(self, state: StateView, args: dict[str, Any]) -> int:
        """Deposit required to add data at time `now` (seconds)."""
        a = Args(args)
        model_id = a.int("model_id")
        definition = self._definition(state, model_id)
        if definition["mechanism"] != "stakeable":
            return 0
        params = mech.StakeableParams.from_plain(definition["mparams"])
        return mech.required_deposit(params.cost_weight, a.int("now"),
                                     get_dyn(state, model_id)["last"])

    @query_method
    def contribution(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        a = Args(args)
        return self._contribution(state, a.int("model_id"), a.int("contribution")).to_plain()

    @query_method
    def contributors(self, state: StateView, args: dict[str, Any]) -> list[dict[str, Any]]:
        model_id = Args(args).int("model_id")
        definition = self._definition(state, model_id)
        dyn = get_dyn(state, model_id)
        out = []
        for n in range(dyn["authors"]):
            author = state.get(f"m/{model_id}/al/{n}")
            stats = self._stats(state, model_id, author)
            row: dict[str, Any] = {"address": author, "good": stats.good, "bad": stats.bad,
                                   "reports": stats.reports}
            if definition["mechanism"] == "points":
                row.update(stats.to_plain(), points=mech.points(stats),
                           badges=mech.badges(stats, len(definition["params"]["classes"])))
            if definition["mechanism"] == "market":
                row["market_balance"] = state.get(f"m/{model_id}/mk/b/{author.hex()}", 0)
            out.append(row)
        return out

    @query_method
    def export(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        model_id = Args(args).int("model_id")
        _, model = self._read_model(state, model_id)
        return model.export(_items(state, model_id))

    @query_method
    def market(self, state: StateView, args: dict[str, Any]) -> dict[str, Any] | None:
        return state.get(f"m/{Args(args).int('model_id')}/mk")
