"""The web console in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium) against a real `cairn serve --console-port`.

Each test signs in through the page as a person would, acts through the page, and checks
the result both on the page and through boto3 against the S3 port: sign-in (and a wrong
secret failing), upload with its progress bar, prefixes, download (the same bytes),
delete, a presigned link, paging, and a second user who does not see the first user's
bucket. Screenshots go to $CAIRN_ARTIFACTS/screenshots (default
test-artifacts/screenshots), which CI keeps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.test_cors import _binary
from tests.conftest import make_client
from tests.server import CairnServer, free_port

ROOT = Path(__file__).resolve().parents[2]


def screenshot_dir() -> Path:
    base = os.environ.get("CAIRN_ARTIFACTS")
    path = Path(base) / "screenshots" if base else ROOT / "test-artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shoot(browser: webdriver.Chrome, name: str) -> Path:
    path = screenshot_dir() / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def make_browser(downloads: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1200,1000",
    ):  # fmt: skip
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    service = Service(executable_path=_binary("chromedriver", "chromium-driver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.set_script_timeout(30)
    return driver


def run_console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    """A server of the module's own, with the console on (two workers: the console lives
    in worker 0 and its S3 requests go to either). ``console_url`` is the console's."""
    port = free_port()
    srv = CairnServer(
        tmp_path_factory.mktemp("console") / "data",
        workers=2,
        # Repair passes every 2 s, so that the cluster view has progress to show.
        extra_args=["--console-port", str(port), "--repair-interval", "2"],
    )
    srv.console_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    yield from run_console_server(tmp_path_factory)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[webdriver.Chrome]:
    driver = make_browser(downloads)
    yield driver
    driver.quit()


@pytest.fixture
def s3c(console_server: CairnServer) -> Any:
    return make_client(console_server)


@pytest.fixture
def fresh_bucket(s3c: Any) -> str:
    name = f"console-{uuid.uuid4().hex[:12]}"
    s3c.create_bucket(Bucket=name)
    return name


def wait_for(browser: webdriver.Chrome, what: Callable[[], Any], timeout: float = 15) -> Any:
    """Poll until ``what()`` is truthy (selenium's wait, ignoring stale elements)."""
    return WebDriverWait(
        browser, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
    ).until(lambda _: what())


def visible(browser: webdriver.Chrome, element_id: str) -> bool:
    return browser.find_element(By.ID, element_id).is_displayed()


def sign_in(browser: webdriver.Chrome, url: str, access: str, secret: str) -> None:
    browser.delete_all_cookies()
    browser.get(url + "/")
    wait_for(browser, lambda: visible(browser, "sign-in-view"))
    browser.find_element(By.ID, "access-key").send_keys(access)
    browser.find_element(By.ID, "secret-key").send_keys(secret)
    browser.find_element(By.ID, "sign-in").click()


def sign_in_ok(
    browser: webdriver.Chrome, server: CairnServer, access: str = "", secret: str = ""
) -> None:
    sign_in(browser, server.console_url, access or server.access_key, secret or server.secret_key)  # type: ignore[attr-defined]
    wait_for(browser, lambda: visible(browser, "buckets-view"))
    wait_for(browser, lambda: browser.find_element(By.ID, "buckets-page").text)  # loaded


def open_bucket(
    browser: webdriver.Chrome, server: CairnServer, bucket: str, prefix: str = ""
) -> None:
    browser.get(f"{server.console_url}/#/b/{bucket}/{prefix}")  # type: ignore[attr-defined]
    wait_for(browser, lambda: visible(browser, "objects-view"))
    wait_for(browser, lambda: bucket in browser.find_element(By.ID, "crumbs").text)


def rows(browser: webdriver.Chrome, table: str, attribute: str) -> list[str]:
    """The rows' attribute values, read in one script (the page may be redrawing)."""
    return list(
        browser.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(r => r.getAttribute(arguments[1]))",
            f"#{table} tbody tr[{attribute}]",
            attribute,
        )
    )


def click(browser: webdriver.Chrome, css: str) -> None:
    """Click the element ``css`` names, looking it up again if a redraw replaced it."""
    wait_for(browser, lambda: browser.find_element(By.CSS_SELECTOR, css).click() or True)


def row(browser: webdriver.Chrome, table: str, attribute: str, value: str) -> WebElement:
    return browser.find_element(By.CSS_SELECTOR, f'#{table} tbody tr[{attribute}="{value}"]')


# The cluster view redraws every 2 s: read its node table in one script, not cell by cell.
READ_NODES = """
return [...document.querySelectorAll('#nodes-table tbody tr[data-node]')].map((r) => {
  const td = r.querySelectorAll('td');
  return {id: r.dataset.node, url: td[0].title, zone: td[1].textContent, health: td[2].textContent,
          lease: td[3].textContent, partitions: td[5].textContent, down: r.classList.contains('is-down')};
});
"""


def node_table(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    return list(browser.execute_script(READ_NODES))


# ------------------------------------------------------------------ sign-in


def test_a_wrong_secret_does_not_sign_in(browser, console_server):
    sign_in(browser, console_server.console_url, console_server.access_key, "not-the-secret")
    message = wait_for(browser, lambda: browser.find_element(By.ID, "message").text or None)
    assert "Sign-in failed" in message
    assert visible(browser, "sign-in-view") and not visible(browser, "buckets-view")
    assert browser.get_cookie("cairn_console") is None
    assert browser.find_element(By.ID, "secret-key").get_attribute("value") == ""


def test_sign_in_shows_the_buckets_with_their_counters(browser, console_server, s3c, fresh_bucket):
    s3c.put_object(Bucket=fresh_bucket, Key="one", Body=b"x" * 1000)
    s3c.put_object(Bucket=fresh_bucket, Key="two/three", Body=b"y" * 2048)
    sign_in_ok(browser, console_server)
    cookie = browser.get_cookie("cairn_console")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # not readable by scripts
    assert visible(browser, "nav-cluster")  # the bootstrap key is the admin
    bucket_row = wait_for(
        browser, lambda: row(browser, "buckets-table", "data-bucket", fresh_bucket)
    )
    cells = [c.text for c in bucket_row.find_elements(By.TAG_NAME, "td")]
    assert cells[1] == "2" and cells[2] == "3.0 KiB", cells  # from the usage counters
    shoot(browser, "console-buckets")


# ------------------------------------------------------------------ objects


def test_browse_prefixes(browser, console_server, s3c, fresh_bucket):
    for key in ("photos/2024/a.jpg", "photos/2024/b.jpg", "photos/c.jpg", "readme.txt"):
        s3c.put_object(Bucket=fresh_bucket, Key=key, Body=key.encode())
    sign_in_ok(browser, console_server)
    click(browser, f'#buckets-table tr[data-bucket="{fresh_bucket}"] a')
    wait_for(browser, lambda: rows(browser, "objects-table", "data-key") == ["readme.txt"])
    assert rows(browser, "objects-table", "data-prefix") == ["photos/"]
    click(browser, '#objects-table tr[data-prefix="photos/"] a')
    wait_for(browser, lambda: rows(browser, "objects-table", "data-key") == ["photos/c.jpg"])
    assert rows(browser, "objects-table", "data-prefix") == ["photos/2024/"]
    click(browser, '#objects-table tr[data-prefix="photos/2024/"] a')
    wait_for(
        browser,
        lambda: (
            rows(browser, "objects-table", "data-key") == ["photos/2024/a.jpg", "photos/2024/b.jpg"]
        ),
    )
    names = browser.execute_script(
        "return [...document.querySelectorAll('#objects-table .object-name')].map(e => e.textContent)"
    )
    assert names == ["a.jpg", "b.jpg"]
    assert browser.find_element(By.ID, "crumbs").text.endswith("photos / 2024")
    shoot(browser, "console-objects")
    # The crumbs lead back up.
    click(browser, f'#crumbs a[href="#/b/{fresh_bucket}%2F"]')
    wait_for(browser, lambda: rows(browser, "objects-table", "data-key") == ["readme.txt"])


# Records every upload progress event the page's XHR fires (test instrumentation only).
WATCH_PROGRESS = """
window.__progress = [];
const open = XMLHttpRequest.prototype.open;
XMLHttpRequest.prototype.open = function (...args) {
  this.upload.addEventListener('progress', (e) => window.__progress.push([e.loaded, e.total]));
  return open.apply(this, args);
};
"""


def test_upload_streams_with_a_progress_bar(browser, console_server, s3c, fresh_bucket, tmp_path):
    data = os.urandom(24 << 20)
    source = tmp_path / "big upload.bin"
    source.write_bytes(data)
    sign_in_ok(browser, console_server)
    open_bucket(browser, console_server, fresh_bucket, "in/")
    browser.execute_script(WATCH_PROGRESS)
    browser.find_element(By.ID, "upload-file").send_keys(str(source))
    browser.find_element(By.ID, "upload-button").click()
    wait_for(browser, lambda: "Uploaded" in browser.find_element(By.ID, "upload-status").text, 60)
    events = browser.execute_script("return window.__progress")
    assert events and events[-1] == [len(data), len(data)], events[-3:]
    assert all(total == len(data) for _, total in events)
    bar = browser.find_element(By.ID, "upload-progress")
    assert bar.is_displayed() and float(bar.get_attribute("value")) == 100.0
    wait_for(browser, lambda: rows(browser, "objects-table", "data-key") == ["in/big upload.bin"])
    stored = s3c.get_object(Bucket=fresh_bucket, Key="in/big upload.bin")["Body"].read()
    assert stored == data


def test_download_gives_the_same_bytes(browser, console_server, s3c, fresh_bucket, downloads):
    data = os.urandom(3 << 20) + b"end"
    name = f"file-{uuid.uuid4().hex[:6]}.bin"
    s3c.put_object(Bucket=fresh_bucket, Key=f"dir/{name}", Body=data)
    sign_in_ok(browser, console_server)
    open_bucket(browser, console_server, fresh_bucket, "dir/")
    click(browser, f'#objects-table tr[data-key="dir/{name}"] a.download')
    target = downloads / name
    wait_for(browser, lambda: target.exists() and target.stat().st_size == len(data), 30)
    assert target.read_bytes() == data


def test_delete_removes_the_object(browser, console_server, s3c, fresh_bucket):
    s3c.put_object(Bucket=fresh_bucket, Key="keep", Body=b"1")
    s3c.put_object(Bucket=fresh_bucket, Key="drop", Body=b"2")
    sign_in_ok(browser, console_server)
    open_bucket(browser, console_server, fresh_bucket)
    wait_for(browser, lambda: rows(browser, "objects-table", "data-key") == ["drop", "keep"])
    click(browser, '#objects-table tr[data-key="drop"] button.delete')
    alert = wait_for(browser, lambda: browser.switch_to.alert)
    assert "drop" in alert.text
    alert.accept()
    wait_for(browser, lambda: rows(browser, "objects-table", "data-key") == ["keep"])
    keys = [o["Key"] for o in s3c.list_objects_v2(Bucket=fresh_bucket).get("Contents", [])]
    assert keys == ["keep"]


def test_a_presigned_link_reads_the_object(browser, console_server, s3c, fresh_bucket):
    s3c.put_object(Bucket=fresh_bucket, Key="share me.txt", Body=b"shared bytes")
    sign_in_ok(browser, console_server)
    open_bucket(browser, console_server, fresh_bucket)
    wait_for(browser, lambda: rows(browser, "objects-table", "data-key") == ["share me.txt"])
    click(browser, '#objects-table tr[data-key="share me.txt"] button.presign')
    url = wait_for(browser, lambda: browser.find_element(By.ID, "link-url").get_attribute("value"))
    assert url.startswith(console_server.endpoint + f"/{fresh_bucket}/share%20me.txt?")
    assert "X-Amz-Signature=" in url and console_server.secret_key not in url
    assert httpx.get(url).content == b"shared bytes"  # no cookie, no console: S3 itself
    browser.find_element(By.ID, "link-copy").click()
    wait_for(browser, lambda: browser.find_element(By.ID, "message").text == "Link copied")


def test_objects_are_listed_a_page_at_a_time(browser, console_server, s3c, fresh_bucket):
    for i in range(230):
        s3c.put_object(Bucket=fresh_bucket, Key=f"k{i:04d}", Body=b"")
    sign_in_ok(browser, console_server)
    open_bucket(browser, console_server, fresh_bucket)
    wait_for(browser, lambda: len(rows(browser, "objects-table", "data-key")) == 100)
    seen = rows(browser, "objects-table", "data-key")
    for page in (2, 3):
        browser.find_element(By.ID, "objects-next").click()
        wait_for(
            browser, lambda p=page: browser.find_element(By.ID, "objects-page").text == f"page {p}"
        )
        wait_for(
            browser, lambda s=tuple(seen): rows(browser, "objects-table", "data-key")[0] not in s
        )
        seen += rows(browser, "objects-table", "data-key")
    assert seen == [f"k{i:04d}" for i in range(230)]
    assert not browser.find_element(By.ID, "objects-next").is_enabled()
    browser.find_element(By.ID, "objects-prev").click()
    wait_for(browser, lambda: rows(browser, "objects-table", "data-key")[0] == "k0100")


# ------------------------------------------------------------------ who sees what


def create_user(server: CairnServer, name: str) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "admin", "--data", str(server.data), "user",
         "create", name, "--json"],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return json.loads(out.stdout)


def test_a_second_user_does_not_see_the_first_users_bucket(browser, console_server, fresh_bucket):
    other = create_user(console_server, f"user-{uuid.uuid4().hex[:8]}")
    sign_in_ok(browser, console_server, other["access_key"], other["secret_key"])
    wait_for(browser, lambda: browser.find_element(By.ID, "buckets-page").text == "page 1")
    assert fresh_bucket not in rows(browser, "buckets-table", "data-bucket")
    assert not visible(browser, "nav-cluster")
    # Typing the bucket's address does not help: S3 refuses the listing.
    open_bucket(browser, console_server, fresh_bucket)
    wait_for(browser, lambda: "AccessDenied" in browser.find_element(By.ID, "message").text)
    assert rows(browser, "objects-table", "data-key") == []
    # Nor does asking the API for the cluster.
    status = browser.execute_async_script(
        "const done = arguments[0]; fetch('/api/cluster').then(r => done(r.status));"
    )
    assert status == 403
    # Their own bucket, made through the page, is theirs alone.
    mine = f"mine-{uuid.uuid4().hex[:8]}"
    browser.get(console_server.console_url + "/#/buckets")
    wait_for(browser, lambda: visible(browser, "buckets-view"))
    browser.find_element(By.ID, "new-bucket").send_keys(mine)
    browser.find_element(By.CSS_SELECTOR, "#create-bucket-form button").click()
    wait_for(browser, lambda: mine in rows(browser, "buckets-table", "data-bucket"))
    assert rows(browser, "buckets-table", "data-bucket") == [mine]


def test_buckets_are_listed_a_page_at_a_time(browser, console_server, s3c):
    made = [f"page-{uuid.uuid4().hex[:6]}-{i:03d}" for i in range(105)]
    for name in made:
        s3c.create_bucket(Bucket=name)
    total = len(s3c.list_buckets()["Buckets"])
    sign_in_ok(browser, console_server)
    wait_for(browser, lambda: len(rows(browser, "buckets-table", "data-bucket")) == 100)
    first = rows(browser, "buckets-table", "data-bucket")
    browser.find_element(By.ID, "buckets-next").click()
    wait_for(browser, lambda: browser.find_element(By.ID, "buckets-page").text == "page 2")
    wait_for(browser, lambda: rows(browser, "buckets-table", "data-bucket")[0] not in first)
    second = rows(browser, "buckets-table", "data-bucket")
    assert len(first) + len(second) == total and not set(first) & set(second)
    assert set(made) <= set(first) | set(second)


def test_signing_out_ends_the_session(browser, console_server):
    sign_in_ok(browser, console_server)
    browser.find_element(By.ID, "sign-out").click()
    wait_for(browser, lambda: visible(browser, "sign-in-view"))
    status = browser.execute_async_script(
        "const done = arguments[0]; fetch('/api/buckets').then(r => done(r.status));"
    )
    assert status == 401


def test_the_cluster_view_of_a_single_server(browser, console_server):
    sign_in_ok(browser, console_server)
    browser.find_element(By.ID, "nav-cluster").click()
    nodes = wait_for(browser, lambda: node_table(browser))
    assert [(n["id"], n["health"], n["lease"]) for n in nodes] == [("node-0", "up", "in-process")]
    assert nodes[0]["url"].startswith(str(console_server.data))
    jobs = rows(browser, "jobs-table", "data-job")
    assert "GC" in jobs and "Usage folding" in jobs
    # The housekeeper runs in this process: its repair passes show with a progress bar.
    repair = '#jobs-table tr[data-job="Repair & rebalance"]'
    state = wait_for(
        browser,
        lambda: browser.execute_script(
            "const r = document.querySelector(arguments[0]);"
            "return r && r.querySelector('.job-bar') ? r.cells[2].textContent : null;",
            repair,
        ),
    )
    assert "passes done" in state and "blocks checked" in state, state
    assert "0 missing (no live copy)" in state, state
