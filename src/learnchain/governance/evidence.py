"""Which reading do the published numbers imply?  One constraint's evaluation point at a time.

Starting from the best reading (:data:`paper.PUBLISHED`), each constraint's point in the
uncertainty box is replaced by every alternative (s' in {box, s, s-u_s, u_s}, d' in {box, d,
d-u_d, d+u_d, d-u_d..d}, λ split for s' or s) and the decisive claims of §9 are re-checked.
A constraint is *pinned* when only few alternatives keep every decisive claim; the document
prints the surviving alternatives per constraint as the evidence for the reading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from learnchain.governance.paper import (
    D_CHOICES,
    LAM_CHOICES,
    LAMBDA_CONSTRAINTS,
    PUBLISHED,
    READINGS,
    S_CHOICES,
    PaperConfig,
    Where,
)
from learnchain.governance.reproduce import CLAIMS, _runner

DECISIVE = ("T2-bitcoin", "T2-visa", "C2-top", "C2-visa", "C3-bp", "C3-visa", "B-0.06871",
            "B-0.06872", "T3-visa")
VARIED = ("failure", "time_upper", "tail", "nonce_th", "dispute", "pool")


def _alternatives(name: str) -> list[Where]:
    d_opts = D_CHOICES if name not in ("pool", "nonce_th") else ("d",)
    lam_opts = LAM_CHOICES if name in LAMBDA_CONSTRAINTS else ("s",)
    return [Where(s, d, lam) for s in S_CHOICES for d in d_opts for lam in lam_opts]


def evidence(claim_keys: tuple[str, ...] = DECISIVE, constraints: tuple[str, ...] = VARIED,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """For each constraint: the alternatives that keep every decisive claim, and how many do."""
    claims = [c for c in CLAIMS if c.key in claim_keys]
    out: dict[str, Any] = {"claims": list(claim_keys), "constraints": {}}
    for name in constraints:
        keep, tried = [], 0
        for alt in _alternatives(name):
            tried += 1
            label = f"~{name}={alt.s},{alt.d},{alt.lam}"
            READINGS[label] = {**PUBLISHED, name: alt}
            try:
                base = PaperConfig(reading=label)
                run, _ = _runner()
                ok = True
                for claim in claims:  # stop at the first claim the alternative breaks
                    if progress:
                        progress(f"{label}: {claim.key}")
                    if not claim.check(run, base)[0]:
                        ok = False
                        break
            finally:
                del READINGS[label]
            if ok:
                keep.append({"s": alt.s, "d": alt.d, "lam": alt.lam})
        chosen = PUBLISHED[name]
        out["constraints"][name] = {
            "chosen": {"s": chosen.s, "d": chosen.d, "lam": chosen.lam},
            "tried": tried,
            "matching": keep,
        }
    return out
