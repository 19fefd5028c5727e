"""The canonical batch every protocol decodes into and every adapter reads.

A request arrives as rows with column names (MLflow, native, KServe V1, CSV) or
as named tensors (Open Inference Protocol). ``Batch`` keeps whichever form it was
given and converts lazily, so an ONNX model fed by OIP tensors never pays for a
DataFrame and a scikit-learn pipeline fed by records never pays for tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from .errors import InvalidInput

if TYPE_CHECKING:  # pandas is imported on first use only
    import pandas as pd


@dataclass
class Batch:
    """Rows (``columns`` + ``rows``) or named ``tensors``; ``params`` are per-request options."""

    columns: list[str] | None = None
    rows: Any = None  # list of row lists, or a 2-D ndarray
    tensors: dict[str, np.ndarray] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: request facts adapters may need: request_id, principal (verified claims), headers
    context: dict[str, Any] = field(default_factory=dict)
    _frame: Any = field(default=None, repr=False)

    @classmethod
    def from_frame(cls, frame: "pd.DataFrame", params: dict | None = None) -> "Batch":
        """Wrap an existing DataFrame (the decorator's and model.py's native input)."""
        return cls(columns=[str(c) for c in frame.columns], params=params or {}, _frame=frame)

    @property
    def n_rows(self) -> int:
        """Number of rows (first dimension of the first tensor for tensor batches)."""
        if self._frame is not None:
            return len(self._frame)
        if self.rows is not None:
            return len(self.rows)
        if self.tensors:
            first = next(iter(self.tensors.values()))
            return int(first.shape[0]) if first.ndim else 1
        return 0

    def frame(self) -> "pd.DataFrame":
        """The batch as a pandas DataFrame (built once, then cached)."""
        if self._frame is None:
            import pandas as pd

            if self.rows is not None:
                self._frame = pd.DataFrame(self.rows, columns=_column_index(self.columns))
            elif self.tensors is not None:
                self._frame = _tensors_to_frame(self.tensors)
            else:
                self._frame = pd.DataFrame()
        return self._frame

    def array(self, dtype: Any = None) -> np.ndarray:
        """The batch as one 2-D array (single-tensor batches keep their own shape)."""
        if self.tensors is not None and len(self.tensors) == 1:
            arr = next(iter(self.tensors.values()))
        elif self.rows is not None:
            try:
                arr = np.asarray(self.rows, dtype=dtype)
            except (ValueError, TypeError) as e:
                raise InvalidInput(f"Rows cannot be read as a {dtype or 'numeric'} matrix: {e}.",
                                   fix="Send rows of equal length with one value per column.") from e
        else:
            arr = self.frame().to_numpy()
        return arr if dtype is None or arr.dtype == dtype else _cast(arr, dtype)

    def named_tensors(self) -> dict[str, np.ndarray]:
        """The batch as named arrays: OIP tensors as given, rows as one column array each."""
        if self.tensors is not None:
            return self.tensors
        frame = self.frame()
        return {str(c): frame[c].to_numpy() for c in frame.columns}


def _cast(arr: np.ndarray, dtype: Any) -> np.ndarray:
    try:
        return arr.astype(dtype)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"Values cannot be converted to {np.dtype(dtype).name}: {e}.") from e


def _tensors_to_frame(tensors: Mapping[str, np.ndarray]) -> "pd.DataFrame":
    import pandas as pd

    if len(tensors) == 1:
        (name, arr), = tensors.items()
        if arr.ndim == 2:
            return pd.DataFrame(arr)
        if arr.ndim == 1:
            return pd.DataFrame({name: arr})
        raise InvalidInput(f"Input {name!r} has {arr.ndim} dimensions; this model takes a table.",
                           fix="Send a 2-D tensor [rows, columns] or one 1-D tensor per column.")
    lengths = {k: (v.shape[0] if v.ndim else 1) for k, v in tensors.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInput(f"Inputs have different row counts: {lengths}.",
                           fix="Send one value per row in every input.")
    cols = {}
    for k, v in tensors.items():
        if v.ndim > 2 or (v.ndim == 2 and v.shape[1] != 1):
            raise InvalidInput(f"Input {k!r} has shape {list(v.shape)}; a table column must be [rows] or [rows, 1].")
        cols[k] = v.reshape(-1)
    return pd.DataFrame(cols)


def normalize_outputs(result: Any) -> dict[str, np.ndarray]:
    """Turn whatever a legacy predict returned into ordered named arrays.

    ndarray/list → ``{"predictions": ...}``; DataFrame → one array per column;
    dict → one array per key; a scalar → one-element array.
    """
    if isinstance(result, dict):
        return {str(k): _as_array(v) for k, v in result.items()}
    if hasattr(result, "columns") and hasattr(result, "to_numpy"):  # DataFrame
        return {str(c): result[c].to_numpy() for c in result.columns}
    if hasattr(result, "to_numpy"):  # Series
        return {str(getattr(result, "name", None) or "predictions"): result.to_numpy()}
    return {"predictions": _as_array(result)}


def _column_index(columns: list[str] | None) -> Any:
    """The columns as a pandas Index; string names reuse one Index per distinct column list.

    pandas 3 builds a column Index as an Arrow string array: ~40 µs per request, a
    quarter of a one-row DataFrame. Each frame gets a view (~1 µs), so a legacy
    predict that renames ``df.columns.name`` never touches the cached one.
    """
    if not columns or len(columns) > 256 or not all(type(c) is str for c in columns):
        return columns  # wide tables: not worth a cache slot that clients could fill
    return _cached_index(tuple(columns)).view()


@lru_cache(maxsize=512)
def _cached_index(columns: tuple[str, ...]) -> Any:
    import pandas as pd

    return pd.Index(columns)


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "to_numpy"):
        return value.to_numpy()
    arr = np.asarray(value)
    return arr.reshape(1) if arr.ndim == 0 else arr
