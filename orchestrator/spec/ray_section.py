"""The spec's `ray` section: which Ray a sweep starts or joins, and where Tune keeps its files."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from orchestrator.spec.section import Section


class RaySpec(Section):
    address: str | None = Field(None, description="null or 'local': start a local Ray; 'auto', "
                                                    "host:port or ray://host:10001: a cluster")
    num_cpus: int | None = Field(None, ge=1, description="local Ray only")
    num_gpus: int | None = Field(None, ge=0, description="local Ray only")
    storage_path: str | None = Field(None, description="where Tune keeps trial folders: an absolute path (~ allowed) or "
                                                        "a URI; null: ~/ray_results")

    @field_validator("storage_path")
    @classmethod
    def _absolute(cls, value):
        """Tune takes an absolute path or a URI: a relative one passed every check, then failed inside Tune
        ("URI has empty scheme") after a sweep row was written."""
        from pathlib import Path

        if value and "://" not in value and not Path(value).expanduser().is_absolute():
            raise ValueError(f"{value!r} is a relative path, which Tune cannot take: give an absolute one (from "
                             f"here: {Path(value).absolute()}) or a URI")
        return value

    @field_validator("address")
    @classmethod
    def _not_http(cls, value):
        """The Jobs API's address (what `ray job submit` and `sweep submit --address` take) is not one Ray joins."""
        if value and value.lower().startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is a Ray dashboard's (Jobs API) address, which `superpos sweep submit "
                             "--address` takes; ray.address takes auto, the head's GCS as HOST:6379, or ray://HOST:10001")
        return value

    @model_validator(mode="after")
    def _local_only(self):
        """A cluster's CPUs and GPUs are its nodes' (`ray start --num-cpus`): these were dropped without a word."""
        for key in ("num_cpus", "num_gpus"):
            if self.joins_cluster and getattr(self, key) is not None:
                raise ValueError(f"{key} sizes a local Ray only, and address {self.address!r} joins a cluster (whose "
                                 f"nodes set theirs with `ray start --{key.replace('_', '-')}`): remove {key}, or "
                                 "set address: null to run on this machine")
        return self

    @property
    def joins_cluster(self) -> bool:
        """A running cluster is joined; null and 'local' (Ray's own word) start a local Ray."""
        return self.address not in (None, "local")
