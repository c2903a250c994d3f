"""Does the Ray cluster a spec joins take this shell's token? Asked of its GCS in one gRPC call,
before `ray.init`: a cluster with token authentication refuses a missing or wrong token with
UNAUTHENTICATED at once, where Ray's client retries for about 20 s and prints an `Unauthenticated`
line each time before it gives up.

The call carries the metadata Ray's own client would send (its token loader reads RAY_AUTH_MODE,
RAY_AUTH_TOKEN_PATH and ~/.ray/auth_token). The same call names an address that does not answer as a
GCS (silent, or another protocol) and asks a ray:// client address whether it answers. Any other answer,
a TLS cluster, or a Ray without token authentication, is left to `ray.init`.
"""

from __future__ import annotations

import logging
import os

from orchestrator.spec import SpecError

CHECK_ALIVE = "/ray.rpc.NodeInfoGcsService/CheckAlive"  # answered by any GCS; no request fields needed
HOW = ("set RAY_AUTH_MODE=token and the cluster's token in this shell (RAY_AUTH_TOKEN_PATH=FILE, or "
       "~/.ray/auth_token; `ray get-auth-token` on the head prints it)")


def resolve_auto() -> str:
    """What `ray.init(address="auto")` joins: RAY_ADDRESS, else the cluster `ray start` last started here,
    else any GCS running on this machine (Ray's legacy scan); ConnectionError where there is none."""
    from ray._private.services import get_ray_address_from_environment

    quiet = logging.getLogger("ray._private.services")  # ray.init says the same warnings once more
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return get_ray_address_from_environment("auto", None)
    finally:
        quiet.setLevel(level)


def _gcs_address(address: str | None) -> str | None:
    """host:port of the GCS that `ray.init(address=...)` would join; None where it would not join one."""
    try:
        found = resolve_auto() if address == "auto" else address
    except Exception:  # noqa: BLE001 - no cluster found: check_address has said so
        return None
    return None if not found or found in ("auto", "local") or "://" in found else found


def check_cluster_token(address: str, timeout: float = 10.0) -> None:
    """Raise SpecError when the cluster at `address` refuses this shell's token (none, or another), or
    its address does not answer as a Ray GCS (a port that takes connections and never answers kept
    ray.init waiting for minutes); a ray:// client address is asked only whether it answers (Ray's
    client gave up after 33 s); null and 'local', and a TLS cluster, are left alone."""
    try:
        from ray._private.authentication.grpc_authentication_client_interceptor import (
            _get_authentication_metadata_tuple,
        )
    except ImportError:  # a Ray without token authentication
        return
    import grpc

    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return  # a TLS cluster: this plain-text probe would take it for a port that does not answer
    client = address.startswith("ray://")  # a Ray client server: asked only whether it answers
    gcs = address[len("ray://"):].rstrip("/") if client else _gcs_address(address)
    if gcs is None:
        return
    try:
        metadata, known = _get_authentication_metadata_tuple(), True
    except Exception:  # noqa: BLE001 - e.g. RAY_AUTH_MODE=token without a token file: ray.init says what to do
        metadata, known = (), False
    with grpc.insecure_channel(gcs) as channel:
        probe = channel.unary_unary(CHECK_ALIVE, request_serializer=lambda _: b"", response_deserializer=bytes)
        try:
            probe(None, timeout=timeout, metadata=metadata)
            return
        except grpc.RpcError as err:
            code, detail = err.code(), " ".join(str(err.details() or "").split())[:160]
    if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
        why = f"no answer within {timeout:g} s" if code == grpc.StatusCode.DEADLINE_EXCEEDED else detail or "unavailable"
        what, usual = ("a Ray client server", "ray://HOST:10001") if client else ("a Ray cluster's GCS", "HOST:6379")
        raise SpecError(f"spec.ray.address: {address if client else gcs} does not answer as {what} ({why}): is it the "
                        f"head's address ({usual} by default; `ray status` on the head prints the GCS's), and is the "
                        "head up?")
    if client or code != grpc.StatusCode.UNAUTHENTICATED or not known:
        return
    if not metadata:
        raise SpecError(f"spec.ray.address: the Ray cluster at {gcs} requires token authentication and this shell "
                        f"sends no token: {HOW}")
    raise SpecError(f"spec.ray.address: the Ray cluster at {gcs} refused this shell's Ray token (not the cluster's "
                    f"token): {HOW}")
