"""Per-engine block detail: rlpow's S/A/R and proofs from a real rlpow chain, and the generic
fallback for engines the explorer has no page for (e.g. `pole`)."""

from __future__ import annotations

import html
from dataclasses import replace
from decimal import Decimal

from fastapi.testclient import TestClient

from learnchain.core.types import Block
from learnchain.net.api import create_app
from learnchain.net.explorer import views
from learnchain.net.explorer.routes import _templates
from learnchain.node import Node
from learnchain.testing import dev_genesis, make_node


def test_rlpow_block_page_shows_state_action_reward_and_proofs() -> None:
    from learnchain.sim.rlpow_chains import keys_for, local_chain, rlpow_genesis
    from learnchain.testing import ManualClock

    keys = keys_for(2, "explorer")
    genesis = rlpow_genesis(keys, env="Inventory-v0",
                            params={"K": 2, "audit_steps": 1, "learning_starts": 2})
    local = local_chain(genesis, keys, clock=ManualClock())
    for h in range(4):
        local.produce(keys[h % 2])
    fields = local.chain.head.engine_fields
    client = TestClient(create_app(Node(local.chain)))
    response = client.get("/block/4")
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert 'id="engine-rlpow"' in page
    reward = str(Decimal(fields["r"]) / Decimal(10**9))
    assert f"<td>{reward}</td>" in page
    assert f"<td>{fields['a']}" in page and f"<td>{fields['k']}</td>" in page
    assert fields["theta_cid"] in page and "proof: work" in page
    assert f"<td>{fields['mint']}</td>" in page


def test_unknown_engine_falls_back_to_its_engine_fields() -> None:
    tn = make_node(dev_genesis())
    (block,) = tn.mine()
    header = replace(block.header, engine="pole",
                     engine_fields={"candidates": [b"\x01" * 32], "accuracy_ppm": 912_000})
    pole = Block(header, block.transactions)
    detail = views.engine_detail(tn.chain, pole)
    assert detail == {"kind": "generic", "name": "pole",
                      "fields": {"candidates": ["0x" + "01" * 32], "accuracy_ppm": 912_000}}
    page = _templates().get_template("block.html").render(
        block={**views.block_page(tn.chain, "1")["block"], "engine": "pole"}, rows=[],
        canonical=True, engine=detail, apps=[], wallet="wallet", chain_id=1, title="t")
    assert 'id="engine-generic"' in page and "accuracy_ppm" in page and "912000" in page
    assert "Consensus (pole)" in page
