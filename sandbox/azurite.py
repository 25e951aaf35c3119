"""Run the Azurite storage emulator (npm package pinned in package.json) for tests and the demo.

``Azurite`` starts ``node_modules/.bin/azurite`` on three free ports, in memory, and stops it by
its own PID. It never skips: a missing emulator is an error telling how to install it.
Reusable helpers for fixtures live here so ``conftest.py`` files stay small.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent  # sandbox/ -> repo root
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"
POINT_INDEX_JS = Path(__file__).resolve().parent / "azurite_point_index.js"
ACCOUNT = "devstoreaccount1"
# The public, well-known development storage key (same as the old Storage Emulator).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

_counter = itertools.count(1)


def free_port() -> int:
    """A TCP port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, get SIGTERM if the test process dies (no orphans
    listening after a killed test run). Start Azurite from a thread that outlives it."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def unique_name(prefix: str = "t") -> str:
    """A short lowercase alphanumeric name, unique in this test session (tables, queues)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}{next(_counter)}"


class Azurite:
    """One Azurite process (blob, queue, table) with in-memory persistence.

    ``point_index=True`` (large benchmark runs only) preloads ``azurite_point_index.js``: point
    operations served from a (PartitionKey, RowKey) map, as Azure serves them, instead of a scan
    of the partition; the answers are the same.
    """

    def __init__(self, *, point_index: bool = False) -> None:
        if not AZURITE_BIN.exists():
            raise RuntimeError(
                f"Azurite is not installed ({AZURITE_BIN} is missing); "
                f"run `npm ci` in {REPO_ROOT} to install the pinned emulator"
            )
        self.blob_port, self.queue_port, self.table_port = self._distinct_ports()
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self._proc: subprocess.Popen[bytes] | None = None
        self.point_index = point_index

    @staticmethod
    def _distinct_ports() -> tuple[int, int, int]:
        ports: list[int] = []
        while len(ports) < 3:
            port = free_port()
            if port not in ports:
                ports.append(port)
        return ports[0], ports[1], ports[2]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def connection_string(self) -> str:
        base = f"http://{HOST}"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={base}:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint={base}:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint={base}:{self.table_port}/{ACCOUNT};"
        )

    def command(self) -> list[str]:
        return [
            str(AZURITE_BIN),
            "--silent",
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            *("--blobHost", HOST, "--queueHost", HOST, "--tableHost", HOST),
            *("--blobPort", str(self.blob_port)),
            *("--queuePort", str(self.queue_port)),
            *("--tablePort", str(self.table_port)),
        ]

    def start(self, attempts: int = 3) -> Azurite:
        """Start the process and wait until all three ports accept connections.

        A port taken between choosing and binding it (EADDRINUSE) means new ports and a retry.
        """
        for attempt in range(1, attempts + 1):
            if self._launch():
                return self
            if "EADDRINUSE" not in self.stderr() or attempt == attempts:
                break
            self.blob_port, self.queue_port, self.table_port = self._distinct_ports()
        code = self._proc.returncode if self._proc else None
        self._proc = None
        raise RuntimeError(f"Azurite exited with {code}: {self.stderr()}")

    def _launch(self) -> bool:
        """True once listening; False if the process exited; raises after START_TIMEOUT."""
        for output in (self._stdout, self._stderr):
            output.seek(0)
            output.truncate()
        self._proc = subprocess.Popen(
            self.command(),
            cwd=self._workdir.name,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            env=self._environment(),
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening():
            if self._proc.poll() is not None:
                return False
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Azurite did not listen within {START_TIMEOUT:.0f}s")
            time.sleep(0.05)
        return True

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "AZURITE_ACCOUNTS"}
        if self.point_index:
            preload = f'--require "{POINT_INDEX_JS}"'
            env["NODE_OPTIONS"] = f"{env.get('NODE_OPTIONS', '')} {preload}".strip()
        return env

    def _listening(self) -> bool:
        """All three services say so on stdout (so the ports are ours) and accept connections."""
        self._stdout.seek(0)
        said = self._stdout.read().count(b"successfully listening")
        ports = (self.blob_port, self.queue_port, self.table_port)
        return said >= 3 and all(_port_open(p) for p in ports)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()

    def stop(self) -> None:
        """Terminate the process (kill it after 10 s) and remove its working directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._stdout.close()
        self._stderr.close()
        self._workdir.cleanup()

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
