"""A real S3 endpoint on loopback for the tests: moto's server, started once per test session.

It starts when the test session starts, before any Spark or Ray process: those inherit the environment
at their launch, so `AWS_ENDPOINT_URL` must already point here when they start. The credentials are
fixed dummies and replace any real ones in this process, so no test can reach a real bucket.
"""

from __future__ import annotations

import os
import uuid

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
_server = None


def start() -> str:
    """Start the server (once) and point this process's environment at it; return the endpoint."""
    global _server
    if _server is None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise

        _server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        _server.start()
        host, port = _server.get_host_and_port()
        os.environ.update(ENV, AWS_ENDPOINT_URL=f"http://{host}:{port}")
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ.pop(name, None)
    return os.environ["AWS_ENDPOINT_URL"]


def client():
    import boto3

    return boto3.client("s3", endpoint_url=start())


def new_bucket(prefix: str = "test") -> str:
    """A fresh, empty bucket; returns its URI `s3://<name>`."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    client().create_bucket(Bucket=name)
    return f"s3://{name}"


def upload_tree(local: os.PathLike, uri: str) -> None:
    """Copy every file under a local folder to `uri` (a prefix), keeping relative paths."""
    from pathlib import Path

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = client()
    root = Path(local)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            key = "/".join(filter(None, [prefix.strip("/"), path.relative_to(root).as_posix()]))
            s3.upload_file(str(path), bucket, key)


def keys(uri: str) -> list[str]:
    """Every object key under `uri`, relative to it, sorted; the empty folder markers (`name/`) that
    pyarrow leaves when it deletes the last object of a folder are not files and are left out."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    found = []
    for page in client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [
            item["Key"][len(prefix) :] for item in page.get("Contents", []) if not item["Key"].endswith("/")
        ]
    return sorted(found)
