"""`data: hub` is checked before a sweep starts: offline, every dataset must be in the cache; online, the
hub must answer and every dataset must resolve. Before, a closed or silent hub (HF_ENDPOINT) let the
sweep open its store and start Ray, and every trial then failed after about 23 s of retries (closed)
or waited past 200 s (silent), one after another."""

from __future__ import annotations

import http.server
import socket
import threading

import datasets.config
import pytest

from orchestrator.cli.cost import estimate
from orchestrator.spec import hub_data, parse_spec
from tests.cli_here import superpos

SPEC = ("methods: [prompt_tuning]\ntasks: [sst2, cb]\nmodels: [tiny-t5-lm-adapt]\ndropout: [off]\n"
        "optuna: {trials_per_cell: 1}\ntraining: {epochs: 1, data: hub}\nray: {num_cpus: 1}\n")


@pytest.fixture
def online(monkeypatch):
    """The datasets library told it is online (it reads HF_DATASETS_OFFLINE once, at import), with a
    fresh answer from the probe; yields a function that points it at an endpoint."""
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    hub_data.hub_silence.cache_clear()

    def point(url: str) -> None:
        monkeypatch.setattr(datasets.config, "HF_ENDPOINT", url)

    yield point
    hub_data.hub_silence.cache_clear()


@pytest.fixture
def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed once the with-block ends: a connection is refused


class NotFound(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _answer

    def log_message(self, *args):
        pass


def test_a_closed_hub_stops_the_sweep_before_the_store_or_ray(online, closed_port, tmp_path):
    online(f"http://127.0.0.1:{closed_port}")
    (tmp_path / "hub.yaml").write_text(SPEC)
    out = superpos("sweep", "run", tmp_path / "hub.yaml", "--db", tmp_path / "s.db")
    assert out.returncode == 2, out.stderr
    assert (f"spec.training.data: hub: the Hugging Face hub at http://127.0.0.1:{closed_port} does not answer "
            "(ConnectionError); check the network (and HF_ENDPOINT); where the datasets are in the local cache, set "
            "HF_DATASETS_OFFLINE=1") in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.db").exists()


def test_a_silent_hub_is_given_up_after_the_probe(online, monkeypatch):
    monkeypatch.setattr(hub_data, "HUB_PROBE_S", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        online(f"http://127.0.0.1:{silent.getsockname()[1]}")
        assert hub_data.hub_data_problems(parse_spec(SPEC)) == [
            f"spec.training.data: hub: the Hugging Face hub at http://127.0.0.1:{silent.getsockname()[1]} does not "
            "answer (no answer within 0.5 s); check the network (and HF_ENDPOINT); where the datasets are in the "
            "local cache, set HF_DATASETS_OFFLINE=1 to read them from there; or use data: demo or a local directory "
            "laid out like the hub's"]


def test_a_hub_that_answers_without_the_datasets_names_each_task(online):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        online(f"http://127.0.0.1:{server.server_port}")
        [line] = hub_data.hub_data_problems(parse_spec(SPEC))
    finally:
        server.shutdown()
    assert line.startswith(f"spec.training.data: hub datasets that cannot be loaded from http://127.0.0.1:"
                           f"{server.server_port}: sst2 (nyu-mll/glue/sst2: ")
    assert "cb (aps/super_glue/cb: " in line and line.endswith("or use data: demo or a local directory laid out "
                                                                "like the hub's")


def test_offline_the_cache_is_what_is_checked_and_the_hub_is_not_asked(monkeypatch, closed_port):
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    hub_data.hub_silence.cache_clear()
    [line] = hub_data.hub_data_problems(parse_spec(SPEC))
    assert line == ("spec.training.data: hub datasets not in the local cache while offline: sst2 (nyu-mll/glue/sst2), "
                    "cb (aps/super_glue/cb); download them once with network access (unset HF_DATASETS_OFFLINE there), "
                    "or use data: demo or a local directory laid out like the hub's")
    assert hub_data.hub_silence.cache_info().currsize == 0  # no probe
    assert hub_data.hub_data_problems(parse_spec(SPEC.replace("data: hub", "data: demo"))) == []


def test_plan_reading_a_closed_hub_notes_it_instead_of_retrying_each_task(online, closed_port):
    online(f"http://127.0.0.1:{closed_port}")
    spec = parse_spec(SPEC.replace("tiny-t5-lm-adapt", "random:google/t5-small-lm-adapt"))
    est = estimate(spec, None, read_hub=True)
    said = [line for line in est["widths"] if "does not answer" in line]
    assert said and f"the Hugging Face hub at http://127.0.0.1:{closed_port} does not answer (ConnectionError)" in said[0]
    assert hub_data.hub_silence.cache_info().currsize == 1  # asked once, not per task or load
