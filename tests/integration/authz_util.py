"""Shared by the access-control integration tests: a `cairn serve` with a second user
made through `cairn admin --data DIR user create --json`, boto3 clients per user and for
anonymous requests, and error-code helpers."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from meta.access import BOOTSTRAP_USER_ID, BOOTSTRAP_USER_NAME
from tests.server import CairnServer

DENIED = ("AccessDenied", "403")  # a HEAD's 403 has no body: boto3 names it "403"


@dataclass
class User:
    user_id: str
    display_name: str
    access_key: str
    secret_key: str


def admin_json(srv: CairnServer, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "admin", "--data", str(srv.data), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def new_user(srv: CairnServer, name: str) -> User:
    made = admin_json(srv, "user", "create", name, "--email", f"{name}@example.com")
    return User(made["user_id"], made["display_name"], made["access_key"], made["secret_key"])


def bootstrap_user(srv: CairnServer) -> User:
    return User(BOOTSTRAP_USER_ID, BOOTSTRAP_USER_NAME, srv.access_key, srv.secret_key)


_CONFIG = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})


def client(srv: CairnServer, access: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=srv.endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=_CONFIG,
    )


def user_client(srv: CairnServer, user: User) -> Any:
    return client(srv, user.access_key, user.secret_key)


def anonymous_client(srv: CairnServer) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=srv.endpoint,
        region_name="us-east-1",
        config=Config(
            signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        ),
    )


def code(call: Callable[[], object]) -> str:
    """ "ok", or the error code the call got."""
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def policy_for(
    user_id: str, actions: list[str], resources: list[str], effect: str = "Allow"
) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": effect,
                    "Principal": {"AWS": user_id},
                    "Action": actions,
                    "Resource": resources,
                }
            ],
        }
    )
