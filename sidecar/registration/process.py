"""Registration in a process of its own, started and stopped by the gunicorn master.

Why a process and not a thread of the master: the master forks workers at any
time (start-up, ``max_requests`` recycling, crash respawns). A master thread that
is inside an import (MLflow imports lazily, on its first calls) when a fork
happens leaves the child holding a module lock nobody will release, and the
worker hangs on its next import. The registrar process owns every MLflow import;
the master only starts it, tells it to deregister with SIGTERM, and the kernel
stops it if the master dies (``PR_SET_PDEATHSIG``). One process per instance.

The process reads one JSON document on stdin: ``registry`` (the section),
``base_dir``, ``endpoint_url``, ``instance_id``, ``versions`` and, for
``drive_traffic``, ``config_path``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Mapping

log = logging.getLogger("veneer.registration")


def wanted(section: Mapping[str, Any] | None) -> bool:
    """Whether the ``registry:`` section asks for any registration at all."""
    from . import _DISABLED, registry_settings

    settings = registry_settings(section)
    if not settings.get("enabled", True):
        return False
    uri = settings.get("mlflow")
    mlflow_on = not (uri in _DISABLED or (isinstance(uri, str) and uri.strip().lower() in _DISABLED))
    return mlflow_on or bool(settings.get("http"))


class RegistrarProcess:
    """Handle on the registrar process: ``stop(timeout)`` deregisters once, bounded."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self._stopped = False

    @property
    def pid(self) -> int:
        """The registrar process id."""
        return self.proc.pid

    def stop(self, timeout: float = 2.0) -> None:
        """SIGTERM: the process deregisters (within ``timeout``) and exits; killed if it overstays."""
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout + 0.5)
        except subprocess.TimeoutExpired:
            log.warning("registrar did not finish deregistering within %.1fs; stopping it", timeout)
            self.proc.kill()
            self.proc.wait(timeout=5)


def spawn(config, *, endpoint_url: str, instance_id: str, versions: list[dict]) -> RegistrarProcess | None:
    """Start the registrar process for ``config``; None when no registry is configured."""
    if not wanted(config.registry):
        return None
    payload = {"registry": dict(config.registry or {}), "base_dir": str(config.base_dir),
               "endpoint_url": endpoint_url, "instance_id": instance_id, "versions": versions,
               "config_path": str(config.source) if config.source else None}
    from veneer.sidecar.parent_death import death_signal_setter

    proc = subprocess.Popen([sys.executable, "-m", "veneer.sidecar.registration.process"],
                            stdin=subprocess.PIPE, cwd=str(config.base_dir),
                            preexec_fn=death_signal_setter(signal.SIGTERM), close_fds=True)
    proc.stdin.write(json.dumps(payload, default=str).encode())
    proc.stdin.close()
    return RegistrarProcess(proc)


def _traffic_applier(config_path: str | None, section: Mapping[str, Any]):
    """For ``drive_traffic``: validated registry changes become runtime traffic changes."""
    if not config_path or not section.get("drive_traffic"):
        return None
    from veneer.sidecar.traffic_store import TrafficStore, apply_external_changes
    from veneer.wrapper.config import load_config

    store = TrafficStore(load_config(config_path))

    def apply(changes: dict) -> None:
        apply_external_changes(store, changes)

    return apply


def main() -> int:
    """Entry point of the registrar process."""
    from veneer.sidecar.access_log import configure_logging

    configure_logging(os.environ.get("VENEER_LOG_FORMAT", "auto"))
    try:
        os.nice(10)  # background bookkeeping: never compete with the workers for the CPU
    except OSError:
        pass
    payload = json.loads(sys.stdin.read())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the master, which stops us in order
    from . import start_registration

    class _Section:  # start_registration reads .registry and .base_dir from a Config-like object
        registry = payload["registry"]
        base_dir = Path(payload["base_dir"])

    registrar = start_registration(_Section(), endpoint_url=payload["endpoint_url"],
                                   instance_id=payload["instance_id"], versions=payload["versions"],
                                   on_traffic_change=_traffic_applier(payload.get("config_path"), payload["registry"]))
    if registrar is None:
        return 0
    stop.wait()
    registrar.stop(timeout=2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
