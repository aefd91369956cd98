"""The console's cluster view in a real browser, on a real multi-node cluster
(`cairn cluster up --console-port`): every node shows up with its zone, capacity bar,
lease and partitions; a node killed with SIGKILL turns "down" on the page, then its lease
"expired"; the request charts fill from the gateway's own metrics.

It also takes the three screenshots of docs/console/ (buckets, object browser, cluster
view) from one realistic session; they land in the artifacts directory like the rest.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.browser.test_console import make_browser, node_table, rows, shoot, visible, wait_for
from tests.cluster_util import CairnCluster
from tests.server import free_port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnCluster]:
    port = free_port()
    c = CairnCluster(
        tmp_path_factory.mktemp("console-cluster") / "data",
        nodes=4,
        extra_args=["--console-port", str(port), "--zones", "2", "--meta-services", "1"],
    )
    c.start()
    c.console_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield c
    c.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    driver = make_browser(tmp_path_factory.mktemp("downloads"))
    yield driver
    driver.quit()


def s3_of(cluster: CairnCluster) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=cluster.endpoints[0],
        aws_access_key_id=cluster.access_key,
        aws_secret_access_key=cluster.secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def fill(s3: Any) -> None:
    """A little of everything, for the screenshots and the charts."""
    for bucket, keys in {
        "backups": ["2026/12/db.tar", "2026/11/db.tar"],
        "photos": ["2024/beach.jpg", "2024/hike.jpg", "2025/snow.jpg", "cover.jpg", "index.html"],
        "logs": [f"gateway/{d:02d}.log" for d in range(1, 8)],
    }.items():
        s3.create_bucket(Bucket=bucket)
        for i, key in enumerate(keys):
            s3.put_object(Bucket=bucket, Key=key, Body=bytes(range(256)) * (40 * (i + 1)))
    for _ in range(20):
        s3.list_objects_v2(Bucket="photos")
    for _ in range(5):  # some 404s for the error chart
        with contextlib.suppress(Exception):
            s3.head_object(Bucket="photos", Key="missing")


@contextlib.contextmanager
def traffic(s3: Any) -> Iterator[None]:
    """S3 requests in the background (a listing and a missing key, about 10/s), so that
    the request charts have something to draw while the test watches the page."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            s3.list_objects_v2(Bucket="logs")
            with contextlib.suppress(Exception):
                s3.head_object(Bucket="logs", Key="missing")
            stop.wait(0.2)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def sign_in(browser: webdriver.Chrome, cluster: CairnCluster) -> None:
    browser.delete_all_cookies()
    browser.get(cluster.console_url + "/")  # type: ignore[attr-defined]
    wait_for(browser, lambda: visible(browser, "sign-in-view"))
    browser.find_element(By.ID, "access-key").send_keys(cluster.access_key)
    browser.find_element(By.ID, "secret-key").send_keys(cluster.secret_key)
    browser.find_element(By.ID, "sign-in").click()
    wait_for(browser, lambda: browser.find_element(By.ID, "buckets-page").text)


def node_of(browser: webdriver.Chrome, address: str) -> dict[str, Any] | None:
    """The node table's row of the node listening at ``address``."""
    return next((n for n in node_table(browser) if address in n["url"]), None)


def test_the_cluster_view_shows_a_node_going_down(browser, cluster):
    s3 = s3_of(cluster)
    fill(s3)
    with traffic(s3):
        watch_a_node_go_down(browser, cluster)


def watch_a_node_go_down(browser: webdriver.Chrome, cluster: CairnCluster) -> None:
    sign_in(browser, cluster)
    wait_for(
        browser,
        lambda: {"backups", "logs", "photos"} <= set(rows(browser, "buckets-table", "data-bucket")),
    )
    counts = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#buckets-table tr[data-bucket]')]"
        ".map((r) => [r.dataset.bucket, r.cells[1].textContent]))"
    )
    assert counts == {"backups": "2", "logs": "7", "photos": "5"}  # the usage counters
    shoot(browser, "console-buckets-cluster")
    browser.get(cluster.console_url + "/#/b/photos/")  # type: ignore[attr-defined]
    wait_for(
        browser,
        lambda: (
            rows(browser, "objects-table", "data-key") == ["photos/cover.jpg", "photos/index.html"]
            or rows(browser, "objects-table", "data-key") == ["cover.jpg", "index.html"]
        ),
    )
    shoot(browser, "console-objects-cluster")

    browser.find_element(By.ID, "nav-cluster").click()
    wait_for(browser, lambda: len(node_table(browser)) == 4)
    nodes = cluster.processes("node")
    table = node_table(browser)
    for proc in nodes:
        seen = node_of(browser, proc["address"])
        assert seen is not None and (seen["health"], seen["lease"]) == ("up", "alive"), table
    assert {n["zone"] for n in table} == {"zone-0", "zone-1"}
    assert sum(int(n["partitions"]) for n in table) == 1024 * 3  # each partition on R=3 nodes
    assert "Layout v" in browser.find_element(By.ID, "layout-line").text
    # The charts fill as the sampler reads the gateway's request counts (every 5 s).
    wait_for(
        browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#chart-requests polyline"), 30
    )
    peak = float(browser.find_element(By.CSS_SELECTOR, "#chart-requests text").text)
    assert peak > 1  # requests per second drawn, not an empty axis
    shoot(browser, "console-cluster")

    killed = cluster.kill9("node", 1)
    wait_for(
        browser, lambda: (node_of(browser, killed["address"]) or {}).get("health") == "down", 20
    )
    assert node_of(browser, killed["address"])["down"]  # the row is marked as well
    wait_for(browser, lambda: node_of(browser, killed["address"])["lease"] == "expired", 20)
    others = [p for p in nodes if p["address"] != killed["address"]]
    assert all(node_of(browser, p["address"])["health"] == "up" for p in others)
    shoot(browser, "console-cluster-node-down")
