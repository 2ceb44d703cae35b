"""`/docs` renders in headless Chromium with the network cut off: the Swagger UI assets are
served by the node itself (no CDN), and every route of the schema appears on the page.

Chromium is a system package (`make sysdeps` installs Debian's `chromium`; `make test` runs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import httpx
import pytest

from learnchain.net.server import ApiServer
from learnchain.testing import dev_genesis, make_node

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         # no network but loopback: every other host fails to resolve, any proxy use fails
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]


@pytest.fixture
def served():
    tn = make_node(dev_genesis(funded={"alice": 1000}))
    with ApiServer(tn.node) as server:
        yield server.url


def test_docs_page_references_only_local_assets(served):
    html = httpx.get(f"{served}/docs").text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", html)
    assert urls and all(u.startswith(("/", "data:")) for u in urls), urls
    for asset in ("/static/swagger/swagger-ui-bundle.js", "/static/swagger/swagger-ui.css"):
        assert httpx.get(served + asset).status_code == 200
    landing = httpx.get(served + "/")
    assert landing.status_code == 200 and 'href="/docs"' in landing.text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (run `make sysdeps`)")
def test_docs_render_in_headless_chromium_without_network(served):
    spec = httpx.get(f"{served}/openapi.json").json()
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                                 "--virtual-time-budget=20000", "--dump-dom",
                                 f"{served}/docs"], capture_output=True, text=True, timeout=180)
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Unable to render this definition" not in dom
    rendered = set(re.findall(r'data-path="([^"]+)"', dom))
    assert set(spec["paths"]) <= rendered, sorted(set(spec["paths"]) - rendered)
    assert dom.count('class="opblock-summary-method"') >= len(spec["paths"])
