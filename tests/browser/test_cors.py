"""CORS in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium) loads a page from a second local origin (a tiny
http.server on another port) whose JavaScript uploads to Cairn with a presigned PUT and
reads the object back with a presigned GET, as a web application does.

With a CORS rule for the page's origin the browser's preflight is answered, the upload
lands, and the page reads the body and the exposed ETag. Without one the browser itself
blocks both: the PUT never reaches the bucket (its preflight is refused) and the GET's
answer is withheld from the page. The real `cairn serve` of tests/conftest.py serves it.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

PAGE = "<!doctype html><html><head><title>uploader</title></head><body>app</body></html>"

# Runs in the page: a presigned PUT, then a presigned GET; reports what the page could see.
SCRIPT = """
const [putUrl, getUrl, body, done] = arguments;
(async () => {
  const out = {};
  try {
    const put = await fetch(putUrl, {method: 'PUT', body: body,
                                     headers: {'Content-Type': 'text/plain'}});
    out.putStatus = put.status;
    out.etag = put.headers.get('ETag');
  } catch (e) { out.putError = String(e); }
  try {
    const get = await fetch(getUrl);
    out.getStatus = get.status;
    out.text = await get.text();
  } catch (e) { out.getError = String(e); }
  done(out);
})();
"""


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"none of {names} is installed (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def page_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second origin: a plain HTTP server on its own port serving one page."""
    root: Path = tmp_path_factory.mktemp("page")
    (root / "index.html").write_text(PAGE)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    service = Service(executable_path=_binary("chromedriver", "chromium-driver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def _run_page(browser: webdriver.Chrome, origin: str, s3: Any, bucket: str, key: str) -> Any:
    put_url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": key, "ContentType": "text/plain"},
        ExpiresIn=300,
    )
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    browser.get(origin + "/index.html")
    return browser.execute_async_script(SCRIPT, put_url, get_url, "hello from the browser")


def test_a_page_uploads_and_reads_back_with_a_cors_rule(browser, page_origin, s3, bucket):
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [page_origin],
                    "AllowedMethods": ["PUT", "GET"],
                    "AllowedHeaders": ["content-type"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 60,
                }
            ]
        },
    )
    key = f"upload-{uuid.uuid4().hex[:8]}.txt"
    seen = _run_page(browser, page_origin, s3, bucket, key)
    assert seen.get("putStatus") == 200, seen
    assert seen.get("getStatus") == 200, seen
    assert seen["text"] == "hello from the browser"
    stored = s3.get_object(Bucket=bucket, Key=key)
    assert stored["Body"].read() == b"hello from the browser"
    assert seen["etag"] == stored["ETag"]  # readable by the page only because it is exposed


def test_without_a_rule_the_browser_blocks_both(browser, page_origin, s3, bucket):
    key = f"upload-{uuid.uuid4().hex[:8]}.txt"
    seen = _run_page(browser, page_origin, s3, bucket, key)
    assert "putError" in seen and "putStatus" not in seen, seen
    assert "getError" in seen and "text" not in seen, seen
    with pytest.raises(ClientError):  # the refused preflight kept the PUT from being sent
        s3.head_object(Bucket=bucket, Key=key)


def test_a_rule_for_another_origin_does_not_let_the_page_in(browser, page_origin, s3, bucket):
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {"AllowedOrigins": ["https://elsewhere.example"], "AllowedMethods": ["PUT", "GET"]}
            ]
        },
    )
    key = f"upload-{uuid.uuid4().hex[:8]}.txt"
    seen = _run_page(browser, page_origin, s3, bucket, key)
    assert "putError" in seen and "getError" in seen, seen
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key=key)
