"""Run the app under gunicorn, embedded through ``BaseApplication``.

The launcher reads config once, prepares the Prometheus multiprocess folder
before any worker exists, loads fork-safe models in the master (``preload``) so
workers share them, and creates the others (ONNX sessions) in each worker after
fork. Registration runs in the master, once per instance. SIGTERM lets in-flight
requests finish within ``graceful_timeout``.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
import uuid
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from veneer.wrapper.errors import ConfigError
from veneer.wrapper.settings import Config

log = logging.getLogger("veneer.server")


class VeneerApplication(BaseApplication):
    """gunicorn application wrapping ``create_app(config)``."""

    def __init__(self, config: Config) -> None:
        from .parent_death import death_signal_setter

        self.config = config
        # a worker outliving a SIGKILLed master could never be told to stop: the kernel ends it
        self._die_with_master = death_signal_setter(signal.SIGKILL)
        self.instance_id = uuid.uuid4().hex[:12]
        self.flask_app = None
        self.extras: dict[str, Any] = {}
        super().__init__()

    def load_config(self) -> None:
        s = self.config.server
        settings = {
            "bind": [f"{s.host}:{s.port}"], "workers": s.workers, "threads": s.threads,
            "worker_class": "veneer.sidecar.worker.VeneerThreadWorker", "timeout": s.timeout, "graceful_timeout": s.graceful_timeout,
            "keepalive": s.keepalive, "max_requests": s.max_requests,
            "max_requests_jitter": s.max_requests_jitter, "preload_app": s.preload,
            "proc_name": "veneer", "accesslog": None, "errorlog": "-", "loglevel": "info",
            "logger_class": "veneer.sidecar.worker.AppAccessLogger",
            "post_fork": self._post_fork, "child_exit": self._child_exit, "when_ready": self._when_ready,
            "on_exit": self._on_exit, "worker_exit": self._worker_exit,
        }
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25 opens a control socket at one fixed path per user; several
            # instances (tests, sidecars) would fight over it, and veneer has its admin API
            settings["control_socket_disable"] = True
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        if self.flask_app is None:
            from .app import create_app

            # in the master (preload) only fork-safe models load; the rest load after fork
            self.flask_app = create_app(self.config, load=False)
            store = self.flask_app.extensions["veneer"].models
            store.load(fork_safe_only=self.config.server.preload)
            # models and libraries loaded so far live as long as the process: take them out of
            # the cyclic GC's sight, so full collections stay short and do not touch (and so
            # copy) the pages workers share with the master
            gc.freeze()
            failures = list(store.failures())
            if failures and self.config.server.strict_load:
                names = ", ".join(f"{lv.spec.qualified_name} v{lv.spec.version}: {lv.reason}" for lv in failures)
                raise SystemExit(f"veneer: versions failed to load (server.strict_load is on): {names}")
        return self.flask_app

    # -- gunicorn hooks ----------------------------------------------------
    def _post_fork(self, server, worker) -> None:
        # Until init_process installs the worker's handlers (after this hook, and after models
        # load) the worker still has the master's, which queue a signal for a master loop that
        # never runs here: a TERM or QUIT sent while models load would be lost, and the master
        # would wait graceful_timeout. A worker that serves nothing yet may simply die.
        for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        if self._die_with_master is not None:
            self._die_with_master()
        app = self.flask_app
        if app is None:
            return
        state = app.extensions["veneer"]
        state.models.load_after_fork()
        gc.freeze()  # and what this worker loaded itself
        state.traffic_source.start_watching()
        state.watchdog.start()

    def _worker_exit(self, server, worker) -> None:
        if self.flask_app is not None:
            self.flask_app.extensions["veneer"].models.unload()

    def _child_exit(self, server, worker) -> None:
        if self.config.server.metrics:
            from .metrics import child_exit

            child_exit(server, worker)

    def _when_ready(self, server) -> None:
        s = self.config.server
        endpoint = f"http://{s.host}:{server.address[0][1] if server.address else s.port}"
        auth_on = self.config.auth is not None
        log.warning("veneer serving %d model(s) on %s with %d worker(s); auth %s", len(self.config.models),
                    endpoint, s.workers, "ON" if auth_on else "OFF (auth: none) - every caller is trusted")
        self.extras["supervisors"] = _start_supervisors(self.config)
        self.extras["registrar"] = _start_registration(self.config, endpoint, self.instance_id)

    def deregister(self) -> None:
        """Leave the registry (once, within 2 s): called as shutdown begins, before workers drain."""
        registrar = self.extras.pop("registrar", None)
        if registrar is not None:
            registrar.stop(timeout=2.0)

    def _on_exit(self, server) -> None:
        self.deregister()
        sups = self.extras.get("supervisors")
        if sups:
            from .supervisor import stop_supervisors

            stop_supervisors(sups, timeout=5.0)
        if self.config.server.metrics and not self.config.server.metrics_dir:
            from .metrics_multiproc import cleanup_multiproc_dir

            cleanup_multiproc_dir()

    def run(self) -> None:
        """Like ``BaseApplication.run``, with an arbiter that deregisters as soon as shutdown begins."""
        try:
            VeneerArbiter(self).run()
        except RuntimeError as e:
            print(f"\nError: {e}\n", file=sys.stderr)
            sys.stderr.flush()
            sys.exit(1)


class VeneerArbiter(Arbiter):
    """gunicorn's arbiter; stopping first takes the instance out of the registry."""

    def stop(self, graceful: bool = True) -> None:
        try:
            self.app.deregister()
        except Exception:  # shutting down: deregistration is best effort
            log.exception("deregistration failed")
        super().stop(graceful)


def _start_supervisors(config: Config):
    if not any(v.adapter == "http" and v.options.get("command") for m in config.models for v in m.versions):
        return None
    from .supervisor import start_supervisors

    return start_supervisors(config)


def _start_registration(config: Config, endpoint: str, instance_id: str):
    from .registration.process import spawn

    versions = [{"prefix": m.prefix, "model": m.name, "version": v.version, "adapter": v.adapter,
                 "sha256": v.sha256, "stage": v.stage, "weight": v.weight, "draft": v.draft,
                 "artifact_path": str(v.path) if v.path else (v.uri or v.url)}
                for m in config.models for v in m.versions]
    try:
        return spawn(config, endpoint_url=endpoint, instance_id=instance_id, versions=versions)
    except Exception:  # a registry problem must never stop serving
        log.exception("registration could not start; serving anyway")
        return None


def run_startup_script(config: Config) -> None:
    """Run ``startup_script`` once before serving; its failure stops the start."""
    script = config.startup_script
    if not script:
        return
    log.warning("running startup script %s", script)
    result = subprocess.run(["/bin/sh", script] if os.path.exists(script) else ["/bin/sh", "-c", script],
                            cwd=str(config.base_dir))
    if result.returncode != 0:
        raise ConfigError(f"startup script {script!r} failed with exit code {result.returncode}; not serving.",
                          fix="Fix the script (see its output above) or remove startup_script.")
    # a script that pip-installs into a folder created after start-up must be importable now
    import importlib

    importlib.invalidate_caches()


def run(config: Config, **overrides: Any) -> int:
    """Serve ``config`` until shutdown; returns the exit code."""
    from dataclasses import replace

    server = replace(config.server, **{k: v for k, v in overrides.items() if v is not None})
    config = replace(config, server=server)
    from .access_log import configure_logging

    configure_logging(server.log_format)
    if server.state_dir is not None:
        # read by features that keep per-version state shared by workers (ONNX promotion)
        os.environ["VENEER_STATE_DIR"] = str(server.state_dir)
    run_startup_script(config)
    if server.metrics:
        from .metrics import prepare_multiproc_dir

        prepare_multiproc_dir(server.metrics_dir, workers=server.workers)
    VeneerApplication(config).run()
    return 0


def serve(target: str, **overrides: Any) -> int:
    """Load a config file or a module of decorated functions and serve it."""
    from .targets import load_target

    return run(load_target(target), **overrides)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve(sys.argv[1]))
