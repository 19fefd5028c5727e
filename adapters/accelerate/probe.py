"""The ``probe:`` file: verify the conversion on known rows, and measure the speed-up on them."""

from __future__ import annotations

import logging
import time
from typing import Any

from .shadow import compare

log = logging.getLogger("veneer.accelerate")


def check_probe(adapter: Any, proc: Any) -> None:
    """Compare both engines on every probe row: promote when all agree, demote otherwise."""
    from .runner import NotFeedable

    try:
        batch = adapter._probe_batch()
        sk = adapter.source.split(adapter.inner.predict(batch))
        X = adapter.source.features(batch)
        ox = proc.runner.run(proc.runner.feeds_from_features(X))
    except NotFeedable as e:
        log.warning("probe file of %s v%s cannot go through ONNX unchanged (%s); promotion waits for "
                    "agreeing requests", adapter.spec.qualified_name, adapter.spec.version, e)
        return
    except Exception as e:  # a bad probe file must not stop serving: shadow comparison still runs
        log.warning("probe file of %s v%s could not be checked: %s: %s", adapter.spec.qualified_name,
                    adapter.spec.version, type(e).__name__, e)
        return
    proc.shadow.probe_result(batch.n_rows, compare(sk, ox, adapter.tolerance), X)
    measure(adapter, proc, batch)


def measure(adapter: Any, proc: Any, batch: Any = None, repeat: int = 3) -> None:
    """Best-of-``repeat`` time of each engine on the probe rows and on its first row alone."""
    from veneer.wrapper.batch import Batch

    try:
        batch = batch if batch is not None else adapter._probe_batch()
        one = Batch.from_frame(batch.frame().head(1))
        out = {"rows": batch.n_rows}
        for label, b in (("all_rows", batch), ("one_row", one)):
            sk = _best(lambda: adapter.inner.predict(b), repeat)
            ox = _best(lambda: proc.runner.run(proc.runner.feeds_from_features(adapter.source.features(b))),
                       repeat)
            out[label] = {"sklearn_ms": round(sk * 1e3, 3), "onnx_ms": round(ox * 1e3, 3),
                          "speedup": round(sk / ox, 1) if ox else None}
        adapter.speedup = out
    except Exception as e:  # measuring is informative only
        log.warning("could not measure the ONNX speed-up of %s v%s: %s", adapter.spec.qualified_name,
                    adapter.spec.version, e)


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
