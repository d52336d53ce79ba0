"""The run command (`python -m devhost.run`, behind `make run`), end to end on free ports and a temporary app."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from devhost.run import banner, ensure_local_settings, port_in_use
from tests.devhost.conftest import RARE_SCHEDULE, REPO_ROOT, TEST_APP, free_port, wait_until


def example_app(tmp_path: Path) -> Path:
    """The test app with only a local.settings.example.json, as a fresh checkout has."""
    root = tmp_path / "app"
    root.mkdir()
    for name in ("function_app.py", "host.json"):
        (root / name).write_text((TEST_APP / name).read_text())
    values = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "CONDUIT_ADMIN_KEY": "change-me",
        "WORK_QUEUE": "run-work",
        "FAIL_QUEUE": "run-fail",
        "SLOW_QUEUE": "run-slow",
        "TICK_SCHEDULE": RARE_SCHEDULE,
        "DEVHOST_TEST_RECORD_DIR": str(tmp_path),
    }
    (root / "local.settings.example.json").write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return root


def run_command(root: Path, tmp_path: Path, port: int, azurite_ports: list[int]) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "devhost.run",
        "--script-root",
        str(root),
        "--port",
        str(port),
        "--azurite-ports",
        ",".join(map(str, azurite_ports)),
        "--data-dir",
        str(tmp_path / ".azurite"),
    ]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def _stop_group(process: subprocess.Popen[str]) -> None:
    """A failed assertion must not leave the run command, devhost and Azurite running for the rest of the suite."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_run_creates_settings_starts_everything_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    # Given a fresh app folder with only the example settings
    root = example_app(tmp_path)
    port, azurite_ports = free_port(), [free_port() for _ in range(3)]
    # When the run command starts
    process = run_command(root, tmp_path, port, azurite_ports)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        # Then it generated local.settings.json with a fresh key and printed the URL, the key and a curl line
        key = json.loads((root / "local.settings.json").read_text())["Values"]["CONDUIT_ADMIN_KEY"]
        assert key != "change-me" and len(key) >= 32
        assert f"Conduit is running at http://localhost:{port}/api" in output
        assert f'curl -s -X POST http://localhost:{port}/api/workflows/greet/execute -H "x-api-key: {key}"' in output
        # And a JWT secret for development tokens, with the command that mints one (for this port)
        jwt_secret = json.loads((root / "local.settings.json").read_text())["Values"]["CONDUIT_JWT_SECRET"]
        assert len(jwt_secret) >= 32
        assert f'make token PORT={port} ARGS="--user alice --org org-a"' in output
        assert httpx.get(f"http://127.0.0.1:{port}/api/health").json() == {"status": "ok"}
        # And Ctrl-C stops devhost and Azurite cleanly
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        for used in (port, *azurite_ports):
            wait_until(lambda p=used: _free(p), timeout=5)
    finally:
        _stop_group(process)
    assert (tmp_path / ".azurite").is_dir()


def test_run_names_the_process_holding_a_port(tmp_path: Path) -> None:
    # Given a port the run command needs is taken by this test process
    root = example_app(tmp_path)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        # When the run command starts
        process = run_command(root, tmp_path, free_port(), [taken, free_port(), free_port()])
        output, _ = process.communicate(timeout=30)
    # Then it fails before starting anything, naming the port and, where ss can tell, the holder
    assert process.returncode == 1
    assert re.search(rf"Port {taken} \(Azurite blob\) is already in use", output)
    if shutil.which("ss") or shutil.which("lsof"):
        assert f"(pid {os.getpid()})" in output
    assert not (root / "local.settings.json").exists()


def _free(port: int) -> bool:
    return not port_in_use(port)


def test_first_run_settings_get_a_jwt_secret_unless_an_identity_provider_is_configured(tmp_path: Path) -> None:
    # Given two fresh app folders: one with the plain example settings, one whose example names a JWKS URL
    plain, entra = tmp_path / "plain", tmp_path / "entra"
    for root, extra in ((plain, {}), (entra, {"CONDUIT_JWT_JWKS_URL": "https://login.example/keys"})):
        root.mkdir()
        values = {"CONDUIT_ADMIN_KEY": "change-me", **extra}
        (root / "local.settings.example.json").write_text(json.dumps({"Values": values}))
    # When the run command creates their local.settings.json
    made = {root.name: json.loads(ensure_local_settings(root).read_text())["Values"] for root in (plain, entra)}
    # Then the plain one can sign `make token`'s tokens at once, and the one with an identity provider is left alone
    assert len(made["plain"]["CONDUIT_JWT_SECRET"]) >= 32 and made["plain"]["CONDUIT_ADMIN_KEY"] != "change-me"
    assert "CONDUIT_JWT_SECRET" not in made["entra"]
    # And on the default port the banner's token line needs no PORT
    assert 'A user\'s token: make token ARGS="--user alice --org org-a"' in banner("http://localhost:7071/api", "k")
