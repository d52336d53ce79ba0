"""`python -m devhost [--port N] [--script-root DIR] [--no-http]`: host function_app.py like `func start`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from azure.core.exceptions import AzureError

from devhost.host import Host, HostOptions, leave_process, stray_threads
from devhost.loader import LoadError
from devhost.settings import SettingsError

log = logging.getLogger("devhost")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--port", type=int, default=7071, help="HTTP port (default 7071, like func start)")
    parser.add_argument("--host", dest="bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--script-root", type=Path, default=Path.cwd(), help="folder with function_app.py (default .)")
    parser.add_argument(
        "--no-http", action="store_true", help="host only queue and timer triggers (a scale-out worker)"
    )
    parser.add_argument("--grace-period", type=float, default=10.0, help="seconds running functions get on stop")
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request (off: it costs throughput)")
    parser.add_argument("--log-level", default=os.environ.get("DEVHOST_LOG_LEVEL", "INFO"), help="default INFO")
    return parser.parse_args(argv)


def configure_logging(level: str) -> None:
    """Core Tools style lines: `[UTC timestamp] message`, function logs included, on stderr.

    The level is set on the console handler and on devhost's own logger, not only on the root logger: an app may
    lower the root level to see its own DEBUG records (Conduit's log capture does), and that must neither flood the
    console nor turn on devhost's per-request DEBUG lines, which cost a large share of HTTP throughput. The host's
    console filters by host.json's level in the same way, whatever the worker's loggers let through."""
    handler = logging.StreamHandler()
    formatter = logging.Formatter("[%(asctime)s.%(msecs)03dZ] %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.setLevel(level.upper())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("devhost").setLevel(level.upper())
    # The storage SDKs log every request at INFO; keep them for --log-level DEBUG only.
    logging.getLogger("azure").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    options = HostOptions(
        script_root=args.script_root.resolve(),
        port=args.port,
        bind=args.bind,
        http=not args.no_http,
        grace_seconds=args.grace_period,
        access_log=args.access_log,
    )
    host = Host(options)
    try:
        finished = asyncio.run(host.run())
    except (SettingsError, LoadError) as exc:
        log.error("devhost: %s", exc)
        return 2
    except OSError as exc:
        log.error("devhost: %s", exc)
        return 2
    except AzureError as exc:
        log.error("devhost: storage is not reachable (%s). Start Azurite first; scripts/run.sh does.", exc)
        return 2
    log.info("Host stopped%s.", "" if finished else " (some functions were still running)")
    code = 0 if finished else 1
    stray = stray_threads()
    if stray:
        # Threads that never return (a sync workflow stuck in a call) would keep Python from exiting: it joins them.
        log.warning("%d thread(s) still running (%s); exiting without waiting for them.", len(stray),
                    ", ".join(sorted({t.name.rsplit("_", 1)[0] for t in stray})))
    if host.recycling:
        log.info("Starting the host again (recycle).")
    if stray or host.recycling or not finished:
        leave_process(code, recycle=host.recycling)
    logging.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
