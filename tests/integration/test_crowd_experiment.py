"""The population experiment at full size (slow) — the small version runs in the CLI tests."""

from __future__ import annotations

import pytest

from learnchain.apps.crowd.experiments import PopulationConfig, run_population


@pytest.mark.slow
def test_only_honest_work_pays_and_agreed_results_are_true():
    result = run_population(PopulationConfig(tasks=60))
    assert result.settled + result.cancelled == 60
    final = {s: curve[-1] / result.workers_per_strategy[s]
             for s, curve in result.per_strategy.items()}
    assert final["honest"] > 0
    assert all(final["honest"] > v for s, v in final.items() if s != "honest")
    coalition_only = [e for e in result.task_log if set(e["seats"]) == {"coalition"}]
    assert result.correct == result.agreed - len(coalition_only)
