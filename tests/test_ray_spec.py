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
