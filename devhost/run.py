"""`python -m devhost.run`: the one command that starts Conduit locally (scripts/run.sh wraps it).

It checks the ports, creates `local.settings.json` from the example on first run (with a fresh admin key), starts
Azurite with its data in `.azurite/` (so executions survive a restart) on the ports `UseDevelopmentStorage=true`
means, starts devhost, waits for `GET /api/health`, and prints where to send requests. Ctrl-C stops both (a
second Ctrl-C kills devhost at once); Azurite is stopped however devhost ends.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devhost.azurite import REPO_ROOT, Azurite, AzuriteError, connection_string, start_azurite
from devhost.hostconfig import load_host_config
from devhost.settings import EXAMPLE_SETTINGS, LOCAL_SETTINGS, read_values

AZURITE_PORTS = (10000, 10001, 10002)
ADMIN_KEY = "CONDUIT_ADMIN_KEY"
JWT_SECRET = "CONDUIT_JWT_SECRET"  # signs `make token`'s development tokens (scripts/mint_token.py)
JWKS_URL = "CONDUIT_JWT_JWKS_URL"
PLACEHOLDER_KEY = "change-me"
STOP_TIMEOUT = 30.0  # devhost's grace period (10 s) and its own shutdown watchdog (10 s more), with room to spare


class RunError(RuntimeError):
    """Something the run command needs is missing; the message says what and how to fix it."""


def port_holder(port: int) -> str | None:
    """Which process listens on `port`, if `ss` or `lsof` can tell (e.g. "node (pid 1234)")."""
    if shutil.which("ss"):
        out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
        match = re.search(r'users:\(\("([^"]+)",pid=(\d+)', out)
        if match:
            return f"{match.group(1)} (pid {match.group(2)})"
    if shutil.which("lsof"):
        found = subprocess.run(["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"], capture_output=True, text=True)
        pid, name = re.search(r"^p(\d+)", found.stdout, re.M), re.search(r"^c(.+)$", found.stdout, re.M)
        if pid:
            return f"{name.group(1) if name else 'a process'} (pid {pid.group(1)})"
    return None


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_ports(ports: dict[int, str]) -> None:
    """Fail before starting anything if a port we need is taken, naming the holder when possible."""
    problems = []
    for port, purpose in ports.items():
        if port_in_use(port):
            holder = port_holder(port)
            who = f"by {holder}" if holder else "by another process (`ss -ltnp` or `lsof -i :PORT` shows which)"
            fix = f"stop it (kill {holder.split('pid ')[1].rstrip(')')})" if holder else "stop it"
            problems.append(f"Port {port} ({purpose}) is already in use {who}; {fix} and run again.")
    if problems:
        raise RunError("\n".join(problems))


def ensure_local_settings(script_root: Path) -> Path:
    """Create local.settings.json from the example on first run, with a fresh random admin key and, unless the
    example configures an identity provider's JWKS, a JWT secret, so `make token` works without a restart."""
    target = script_root / LOCAL_SETTINGS
    if target.exists():
        return target
    example = script_root / EXAMPLE_SETTINGS
    if not example.exists():
        raise RunError(f"Neither {LOCAL_SETTINGS} nor {EXAMPLE_SETTINGS} exists in {script_root}.")
    document = json.loads(example.read_text(encoding="utf-8-sig"))
    values = document.setdefault("Values", {})
    if values.get(ADMIN_KEY, PLACEHOLDER_KEY) in ("", PLACEHOLDER_KEY):
        values[ADMIN_KEY] = secrets.token_urlsafe(32)
    if not values.get(JWT_SECRET) and not values.get(JWKS_URL):
        values[JWT_SECRET] = secrets.token_urlsafe(48)
    target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"conduit: created {target} from {EXAMPLE_SETTINGS} with a new {ADMIN_KEY}.", flush=True)
    return target


def start_storage(data_dir: Path, ports: tuple[int, int, int]) -> Azurite:
    if shutil.which("node") is None:
        raise RunError("Node.js is required for Azurite: install Node.js 20+ (e.g. apt-get install nodejs npm).")
    try:
        return start_azurite(location=data_dir, ports=ports)
    except AzuriteError as exc:
        raise RunError(f"{exc}\nRun `bash scripts/bootstrap.sh` to install Azurite.") from exc


def start_devhost(script_root: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Its own process group: Ctrl-C reaches only us, and we stop devhost with exactly one SIGTERM.
    command = [sys.executable, "-m", "devhost", "--port", str(port), "--script-root", str(script_root)]
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True)


def wait_healthy(url: str, devhost: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if devhost.poll() is not None:
            raise RunError(f"devhost exited with code {devhost.returncode} during start-up (see its log above).")
        try:
            response = httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code != 200:
            print(f"conduit: warning: {url} answered {response.status_code}: {response.text[:500]}", flush=True)
        return
    raise RunError(f"devhost did not answer {url} within {timeout:.0f}s.")


def banner(base_url: str, key: str, port: int = 7071) -> str:
    body = '{"input_data": {"name": "Ada"}}'
    on_port = "" if port == 7071 else f" PORT={port}"
    return "\n".join(
        [
            "",
            f"Conduit is running at {base_url}",
            f"Admin key ({ADMIN_KEY}): {key}",
            f'A user\'s token: make token{on_port} ARGS="--user alice --org org-a"',
            "Run a platform example:",
            f'  curl -s -X POST {base_url}/workflows/greet/execute -H "x-api-key: {key}" '
            f"-H \"Content-Type: application/json\" -d '{body}'",
            "Press Ctrl-C to stop devhost and Azurite.",
            "",
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost.run", description=__doc__)
    parser.add_argument("--script-root", type=Path, default=REPO_ROOT)
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--azurite-ports", default=",".join(map(str, AZURITE_PORTS)), help="blob,queue,table")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".azurite", help="Azurite's persistent data")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    script_root = args.script_root.resolve()
    blob, queue, table = (int(p) for p in args.azurite_ports.split(","))
    check_ports({args.port: "devhost", blob: "Azurite blob", queue: "Azurite queue", table: "Azurite table"})
    settings = ensure_local_settings(script_root)
    env = dict(os.environ)
    if (blob, queue, table) != AZURITE_PORTS:  # UseDevelopmentStorage=true means the default ports only
        env["AzureWebJobsStorage"] = connection_string(blob, queue, table)
    azurite = start_storage(args.data_dir, (blob, queue, table))
    devhost: subprocess.Popen[bytes] | None = None
    try:
        devhost = start_devhost(script_root, args.port, env)
        prefix = load_host_config(script_root).route_prefix
        base_url = f"http://localhost:{args.port}" + (f"/{prefix}" if prefix else "")
        wait_healthy(f"{base_url}/health", devhost)
        key = env.get(ADMIN_KEY) or read_values(settings).get(ADMIN_KEY, "")
        print(banner(base_url, key, args.port), flush=True)
        return wait_for_stop(devhost)
    finally:
        try:
            if devhost is not None:
                stop_devhost(devhost)
        finally:
            azurite.stop()  # always, also when devhost hung, was killed, or a second Ctrl-C interrupted the stop


def stop_devhost(devhost: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """One SIGTERM (a graceful stop, bounded by devhost's own watchdog), then SIGKILL if it still runs."""
    if devhost.poll() is None:
        devhost.send_signal(signal.SIGTERM)
    try:
        devhost.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"conduit: devhost did not stop within {timeout:.0f}s; killing it.", flush=True)
        devhost.kill()
        devhost.wait()


def wait_for_stop(devhost: subprocess.Popen[bytes]) -> int:
    """Wait for Ctrl-C, SIGTERM or SIGHUP (passed on to devhost as one SIGTERM), or for devhost to exit by itself.
    A second Ctrl-C kills devhost at once; Azurite is stopped either way."""
    signals = 0

    def stop(*_: object) -> None:
        nonlocal signals
        signals += 1
        if devhost.poll() is not None:
            return
        if signals == 1:
            print("\nconduit: stopping devhost and Azurite... (Ctrl-C again to kill devhost now)", flush=True)
            devhost.send_signal(signal.SIGTERM)
        else:
            print("\nconduit: killing devhost.", flush=True)
            devhost.kill()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    return devhost.wait()


def main(argv: list[str] | None = None) -> int:
    # A shell may start us with SIGINT ignored (background job); Ctrl-C must still stop us during start-up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run(parse_args(argv))
    except RunError as exc:
        print(f"conduit: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
