"""The study experiment end to end on a small synthetic population (the CLI runs ≥ 1,000)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from learnchain.apps.wallet.study_client import matches, profile_from_fhir
from learnchain.apps.wallet.study_experiment import CRITERIA, run
from learnchain.apps.wallet.synthetic import population
from learnchain.cli.main import app


def test_small_study_pays_every_eligible_patient_once() -> None:
    report = run(patients=40, seed=0, reward=7)
    expected = sum(matches(CRITERIA, profile_from_fhir([json.loads(r[2]) for r in p.records]))
                   for p in population(0, 40))
    assert report["eligible"] == report["delivered"] == expected > 0
    assert report["paid_total"] == 7 * expected and report["all_paid_once"]
    assert report["researcher_balance"] == 0  # the rest stays escrowed until the deadline
    assert report["cost_per_participant"]["transactions"] >= 6  # record, grant, join, 2 logs, claim


def test_population_is_seeded_and_valid_fhir() -> None:
    first, again = population(5, 3), population(5, 3)
    assert [p.records for p in first] == [p.records for p in again]
    assert [p.records for p in first] != [p.records for p in population(6, 3)]


def test_cli_study_experiment_writes_json_and_png(tmp_path) -> None:
    result = CliRunner().invoke(app, ["wallet", "study-experiment", "--patients", "12",
                                      "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["patients"] == 12
    assert (tmp_path / "study.json").exists() and (tmp_path / "study.png").stat().st_size > 0


@pytest.mark.slow
def test_study_experiment_at_a_thousand_patients() -> None:
    report = run(patients=1000, seed=0, reward=10)
    assert report["eligible"] == report["delivered"] > 50
    assert report["paid_total"] == 10 * report["eligible"] and report["all_paid_once"]
