"""``AcceleratedAdapter``: a pickle or MLflow adapter answered by ONNX once ONNX has proved itself.

``load()`` (gunicorn master, before fork) loads the wrapped adapter and converts its
estimator (``convert.py``); no ONNX Runtime session exists yet. The first
``predict`` in each process creates the session, reads the shared promotion state,
checks the ``probe:`` file when the version is still in shadow, and starts a small
thread that syncs counts with the other workers. Then:

- shadow: scikit-learn answers; ONNX runs on the same rows and is compared;
- promoted: ONNX answers; every ``audit_every``-th request is also answered by
  scikit-learn and compared (a difference demotes, and that request gets
  scikit-learn's answer);
- demoted, or never converted: scikit-learn answers, as if nothing was wrapped.

Rows ONNX cannot take unchanged (missing values, text in numbers, missing columns)
are answered by scikit-learn in every state, so clients get the adapter's own errors.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from .convert import Conversion, NotConvertible, convert
from .runner import NotFeedable
from .shadow import Shadow, compare
from .sources import NoSource, Source, source_for
from .state import DEMOTED, PROMOTED, SHADOW, SharedState, state_dir_for

log = logging.getLogger("veneer.accelerate")

_SUMMARY_KEYS = ("state", "rows_agreed", "rows_compared", "promote_after_rows", "disagreements", "reason",
                 "first_difference", "probe_checked")
DEFAULTS = {"tolerance": 1e-6, "promote_after_rows": 1000, "audit_every": 1000,
            "refresh_seconds": 1.0, "threads": 1}


@dataclass
class _Process:
    pid: int
    runner: Any            # runner.Runner, or None when the session could not be created
    shadow: Shadow
    stop: threading.Event


class AcceleratedAdapter:
    """Wraps a constructed (not loaded) adapter; delegates everything it does not accelerate."""

    fork_safe: ClassVar[bool] = True  # no ONNX Runtime session before fork (created per process)
    #: the version's options belong to the wrapped adapter, whose own schema validates them
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object", "description": "The wrapped adapter's options; 'accelerate' holds this wrapper's."}

    def __init__(self, inner: Any, spec: Any) -> None:
        self.inner = inner
        self.spec = spec
        self.fork_safe = bool(getattr(inner, "fork_safe", True))  # type: ignore[misc]
        opts = {**DEFAULTS, **dict((getattr(spec, "options", None) or {}).get("accelerate") or {})}
        self.tolerance = float(opts["tolerance"])
        self.promote_after_rows = int(opts["promote_after_rows"])
        self.audit_every = int(opts["audit_every"])
        self.refresh_seconds = float(opts["refresh_seconds"])
        self.threads = int(opts["threads"])
        self.source: Source | None = None
        self.conversion: Conversion | None = None
        self.reason: str | None = None
        self.reason_code: str | None = None
        self.fingerprint = ""
        self.speedup: dict[str, Any] | None = None
        self.info: dict[str, Any] = {}  # served in metadata().extra["acceleration"]; updated in place
        self._local = threading.local()
        self._proc: _Process | None = None
        self._proc_lock = threading.Lock()
        self._counter = itertools.count(1)

    def __getattr__(self, name: str) -> Any:
        # anything not accelerated (ready(), adapter-specific helpers) is the wrapped adapter's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    # -- load ------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the wrapped adapter, then convert; a failed conversion is a reason, never an error."""
        self.inner.load()
        try:
            self.source = source_for(self.inner)
            self.conversion = convert(self.source.model, self.source.methods)
        except (NoSource, NotConvertible) as e:
            self.reason = getattr(e, "reason", None) or str(e)
            self.reason_code = getattr(e, "code", "not_accelerated")
        except Exception as e:  # skl2onnx on an odd legacy object: fall back, keep serving
            self.reason, self.reason_code = f"conversion failed: {type(e).__name__}: {e}", "conversion_failed"
        if self.conversion is None:
            log.warning("%s v%s is not accelerated: %s; scikit-learn answers", self.spec.qualified_name,
                        self.spec.version, self.reason)
        else:
            self.fingerprint = _fingerprint(self.spec, self.inner, self.source, self.conversion)
            log.info("%s v%s converted to ONNX in %.2fs (%s inputs); starting in shadow",
                     self.spec.qualified_name, self.spec.version, self.conversion.seconds,
                     self.conversion.layout.numeric)
        self._refresh_info()

    # -- predict ---------------------------------------------------------------------------
    def engine(self) -> str | None:
        """The engine that answered this thread's last request: ``sklearn`` or ``onnx``.

        None when nothing was converted: the dispatcher then names the adapter's platform,
        as for a version without ``accelerate``.
        """
        if self.conversion is None:
            return None
        return getattr(self._local, "engine", "sklearn")

    def predict(self, batch: Any) -> Any:
        """Answer from ONNX when promoted, else from scikit-learn (comparing ONNX in shadow)."""
        proc = self._process()
        state = proc.shadow.state if proc is not None and proc.runner is not None else DEMOTED
        if state == PROMOTED:
            answered = self._promoted(proc, batch)
            if answered is not None:
                return answered
        self._local.engine = "sklearn"
        result = self.inner.predict(batch)
        if state == SHADOW:
            self._compare(proc, batch, result)
        return result

    def _onnx(self, proc: _Process, batch: Any) -> tuple[Any, dict]:
        runner = proc.runner
        feeds = runner.feeds_from_batch(batch) if self.source.by_name else None
        X = None
        if feeds is None:
            X = self.source.features(batch)  # the adapter's own 422s for missing columns
            feeds = runner.feeds_from_features(X)
        try:
            return X, runner.run(feeds)
        except NotFeedable:
            raise
        except Exception as e:  # ONNX Runtime failing on rows scikit-learn takes is a disagreement
            log.exception("ONNX failed on %s v%s", self.spec.qualified_name, self.spec.version)
            proc.shadow.failed(f"ONNX Runtime failed on a request: {type(e).__name__}: {str(e)[:200]}")
            self._refresh_info()
            raise NotFeedable(str(e)) from e

    def _promoted(self, proc: _Process, batch: Any) -> Any:
        try:
            X, ox = self._onnx(proc, batch)
        except NotFeedable:
            return None
        if self.audit_every and next(self._counter) % self.audit_every == 0:
            sk = self.inner.predict(batch)
            diff = compare(self.source.split(sk), ox, self.tolerance)
            if diff is not None:
                proc.shadow.disagreed(batch.n_rows, diff, X if X is not None else _safe_features(self, batch),
                                      when="audit after promotion")
                self._refresh_info()
                self._local.engine = "sklearn"
                return sk
            proc.shadow.agreed(batch.n_rows)
        self._local.engine = "onnx"
        return self.source.answer(ox)

    def _compare(self, proc: _Process, batch: Any, result: Any) -> None:
        try:
            X, ox = self._onnx(proc, batch)
        except NotFeedable:
            return  # rows ONNX cannot take are never compared (nor ever answered by ONNX)
        except Exception:  # the answer is already right; a comparison problem must not fail it
            log.exception("comparing ONNX on %s v%s", self.spec.qualified_name, self.spec.version)
            return
        diff = compare(self.source.split(result), ox, self.tolerance)
        before = proc.shadow.state
        if diff is None:
            proc.shadow.agreed(batch.n_rows)
        else:
            proc.shadow.disagreed(batch.n_rows, diff, X if X is not None else _safe_features(self, batch))
        if proc.shadow.state != before:
            self._refresh_info()

    # -- per process -------------------------------------------------------------------------
    def _process(self) -> _Process | None:
        proc = self._proc
        if proc is not None and proc.pid == os.getpid():
            return proc
        if self.conversion is None:
            return None
        with self._proc_lock:
            if self._proc is not None and self._proc.pid == os.getpid():
                return self._proc
            self._proc = self._start_process()
        self._refresh_info()
        return self._proc

    def _start_process(self) -> _Process:
        shared = SharedState(state_dir_for(self.spec), self.spec.qualified_name, self.spec.version,
                             self.fingerprint)
        shadow = Shadow(shared, promote_after_rows=self.promote_after_rows,
                        model=self.spec.qualified_name, version=self.spec.version)
        runner = None
        if shadow.state != DEMOTED:
            try:
                from .runner import Runner

                runner = Runner(self.conversion, threads=self.threads, classes=self.source.classes)
            except Exception as e:  # a graph ONNX Runtime refuses: same artifact, same verdict everywhere
                shadow.failed(f"ONNX Runtime cannot load the converted graph: {type(e).__name__}: {str(e)[:200]}")
        proc = _Process(os.getpid(), runner, shadow, threading.Event())
        if runner is not None and shadow.state == SHADOW and self.spec.probe and not shadow.record["probe_checked"]:
            self._check_probe(proc)
        if shadow.state != DEMOTED:
            threading.Thread(target=self._sync_loop, args=(proc,), daemon=True,
                             name=f"veneer-accelerate-{self.spec.model}-{self.spec.version}").start()
        return proc

    def _sync_loop(self, proc: _Process) -> None:
        while not proc.stop.wait(self.refresh_seconds):
            try:
                proc.shadow.flush()
                self._refresh_info()
            except Exception:  # a full disk must not kill the thread: the next tick retries
                log.exception("syncing acceleration state of %s v%s", self.spec.qualified_name, self.spec.version)
            if proc.shadow.state == DEMOTED:
                return

    # -- probe and report --------------------------------------------------------------------
    def _probe_batch(self) -> Any:
        import pandas as pd

        from veneer.wrapper.batch import Batch

        return Batch.from_frame(pd.read_csv(self.spec.probe))

    def _check_probe(self, proc: _Process) -> None:
        from .probe import check_probe

        check_probe(self, proc)

    def check_report(self) -> dict[str, Any]:
        """Per-version facts for ``veneer check``: conversion, state, agreement, speed-up on the probe."""
        proc = self._process()
        if proc is not None and proc.runner is not None and self.speedup is None and self.spec.probe:
            from .probe import measure

            measure(self, proc)
        self._refresh_info()
        return dict(self.info)

    def _refresh_info(self) -> None:
        info: dict[str, Any] = {"converted": self.conversion is not None}
        if self.conversion is None:
            info.update(engine="sklearn", state="not_converted", reason=self.reason, reason_code=self.reason_code)
        else:
            c = self.conversion
            info.update(conversion_seconds=round(c.seconds, 3), input_layout=c.layout.kind,
                        numeric_inputs=c.layout.numeric, string_inputs=sorted(c.layout.strings),
                        tolerance=self.tolerance, onnx_sha256=c.sha256, failed_attempts=list(c.attempts),
                        engine="sklearn", note=None)
            proc = self._proc
            if proc is not None and proc.pid == os.getpid():
                info.update(proc.shadow.summary())
                info["engine"] = "onnx" if proc.shadow.state == PROMOTED and proc.runner else "sklearn"
            else:  # the master, or a worker before its first request: same keys, nothing known yet
                info.update({k: None for k in _SUMMARY_KEYS}, state=SHADOW,
                            note="state is read when this process first predicts")
        info["speedup"] = self.speedup
        if info.keys() == self.info.keys():
            # same keys: values change in place, so a metadata response being encoded in
            # another thread never sees the dict change size
            self.info.update(info)
        else:  # at load, before anything serves this dict
            self.info.clear()
            self.info.update(info)

    # -- delegation ------------------------------------------------------------------------------
    def metadata(self) -> Any:
        """The wrapped adapter's metadata, with ``extra["acceleration"]`` (live for this process)."""
        meta = self.inner.metadata()
        meta.extra["acceleration"] = self.info
        return meta

    def unload(self) -> None:
        """Stop the sync thread, drop the session, unload the wrapped adapter."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.stop.set()
            if proc.pid == os.getpid():
                try:
                    proc.shadow.flush()
                except Exception:  # shutting down: losing a few counts is fine
                    pass
        unload = getattr(self.inner, "unload", None)
        if callable(unload):
            unload()


def _safe_features(adapter: AcceleratedAdapter, batch: Any) -> Any:
    try:
        return adapter.source.features(batch)
    except Exception:  # only for the log line
        return None


def _fingerprint(spec: Any, inner: Any, source: Source, conversion: Conversion) -> str:
    """What a promotion speaks for: the artifact's bytes, the conversion's inputs, the libraries.

    Not the ONNX bytes: skl2onnx orders some nodes differently from one process to the
    next (string hashing), so equal models give equal graphs but not equal bytes.
    """
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "?"
    artifact = spec.sha256 or (getattr(inner, "_extra", None) or {}).get("sha256")
    if not artifact:  # an MLflow folder: the fitted estimator's own state
        import hashlib
        import pickle

        artifact = hashlib.sha256(pickle.dumps(source.model, protocol=4)).hexdigest()
    layout = conversion.layout
    return (f"{artifact}:{'+'.join(source.methods)}:{layout.kind}-{layout.numeric}:sklearn-{v('scikit-learn')}"
            f":skl2onnx-{v('skl2onnx')}:onnxruntime-{v('onnxruntime')}")
