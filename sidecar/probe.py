"""Sample input for a version: its ``probe:`` CSV, or one row built from its metadata."""

from __future__ import annotations

import numpy as np

from veneer.wrapper.batch import Batch

_ZERO = {"BYTES": "", "BOOL": False}


def probe_batch(lv) -> Batch:
    """A small batch the version should accept."""
    if lv.spec.probe is not None:
        import pandas as pd

        return Batch.from_frame(pd.read_csv(lv.spec.probe))
    meta = lv.metadata
    if meta is None or not meta.inputs:
        return Batch(columns=["x"], rows=[[0.0]])
    if len(meta.inputs) == 1 and len(meta.inputs[0].shape) == 2 and meta.inputs[0].shape[1] > 0:
        spec = meta.inputs[0]
        dtype = np.float32 if spec.datatype == "FP32" else np.float64
        return Batch(tensors={spec.name: np.zeros((1, spec.shape[1]), dtype=dtype)})
    row = [_ZERO.get(t.datatype, 0.0 if t.datatype.startswith("FP") else 0) for t in meta.inputs]
    return Batch(columns=[t.name for t in meta.inputs], rows=[row])
