"""Compare ONNX with scikit-learn, and the promotion state machine built on it.

``shadow`` -> ``promoted`` after ``promote_after_rows`` agreeing rows (counted over
all workers) or an agreeing probe file; any disagreement, in shadow or in a
post-promotion audit, -> ``demoted``, which is final for that artifact and
conversion. Counts reach the shared file (``state.py``) from a background thread
every ``refresh_seconds``; promotion and demotion are written at once.

Agreement: labels exactly; numbers (probabilities, regression outputs) within
``tolerance`` relative to ``max(|scikit-learn value|, 1)``: a probability of 0.003 may
move by 1e-6, not by 1e-6 x 0.003 (ONNX computes trees in float32; their
probabilities differ from scikit-learn's float64 in the 7th digit).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import metrics
from .state import DEMOTED, PROMOTED, SHADOW, SharedState

log = logging.getLogger("veneer.accelerate")


@dataclass
class Difference:
    """The first row where the engines differ (values only, for the log and the report)."""

    row: int
    output: str
    sklearn: Any
    onnx: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"row": self.row, "output": self.output, "sklearn": _plain(self.sklearn),
                "onnx": _plain(self.onnx)}


def compare(sk: dict[str, np.ndarray], ox: dict[str, np.ndarray], tolerance: float) -> Difference | None:
    """The first difference between two answers (method -> array), or None when they agree."""
    for method, a in sk.items():
        a = np.asarray(a)
        b = np.asarray(ox.get(method))
        if a.shape != b.shape:
            return Difference(0, method, f"shape {list(a.shape)}", f"shape {list(b.shape)}")
        if method == "predict" and (a.dtype.kind not in "f" or b.dtype.kind not in "f"):
            same = a == b if a.dtype.kind == b.dtype.kind else a.astype(str) == b.astype(str)
        else:
            af, bf = a.astype(np.float64), b.astype(np.float64)
            close = np.abs(af - bf) <= tolerance * np.maximum(np.abs(af), 1.0)
            same = close | (np.isnan(af) & np.isnan(bf))
        same = np.asarray(same)
        if not same.all():
            bad = np.argwhere(~same)[0]
            row = int(bad[0]) if bad.size else 0
            return Difference(row, method, a[row] if a.ndim else a, b[row] if b.ndim else b)
    return None


class Shadow:
    """Promotion state of one version as this process sees it, synchronised through ``SharedState``."""

    def __init__(self, shared: SharedState, *, promote_after_rows: int, model: str, version: str) -> None:
        self.shared = shared
        self.promote_after = int(promote_after_rows)
        self.model, self.version = model, version
        self.record = shared.read()
        self._pending_agreed = 0
        self._pending_compared = 0
        self._lock = threading.Lock()
        self._logged_difference = False
        metrics.promoted(model, version, self.state == PROMOTED)

    @property
    def state(self) -> str:
        """``shadow``, ``promoted`` or ``demoted``."""
        return self.record["state"]

    def summary(self) -> dict[str, Any]:
        """State and counts for reports (this process's unflushed rows included)."""
        r = self.record
        return {"state": r["state"], "rows_agreed": r["rows_agreed"] + self._pending_agreed,
                "rows_compared": r["rows_compared"] + self._pending_compared,
                "promote_after_rows": self.promote_after, "disagreements": r["disagreements"],
                "reason": r["reason"], "first_difference": r["first_difference"],
                "probe_checked": r["probe_checked"]}

    # -- events ----------------------------------------------------------------------------
    def agreed(self, rows: int) -> None:
        """``rows`` more rows agreed; promote when the total across workers reaches the threshold."""
        metrics.rows_compared(self.model, self.version, rows)
        with self._lock:
            self._pending_agreed += rows
            self._pending_compared += rows
            due = self.state == SHADOW and self.record["rows_agreed"] + self._pending_agreed >= self.promote_after
        if due:
            self.flush(promote_reason=f"{self.promote_after} rows agreed")

    def disagreed(self, rows: int, diff: Difference, inputs: Any = None, *, when: str = "shadow") -> None:
        """Demote now (persisted for every worker); log the first differing row once."""
        metrics.rows_compared(self.model, self.version, rows)
        metrics.disagreement(self.model, self.version)
        if not self._logged_difference:
            self._logged_difference = True
            log.warning("ONNX acceleration of %s v%s demoted (%s): row %d differs in %s: scikit-learn %r, "
                        "ONNX %r; input row %s", self.model, self.version, when, diff.row, diff.output,
                        _plain(diff.sklearn), _plain(diff.onnx), _row_values(inputs, diff.row))
        reason = f"disagreement in {when}: {diff.output} of row {diff.row} differs"

        def change(r: dict[str, Any]) -> None:
            r["state"] = DEMOTED
            r["disagreements"] += 1
            r["rows_compared"] += rows
            if r["first_difference"] is None:
                r["first_difference"] = diff.to_dict()
                r["reason"] = reason
        self._apply(change)

    def failed(self, reason: str) -> None:
        """ONNX could not run at all on rows scikit-learn answered: demote with the reason."""
        def change(r: dict[str, Any]) -> None:
            if r["state"] != DEMOTED or not r["reason"]:
                r["reason"] = reason
            r["state"] = DEMOTED
        self._apply(change)

    def probe_result(self, rows: int, diff: Difference | None, inputs: Any) -> None:
        """The probe file's verdict: promote when every row agrees, demote otherwise."""
        if diff is not None:
            self.disagreed(rows, diff, inputs, when="probe")
            return
        metrics.rows_compared(self.model, self.version, rows)

        def change(r: dict[str, Any]) -> None:
            r["probe_checked"] = True
            r["rows_compared"] += rows
            r["rows_agreed"] += rows
            if r["state"] == SHADOW:
                r["state"], r["reason"] = PROMOTED, f"probe file: {rows} rows agreed"
        self._apply(change)

    def flush(self, promote_reason: str | None = None) -> None:
        """Send this process's counts to the shared record and read the others' decisions."""
        with self._lock:
            agreed, compared = self._pending_agreed, self._pending_compared
            self._pending_agreed = self._pending_compared = 0
        threshold = self.promote_after

        def change(r: dict[str, Any]) -> None:
            r["rows_agreed"] += agreed
            r["rows_compared"] += compared
            if r["state"] == SHADOW and r["rows_agreed"] >= threshold:
                r["state"], r["reason"] = PROMOTED, promote_reason or f"{threshold} rows agreed"
        if agreed or compared or promote_reason:
            self._apply(change)
        else:
            self._set(self.shared.read())

    def _apply(self, change) -> None:
        self._set(self.shared.update(change))

    def _set(self, record: dict[str, Any]) -> None:
        before = self.record["state"]
        if before == DEMOTED and record["state"] != DEMOTED:
            return  # demotion is final in this process even if the file was removed
        self.record = record
        if record["state"] != before:
            log.warning("ONNX acceleration of %s v%s: %s -> %s (%s)", self.model, self.version, before,
                        record["state"], record.get("reason"))
            metrics.promoted(self.model, self.version, record["state"] == PROMOTED)


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _row_values(inputs: Any, row: int) -> Any:
    try:
        if hasattr(inputs, "iloc"):
            return {str(k): _plain(v) for k, v in inputs.iloc[row].items()}
        if isinstance(inputs, np.ndarray):
            return _plain(inputs[row])
    except Exception:  # only for a log line: never fail the request over it
        return "(unavailable)"
    return "(unavailable)"
