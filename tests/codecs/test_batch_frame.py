"""``Batch.frame()``: the DataFrame a pandas-fed model receives, built from decoded rows."""

from __future__ import annotations

import pandas as pd

from veneer.wrapper.batch import Batch
from veneer.wrapper.codecs.jsonfast import records

ROWS = [[24, 89.82, "Month-to-month", None], [3, 20.0, "Two year", True]]
COLUMNS = ["tenure", "charges", "contract", "flag"]


def test_frame_matches_what_pandas_builds_from_records() -> None:
    frame = Batch(columns=list(COLUMNS), rows=[list(r) for r in ROWS]).frame()
    expected = pd.DataFrame(records(COLUMNS, ROWS))
    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame.columns) == COLUMNS


def test_frames_share_no_mutable_column_index() -> None:
    first = Batch(columns=list(COLUMNS), rows=[list(ROWS[0])]).frame()
    first.columns.name = "renamed by a legacy predict"
    second = Batch(columns=list(COLUMNS), rows=[list(ROWS[1])]).frame()
    assert second.columns.name is None and list(second.columns) == COLUMNS


def test_unnamed_and_numeric_column_labels_are_kept_as_given() -> None:
    assert list(Batch(columns=None, rows=[[1, 2]]).frame().columns) == [0, 1]
    assert list(Batch(columns=[0, 1], rows=[[1, 2]]).frame().columns) == [0, 1]
