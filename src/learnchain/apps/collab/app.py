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
`m/{id}/mk…` (market, `market_app`). Money sits in one escrow per model, `m{id}`.
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import App, AppError, Args, CallContext, query_method, tx_method
from learnchain.apps.collab import mechanisms as mech
from learnchain.apps.collab.encoders import Encoder
from learnchain.apps.collab.interop import class_entries, is_reference_model
from learnchain.apps.collab.market_app import MarketMethods
from learnchain.apps.collab.models import (
    DictStore,
    Model,
    build_model,
    load_model,
    model_class,
)
from learnchain.apps.collab.state_store import (
    State,
    StateStore,
    escrow_name,
    get_dyn,
    model_items,
    put_dyn,
)
from learnchain.core.state import StateView, decode_stored

MECHANISMS = ("stakeable", "points", "market")
MAX_DATA_LEN = 4096


class CollabApp(MarketMethods, App):
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
            ctx.bank.deposit(escrow_name(model_id), taken)
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
                ctx.bank.release(escrow_name(model_id), sender, amount)
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
                ctx.bank.release(escrow_name(model_id), sender, amount)
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
        return model.export(model_items(state, model_id))

    @query_method
    def market(self, state: StateView, args: dict[str, Any]) -> dict[str, Any] | None:
        return state.get(f"m/{Args(args).int('model_id')}/mk")
