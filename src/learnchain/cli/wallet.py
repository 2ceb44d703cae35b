"""`learnchain wallet …`: medical wallets for patients, professionals, institutions and proxies.

Every command signs with a keystore and talks to a node's HTTP API (and, for reads, to the
proxies the chain lists). Wallet, crypto and FHIR modules are imported inside the commands so
the CLI starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from learnchain.cli.common import DATADIR_OPTION, JSON_OPTION, console, emit_json, friendly_errors
from learnchain.cli.common import load_key as _load_key

wallet_app = typer.Typer(help="Medical wallets: encrypted records, grants, proxies, recovery.",
                         no_args_is_help=True)
proxy_app = typer.Typer(help="Re-encryption proxy role.", no_args_is_help=True)
recover_app = typer.Typer(help="Key recovery through the KYC institution and the proxies.",
                          no_args_is_help=True)
wallet_app.add_typer(proxy_app, name="proxy")
wallet_app.add_typer(recover_app, name="recover")

NODE = typer.Option("http://127.0.0.1:8645", "--node", help="Node HTTP API URL.")
KEY = typer.Option(..., "--key", "-k", help="Keystore path or key name in <datadir>/keys.")
PASSWORD = typer.Option(None, "--password-file", help="File holding the keystore password.")
WALLET = typer.Option(None, "--wallet", "-w", help="Wallet id (0x…); default: your own.")


def _hex(text: str, what: str, size: int | None = None) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise ValueError(f"{what} must be 0x-prefixed hex") from None
    if size is not None and len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes")
    return raw


def _address(text: str) -> bytes:
    from learnchain.core.crypto import parse_address

    return parse_address(text)


def _client(node: str, key: str, datadir: Path, password_file: Path | None) -> Any:
    from learnchain.apps.wallet.access import HttpChain, HttpContent
    from learnchain.apps.wallet.client import WalletClient

    return WalletClient(_load_key(key, datadir, password_file), HttpChain(node),
                        HttpContent(node))


def _wallet_id(client: Any, wallet: str | None) -> bytes:
    return _hex(wallet, "--wallet", 20) if wallet else client.my_wallet()


def _out(value: Any, as_json: bool, text: str) -> None:
    if as_json:
        emit_json(value)
    else:
        console.print(text)


@wallet_app.command("keys")
@friendly_errors
def publish_keys(node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
                 password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Publish your Umbral public keys (needed to open a wallet or receive grants)."""
    client = _client(node, key, datadir, password_file)
    client.publish_keys()
    _out({"enc": client.umbral.public_bytes}, as_json, "keys published")


@wallet_app.command("open")
@friendly_errors
def open_wallet(institution: str = typer.Option(..., help="Your KYC institution's address."),
                node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
                password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Open your one wallet (patient role)."""
    wid = _client(node, key, datadir, password_file).open(_address(institution))
    _out({"wallet": wid}, as_json, f"wallet 0x{wid.hex()} opened")


@wallet_app.command("add")
@friendly_errors
def add(file: Path = typer.Argument(..., help="Payload: FHIR JSON or any file."),
        layer: str = typer.Option(..., "--layer", "-l", help="e.g. profile/allergies"),
        rtype: str = typer.Option("file", "--type", "-t", help="FHIR resource type or 'file'."),
        record: str = typer.Option(None, "--record", help="Record id to add a version to."),
        wallet: str | None = WALLET, node: str = NODE, key: str = KEY,
        datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
        as_json: bool = JSON_OPTION) -> None:
    """Encrypt a record on this machine, store it, and record it on chain."""
    client = _client(node, key, datadir, password_file)
    rid, version = client.add(_wallet_id(client, wallet), layer, rtype, file.read_bytes(),
                              filename=file.name[:64],
                              record=_hex(record, "--record", 16) if record else None)
    _out({"record": rid, "version": version}, as_json, f"record 0x{rid.hex()} v{version}")


@wallet_app.command("list")
@friendly_errors
def list_records(layer: str = typer.Option("", "--layer", "-l", help="Only this layer."),
                 wallet: str | None = WALLET,
                 node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
                 password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Records of a wallet (metadata only: originator, CID, layer, type, versions)."""
    client = _client(node, key, datadir, password_file)
    found = client.records(_wallet_id(client, wallet), layer)
    _out(found, as_json, "\n".join(
        f"0x{r['record'].hex()}  {r['layer']:<24} {r['rtype']:<20} v{len(r['versions'])}"
        + ("  (deleted)" if r["deleted"] else "") for r in found) or "no records")


@wallet_app.command("history")
@friendly_errors
def history(record: str = typer.Option(..., "--record", help="Record id (0x…)."),
            wallet: str | None = WALLET,
            node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
            password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Every version of a record: originator, CID, height, last update."""
    client = _client(node, key, datadir, password_file)
    found = client.history(_wallet_id(client, wallet), _hex(record, "--record", 16))
    _out(found, as_json, "\n".join(
        f"v{i + 1}  {v['cid']}  by 0x{v['originator'].hex()}  height {v['height']}"
        for i, v in enumerate(found["versions"])))


@wallet_app.command("read")
@friendly_errors
def read(record: str = typer.Option(..., "--record", help="Record id (0x…)."),
         version: int = typer.Option(0, help="Version to read (0: the latest)."),
         out: Path = typer.Option(None, "--out", "-o", help="Write the payload here."),
         wallet: str | None = WALLET, node: str = NODE, key: str = KEY,
         datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
         as_json: bool = JSON_OPTION) -> None:
    """Decrypt a record: directly as its owner, or through the proxies with a grant."""
    client = _client(node, key, datadir, password_file)
    found = client.read(_wallet_id(client, wallet), _hex(record, "--record", 16), version or None)
    if out is not None:
        out.write_bytes(found.payload.body)
    info = {"record": found.record, "version": found.version, "layer": found.layer,
            "type": found.payload.rtype, "filename": found.payload.filename,
            "size": len(found.payload.body), "refusals": list(found.refusals)}
    if out is None and not as_json:
        console.print(found.payload.body.decode(errors="replace"))
    elif as_json:
        emit_json({**info, **({} if out else {"body": found.payload.body.decode(
            errors="replace")})})
    else:
        console.print(f"wrote {len(found.payload.body)} bytes to {out}")


@wallet_app.command("grant")
@friendly_errors
def grant(grantee: str = typer.Option(..., help="Grantee key name or address."),
          layer: list[str] = typer.Option(..., "--layer", help="Layer to share (repeatable)."),
          threshold: int = typer.Option(2, "--threshold", "-m",
                                        help="Proxies needed to re-encrypt (m of n)."),
          proxy: list[str] = typer.Option(None, "--proxy", help="Proxy address (default: all)."),
          expiry: int = typer.Option(0, help="Block height at which the grant ends (0: never)."),
          write: bool = typer.Option(False, help="Also let the grantee add records."),
          wallet: str | None = WALLET, node: str = NODE, key: str = KEY,
          datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
          as_json: bool = JSON_OPTION) -> None:
    """Share layers with a professional through m-of-n re-encryption proxies."""
    client = _client(node, key, datadir, password_file)
    proxies = ([_address(p) for p in proxy] if proxy
               else sorted(bytes.fromhex(a) for a in client.chain.query("proxies", {})))
    gid = client.grant(_wallet_id(client, wallet), _address(grantee), list(layer), proxies,
                       threshold, expiry=expiry, write=write)
    _out({"grant": gid}, as_json, f"grant 0x{gid.hex()} ({threshold}-of-{len(proxies)})")


@wallet_app.command("revoke")
@friendly_errors
def revoke(grant_id: str = typer.Option(..., "--grant", help="Grant id (0x…)."),
           node: str = NODE, key: str = KEY,
           datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
           as_json: bool = JSON_OPTION) -> None:
    """Revoke a grant on chain and delete its fragments at every proxy."""
    problems = _client(node, key, datadir, password_file).revoke(_hex(grant_id, "--grant", 16))
    _out({"revoked": True, "proxy_problems": problems}, as_json,
         "revoked" + ("; " + "; ".join(problems) if problems else ""))


@wallet_app.command("log")
@friendly_errors
def access_log(wallet: str | None = WALLET, node: str = NODE, key: str = KEY,
               datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
               as_json: bool = JSON_OPTION) -> None:
    """The access log (activities layer): who read which record through which proxy."""
    client = _client(node, key, datadir, password_file)
    entries = client.log(_wallet_id(client, wallet))
    _out(entries, as_json, "\n".join(
        f"height {e['height']}: 0x{e['grantee'].hex()} read 0x{e['record'].hex()} "
        f"v{e['version']} via 0x{e['proxy'].hex()}" for e in entries) or "no accesses")


@wallet_app.command("delete")
@friendly_errors
def delete(record: str = typer.Option(..., "--record", help="Record id (0x…)."),
           wallet: str | None = WALLET,
           node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
           password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Delete a record: unpinned and collected everywhere; the chain keeps hash and fact."""
    client = _client(node, key, datadir, password_file)
    client.delete(_wallet_id(client, wallet), _hex(record, "--record", 16))
    _out({"deleted": True}, as_json, "deleted")


@wallet_app.command("authorise")
@friendly_errors
def authorise(professional: str = typer.Option(..., help="Professional key name or address."),
              revoke_auth: bool = typer.Option(False, "--revoke",
                                               help="Withdraw the authorisation instead."),
              node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
        password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Institution role: vouch for a professional (needed to read identification layers)."""
    _client(node, key, datadir, password_file).authorise(_address(professional), revoke_auth)
    _out({"ok": True}, as_json, "done")


@recover_app.command("setup")
@friendly_errors
def recover_setup(institution: str = typer.Option(..., help="KYC institution address."),
                  threshold: int = typer.Option(2, "-m", help="Proxies needed (m of n)."),
                  wallet: str | None = WALLET, node: str = NODE, key: str = KEY,
                  datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
                  as_json: bool = JSON_OPTION) -> None:
    """Patient: create the recovery grant (institution + proxy threshold)."""
    client = _client(node, key, datadir, password_file)
    proxies = sorted(bytes.fromhex(a) for a in client.chain.query("proxies", {}))
    gid = client.set_recovery(_wallet_id(client, wallet), _address(institution), proxies,
                              threshold)
    _out({"grant": gid}, as_json, f"recovery grant 0x{gid.hex()}")


@recover_app.command("start")
@friendly_errors
def recover_start(wallet: str = typer.Option(..., "--wallet", "-w", help="Wallet id (0x…)."),
                  new_owner: str = typer.Option(..., help="The patient's new key address."),
                  node: str = NODE, key: str = KEY,
                  datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
                  as_json: bool = JSON_OPTION) -> None:
    """Institution: after re-identifying the patient, hand the wallet to their new key."""
    _client(node, key, datadir, password_file).start_recovery(_hex(wallet, "--wallet", 20),
                                                               _address(new_owner))
    _out({"started": True}, as_json, "recovery started; the new key can finish after the delay")


@recover_app.command("finish")
@friendly_errors
def recover_finish(wallet: str = typer.Option(..., "--wallet", "-w", help="Wallet id (0x…)."),
                   node: str = NODE,
                   key: str = KEY, datadir: Path = DATADIR_OPTION,
                   password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """New key: take over the wallet and re-wrap every record under the new key."""
    client = _client(node, key, datadir, password_file)
    wid = _hex(wallet, "--wallet", 20)
    client.finish_recovery(wid)
    count = client.rewrap(wid, client.wallet(wid)["recovered_grant"])
    _out({"rewrapped": count}, as_json, f"recovered; {count} records re-wrapped")


@proxy_app.command("serve")
@friendly_errors
def proxy_serve(port: int = typer.Option(8745, help="Port on 127.0.0.1."),
                database: Path = typer.Option(Path("proxy.sqlite"), "--db",
                                              help="The proxy's own SQLite file (fragments)."),
                node: str = NODE, key: str = KEY,
        datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD,
        as_json: bool = JSON_OPTION) -> None:
    """Run a re-encryption proxy on 127.0.0.1:PORT backed by a node (until Ctrl-C; --json
    prints its address and URL first)."""
    if as_json:
        emit_json({"url": f"http://127.0.0.1:{port}"})
    import uvicorn

    from learnchain.apps.wallet.access import HttpChain
    from learnchain.apps.wallet.proxy import ProxyService
    from learnchain.apps.wallet.proxy_http import create_proxy_app

    service = ProxyService(_load_key(key, datadir, password_file), HttpChain(node), database)
    uvicorn.run(create_proxy_app(service), host="127.0.0.1", port=port, log_level="warning")


@proxy_app.command("register")
@friendly_errors
def proxy_register(address: str = typer.Option(..., help="The proxy's address."),
                   url: str = typer.Option(..., help="The proxy's HTTP URL."),
                   node: str = NODE, key: str = KEY, datadir: Path = DATADIR_OPTION,
                   password_file: Path | None = PASSWORD, as_json: bool = JSON_OPTION) -> None:
    """Consortium member: register a proxy's address and URL in the wallet app."""
    client = _client(node, key, datadir, password_file)
    client._tx("register_proxy", {"address": _address(address), "url": url})
    _out({"ok": True}, as_json, "proxy registered")


@wallet_app.command("scenario")
@friendly_errors
def scenario(devnet: Path = typer.Option(Path("devnet"), "--devnet",
                                         help="Folder of a running `learnchain devnet`."),
             as_json: bool = JSON_OPTION) -> None:
    """Scripted scenario: a patient, two doctors, a hospital and three proxies on a devnet."""
    from learnchain.apps.wallet.scenario import run_scenario

    report = run_scenario(devnet, log=None if as_json else console.print)
    if as_json:
        emit_json(report)


from learnchain.cli import wallet_collab as _wallet_collab  # noqa: E402,F401  (registers groups)
from learnchain.cli import wallet_studies as _wallet_studies  # noqa: E402,F401  (registers groups)
