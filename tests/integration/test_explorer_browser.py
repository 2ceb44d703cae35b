"""The explorer in a real headless Chromium (Selenium + Debian's chromium-driver).

A node produces blocks on the wall clock behind a real uvicorn server on a free loopback
port. The browser opens the main pages (no console errors), a transaction submitted through
the HTTP API shows up on the already-open home page via server-sent events, and screenshots
of the main pages are kept under experiments/out/explorer/ (and the pytest tmp dir).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from learnchain.apps.collab.models import sparse_perceptron_from_weights
from learnchain.client import Client
from learnchain.net.server import ApiServer
from learnchain.node import Node, open_chain
from learnchain.testing import dev_genesis, dev_key

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
OUT = Path(__file__).resolve().parents[2] / "experiments" / "out" / "explorer"
DEADLINE_S = 120  # generous: a loaded 2-core machine

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at "
                       "/usr/bin/chromium (make sysdeps installs it)"),
    pytest.mark.skipif(not Path(DRIVER).exists(), reason="needs chromium-driver "
                       "(make sysdeps installs it)"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (dev extra)")


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[ApiServer, Node]]:
    genesis = dev_genesis(funded={"alice": 10**9, "owner": 10**9, "cpp": 10**9},
                          extra_apps=["collab", "crowd", "market"])
    chain = open_chain(tmp_path / "chain.sqlite", genesis)
    node = Node(chain, dev_key("miner"), min_block_interval_ms=500)
    node.start()
    try:
        with ApiServer(node) as server:
            yield server, node
    finally:
        node.stop()


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path / 'profile'}",
                 # offline: any fetch beyond the node fails (and would log a console error)
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(DEADLINE_S)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, condition: Any, what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, DEADLINE_S, poll_frequency=0.2).until(
        condition, message=f"{what} within {DEADLINE_S} s")


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def shoot(driver: Any, name: str, tmp_path: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for folder in (tmp_path, OUT):
        assert driver.save_screenshot(str(folder / f"{name}.png"))


def test_pages_load_clean_and_a_submitted_transaction_appears_live(
        served: tuple[ApiServer, Node], browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    server, _node = served
    client = Client(server.url, timeout=30)
    client.wait_for_height(2, timeout=DEADLINE_S)
    model = sparse_perceptron_from_weights({1: 3 * 10**9, 2: -(10**9)})
    client.call(dev_key("owner"), "collab", "create_model", {
        "model": model.export(), "mechanism": "stakeable", "name": "spam-filter",
        "mechanism_params": {"refund_wait_s": 86400, "owner_wait_s": 9 * 86400,
                             "any_wait_s": 10 * 86400, "cost_weight": 1000},
        "encoder": {"type": "murmurhash3"}}, timeout=DEADLINE_S)
    client.call(dev_key("cpp"), "market", "open", {"capacity": 40, "unit_cost": 50,
                                                   "price_cap": 1000}, timeout=DEADLINE_S)

    browser.get(server.url + "/")
    wait_until(browser, lambda d: d.find_element(By.ID, "live").text == "on",
               "the live feed connects")
    seen_height = int(browser.find_element(By.ID, "height").text)

    bob = dev_key("bob").address
    tx = client.send(dev_key("alice"), "bank", "transfer", {"to": bob, "amount": 4242})
    tx_hash = "0x" + tx.hash.hex()
    row = wait_until(browser, lambda d: d.find_elements(
        By.CSS_SELECTOR, f'#txs a[data-tx="{tx_hash}"]'), "the transaction appears live")
    assert row[0].get_attribute("href").endswith(f"/tx/{tx_hash}")
    assert int(browser.find_element(By.ID, "height").text) > seen_height  # no reload needed
    assert browser.execute_script("return performance.getEntriesByType('navigation')"
                                  ".length") == 1
    shoot(browser, "home", tmp_path)
    assert console_errors(browser) == []

    included = client.wait_for_receipt(tx.hash, timeout=DEADLINE_S)
    assert included.success
    row[0].click()
    wait_until(browser, lambda d: "included in block" in d.page_source, "the tx page")
    assert "4242" in browser.page_source and "bank.transfer" in browser.page_source
    shoot(browser, "transaction", tmp_path)

    height = client.tx_status(tx.hash)["height"]
    pages = {"block": f"/block/{height}", "account": "/account/0x" + bob.hex(),
             "governance": "/governance", "models": "/apps/collab",
             "model": "/apps/collab/0", "markets": "/apps/market/0", "crowd": "/apps/crowd",
             "apps": "/apps"}
    for name, path in pages.items():
        browser.get(server.url + path)
        wait_until(browser, lambda d: d.execute_script("return document.readyState")
                   == "complete", f"{path} loads")
        assert browser.find_element(By.TAG_NAME, "h1").text, path
        shoot(browser, name, tmp_path)
        assert console_errors(browser) == [], path

    browser.get(server.url + "/block/0x" + "ab" * 32)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Block not found"
    assert "no block" in browser.find_element(By.ID, "error-detail").text
    shoot(browser, "not-found", tmp_path)
    # the console log is really collected: the 404 page's own status is reported there
    assert any("404" in message for message in console_errors(browser))
