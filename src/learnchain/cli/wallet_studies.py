"""`learnchain wallet study …`, `wallet review …` and `wallet study-experiment`.

Researchers publish, collect and close studies; patients list the studies their own profile
matches (evaluated locally), join, claim and withdraw; patients flag records and professionals
answer. Wallet, crypto, FHIR and plotting modules load inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from learnchain.cli.common import (
    DATADIR_OPTION,
    JSON_OPTION,
    PUBLISH_OPTION,
    console,
    emit_json,
    experiment_folder,
    experiment_progress,
    friendly_errors,
)
from learnchain.cli.wallet import (
    KEY,
    NODE,
    PASSWORD,
    WALLET,
    _client,
    _hex,
    _out,
    _wallet_id,
    wallet_app,
)

study_app = typer.Typer(help="Studies with rewards (researchers and patients).",
                        no_args_is_help=True)
review_app = typer.Typer(help="Patient review: flag a record, answer a flag.",
                         no_args_is_help=True)
wallet_app.add_typer(study_app, name="study")
wallet_app.add_typer(review_app, name="review")

STUDY = typer.Option(..., "--study", "-s", help="Study id (0x…, 8 bytes).")
PARTICIPANT = typer.Option(..., "--participant", help="Your participant id (0x…, 32 bytes).")
THRESHOLD = typer.Option(2, "--threshold", "-m", help="Proxies needed to re-encrypt (m of n).")


def _proxies(client: Any) -> list[bytes]:
    return sorted(bytes.fromhex(a) for a in client.chain.query("proxies", {}))


@study_app.command("publish")
@friendly_errors
def publish(condition: str = typer.Option(..., help="Condition code patients must have."),
            age_min: int = typer.Option(..., help="Youngest eligible age (years)."),
            age_max: int = typer.Option(..., help="Oldest eligible age (years)."),
            reference_date: str = typer.Option(..., help="Date ages are taken at (YYYY-MM-DD)."),
            field: list[str] = typer.Option(..., "--field", help="Requested field: age_band, "
                                            "sex, condition or obs:<code> (repeatable)."),
            reward: int = typer.Option(..., help="Reward per participant (escrowed)."),
            slots: int = typer.Option(..., help="Number of participants paid at most."),
            blocks: int = typer.Option(1000, help="Deadline: this many blocks from now."),
            node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
            password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Publish a study (researcher authorised by an institution); escrows reward × slots."""
    from learnchain.apps.wallet import study_client as sc

    client = _client(node, key, datadir, password_file)
    criteria = {"condition": condition, "age_min": age_min, "age_max": age_max,
                "reference_date": reference_date}
    sid = sc.publish(client, criteria, list(field), reward, slots,
                     client.chain.height() + blocks)
    _out({"study": sid}, as_json, f"study 0x{sid.hex()} published")


@study_app.command("match")
@friendly_errors
def match(wallet: str | None = WALLET, node: str = NODE, key: str = KEY,
          datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
          as_json: bool = JSON_OPTION) -> None:
    """Open studies your own profile meets, evaluated in this process only."""
    from learnchain.apps.wallet import study_client as sc

    client = _client(node, key, datadir, password_file)
    found = sc.eligible_studies(client, sc.my_profile(client, _wallet_id(client, wallet)))
    _out(found, as_json, "\n".join(f"0x{s['id'].hex()}: {s['criteria']} → {s['fields']}, "
                                   f"reward {s['reward']}" for s in found) or "no study matches")


@study_app.command("join")
@friendly_errors
def join(study: str = STUDY, threshold: int = THRESHOLD, wallet: str | None = WALLET,
         node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
         password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Opt in: derive the study record, grant the study sublayer, join."""
    from learnchain.apps.wallet import study_client as sc

    client = _client(node, key, datadir, password_file)
    wid = _wallet_id(client, wallet)
    found = client.chain.query("study", {"study": _hex(study, "--study", 8)})
    if found is None:
        raise ValueError("no such study")
    pid = sc.opt_in(client, wid, found, sc.my_profile(client, wid), _proxies(client), threshold)
    _out({"participant": pid}, as_json, f"joined as participant 0x{pid.hex()}")


@study_app.command("collect")
@friendly_errors
def collect(study: str = STUDY, node: str = NODE, key: str = KEY,
            datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
            as_json: bool = JSON_OPTION) -> None:
    """Researcher: read every live participant's derived record through the proxies."""
    from learnchain.apps.wallet import study_client as sc

    data = sc.collect(_client(node, key, datadir, password_file), _hex(study, "--study", 8))
    rows = {"0x" + pid.hex(): record for pid, record in data.items()}
    _out(rows, as_json, "\n".join(f"{p}: {json.dumps(r)}" for p, r in rows.items())
         or "no participant")


@study_app.command("claim")
@friendly_errors
def claim(study: str = STUDY, participant: str = PARTICIPANT, node: str = NODE,
          key: str = KEY, datadir: Path = DATADIR_OPTION,
          password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Patient: claim the reward once the delivery is logged."""
    from learnchain.apps.wallet import study_client as sc

    paid = sc.claim(_client(node, key, datadir, password_file), _hex(study, "--study", 8),
                    _hex(participant, "--participant", 32))
    _out({"paid": paid}, as_json, f"paid {paid}")


@study_app.command("withdraw")
@friendly_errors
def withdraw(study: str = STUDY, participant: str = PARTICIPANT, node: str = NODE,
             key: str = KEY, datadir: Path = DATADIR_OPTION,
             password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Patient: leave the study; the grant is revoked and the derived record deleted."""
    from learnchain.apps.wallet import study_client as sc

    sc.withdraw(_client(node, key, datadir, password_file), _hex(study, "--study", 8),
                _hex(participant, "--participant", 32))
    _out({"withdrawn": True}, as_json, "withdrawn")


@study_app.command("close")
@friendly_errors
def close(study: str = STUDY, node: str = NODE, key: str = KEY,
          datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
          as_json: bool = JSON_OPTION) -> None:
    """Researcher, after the deadline: take back the escrow nobody is owed."""
    from learnchain.apps.wallet import study_client as sc

    refund = sc.close(_client(node, key, datadir, password_file), _hex(study, "--study", 8))
    _out({"refund": refund}, as_json, f"refunded {refund}")


@review_app.command("flag")
@friendly_errors
def flag(record: str = typer.Option(..., "--record", help="Record id (0x…)."),
         version: int = typer.Option(..., help="The version you dispute."),
         reason: str = typer.Option(..., help="Why (stored encrypted in activities/review)."),
         threshold: int = THRESHOLD, wallet: str | None = WALLET, node: str = NODE,
         key: str = KEY, datadir: Path = DATADIR_OPTION,
         password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Patient: flag an inconsistency in a professional's record."""
    from learnchain.apps.wallet import review_client as rc

    client = _client(node, key, datadir, password_file)
    n = rc.flag(client, _wallet_id(client, wallet), _hex(record, "--record", 16), version,
                reason, _proxies(client), threshold)
    _out({"flag": n}, as_json, f"flag {n}")


@review_app.command("answer")
@friendly_errors
def answer(flag_n: int = typer.Option(..., "--flag", help="Flag number in the wallet."),
           wallet: str = typer.Option(..., "--wallet", "-w", help="The patient's wallet id."),
           corrected: Path | None = typer.Option(None, help="FHIR JSON of the corrected "
                                                 "version."),
           reject: str | None = typer.Option(None, help="Reason for rejecting the flag."),
           node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
           password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Professional: answer a flag with a corrected version or a reasoned rejection."""
    from learnchain.apps.wallet import review_client as rc

    if (corrected is None) == (reject is None):
        raise ValueError("give exactly one of --corrected or --reject")
    client = _client(node, key, datadir, password_file)
    wid = _hex(wallet, "--wallet", 20)
    if corrected is not None:
        version = rc.correct(client, wid, flag_n, corrected.read_bytes())
        _out({"version": version}, as_json, f"corrected as version {version}")
    else:
        note = rc.reject(client, wid, flag_n, reject or "")
        _out({"note": note}, as_json, f"rejected; reason in record 0x{note.hex()}")


@review_app.command("list")
@friendly_errors
def list_flags(wallet: str | None = WALLET, node: str = NODE, key: str = KEY,
               datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
               as_json: bool = JSON_OPTION) -> None:
    """Every flag of a wallet with its answer (kept forever)."""
    from learnchain.apps.wallet import review_client as rc

    client = _client(node, key, datadir, password_file)
    entries = rc.flags(client, _wallet_id(client, wallet))
    _out(entries, as_json, "\n".join(
        f"{i}: 0x{e['record'].hex()} v{e['version']} → "
        f"{(e['answer'] or {}).get('kind', 'open')}" for i, e in enumerate(entries))
        or "no flags")


@wallet_app.command("study-experiment")
@friendly_errors
def study_experiment(patients: int = typer.Option(1000, help="Synthetic patients."),
                     seed: int = typer.Option(0, help="Population seed."),
                     reward: int = typer.Option(10, help="Reward per participant."),
                     out: Path | None = typer.Option(None, "--out", help="Output folder "
                                                     "(default experiments/out/wallet)."),
                     publish_results: bool = PUBLISH_OPTION,
                     as_json: bool = JSON_OPTION) -> None:
    """A study end to end over a synthetic population: time and cost per participant."""
    from learnchain.apps.wallet.study_experiment import run, write

    folder = experiment_folder("wallet", out, publish_results)
    with experiment_progress("study", as_json) as step:
        report = run(patients, seed, reward, progress=step)
    paths = write(report, folder)
    report["files"] = [str(p) for p in paths]
    if as_json:
        emit_json(report)
    else:
        console.print(f"{report['eligible']} of {patients} patients took part; per "
                      f"participant {report['ms_per_participant']} ms, "
                      f"{report['cost_per_participant']}; wrote {paths[0]}, {paths[1]}")
