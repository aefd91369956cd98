"""Fixtures for driving real client programs (the `aws` CLI) against a real `cairn serve`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_client
from tests.server import CairnServer


def aws_executable() -> str:
    """The `aws` next to this interpreter (the venv's, as in CI), else the one on PATH."""
    beside = Path(sys.executable).parent / "aws"
    if beside.exists():
        return str(beside)
    found = shutil.which("aws")
    if found is None:
        pytest.fail("the aws CLI (pip package awscli) is not installed")
    return found


class AwsCli:
    """Runs `aws` with its default settings against one server, isolated from the machine.

    Credentials and region come from the environment; the config and credentials files are
    empty temp files and HOME is a temp dir, so no profile, model or setting of the machine
    applies. Only --endpoint-url (and --no-verify-ssl for the self-signed certificate) is added.
    """

    def __init__(self, server: CairnServer, home: Path) -> None:
        self.server = server
        self.exe = aws_executable()
        home.mkdir(parents=True, exist_ok=True)
        config, creds = home / "config", home / "credentials"
        config.write_text("")
        creds.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            HOME=str(home),
            AWS_ACCESS_KEY_ID=server.access_key,
            AWS_SECRET_ACCESS_KEY=server.secret_key,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(config),
            AWS_SHARED_CREDENTIALS_FILE=str(creds),
            AWS_EC2_METADATA_DISABLED="true",
            AWS_PAGER="",
            PYTHONIOENCODING="utf-8",
            PYTHONUTF8="1",
            LC_ALL="C.UTF-8",
            LANG="C.UTF-8",
        )
        self.env = env

    def base_args(self) -> list[str]:
        args = [self.exe, "--endpoint-url", self.server.endpoint]
        if self.server.tls:
            args.append("--no-verify-ssl")
        return args

    def run(
        self, *args: str, check: bool = True, timeout: float = 120.0, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [*self.base_args(), *args]
        proc = subprocess.run(
            cmd,
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            log = ""
            if self.server.log_path.exists():
                log = self.server.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(
                f"aws {' '.join(args)} exited {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}\n"
                f"--- server log tail ({self.server.log_path}) ---\n{log}"
            )
        return proc

    __call__ = run


@pytest.fixture(params=["http", "https"])
def cairn(request: pytest.FixtureRequest) -> CairnServer:
    """The session's HTTP or HTTPS (self-signed, aws-chunked trailers) server."""
    name = "server" if request.param == "http" else "tls_server"
    return request.getfixturevalue(name)


@pytest.fixture
def aws(cairn: CairnServer, tmp_path: Path) -> AwsCli:
    return AwsCli(cairn, tmp_path / "aws-home")


@pytest.fixture
def aws_bucket(cairn: CairnServer, aws: AwsCli) -> Iterator[str]:
    """A fresh bucket made with `aws s3 mb`, emptied and removed with boto3 afterwards."""
    name = f"cli-{uuid.uuid4().hex[:16]}"
    aws("s3", "mb", f"s3://{name}")
    yield name
    try:
        s3 = make_client(cairn)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass
