"""Prometheus multiprocess mode for gunicorn: the shared directory, scrapes, dead workers.

Under gunicorn every worker is its own process, so each writes its metrics to
memory-mapped ``*.db`` files in one shared directory and a scrape merges them
(prometheus client_python, "Multiprocess Mode"). The rules that make the
numbers right:

* the launcher prepares the directory **before any worker starts**
  (``prepare_multiproc_dir``): created, stale ``*.db`` files of an earlier run
  wiped (else counters would start from the old totals), and
  ``PROMETHEUS_MULTIPROC_DIR`` set so every forked worker inherits it;
* every scrape builds a **fresh** ``CollectorRegistry`` + ``MultiProcessCollector``
  (``render_metrics``), so the answer is the same whichever worker serves it;
* the gunicorn ``child_exit`` hook marks the dead worker (``child_exit``) so its
  ``livesum`` gauges (in-flight requests) stop counting; its counters stay, so
  a recycled worker never makes a counter go down;
* ``child_exit`` also folds the dead worker's counter, histogram and ``max``
  gauge files into one ``*_archive.db`` file per kind, under an exclusive lock
  that scrapes take shared. Without it every recycled worker (``max_requests``)
  leaves files behind and each scrape reads them all (measured: ~0.5-1 ms per
  file, 270 ms after 300 recycles). With it the directory holds at most
  4 files per live process + 3 archives + the registrar's, whatever the uptime
  (a scrape then takes a few ms).

The registrar runs in the master, which is not a worker: it writes its own
small file (``gauge_max_registrar.db``) with its own lock instead of using
prometheus' process-wide value lock, so a fork can never copy that lock held.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import threading
from pathlib import Path

from veneer.wrapper.errors import ConfigError

ENV = "PROMETHEUS_MULTIPROC_DIR"
_created_dir: str | None = None
#: the registry ``render_metrics`` shows when not in multiprocess mode (the last Metrics built)
_process_registry = None


def multiproc_dir() -> str | None:
    """The active multiprocess directory, or None in single-process mode."""
    return os.environ.get(ENV) or None


def _install_value_class() -> None:
    # prometheus_client picks its value class (in-memory or mmap) once, when it
    # is first imported; whoever imported it first (mlflow, a plug-in) may have
    # done so before the directory existed. Re-pick it now, before any metric
    # object is built, so every metric created from here on writes files.
    from prometheus_client import values

    values.ValueClass = values.get_value_class()


def prepare_multiproc_dir(path: str | os.PathLike | None, *, workers: int) -> str:
    """Create and wipe the metrics directory and export ``PROMETHEUS_MULTIPROC_DIR``.

    Call once in the launcher, before the app is built and before any worker is
    forked. ``path`` None uses ``$PROMETHEUS_MULTIPROC_DIR`` if set, else a fresh
    private temporary directory. A missing directory is created when its parent
    exists; only ``*.db`` files are deleted (never anything else of a user's
    folder). Raises ``ConfigError`` naming the path and the fix when the
    directory cannot be created or written: with ``workers`` > 1 a silent
    fallback to per-process metrics would report a fraction of the traffic.
    """
    global _created_dir
    chosen = str(path) if path else os.environ.get(ENV) or None
    if chosen is None:
        chosen = tempfile.mkdtemp(prefix="veneer-metrics-")
        _created_dir = chosen
    target = Path(chosen)
    fix = (f"Point server.metrics_dir (or {ENV}) at a writable directory, or unset it to use a "
           f"private temporary directory; {workers} worker(s) share it.")
    if not target.exists():
        if not target.parent.is_dir():
            raise ConfigError(f"The metrics directory {chosen!r} does not exist and neither does its "
                              f"parent {str(target.parent)!r}.", fix=fix)
        try:
            target.mkdir(mode=0o700)
        except OSError as e:
            raise ConfigError(f"Cannot create the metrics directory {chosen!r}: {e.strerror}.",
                              fix=fix) from e
    if not target.is_dir():
        raise ConfigError(f"The metrics directory {chosen!r} is not a directory.", fix=fix)
    probe = target / f".veneer-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"The metrics directory {chosen!r} is not writable: {e.strerror}.",
                          fix=fix) from e
    for stale in glob.glob(str(target / "*.db")):
        try:
            os.remove(stale)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ConfigError(f"Cannot remove the stale metrics file {stale!r} of an earlier run: "
                              f"{e.strerror}.", fix=fix) from e
    os.environ[ENV] = str(target)
    _install_value_class()
    _registrar_file.reset()
    return str(target)


def cleanup_multiproc_dir() -> None:
    """Remove the directory if ``prepare_multiproc_dir`` created it (call from ``on_exit``)."""
    global _created_dir
    if _created_dir:
        shutil.rmtree(_created_dir, ignore_errors=True)
        _created_dir = None


def child_exit(server, worker) -> None:
    """gunicorn ``child_exit`` hook: drop the dead worker's live gauges, archive its counts."""
    directory = multiproc_dir()
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
        compact_dead_process(worker.pid, directory)


LOCK_FILE = ".veneer-metrics.lock"
#: file kinds folded into archives, and how two processes' values combine
_ARCHIVED = {"counter": "sum", "histogram": "sum", "gauge_max": "max"}


@contextlib.contextmanager
def _dir_lock(directory: str, *, exclusive: bool):
    import fcntl

    with open(os.path.join(directory, LOCK_FILE), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def compact_dead_process(pid: int, directory: str) -> int:
    """Fold a dead process's files into the ``*_archive.db`` files; returns files removed.

    Runs under the exclusive directory lock, so a scrape (shared lock) sees the
    values either in the dead process's file or in the archive, never both or
    neither: totals never jump or dip while files move.
    """
    from prometheus_client.mmap_dict import MmapedDict

    removed = 0
    with _dir_lock(directory, exclusive=True):
        for kind, how in _ARCHIVED.items():
            source = os.path.join(directory, f"{kind}_{pid}.db")
            if not os.path.exists(source):
                continue
            archive = os.path.join(directory, f"{kind}_archive.db")
            merged: dict[str, float] = {}
            for path in (archive, source):
                if os.path.exists(path):
                    for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(path):
                        old = merged.get(key)
                        merged[key] = value if old is None else (old + value if how == "sum"
                                                                 else max(old, value))
            temp = os.path.join(directory, f".{kind}_archive.tmp")  # not *.db: scrapes skip it
            if os.path.exists(temp):
                os.remove(temp)
            out = MmapedDict(temp)
            try:
                for key, value in merged.items():
                    out.write_value(key, value, 0.0)
            finally:
                out.close()
            os.replace(temp, archive)
            os.remove(source)
            removed += 1
    return removed


def set_process_registry(registry) -> None:
    """Make ``registry`` the one ``render_metrics`` shows in single-process mode."""
    global _process_registry
    _process_registry = registry


def render_metrics(registry=None) -> tuple[bytes, str]:
    """The exposition text and its content type.

    In multiprocess mode, a fresh registry with a ``MultiProcessCollector`` (the
    sum over every worker's files); else ``registry`` or the process registry,
    plus the registrar's state gauge.
    """
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    directory = multiproc_dir()
    if directory:
        fresh = CollectorRegistry()
        fresh.register(_FileCollector(directory))
        with _dir_lock(directory, exclusive=False):
            return generate_latest(fresh), CONTENT_TYPE_LATEST
    body = b""
    target = registry if registry is not None else _process_registry
    if target is not None:
        body += generate_latest(target)
    body += generate_latest(_registrar_local_registry())
    return body, CONTENT_TYPE_LATEST


class _FileCollector:
    """prometheus' ``MultiProcessCollector``, minus files a starting worker has just created.

    A new process creates its file empty and sizes it a moment later; reading it
    in between fails inside prometheus_client (``struct.error``) and would turn
    the scrape into a 500. Such a file holds no value yet, so skipping it is exact.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self):
        from prometheus_client.multiprocess import MultiProcessCollector

        files = []
        for path in glob.glob(os.path.join(self.directory, "*.db")):
            try:
                if os.path.getsize(path) >= 8:
                    files.append(path)
            except OSError:  # removed meanwhile (a dead worker's live gauge)
                continue
        return MultiProcessCollector.merge(files, accumulate=True)


# --- veneer_registry_up: written by the registrar thread in the gunicorn master ---

REGISTRY_UP = "veneer_registry_up"
REGISTRY_UP_HELP = "1 when this instance's registration with the registry is current, else 0."


class _RegistrarFile:
    """The registrar's gauge file, ``gauge_max_registrar.db`` (``max`` survives every worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dict = None
        self._dir: str | None = None

    def reset(self) -> None:
        with self._lock:
            if self._dict is not None:
                self._dict.close()
            self._dict, self._dir = None, None

    def set(self, registry: str, value: float) -> None:
        from prometheus_client.mmap_dict import MmapedDict, mmap_key

        directory = multiproc_dir()
        with self._lock:
            if self._dict is None or self._dir != directory:
                if self._dict is not None:
                    self._dict.close()
                self._dict = MmapedDict(os.path.join(directory, "gauge_max_registrar.db"))
                self._dir = directory
            key = mmap_key(REGISTRY_UP, REGISTRY_UP, ("registry",), (registry,), REGISTRY_UP_HELP)
            self._dict.write_value(key, float(value), 0.0)


_registrar_file = _RegistrarFile()
_local_state: dict[str, float] = {}


class _LocalRegistrarCollector:
    """Single-process view of the registrar's state (a plain dict, no value class involved)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        if not _local_state:
            return
        family = GaugeMetricFamily(REGISTRY_UP, REGISTRY_UP_HELP, labels=["registry"])
        for registry, value in sorted(_local_state.items()):
            family.add_metric([registry], value)
        yield family


def _registrar_local_registry():
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(_LocalRegistrarCollector())
    return registry


def set_registry_up(registry: str, up: bool) -> None:
    """Record the registrar's state (``registry`` is ``mlflow`` or ``http``)."""
    from .metrics_labels import OTHER, REGISTRIES

    label = registry if registry in REGISTRIES else OTHER
    if multiproc_dir():
        _registrar_file.set(label, 1.0 if up else 0.0)
    else:
        _local_state[label] = 1.0 if up else 0.0
