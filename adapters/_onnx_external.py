"""Confine an ONNX model's external data to the model's folder, then embed it.

Large ONNX models keep tensors in side files named by ``external_data.location``.
onnxruntime used to follow any location (CVE-2024-27318): ``../../etc/passwd``, an
absolute path, a symlink or a hardlink to a file elsewhere. Here every location must
be a relative path to a regular, singly-linked file inside the model's folder; the
bytes are read by us (``read_verified`` with ``base=``) and copied into the model, so
the session is created from memory and never opens a path itself.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterator

from veneer.adapters._artifact import read_verified
from veneer.wrapper.errors import ArtifactError


def _iter_tensors(graph: Any) -> Iterator[Any]:
    """Every TensorProto of a graph, its sparse initializers and nested subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(graph.node)


def _node_tensors(nodes: Any) -> Iterator[Any]:
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices
            if attr.HasField("g"):
                yield from _iter_tensors(attr.g)
            for sub in attr.graphs:
                yield from _iter_tensors(sub)


def embed_external_data(model: Any, folder: Path) -> bool:
    """Check every external-data reference and copy its bytes into the model; True if any."""
    from onnx import TensorProto

    tensors = [*_iter_tensors(model.graph)]
    for function in model.functions:
        tensors.extend(_node_tensors(function.node))
    root = folder.resolve()
    files: dict[Path, bytes] = {}
    found = False
    for tensor in tensors:
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        found = True
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        real = _safe_location(location, root, tensor.name)
        if real not in files:
            files[real] = read_verified(real, None, base=root, what="ONNX external data")
        blob = files[real]
        offset, length = int(info.get("offset") or 0), info.get("length")
        end = len(blob) if length is None else offset + int(length)
        if offset < 0 or end > len(blob) or end < offset:
            raise ArtifactError(
                f"External data of tensor {tensor.name!r} asks for bytes {offset}..{end} of "
                f"{location!r}, which has {len(blob)} bytes.",
                fix="Re-export the model with its external data file.", code="corrupt_model")
        tensor.raw_data = blob[offset:end]
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT
    return found


def _safe_location(location: str, root: Path, tensor: str) -> Path:
    """The real path of an external-data ``location``, refusing anything outside ``root``."""
    refuse = None
    if not location:
        refuse = "has no location"
    elif PurePosixPath(location).is_absolute() or PureWindowsPath(location).is_absolute() \
            or location.startswith(("/", "\\")) or PureWindowsPath(location).drive:
        refuse = "is an absolute path"
    elif ".." in re.split(r"[\\/]", location):
        refuse = "climbs out of the model's folder with '..'"
    if refuse is None:
        try:
            real = (root / location).resolve(strict=True)
        except (OSError, RuntimeError) as e:
            raise ArtifactError(f"External data {location!r} of tensor {tensor!r} cannot be found next to "
                                f"the model ({e.__class__.__name__}).",
                                fix="Ship the external data file in the model's folder.", code="not_found") from e
        st = os.stat(real)
        if not real.is_relative_to(root):
            refuse = "is a symlink to a file outside the model's folder"
        elif not stat.S_ISREG(st.st_mode):
            refuse = "is not a regular file"
        elif st.st_nlink > 1:
            refuse = f"is a file with {st.st_nlink} hard links (a hardlink can expose any file)"
        else:
            return real
    raise ArtifactError(
        f"Refusing the ONNX model: the external data location {location!r} of tensor {tensor!r} {refuse}.",
        fix="External data must be regular files inside the model's folder, named by a relative path "
            "(re-export with onnx.save_model(..., save_as_external_data=True, location='weights.bin')).",
        code="external_data_escape")
