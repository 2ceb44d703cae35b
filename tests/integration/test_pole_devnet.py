"""Real node processes with genesis engine = "pole": a task settles in its winner's block.

Regression (the test was marked slow after an idle run expired its task with every reveal,
honest ones included, at ~31 % training accuracy): a fork re-included the publish transaction
in a sibling block and the SML seed, then taken from the including block, changed under the
trained models (pinned in tests/unit/pole/test_pole_reorg.py). The SML seed now comes from the
publish transaction and mappings are full rank (tests/unit/pole/test_sml.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from learnchain.apps.tasks import devnet_run

pytestmark = pytest.mark.network


@pytest.mark.timeout(900)
def test_pole_devnet_largest_reward_picked_best_model_wins_copy_fails(tmp_path: Path) -> None:
    # short windows (the deadline still stretches to the measured training time under load)
    plan = devnet_run.Plan(deadline_blocks=6, reveal_window=8)
    result = devnet_run.run(tmp_path, nodes=3, tasks=1, timeout=300.0, plan=plan)
    assert devnet_run.check(result) == []
    (task,) = result["tasks"]
    # every node chose the 1000-unit task over the 400-unit decoy published before it
    assert task["picked"] == [task["task"]] * 3 and task["decoy_status"] in {"failed", "expired"}
    assert task["settled_by"] in {"pole", "fallback"}  # fallback only if the winner was slow
    assert task["best_model_won"] and task["copy_rejected"]
    assert "below the task's threshold" in task["copy_error"]
    assert task["reveals_ok"][0] and task["reveals_ok"][1]
    if task["settled_by"] == "pole":
        assert task["pole_block_winner_matches"] and result["pole_blocks"] >= 1
    assert result["agree"] and result["blocks"] > 20
