"""Where the trainer's Ray runs: a fresh local instance, or an existing cluster named by `--address`.

- No address (and no RAY_ADDRESS): always a new local instance (`ray.init(address="local")`). A bare
  `ray.init()` would instead join whatever cluster Ray's temp folder names in `ray_current_cluster`,
  a file that a killed `ray start` head leaves behind.
- `--address HOST:PORT` (the head's GCS port, `ray start --head --port`), or RAY_ADDRESS, which is how
  `ray job submit` hands its entrypoint the cluster: checked first, so that a wrong address, a missing
  or wrong authentication token or a version mismatch is one line (`ClusterConnectError`) instead of
  Ray's retries.

Authentication is Ray's token authentication (Ray >= 2.52; https://docs.ray.io/en/latest/ray-security/
token-auth.html): `RAY_AUTH_MODE=token` on every node and client, the token from RAY_AUTH_TOKEN, the file
RAY_AUTH_TOKEN_PATH names, or ~/.ray/auth_token. Ray 2.60's `ray start --head` turns token mode on by
itself when a token exists, but `ray.init(address=...)` does not; like the head, we turn it on when
RAY_AUTH_MODE is unset and a token exists (a token-mode client also joins a cluster without
authentication). Authentication is never turned off here.
"""

from __future__ import annotations

import os
import socket
import sys

LOCAL = "local"  # Ray's address for "start a new local instance, never join one"
PROBE_TIMEOUT_S = 5.0
AUTH_HELP = (
    "export RAY_AUTH_MODE=token and the head's token (`ray get-auth-token` on the head prints it) "
    "in ~/.ray/auth_token, in a file named by RAY_AUTH_TOKEN_PATH, or in RAY_AUTH_TOKEN"
)


class ClusterConnectError(RuntimeError):
    """The trainer cannot use the Ray cluster it was pointed at; the message is one line."""


def connect(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Start or join Ray for this process (a no-op if Ray is already initialised); True if this call
    started a new local instance (whose processes are then this process's to stop)."""
    import ray

    if ray.is_initialized():
        return False
    from_env = not address and bool(os.environ.get("RAY_ADDRESS"))
    address = address or os.environ.get("RAY_ADDRESS") or LOCAL
    if address == LOCAL:
        ray.init(address=LOCAL, num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
        return True
    if address == "auto":  # Ray's own discovery, asked for explicitly
        ray.init(address=address, log_to_driver=True)
        return False
    try:
        gcs_address = check_cluster(address)
    except ClusterConnectError as exc:
        raise ClusterConnectError(f"(address from RAY_ADDRESS) {exc}" if from_env else str(exc)) from None
    try:
        ray.init(address=gcs_address, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterConnectError(f"cannot join the Ray cluster at {gcs_address}: {first}") from exc
    return False


def parse_address(address: str) -> tuple[str, int]:
    if address.startswith(("http://", "https://")):
        raise ClusterConnectError(
            f"{address} is a dashboard URL (what `ray job submit --address` takes); "
            "the trainer takes the head's GCS address HOST:PORT (`ray start --head --port`, 6379 by default)"
        )
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterConnectError(
            f"{address}: expected HOST:PORT of the Ray head (`ray start --head --port`)"
        )
    return host, int(port)


def check_cluster(address: str) -> str:
    """Check that `address` is a Ray head this process may join; returns it as HOST:PORT."""
    host, port = parse_address(address)
    _check_listening(address, host, port)
    _enable_token_auth_if_token_exists()
    client = _gcs_client(address)
    _check_versions(address, client)
    _check_local_node(address, client)
    return f"{host}:{port}"


def _check_listening(address: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S) as sock:
            # the GCS speaks gRPC (HTTP/2): an HTTP/1 reply means this is the dashboard (or something else)
            sock.settimeout(PROBE_TIMEOUT_S)
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:
                reply = sock.recv(16)
            except OSError:
                reply = b""
    except OSError as exc:
        raise ClusterConnectError(
            f"nothing answers at {address} ({exc.strerror or exc}): is `ray start --head --port {port}` "
            f"running on {host}, and the port reachable from here?"
        ) from None
    if reply.startswith(b"HTTP/1."):
        raise ClusterConnectError(
            f"{address} is an HTTP server (the Ray dashboard?), not the head's GCS port: --address takes "
            "the `ray start --head --port` port (6379 by default); the dashboard is for `ray job submit`"
        )


def _enable_token_auth_if_token_exists() -> None:
    """What Ray 2.60's `ray start --head` does for itself: token mode if RAY_AUTH_MODE is unset and a token exists."""
    from ray._private.authentication.authentication_token_setup import (
        maybe_enable_token_auth_if_token_available,
    )

    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path and not os.environ.get("RAY_AUTH_TOKEN"):
        # Ray aborts the process on an unreadable or empty token file
        try:
            if not open(path).read().strip():
                raise ClusterConnectError(f"RAY_AUTH_TOKEN_PATH={path} is empty: {AUTH_HELP}")
        except OSError as exc:
            raise ClusterConnectError(f"RAY_AUTH_TOKEN_PATH={path}: {exc.strerror}: {AUTH_HELP}") from None
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _token_source() -> str:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return os.environ["RAY_AUTH_TOKEN_PATH"]
    return "~/.ray/auth_token"


def _gcs_client(address: str):
    from ray._raylet import AuthenticationMode, AuthenticationTokenLoader, GcsClient, get_authentication_mode
    from ray.exceptions import AuthenticationError

    token_mode = get_authentication_mode() == AuthenticationMode.TOKEN
    if token_mode and not AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
        raise ClusterConnectError(f"RAY_AUTH_MODE=token but no token is set here: {AUTH_HELP}")
    try:
        return GcsClient(address=address)
    except AuthenticationError:
        if token_mode:
            raise ClusterConnectError(
                f"the Ray cluster at {address} rejected this machine's token (from {_token_source()}): "
                "it must be the head's token (`ray get-auth-token` on the head prints it)"
            ) from None
        mode = os.environ.get("RAY_AUTH_MODE")
        here = f"RAY_AUTH_MODE={mode}" if mode else "RAY_AUTH_MODE unset, no token found"
        raise ClusterConnectError(
            f"the Ray cluster at {address} requires token authentication and none is set here ({here}): "
            f"{AUTH_HELP}"
        ) from None
    except Exception as exc:  # RpcError: it listens, but does not answer as a GCS
        raise ClusterConnectError(f"{address} does not answer as a Ray head: {exc}") from None


def _check_versions(address: str, client) -> None:
    """Ray's own rule (same Ray, same Python down to the patch level), reported on one line."""
    from ray._common.usage.usage_lib import get_cluster_metadata
    from ray._private.utils import check_version_info

    metadata = get_cluster_metadata(client)
    if not metadata:
        return
    try:
        check_version_info(metadata, "this machine")
    except RuntimeError:
        raise ClusterConnectError(
            f"version mismatch with the Ray cluster at {address}: it runs Ray {metadata['ray_version']} on "
            f"Python {metadata['python_version']}, this machine Ray {_ray_version()} on Python "
            f"{'.'.join(map(str, sys.version_info[:3]))}; install the same versions on both"
        ) from None


def _ray_version() -> str:
    import ray

    return ray.__version__


def _check_local_node(address: str, client) -> None:
    """A Ray driver must run on a node of its cluster (else `ray.init` waits a minute, then fails)."""
    from ray._private.services import find_node_ids
    from ray.core.generated.gcs_pb2 import GcsNodeInfo

    alive = client.get_all_node_info(timeout=PROBE_TIMEOUT_S, state_filter=GcsNodeInfo.GcsNodeState.ALIVE)
    if not {info.node_id.hex() for info in alive.values()} & set(find_node_ids()):
        raise ClusterConnectError(
            f"this machine runs no node of the Ray cluster at {address}: run the trainer on a node (e.g. the "
            f"head), join this machine with `ray start --address {address}`, or use `ray job submit`"
        )
