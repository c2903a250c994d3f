"""The spec's `ray` section: where Tune's files go and which Ray a sweep starts or joins."""

from __future__ import annotations

import pytest

from orchestrator.spec import SpecError, parse_spec

BASE = "methods: [prompt_tuning]\ntasks: [rte]\n"


def test_tunes_storage_path_is_absolute_or_a_uri():
    base = BASE + "ray: {storage_path: %s}\n"
    for ok in ("/data/ray", "~/ray_results", "s3://bucket/ray"):
        assert parse_spec(base % ok, "s.yaml").ray.storage_path == ok
    with pytest.raises(SpecError, match=r"spec.ray.storage_path: 'runs/ray' is a relative path.*from here: /.*/runs/ray"):
        parse_spec(base % "runs/ray", "s.yaml")


def test_null_and_local_start_a_ray_and_every_other_address_joins_one():
    for address, joins in (("null", False), ("local", False), ("auto", True), ("'127.0.0.1:6379'", True),
                           ("'ray://head:10001'", True)):
        assert parse_spec(BASE + f"ray: {{address: {address}}}\n").ray.joins_cluster is joins, address


def test_an_address_that_does_not_answer_as_a_gcs_is_named_in_seconds(monkeypatch):
    """A port that takes connections and never answers kept ray.init waiting past 150 s (the store file made);
    a dashboard's port given as the GCS's (an HTTP server) failed inside Ray."""
    import socket
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from orchestrator.spec.ray_token import check_cluster_token

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        gcs = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(SpecError, match=rf"^spec.ray.address: {gcs} does not answer as a Ray cluster's GCS \(no "
                                            r"answer within 1 s\): is it the head's address \(HOST:6379 by default"):
            check_cluster_token(gcs, timeout=1)
        with pytest.raises(SpecError, match=rf"^spec.ray.address: ray://{gcs} does not answer as a Ray client server "
                                            r"\(no answer within 1 s\): is it the head's address \(ray://HOST:10001"):
            check_cluster_token(f"ray://{gcs}", timeout=1)  # Ray's own client gave up after 33 s, the store file made
    http = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        with pytest.raises(SpecError, match=r"does not answer as a Ray cluster's GCS \(.*HTTP/2"):
            check_cluster_token(f"127.0.0.1:{http.server_port}", timeout=5)
    finally:
        http.shutdown()
    monkeypatch.setenv("RAY_USE_TLS", "1")  # a TLS cluster is left to Ray: this probe speaks plain text
    check_cluster_token(gcs, timeout=1)


def test_a_storage_uri_is_tried_as_tune_opens_it_before_the_store_opens(tmp_path, monkeypatch):
    """An s3:// bucket that could not be reached failed inside Tune, the sweep stored failed; a gs:// one
    without credentials hung (given up after 30 s now, here after 1)."""
    import socket

    from orchestrator.spec import storage

    def problem(uri: str) -> str | None:
        return storage.storage_problem(parse_spec(BASE + f"ray: {{storage_path: '{uri}'}}\n"))

    assert problem(f"file://{tmp_path}/ray") is None and list((tmp_path / "ray").iterdir()) == []  # the probe is gone
    assert problem("foo://bar/ray") == ("spec.ray.storage_path: 'foo://bar/ray' cannot be used as Tune's storage "
                                        "(Unrecognized filesystem type in URI: foo://bar/ray); check its name, "
                                        "credentials and network, or give a folder every node sees")
    monkeypatch.setattr(storage, "STORAGE_ANSWER_S", 1.0)
    with socket.socket() as silent:  # an S3 endpoint that takes connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"s3://bucket/ray?endpoint_override=127.0.0.1:{silent.getsockname()[1]}&scheme=http&region=us-east-1"
        assert "cannot be used as Tune's storage (no answer within 1 s)" in problem(uri)
