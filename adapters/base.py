"""The small interface every adapter implements, and the metadata it reports.

An adapter is built from one version's settings (``VersionSpec``), loads the
legacy artifact once in ``load()``, answers ``predict(batch)`` many times, and
describes itself in ``metadata()``. Legacy objects never inherit from anything:
the adapter wraps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from veneer.wrapper.batch import Batch


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output: OIP datatype (``FP32``, ``BYTES``...) and shape (-1 = any)."""

    name: str
    datatype: str
    shape: tuple[int, ...] = (-1,)

    def to_dict(self) -> dict[str, Any]:
        """The OIP metadata form ``{"name", "datatype", "shape"}``."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass
class AdapterMetadata:
    """What an adapter knows about its model once loaded."""

    platform: str
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    #: library versions, saved-with versions, engine, warnings... (never paths or secrets)
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Adapter(Protocol):
    """Load one legacy artifact and call it.

    ``fork_safe`` says whether ``load()`` may run in the gunicorn master before
    workers fork (pickles: yes, memory is shared copy-on-write; ONNX Runtime
    sessions: no, they are created in each worker after fork).
    """

    fork_safe: ClassVar[bool]

    def load(self) -> None:
        """Load the artifact; raise ``ArtifactError`` with a reason code on failure."""

    def predict(self, batch: Batch) -> Any:
        """Predict one batch; return anything ``normalize_outputs`` understands."""

    def metadata(self) -> AdapterMetadata:
        """Describe inputs, outputs and the library versions involved."""


class BaseAdapter:
    """Optional convenience base: stores the spec and gives a no-op ``unload``."""

    fork_safe: ClassVar[bool] = True
    #: JSON Schema of this adapter's ``options:`` mapping in a version's config.
    options_schema: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False}

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.options: dict[str, Any] = dict(getattr(spec, "options", None) or {})

    def unload(self) -> None:
        """Release what ``load`` acquired (sessions, connections)."""
