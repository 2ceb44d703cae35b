"""The `market` app: a compute provider sells capacity at a Stackelberg price, checked on chain.

A provider opens a market with its capacity, unit cost, a price cap and how capacity renews;
consumers join with their declared utility (family and value). Each step the provider posts a
price; the app accepts it only if its profit is within `tolerance_ppm` of the exact integer
optimum given the joined consumers and the capacity left (`stackelberg.best_integer_price`), so
the optimisation runs off chain and the chain checks it. Consumers then buy: payment goes to the
provider at the posted price, and allocation is first come, all or nothing, so a late consumer
in a short market "could not get resources". Sold capacity is used up; capacity renews by
`renew_units` every `renew_every` blocks, up to the opening capacity.

State (namespace `market/`): `next_id`; `m/{id}` (the market's fields); `m/{id}/c/{addr}`
(a consumer's declared utility); `m/{id}/cl/{n}` (consumers in joining order);
`m/{id}/s/{step}` (price, capacity at opening, units sold, revenue, refusals);
`m/{id}/a/{step}/{n}` (allocations of that step, in order).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from learnchain.apps.base import App, AppError, Args, CallContext, query_method, tx_method
from learnchain.apps.market import stackelberg as sg
from learnchain.core.state import StateView

MAX_CONSUMERS = 64
MAX_VALUE = 10**24
MAX_TOLERANCE_PPM = 100_000


class MarketError(AppError):
    """A market call that breaks a rule of the market (who, when, how much)."""


def validate_open(args: dict[str, Any]) -> dict[str, int]:
    a = Args(args)
    fields = {
        "capacity": a.int("capacity", minimum=1),
        "unit_cost": a.int("unit_cost", minimum=0),
        "price_cap": a.int("price_cap", minimum=1),
        "price_floor": a.int("price_floor", minimum=1, default=1),
        "renew_units": a.int("renew_units", minimum=0, default=0),
        "renew_every": a.int("renew_every", minimum=0, default=0),
        "tolerance_ppm": a.int("tolerance_ppm", minimum=0, default=100),
    }
    if fields["price_floor"] > fields["price_cap"]:
        raise MarketError("price_floor must not exceed price_cap")
    if fields["unit_cost"] >= fields["price_cap"]:
        raise MarketError("unit_cost must be below price_cap, or no sale can make a profit")
    if fields["tolerance_ppm"] > MAX_TOLERANCE_PPM:
        raise MarketError(f"tolerance_ppm must be at most {MAX_TOLERANCE_PPM}")
    if (fields["renew_units"] > 0) != (fields["renew_every"] > 0):
        raise MarketError("renew_units and renew_every go together (both zero: no renewal)")
    return fields


def validate_utility(args: dict[str, Any]) -> tuple[str, int]:
    a = Args(args)
    family = a.str("family", max_len=16)
    value = a.int("value", minimum=1)
    if family not in sg.FAMILIES:
        raise MarketError(f"family must be one of {', '.join(sg.FAMILIES)}, got {family!r}")
    if value > MAX_VALUE:
        raise MarketError(f"value must be at most {MAX_VALUE}")
    return family, value


def validate_price(market: dict[str, Any], consumers: list[sg.Consumer], price: int) -> None:
    """Raise unless `price` is a Stackelberg price for this market within its tolerance."""
    if not market["price_floor"] <= price <= market["price_cap"]:
        raise MarketError(f"price {price} is outside [{market['price_floor']}, "
                          f"{market['price_cap']}]")
    if not consumers:
        return
    optimum = sg.best_integer_price(consumers, market["unit_cost"],
                                    capacity=market["remaining"],
                                    price_cap=market["price_cap"],
                                    price_floor=market["price_floor"])
    if optimum is None:
        if price != market["price_cap"]:
            raise MarketError(
                f"no price up to the cap fits demand into the {market['remaining']} units left; "
                f"the market rations at the cap {market['price_cap']}")
        return
    best_price, best_profit = optimum
    demand = sg.DemandCurve(consumers)(price)
    if demand > market["remaining"]:
        raise MarketError(f"at price {price} demand {float(demand):.4g} exceeds the "
                          f"{market['remaining']} units left (the optimum is {best_price})")
    profit = (Fraction(price) - market["unit_cost"]) * demand
    slack = abs(best_profit) * Fraction(market["tolerance_ppm"], 10**6)
    if profit < best_profit - slack:
        raise MarketError(
            f"price {price} is not a best response to the consumers: profit "
            f"{float(profit):.6g} < optimum {float(best_profit):.6g} at price {best_price} "
            f"(tolerance {market['tolerance_ppm']} ppm)")


class MarketApp(App):
    name = "market"

    # --- state helpers -------------------------------------------------------------------

    @staticmethod
    def _market(state: StateView, market_id: int, height: int | None = None) -> dict[str, Any]:
        market = state.get(f"m/{market_id}")
        if market is None:
            raise MarketError(f"no market {market_id}")
        market = dict(market)
        if height is not None and market["renew_every"]:
            periods = (height - market["renewed_at"]) // market["renew_every"]
            if periods > 0:
                market["remaining"] = min(market["capacity"],
                                          market["remaining"] + periods * market["renew_units"])
                market["renewed_at"] += periods * market["renew_every"]
        return market

    @staticmethod
    def _consumers(state: StateView, market_id: int, count: int) -> list[sg.Consumer]:
        addresses = state.get_many([f"m/{market_id}/cl/{n}" for n in range(count)])
        out = []
        for address in addresses:
            entry = state.get(f"m/{market_id}/c/{address.hex()}")
            if entry is not None:
                out.append(sg.Consumer(entry["family"], entry["value"]))
        return out

    # --- transactions --------------------------------------------------------------------

    @tx_method
    def open(self, ctx: CallContext, args: dict[str, Any]) -> int:
        fields = validate_open(args)
        market_id = ctx.state.get("next_id", 0)
        ctx.state.set("next_id", market_id + 1)
        ctx.state.set(f"m/{market_id}", {
            **fields, "provider": ctx.sender, "remaining": fields["capacity"],
            "renewed_at": ctx.block.height, "step": -1, "price": 0, "consumers": 0,
            "joined": 0, "closed": False})
        ctx.emit("market_opened", market=market_id, capacity=fields["capacity"])
        return market_id

    @tx_method
    def join(self, ctx: CallContext, args: dict[str, Any]) -> None:
        market_id = Args(args).int("market")
        family, value = validate_utility(args)
        market = self._market(ctx.state, market_id, ctx.block.height)
        self._require_open(market)
        key = f"m/{market_id}/c/{ctx.sender.hex()}"
        if ctx.state.get(key) is None:
            if market["consumers"] >= MAX_CONSUMERS:
                raise MarketError(f"market {market_id} has {MAX_CONSUMERS} consumers already")
            if ctx.sender == market["provider"]:
                raise MarketError("the provider cannot be its own consumer")
            ctx.state.set(f"m/{market_id}/cl/{market['joined']}", ctx.sender)
            market["joined"] += 1
            market["consumers"] += 1
        ctx.state.set(key, {"family": family, "value": value, "bought_step": -1})
        ctx.state.set(f"m/{market_id}", market)
        ctx.emit("consumer_joined", market=market_id, consumer=ctx.sender, family=family)

    @tx_method
    def leave(self, ctx: CallContext, args: dict[str, Any]) -> None:
        market_id = Args(args).int("market")
        market = self._market(ctx.state, market_id, ctx.block.height)
        key = f"m/{market_id}/c/{ctx.sender.hex()}"
        if ctx.state.get(key) is None:
            raise MarketError("not a consumer of this market")
        ctx.state.delete(key)
        market["consumers"] -= 1
        ctx.state.set(f"m/{market_id}", market)

    @tx_method
    def post_price(self, ctx: CallContext, args: dict[str, Any]) -> int:
        a = Args(args)
        market_id, price = a.int("market"), a.int("price", minimum=1)
        market = self._market(ctx.state, market_id, ctx.block.height)
        self._require_open(market)
        if ctx.sender != market["provider"]:
            raise MarketError("only the market's provider posts prices")
        validate_price(market, self._consumers(ctx.state, market_id, market["joined"]), price)
        market["step"] += 1
        market["price"] = price
        ctx.state.set(f"m/{market_id}", market)
        ctx.state.set(f"m/{market_id}/s/{market['step']}", {
            "price": price, "height": ctx.block.height, "capacity": market["remaining"],
            "sold": 0, "revenue": 0, "refused": 0, "allocations": 0})
        ctx.emit("price_posted", market=market_id, step=market["step"], price=price)
        return market["step"]

    @tx_method
    def buy(self, ctx: CallContext, args: dict[str, Any]) -> int:
        """Buy `units` at the step's price; all or nothing. Returns the amount paid.

        A purchase larger than what is left fails whole; its receipt says so, which is how a
        shortage shows on chain.
        """
        a = Args(args)
        market_id, units = a.int("market"), a.int("units", minimum=1)
        market = self._market(ctx.state, market_id, ctx.block.height)
        self._require_open(market)
        if market["step"] < 0:
            raise MarketError("no price posted yet: wait for the provider's first step")
        key = f"m/{market_id}/c/{ctx.sender.hex()}"
        consumer = ctx.state.get(key)
        if consumer is None:
            raise MarketError("join the market before buying (your utility sets the price)")
        if consumer["bought_step"] == market["step"]:
            raise MarketError(f"already bought in step {market['step']}")
        if units > market["remaining"]:
            raise MarketError(f"could not get resources: asked for {units} units, "
                              f"{market['remaining']} left (allocation is all or nothing)")
        cost = units * market["price"]
        ctx.bank.pay(market["provider"], cost)
        step_key = f"m/{market_id}/s/{market['step']}"
        step = dict(ctx.state.get(step_key))
        ctx.state.set(f"m/{market_id}/a/{market['step']}/{step['allocations']}",
                      {"consumer": ctx.sender, "units": units, "paid": cost})
        step.update(sold=step["sold"] + units, revenue=step["revenue"] + cost,
                    allocations=step["allocations"] + 1)
        ctx.state.set(step_key, step)
        market["remaining"] -= units
        ctx.state.set(f"m/{market_id}", market)
        ctx.state.set(key, {**consumer, "bought_step": market["step"]})
        ctx.emit("allocated", market=market_id, step=market["step"], consumer=ctx.sender,
                 units=units, paid=cost)
        return cost

    @tx_method
    def close(self, ctx: CallContext, args: dict[str, Any]) -> None:
        market_id = Args(args).int("market")
        market = self._market(ctx.state, market_id, ctx.block.height)
        if ctx.sender != market["provider"]:
            raise MarketError("only the market's provider closes it")
        market["closed"] = True
        ctx.state.set(f"m/{market_id}", market)

    @staticmethod
    def _require_open(market: dict[str, Any]) -> None:
        if market["closed"]:
            raise MarketError("this market is closed")

    # --- queries -------------------------------------------------------------------------

    @query_method
    def market(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        a = Args(args)
        height = a.int("height", minimum=None, default=-1)
        return self._market(state, a.int("market"), height if height >= 0 else None)

    @query_method
    def consumers(self, state: StateView, args: dict[str, Any]) -> list[dict[str, Any]]:
        market_id = Args(args).int("market")
        market = self._market(state, market_id)
        out = []
        for n in range(market["joined"]):
            address = state.get(f"m/{market_id}/cl/{n}")
            entry = state.get(f"m/{market_id}/c/{address.hex()}")
            if entry is not None:
                out.append({"consumer": address, **entry})
        return out

    @query_method
    def step(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        a = Args(args)
        market_id, step = a.int("market"), a.int("step")
        record = state.get(f"m/{market_id}/s/{step}")
        if record is None:
            raise MarketError(f"market {market_id} has no step {step}")
        allocations = state.get_many(
            [f"m/{market_id}/a/{step}/{n}" for n in range(record["allocations"])])
        return {**record, "allocations": allocations}
