"""A local cluster for development, tests and benchmarks: PostgreSQL, replicas, HAProxy.

    python -m deploy.cluster --replicas 2 --port 8765 [--speech]

starts PostgreSQL in a temporary directory (Debian's initdb/pg_ctl), two or
more ``distiller-server`` replicas on free loopback ports sharing it, and
HAProxy (deploy/haproxy.cfg, with local addresses) on ``--port``; prints the
URLs and runs until Ctrl-C, then removes everything. Tests use `LocalCluster`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from app.engine import EngineProcess, free_port
from deploy.postgres import TempPostgres

HAPROXY_CFG = Path(__file__).with_name("haproxy.cfg")


def local_haproxy_config(port: int, replica_ports: list[int]) -> str:
    """deploy/haproxy.cfg with a loopback listener and the local replicas as servers."""
    text = HAPROXY_CFG.read_text()
    text = re.sub(r"^(\s*)bind \S+$", rf"\1bind 127.0.0.1:{port}", text, flags=re.M)
    text = re.sub(r"^\s*server \S+ \S+ check\n", "", text, flags=re.M)
    servers = "".join(
        f"    server replica{i + 1} 127.0.0.1:{p} check\n" for i, p in enumerate(replica_ports)
    )
    return text.rstrip("\n") + "\n" + servers


def stats_section(port: int) -> str:
    """HAProxy's own view of the replicas (CSV at /stats;csv), for tools that wait on it."""
    return f"\nlisten stats\n    bind 127.0.0.1:{port}\n    stats enable\n    stats uri /stats\n"


class LocalCluster:
    """PostgreSQL + N replicas + HAProxy on loopback; `kill`/`restart` replicas at will."""

    def __init__(
        self,
        replicas: int = 2,
        *,
        port: int | None = None,
        replica_args: list[str] | None = None,
        provider: str = "echo",
    ) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="distiller-cluster-"))
        self.postgres = TempPostgres()
        self.store_url = ""
        args = replica_args if replica_args is not None else ["--no-speech"]
        self.replica_args = args
        self.replicas = [
            EngineProcess(self.root / f"replica{i + 1}", provider=provider) for i in range(replicas)
        ]
        self.haproxy: subprocess.Popen[bytes] | None = None
        self.haproxy_log = self.root / "haproxy.log"
        self.stats_port = free_port()

    @property
    def base_url(self) -> str:
        """The load balancer's address: what clients use."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> LocalCluster:
        self.postgres.start()
        self.store_url = self.postgres.create_database("distiller")
        for replica in self.replicas:
            replica.extra_args = [*self.replica_args, "--store", self.store_url]
        with ThreadPoolExecutor(len(self.replicas)) as pool:
            list(pool.map(lambda r: r.start(timeout=timeout), self.replicas))
        config = self.root / "haproxy.cfg"
        config.write_text(
            local_haproxy_config(self.port, [r.port for r in self.replicas])
            + stats_section(self.stats_port)
        )
        log = open(self.haproxy_log, "ab")  # noqa: SIM115 - lives as long as haproxy
        self.haproxy = subprocess.Popen(
            ["haproxy", "-f", str(config), "-db"], stdout=log, stderr=log
        )
        self._wait_for_balancer(timeout)
        self.wait_all_up(timeout)
        return self

    def servers_up(self) -> list[bool]:
        """Whether HAProxy currently sends users to each replica."""
        csv = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5).text
        rows = [line.split(",") for line in csv.splitlines() if line.startswith("replicas,")]
        status = {row[1]: row[17] for row in rows}
        return [
            status.get(f"replica{i + 1}", "").startswith("UP") for i in range(len(self.replicas))
        ]

    def wait_all_up(self, timeout: float = 60.0) -> None:
        """Until HAProxy's health checks see every replica up (``rise`` checks after a start)."""
        deadline = time.monotonic() + timeout
        while not all(self.servers_up()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"replicas not all up in HAProxy: {self.servers_up()}")
            time.sleep(0.1)

    def _wait_for_balancer(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.haproxy is not None and self.haproxy.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.haproxy_log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("haproxy did not answer")

    def kill(self, index: int) -> None:
        """SIGKILL a replica: no drain, no goodbye, as when a machine dies."""
        self.replicas[index].stop(kill=True)

    def terminate(self, index: int) -> None:
        """SIGTERM a replica: it drains, then exits."""
        self.replicas[index].stop()

    def restart(self, index: int) -> None:
        """Start a stopped replica again and wait until the load balancer uses it."""
        self.replicas[index].start()
        self.wait_all_up()

    def stop(self) -> None:
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait(10)
        for replica in self.replicas:
            replica.stop(kill=True)
        self.postgres.destroy()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765, help="the load balancer's port")
    parser.add_argument("--speech", action="store_true", help="replicas load speech models")
    parser.add_argument("--provider", default="echo", help="replicas' default LLM provider")
    args = parser.parse_args(argv)
    cluster = LocalCluster(
        args.replicas,
        port=args.port,
        provider=args.provider,
        replica_args=[] if args.speech else ["--no-speech"],
    )
    with cluster:
        print(f"load balancer: {cluster.base_url}", flush=True)
        print(f"store:         {cluster.store_url}", flush=True)
        for replica in cluster.replicas:
            print(f"replica:       {replica.base_url} (log {replica.log_path})", flush=True)
        print("Ctrl-C stops everything and removes its files.", flush=True)
        stops = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        signal.sigwait(stops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
