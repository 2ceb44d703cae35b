"""`learnchain wallet case …`, `wallet reward …`, `wallet forum …`, `wallet study counts` and
`wallet study-scenario`: collaboration, institution rewards, verified forums, a researcher's
view of a study, and the study flow on a devnet. Wallet and crypto modules load inside the
commands so the CLI starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from learnchain.cli.common import DATADIR_OPTION, JSON_OPTION, console, emit_json, friendly_errors
from learnchain.cli.wallet import (
    KEY,
    NODE,
    PASSWORD,
    WALLET,
    _address,
    _client,
    _hex,
    _out,
    _wallet_id,
    wallet_app,
)
from learnchain.cli.wallet_studies import STUDY, THRESHOLD, _proxies, study_app

case_app = typer.Typer(help="Professional collaboration: cases, colleagues, patient consent.",
                       no_args_is_help=True)
reward_app = typer.Typer(help="Institution rewards for verified records (e.g. check-ups).",
                         no_args_is_help=True)
forum_app = typer.Typer(help="Verified forums: pseudonyms, badges, posts, search.",
                        no_args_is_help=True)
wallet_app.add_typer(case_app, name="case")
wallet_app.add_typer(reward_app, name="reward")
wallet_app.add_typer(forum_app, name="forum")

CASE = typer.Option(..., "--case", "-c", help="Case id (0x…, 16 bytes).")
COLLEAGUE = typer.Option(..., "--colleague", help="The colleague's address (0x…).")
PROGRAMME = typer.Option(..., "--programme", "-p", help="Reward programme id (0x…, 8 bytes).")
FORUM = typer.Option(..., "--forum", "-f", help="Forum id (0x…, 8 bytes).")


def _case(text: str) -> bytes:
    return _hex(text, "--case", 16)


def _rows(entries: list[dict[str, Any]]) -> str:
    from learnchain.net.jsonview import to_json

    return "\n".join(str(to_json(e)) for e in entries) or "none"


# --- collaboration -------------------------------------------------------------------------
@case_app.command("open")
@friendly_errors
def case_open(wallet: str = typer.Option(..., "--wallet", "-w", help="The patient's wallet id."),
              layer: list[str] = typer.Option(..., "--layer", help="Layer the case covers, "
                                              "e.g. profile (repeatable)."),
              node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
              password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Treating professional: open a case on layers the patient granted you."""
    from learnchain.apps.wallet import case_client as cc

    cid = cc.open_case(_client(node, key, datadir, password_file),
                       _hex(wallet, "--wallet", 20), list(layer))
    _out({"case": cid}, as_json, f"case 0x{cid.hex()} opened")


@case_app.command("invite")
@friendly_errors
def case_invite(case: str = CASE, colleague: str = COLLEAGUE, node: str = NODE, key: str = KEY,
                datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
                as_json: bool = JSON_OPTION) -> None:
    """Treating professional: invite a colleague (nothing is shared until the patient consents)."""
    from learnchain.apps.wallet import case_client as cc

    cc.invite(_client(node, key, datadir, password_file), _case(case), _address(colleague))
    _out({"invited": colleague}, as_json, f"invited {colleague}; the patient must consent")


@case_app.command("consent")
@friendly_errors
def case_consent(case: str = CASE, colleague: str = COLLEAGUE, threshold: int = THRESHOLD,
                 read_only: bool = typer.Option(False, "--read-only", help="The colleague may "
                                                "read but not add records."),
                 node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
                 password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Patient: consent to an invited colleague (a grant of exactly the case's layers)."""
    from learnchain.apps.wallet import case_client as cc

    client = _client(node, key, datadir, password_file)
    gid = cc.consent(client, _case(case), _address(colleague), _proxies(client), threshold,
                     write=not read_only)
    _out({"grant": gid}, as_json, f"consented; grant 0x{gid.hex()}")


@case_app.command("withdraw")
@friendly_errors
def case_withdraw(case: str = CASE, colleague: str = COLLEAGUE, node: str = NODE,
                  key: str = KEY, datadir: Path = DATADIR_OPTION,
                  password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Patient: withdraw consent; the proxies drop the colleague's fragments."""
    from learnchain.apps.wallet import case_client as cc

    problems = cc.withdraw(_client(node, key, datadir, password_file), _case(case),
                           _address(colleague))
    _out({"withdrawn": True, "problems": problems}, as_json,
         "consent withdrawn" + "".join(f"\n{p}" for p in problems))


@case_app.command("close")
@friendly_errors
def case_close(case: str = CASE, node: str = NODE, key: str = KEY,
               datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
               as_json: bool = JSON_OPTION) -> None:
    """Lead or patient: close the case; every colleague grant is revoked, the log stays."""
    from learnchain.apps.wallet import case_client as cc

    cc.close(_client(node, key, datadir, password_file), _case(case))
    _out({"closed": True}, as_json, "case closed")


@case_app.command("show")
@friendly_errors
def case_show(case: str = CASE, node: str = NODE, key: str = KEY,
              datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
              as_json: bool = JSON_OPTION) -> None:
    """A case: lead, layers, colleagues and their consent."""
    from learnchain.apps.wallet import case_client as cc

    found = cc.case(_client(node, key, datadir, password_file), _case(case))
    _out(found, as_json, _rows([found]))


@case_app.command("log")
@friendly_errors
def case_log(case: str = CASE, by: str | None = typer.Option(None, "--by", help="Only this "
                                                             "contributor's entries (0x…)."),
             node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
             password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """The contributor log: who added which record version to the case."""
    from learnchain.apps.wallet import case_client as cc

    entries = cc.contributors(_client(node, key, datadir, password_file), _case(case),
                              _address(by) if by else None)
    _out(entries, as_json, _rows(entries))


# --- rewards -------------------------------------------------------------------------------
@reward_app.command("open")
@friendly_errors
def reward_open(rtype: str = typer.Option(..., help="Record type that qualifies, e.g. "
                                          "Encounter."),
                amount: int = typer.Option(..., help="Paid per qualifying record."),
                slots: int = typer.Option(..., help="Records paid at most (escrow = amount × "
                                          "slots)."),
                blocks: int = typer.Option(1000, help="Deadline: this many blocks from now."),
                layer: str = typer.Option("profile", help="Layer the record must be in."),
                institution: list[str] = typer.Option([], "--institution", help="Only "
                                                      "professionals authorised by this "
                                                      "institution count (repeatable)."),
                node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
                password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Institution: open an escrowed reward programme."""
    from learnchain.apps.wallet import reward_client as rw

    client = _client(node, key, datadir, password_file)
    pid = rw.open_programme(client, rtype, amount, slots, client.chain.height() + blocks,
                            layer=layer, institutions=[_address(i) for i in institution])
    _out({"programme": pid}, as_json, f"programme 0x{pid.hex()} opened")


@reward_app.command("claim")
@friendly_errors
def reward_claim(programme: str = PROGRAMME,
                 record: str | None = typer.Option(None, "--record", help="One record (0x…); "
                                                   "default: every candidate record."),
                 wallet: str | None = WALLET, node: str = NODE, key: str = KEY,
                 datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
                 as_json: bool = JSON_OPTION) -> None:
    """Patient: claim the reward for qualifying records (once per record)."""
    from learnchain.apps.wallet import reward_client as rw

    client = _client(node, key, datadir, password_file)
    wid, pid = _wallet_id(client, wallet), _hex(programme, "--programme", 8)
    if record:
        rid = _hex(record, "--record", 16)
        paid = rw.claim(client, pid, wid, rid)
        _out({"paid": paid, "records": [rid]}, as_json, f"paid {paid}")
    else:
        rids = rw.claim_all(client, pid, wid)
        _out({"records": rids}, as_json, f"{len(rids)} record(s) rewarded")


@reward_app.command("close")
@friendly_errors
def reward_close(programme: str = PROGRAMME, node: str = NODE, key: str = KEY,
                 datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
                 as_json: bool = JSON_OPTION) -> None:
    """Funder, after the deadline: the unspent escrow returns."""
    from learnchain.apps.wallet import reward_client as rw

    refund = rw.close(_client(node, key, datadir, password_file),
                      _hex(programme, "--programme", 8))
    _out({"refund": refund}, as_json, f"refunded {refund}")


@reward_app.command("show")
@friendly_errors
def reward_show(programme: str = PROGRAMME, node: str = NODE, as_json: bool = JSON_OPTION
                ) -> None:
    """A programme with what it paid and the escrow left (the /v1/wallet/rewards route)."""
    from learnchain.client import Client

    found = Client(node).reward_programme(programme)
    _out(found, as_json, str(found))


# --- forums --------------------------------------------------------------------------------
@forum_app.command("open")
@friendly_errors
def forum_open(condition: str = typer.Option(..., help="Condition code of the forum."),
               title: str = typer.Option(..., help="Title (≤ 80 characters)."),
               node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
               password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Member or institution: open a forum on a condition."""
    from learnchain.apps.wallet import forum_client as fc

    fid = fc.open_forum(_client(node, key, datadir, password_file), condition, title)
    _out({"forum": fid}, as_json, f"forum 0x{fid.hex()} opened")


@forum_app.command("pseudonym")
@friendly_errors
def forum_pseudonym(forum: str = FORUM, node: str = NODE, key: str = KEY,
                    datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
                    as_json: bool = JSON_OPTION) -> None:
    """Patient: your pseudonym address in a forum (give it to your professional for a badge)."""
    from learnchain.apps.wallet import forum_client as fc

    address = fc.pseudonym_key(_client(node, key, datadir, password_file),
                               _hex(forum, "--forum", 8)).address
    _out({"pseudonym": address}, as_json, f"0x{address.hex()}")


@forum_app.command("badge")
@friendly_errors
def forum_badge(forum: str = FORUM,
                pseudonym: str = typer.Option(..., help="The patient's forum pseudonym."),
                wallet: str = typer.Option(..., "--wallet", "-w", help="The patient's wallet."),
                record: str = typer.Option(..., "--record", help="Their condition record."),
                node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
                password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Professional: read the condition record, sign a badge for the pseudonym."""
    from learnchain.apps.wallet import forum_client as fc

    badge = fc.issue_badge(_client(node, key, datadir, password_file), _hex(forum, "--forum", 8),
                           _address(pseudonym), _hex(wallet, "--wallet", 20),
                           _hex(record, "--record", 16))
    _out({"badge": badge}, as_json, f"0x{badge.hex()}")


@forum_app.command("join")
@friendly_errors
def forum_join(forum: str = FORUM, badge: str = typer.Option(..., help="The badge (0x…)."),
               node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
               password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Patient: join under your forum pseudonym with the badge."""
    from learnchain.apps.wallet import forum_client as fc

    address = fc.join(_client(node, key, datadir, password_file), _hex(forum, "--forum", 8),
                      _hex(badge, "--badge", 65))
    _out({"pseudonym": address}, as_json, f"joined as 0x{address.hex()}")


@forum_app.command("post")
@friendly_errors
def forum_post(forum: str = FORUM, text: str = typer.Option(..., help="What to post."),
               node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
               password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Patient: post under your forum pseudonym."""
    from learnchain.apps.wallet import forum_client as fc

    n = fc.post(_client(node, key, datadir, password_file), _hex(forum, "--forum", 8),
                text.encode())
    _out({"post": n}, as_json, f"post {n}")


@forum_app.command("search")
@friendly_errors
def forum_search(condition: str = typer.Option(..., help="Condition code to search for."),
                 node: str = NODE, as_json: bool = JSON_OPTION) -> None:
    """Aggregated search: forums on a condition and their members (pseudonyms only)."""
    from learnchain.client import Client

    found = Client(node).search_forums(condition)
    _out(found, as_json, "\n".join(f"{m['forum']}: {m['pseudonym']} (badge by "
                                   f"{m['badge']['professional']})" for m in found)
         or "no members")


# --- studies: the researcher's count, and the devnet scenario -------------------------------
@study_app.command("counts")
@friendly_errors
def study_counts(study: str = STUDY, node: str = NODE, as_json: bool = JSON_OPTION) -> None:
    """Researcher: how many matched and opted in, were delivered and paid; escrow left."""
    from learnchain.client import Client

    counts = Client(node).study_counts(study)
    _out(counts, as_json, ", ".join(f"{k} {v}" for k, v in counts.items()))


@wallet_app.command("study-scenario")
@friendly_errors
def study_scenario(devnet: Path = typer.Option(Path("devnet"), "--devnet",
                                               help="Folder of a running `learnchain devnet`."),
                   as_json: bool = JSON_OPTION) -> None:
    """The study flow on a devnet: publish, match, opt in, deliver, pay, exact balances."""
    from learnchain.apps.wallet.study_scenario import run_study_scenario

    report = run_study_scenario(devnet, log=None if as_json else console.print)
    if as_json:
        emit_json(report)
    if not report["ok"]:
        raise typer.Exit(1)
