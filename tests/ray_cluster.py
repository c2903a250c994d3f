"""A real Ray cluster on this machine for the cluster tests: a head started with `ray start --head`
(token authentication on, free ports, its own temp folder) and, when asked, more nodes joined with
`ray start --address` (their own temp folders and ports). Stops only the processes it started."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).parent / "ray")
AGENTS = ("DashboardAgent", "RuntimeEnvAgent", "python")  # a node's agents and log monitor


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _temp(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))  # short: Ray's socket paths have a length limit


class LocalCluster:
    def __init__(self, head_cpus: int = 2, fast_health_checks: bool = False):
        """`fast_health_checks`: the head's GCS declares a silent node dead after ~3 s instead of ~30 s."""
        self.temp = _temp("rh")
        self.token = self.temp / "token"
        self.token.write_text(secrets.token_hex(32))
        self.token.chmod(0o600)
        self.before = {p.pid for p in psutil.process_iter()}
        self.gcs, self.dashboard = free_port(), free_port()
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token),
                    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
                    "HF_DATASETS_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
        self.env.pop("RAY_ADDRESS", None)
        if fast_health_checks:
            self.env.update({"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
                             "RAY_health_check_timeout_ms": "1000"})
        self.nodes: list[Path] = []  # temp folders of the joined nodes
        try:
            self._start(["--head", f"--port={self.gcs}", "--dashboard-host=127.0.0.1",
                         f"--dashboard-port={self.dashboard}", f"--ray-client-server-port={free_port()}",
                         "--include-dashboard=true"], head_cpus, self.temp)
            self.address = f"http://127.0.0.1:{self.dashboard}"
            self.env["RAY_ADDRESS"] = f"127.0.0.1:{self.gcs}"
        except BaseException:
            self.stop()
            raise

    def _start(self, args: list[str], cpus: int, temp: Path) -> None:
        ports = [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                 f"--metrics-export-port={free_port()}"]
        done = subprocess.run([RAY, "start", *args, *ports, f"--num-cpus={cpus}", f"--temp-dir={temp}",
                               "--disable-usage-stats"], env={k: v for k, v in self.env.items() if k != "RAY_ADDRESS"},
                              capture_output=True, text=True, timeout=120)
        if done.returncode:  # say why (a bare CalledProcessError hid it once: a replacement node after a kill)
            raise RuntimeError(f"`ray start {' '.join(args[:1])}` exited {done.returncode}:\n"
                               f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")

    def add_node(self, cpus: int) -> Path:
        """A second node (a raylet of its own, on this machine); returns its temp folder, its handle.
        A start that fails is tried once more with fresh ports and a temp folder of its own (a port
        picked free can be taken before Ray binds it); the first failure's output stays in the test's
        warnings, so a cause other than that is still seen."""
        try:
            return self._join(cpus)
        except RuntimeError as err:
            warnings.warn(f"a node's start failed once, trying again with fresh ports: {err}", stacklevel=2)
            for proc in self.processes(str(self.nodes[-1])):  # what the failed start left running
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            return self._join(cpus)

    def _join(self, cpus: int) -> Path:
        temp = _temp("rn")
        self.nodes.append(temp)
        self._start([f"--address=127.0.0.1:{self.gcs}", f"--node-manager-port={free_port()}",
                     f"--object-manager-port={free_port()}", f"--runtime-env-agent-port={free_port()}"], cpus, temp)
        return temp

    def processes(self, marker: str | None = None) -> set[psutil.Process]:
        """Processes started since the cluster began that belong to it (or to one node's `marker`
        folder), with their children: those that name its temp folders or its GCS port, and their
        descendants (agents and workers name neither). Never another Ray on this machine (a test
        running beside this one)."""
        markers = [marker] if marker else [str(self.temp), *map(str, self.nodes), f":{self.gcs} ", f":{self.gcs}\n"]
        mine = set()
        for proc in psutil.process_iter(["cmdline"]):
            try:
                text = " ".join(proc.info["cmdline"] or []) + "\n"
                if proc.pid not in self.before and any(m in text for m in markers):
                    mine.add(proc)
                    mine.update(proc.children(recursive=True))
            except psutil.Error:
                continue
        mine.discard(psutil.Process())
        return mine

    def kill_node(self, temp: Path) -> int:
        """SIGKILL a joined node's raylet and its workers: the node is lost, not stopped. Its agents live
        on long enough to tell the cluster (`Raylet is terminated ...`, published to every driver), as
        when a machine's raylet is killed by the OOM killer."""
        victims = {p for p in self.processes(str(temp)) if not p.name().endswith(AGENTS)}
        for proc in victims:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        return len(victims)

    def stop(self) -> None:
        mine = self.processes()
        for proc in mine:
            try:
                proc.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(list(mine), timeout=1)  # a graceful stop is not what the tests check
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
