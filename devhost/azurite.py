"""Start and stop Azurite (the npm package pinned in package.json) for the run command, tests and benchmarks."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at http://127\.0\.0\.1:(\d+)")


class AzuriteError(RuntimeError):
    """Azurite is not installed or did not start; the message says how to fix it."""


def azurite_binary() -> Path:
    """The locally installed Azurite CLI (`npm ci` puts it in node_modules/.bin)."""
    path = REPO_ROOT / "node_modules" / ".bin" / "azurite"
    if not path.exists():
        hint = "Install Node.js 20+ first. " if shutil.which("npm") is None else ""
        raise AzuriteError(f"Azurite is not installed. {hint}Run `npm ci` in {REPO_ROOT}.")
    return path


def connection_string(blob: int, queue: int, table: int, host: str = "127.0.0.1") -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{blob}/{ACCOUNT};QueueEndpoint=http://{host}:{queue}/{ACCOUNT};"
        f"TableEndpoint=http://{host}:{table}/{ACCOUNT};"
    )


@dataclass
class Azurite:
    """A running Azurite process. `ports` maps service name (blob/queue/table) to its port."""

    process: subprocess.Popen[str]
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def connection_string(self) -> str:
        return connection_string(self.ports["blob"], self.ports["queue"], self.ports["table"])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_azurite(
    location: Path | None = None,
    ports: tuple[int, int, int] = (0, 0, 0),
    timeout: float = 30.0,
) -> Azurite:
    """Start Azurite; in memory unless `location` is given. Port 0 means "pick a free one"."""
    args = [str(azurite_binary()), "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--loose"]
    if location is None:
        args.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(location)]
    for name, port in zip(("blob", "queue", "table"), ports, strict=True):
        args += [f"--{name}Port", str(port)]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    azurite = Azurite(proc)
    _wait_listening(azurite, timeout)
    return azurite


def _wait_listening(azurite: Azurite, timeout: float) -> None:
    """Read Azurite's start-up lines until all three services listen, then keep draining its output."""
    assert azurite.process.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while len(azurite.ports) < 3:
        line = azurite.process.stdout.readline()
        if not line:
            raise AzuriteError("Azurite exited during start-up:\n" + "".join(seen[-20:]))
        seen.append(line)
        match = _LISTENING.search(line)
        if match:
            azurite.ports[match.group(1).lower()] = int(match.group(2))
        if time.monotonic() > deadline:
            azurite.stop()
            raise AzuriteError("Azurite did not start in time:\n" + "".join(seen[-20:]))
    # A full pipe would block Azurite; drain it for the life of the process.
    threading.Thread(target=_drain, args=(azurite.process,), daemon=True).start()


def _drain(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for _ in process.stdout:
        pass
