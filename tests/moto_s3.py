"""A real S3-compatible server on 127.0.0.1 for tests: moto's standalone server (`moto_server`,
from the `moto[server]` test extra), reached by DVC through `dvc-s3` with `endpointurl`.

`s3_server` starts one per test module on a free port, waits until it answers, and stops it.
Its `env` carries the dummy credentials the server accepts; `bucket()` creates a fresh bucket.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


class S3Server:
    def __init__(self, port: int, proc: subprocess.Popen):
        self.port, self.proc = port, proc
        self.url = f"http://127.0.0.1:{port}"
        self.env = dict(CREDENTIALS)

    def bucket(self) -> str:
        import boto3

        name = f"evokd-{uuid.uuid4().hex[:10]}"
        boto3.client("s3", endpoint_url=self.url, **_boto_args()).create_bucket(Bucket=name)
        return name

    def sizes(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Bytes per object key under `prefix`."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.url, **_boto_args())
        out: dict[str, int] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out.update({obj["Key"]: obj["Size"] for obj in page.get("Contents", [])})
        return out


def _boto_args() -> dict:
    return {"aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "region_name": CREDENTIALS["AWS_DEFAULT_REGION"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    port = _free_port()
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        pytest.fail("moto_server is not installed: install the test extra (scripts/setup.sh)")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, **CREDENTIALS})
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto_server did not start on 127.0.0.1:{port}")
            time.sleep(0.1)
    try:
        yield S3Server(port, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
