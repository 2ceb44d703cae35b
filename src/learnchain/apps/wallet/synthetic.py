"""A seeded synthetic population of patients with FHIR R5 records built with `fhir.resources`.

Each patient has a Patient resource (birth date, sex), one or two Conditions drawn from a fixed
list of SNOMED CT codes, and a short series of Observations (LOINC codes) — enough for studies
to match on condition and age and to share the variations of an observation. The same seed
gives the same population (random.Random(seed), not consensus randomness: this is test data).
Imported only by experiments, benchmarks and tests (fhir.resources is heavy).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fhir.resources.condition import Condition
from fhir.resources.observation import Observation
from fhir.resources.patient import Patient

CONDITIONS = {"195967001": "Asthma", "44054006": "Diabetes mellitus type 2",
              "38341003": "Hypertensive disorder", "35489007": "Depressive disorder",
              "13645005": "Chronic obstructive lung disease", "69896004": "Rheumatoid arthritis"}
OBSERVATIONS = {"4548-4": ("Hemoglobin A1c", "%", 5.0, 9.0),
                "8480-6": ("Systolic blood pressure", "mm[Hg]", 105.0, 165.0),
                "19935-6": ("Peak expiratory flow", "L/min", 250.0, 600.0)}
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


@dataclass
class SyntheticPatient:
    """A patient's records as (layer, FHIR type, JSON body) tuples, ready for `add_many`."""

    index: int
    records: list[tuple[str, str, bytes, str]]


def make_patient(rng: random.Random, index: int, section: str = "profile/self-reported"
                 ) -> SyntheticPatient:
    ref = {"reference": f"Patient/p{index}"}
    born = f"{rng.randint(1935, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    patient = Patient(id=f"p{index}", birthDate=born, gender=rng.choice(["female", "male"]))
    records = [("identification", "Patient", patient.model_dump_json().encode(), "")]
    for code in rng.sample(sorted(CONDITIONS), rng.randint(1, 2)):
        condition = Condition(
            subject=ref, clinicalStatus={"coding": [{"system": _CLINICAL, "code": "active"}]},
            code={"coding": [{"system": "http://snomed.info/sct", "code": code,
                              "display": CONDITIONS[code]}]})
        records.append((section, "Condition", condition.model_dump_json().encode(), ""))
    code = rng.choice(sorted(OBSERVATIONS))
    name, unit, lo, hi = OBSERVATIONS[code]
    for day in range(3):
        value = round(rng.uniform(lo, hi), 1)
        observation = Observation(
            status="final", subject=ref, effectiveDateTime=f"2026-0{day + 1}-15",
            code={"coding": [{"system": "http://loinc.org", "code": code, "display": name}]},
            valueQuantity={"value": value, "unit": unit})
        records.append((section, "Observation", observation.model_dump_json().encode(), ""))
    return SyntheticPatient(index, records)


def population(seed: int, count: int) -> list[SyntheticPatient]:
    rng = random.Random(seed)
    return [make_patient(rng, i) for i in range(count)]
