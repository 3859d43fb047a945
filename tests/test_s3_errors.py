"""Object-store locations that cannot be used fail before Spark starts, in one line naming the URI: a
missing bucket, an unreachable endpoint, wrong credentials, an OUT prefix the credentials may read but
not write. The last two run against a second moto server that enforces IAM (the session's server
accepts any request): a subprocess started with INITIAL_NO_AUTH_ACTION_COUNT, whose first requests
create the bucket, a user and its policy, and which checks every request after them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import boto3
import pytest
import s3_server

from jobs.__main__ import main
from pipeline import storage
from pipeline.io.access import check_writable

BUCKET = "locked"
SETUP_REQUESTS = 5  # create_bucket, put_object, create_user, create_access_key, put_user_policy
# The user may do anything but write or delete under ro/ (moto names HeadBucket and ListObjectsV2 as
# actions of their own, so the read side is allowed broadly and the write side denied by a NotAction).
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "NotAction": ["s3:Get*", "s3:List*", "s3:Head*"],
            "Resource": [f"arn:aws:s3:::{BUCKET}/ro/*"],
        },
    ],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def iam_server():
    """(endpoint, access key id, secret) of an auth-enforcing moto server with bucket `locked`."""
    port = _free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(SETUP_REQUESTS))
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("the auth-enforcing moto server did not start")
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        kw = dict(endpoint_url=endpoint, region_name="us-east-1")
        s3, iam = boto3.client("s3", **kw), boto3.client("iam", **kw)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="in/a.warc", Body=b"WARC/1.0\r\n")
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        iam.put_user_policy(UserName="reader", PolicyName="read-only-ro", PolicyDocument=json.dumps(POLICY))
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def store(monkeypatch):
    """Point this process at another endpoint or credentials; the storage layer's per-bucket file
    systems are built afresh before and after (they keep the endpoint they were built with)."""

    def use(endpoint: str, key: str | None = None, secret: str | None = None) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        if key:
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
            monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        storage._filesystem.cache_clear()

    yield use
    storage._filesystem.cache_clear()


@pytest.fixture
def no_spark(monkeypatch):
    """A Spark session asked for is a failure here: each error must come before Spark starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("Spark was started")

    monkeypatch.setattr("jobs.session.get_spark", refuse)


def _fails_before_spark(capsys, *args: str) -> str:
    """Run the CLI; it must refuse with exit code 2 and one line on stderr."""
    assert main(["extract", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_missing_bucket_is_named(capsys, no_spark, tmp_path, s3_bucket):
    line = _fails_before_spark(capsys, "--input", "s3://no-such-bucket-1/crawl/", "--output", str(tmp_path))
    assert line.startswith(
        "input error: s3://no-such-bucket-1/crawl: the bucket 'no-such-bucket-1' does not exist"
    )
    line = _fails_before_spark(capsys, "--input", str(tmp_path), "--output", "s3://no-such-bucket-2/run")
    assert line.startswith(
        "storage error: s3://no-such-bucket-2/run: the bucket 'no-such-bucket-2' does not exist"
    )


def test_an_unreachable_endpoint_fails_within_seconds(capsys, no_spark, tmp_path, store):
    closed = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    store(closed)
    start = time.monotonic()
    line = _fails_before_spark(capsys, "--input", "s3://some-bucket/crawl/", "--output", str(tmp_path))
    assert line.startswith(f"input error: s3://some-bucket/crawl: cannot reach the object store at {closed}")
    line = _fails_before_spark(capsys, "--input", str(tmp_path), "--output", "s3://some-bucket/run")
    assert line.startswith(f"storage error: s3://some-bucket/run: cannot reach the object store at {closed}")
    assert time.monotonic() - start < 20


def test_wrong_credentials_are_refused(capsys, no_spark, tmp_path, store, iam_server):
    endpoint, key, _secret = iam_server
    store(endpoint, "AKIAWRONGWRONGWRONG0", "not-the-secret")
    line = _fails_before_spark(capsys, "--input", f"s3://{BUCKET}/in/", "--output", str(tmp_path))
    assert line.startswith(f"input error: s3://{BUCKET}/in: ") and "access denied" in line
    line = _fails_before_spark(capsys, "--input", str(tmp_path), "--output", f"s3://{BUCKET}/out/run")
    assert line.startswith(f"storage error: s3://{BUCKET}/out/run: ") and "access denied" in line
    store(endpoint, key, "not-the-secret")  # a known key with a wrong secret
    line = _fails_before_spark(capsys, "--input", f"s3://{BUCKET}/in/", "--output", str(tmp_path))
    assert "access denied" in line


def test_a_read_only_prefix_is_refused_as_out(capsys, no_spark, tmp_path, store, iam_server):
    endpoint, key, secret = iam_server
    store(endpoint, key, secret)
    check_writable(f"s3://{BUCKET}/rw/run")  # the control: the same credentials may write elsewhere
    assert (
        storage.path(f"s3://{BUCKET}/in/a.warc").read_bytes() == b"WARC/1.0\r\n"
    )  # and read under ro/'s bucket
    line = _fails_before_spark(capsys, "--input", f"s3://{BUCKET}/in/", "--output", f"s3://{BUCKET}/ro/run")
    assert line.startswith(f"storage error: s3://{BUCKET}/ro/run: cannot write under it: access denied")


def test_the_session_server_is_untouched_by_these_tests(s3_bucket):
    """The per-test endpoints are gone again: the session's server answers as before."""
    assert os.environ["AWS_ENDPOINT_URL"] == s3_server.start()
    storage.path(f"{s3_bucket}/x").write_bytes(b"1")  # through a file system built for the session's server
    assert s3_server.keys(s3_bucket) == ["x"]
