"""Read a model artifact once, check its size and its sha256 pin, hand back the bytes.

Every adapter that loads a file goes through ``read_verified``: the file is read
into memory in one pass and the hash is computed over exactly those bytes, so the
object later built from them is the object that was verified. Re-opening the
path after hashing (hash-then-``joblib.load(path)``) would let whoever can write
the file swap it in between (time-of-check/time-of-use).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

from veneer.wrapper.errors import ArtifactError

log = logging.getLogger(__name__)

#: Default size cap: larger legacy pickles exist, but nobody should meet one by surprise.
DEFAULT_MAX_BYTES = 2 * 1024**3

_HEX = frozenset("0123456789abcdef")


def sha256_hex(data: bytes) -> str:
    """Lower-case hex sha256 of ``data`` (the form ``sha256:`` pins are written in)."""
    return hashlib.sha256(data).hexdigest()


def normalize_pin(sha256: str, *, what: str = "artifact") -> str:
    """``sha256`` as 64 lower-case hex digits; accepts a ``sha256:`` prefix and upper case."""
    pin = sha256.strip().lower()
    if pin.startswith("sha256:"):
        pin = pin[len("sha256:"):]
    if len(pin) != 64 or not set(pin) <= _HEX:
        raise ArtifactError(
            f"The sha256 pin of the {what} is not 64 hex digits: {sha256!r}.",
            fix="Write the output of `sha256sum FILE` (or leave sha256 out to skip the check).",
            code="invalid_pin")
    return pin


def read_verified(path: Path, sha256: str | None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                  what: str = "artifact", base: Path | None = None) -> bytes:
    """The bytes of ``path``, read once, size-capped and checked against ``sha256``.

    Raises ``ArtifactError`` with ``code``:

    - ``not_found``: no such file; ``not_a_file``: a directory, FIFO, device...;
    - ``path_escape``: ``base`` is given and the path (after following symlinks)
      lies outside it; a symlink anywhere is logged with its target either way;
    - ``too_large``: more than ``max_bytes`` (checked before reading and while reading,
      so a file that grows under us is still bounded);
    - ``invalid_pin`` / ``hash_mismatch``: the pin is malformed / does not match.

    Build the loaded object from the returned bytes, never by opening ``path`` again.
    """
    path = Path(path)
    pin = normalize_pin(sha256, what=what) if sha256 else None
    real = _resolve(path, what=what, base=base)
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as e:
        raise ArtifactError(f"The {what} {str(path)!r} does not exist.",
                            fix="Check the path (relative paths are resolved against the config file's folder).",
                            code="not_found") from e
    except OSError as e:
        raise ArtifactError(f"The {what} {str(path)!r} cannot be opened: {e.strerror}.",
                            fix="Check the file's permissions for the user veneer runs as.",
                            code="unreadable") from e
    # fstat of the open descriptor: describes the file we read, not whatever the path names now
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ArtifactError(f"The {what} {str(path)!r} is not a regular file.",
                            fix="Point the path at the model file itself.", code="not_a_file")
    if st.st_size > max_bytes:
        os.close(fd)
        raise _too_large(path, st.st_size, max_bytes, what)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(path, len(data), max_bytes, what)
    if pin is not None:
        actual = sha256_hex(data)
        if actual != pin:
            raise ArtifactError(
                f"The {what} {str(path)!r} does not match its sha256 pin: expected {pin}, got {actual}.",
                fix="If the file changed on purpose, update sha256 in the config to the new value; "
                    "otherwise restore the original file.",
                code="hash_mismatch", expected=pin, actual=actual)
    return data


def _resolve(path: Path, *, what: str, base: Path | None) -> Path:
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError as e:
        hint = " (it is a symlink whose target is missing)" if path.is_symlink() else ""
        raise ArtifactError(f"The {what} {str(path)!r} does not exist{hint}.",
                            fix="Check the path (relative paths are resolved against the config file's folder).",
                            code="not_found") from e
    except (OSError, RuntimeError) as e:  # symlink loop, permission denied on a parent
        raise ArtifactError(f"The {what} path {str(path)!r} cannot be resolved: {e}.",
                            fix="Check the path for symlink loops and folder permissions.",
                            code="unreadable") from e
    if real != path.absolute():
        log.info("The %s %s is reached through a symlink; reading %s.", what, path, real)
    if base is not None:
        root = Path(base).resolve()
        if not real.is_relative_to(root):
            raise ArtifactError(
                f"The {what} {str(path)!r} resolves to {str(real)!r}, outside {str(root)!r}.",
                fix="Copy the file into that folder instead of linking to it.", code="path_escape")
    return real


def _too_large(path: Path, size: int, cap: int, what: str) -> ArtifactError:
    return ArtifactError(f"The {what} {str(path)!r} is {size} bytes, over the {cap}-byte limit.",
                         fix="Raise the limit if this file is expected to be this large.",
                         code="too_large", size=size, limit=cap)


# -- format sniffing -----------------------------------------------------------------------------

#: Compressed containers joblib writes (``joblib.dump(..., compress=...)``), by magic bytes.
_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "lzma"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
#: Formats the pickle loader must refuse by name instead of guessing.
_FOREIGN = (
    (b"PK\x03\x04", "a ZIP archive (a PyTorch checkpoint, a .skops file, an .npz or a Keras file)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x93NUMPY", "a NumPy .npy array file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras .h5?)"),
    (b"ZF", "a joblib < 0.10 multi-file dump"),
    (b"\x7fELF", "an executable"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)
#: First opcodes a protocol 0/1 pickler writes for an object: MARK, GLOBAL, EMPTY_LIST, EMPTY_DICT.
_OLD_PICKLE_START = b"(c]}"


def sniff_format(data: bytes, *, what: str = "artifact") -> str:
    """``"pickle"`` or a compressor name (``zlib``, ``gzip``, ``bz2``, ``xz``, ``lzma``, ``lz4``).

    Anything else is refused with ``ArtifactError(code="unsupported_format")`` that names
    what the bytes look like: a loader must never fall back to unpickling unknown bytes.
    """
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return "pickle"
    for magic, name in _COMPRESSED:
        if data.startswith(magic):
            return name
    # joblib's zlib files are a bare zlib stream: CMF 0x78 and a header checksum
    if len(data) >= 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
        return "zlib"
    for magic, name in _FOREIGN:
        if data.startswith(magic):
            raise ArtifactError(f"The {what} is {name}, not a pickle or joblib file.",
                                fix="Use the adapter made for that format, or re-save the model with joblib.dump.",
                                code="unsupported_format")
    if data[:1] and data[:1] in _OLD_PICKLE_START:
        return "pickle"
    if data[:1] == b"\x80":
        raise ArtifactError(f"The {what} uses pickle protocol {data[1] if len(data) > 1 else '?'}, "
                            "which this Python cannot read.",
                            fix="Re-save it with protocol 2 to 5.", code="unsupported_format")
    head = data[:8].hex(" ") or "nothing (empty file)"
    raise ArtifactError(f"The {what} is not a pickle or joblib file (it starts with {head}).",
                        fix="Check the path; ONNX, MLflow and skops models have their own adapters.",
                        code="unsupported_format")


def decompress_capped(data: bytes, method: str, *, max_bytes: int = DEFAULT_MAX_BYTES,
                      what: str = "artifact") -> bytes:
    """Inflate a joblib-compressed artifact in memory, refusing to grow past ``max_bytes``.

    The cap is what stops a small compressed file from inflating to exhaust memory.
    """
    import bz2
    import lzma
    import zlib

    if method in ("zlib", "gzip"):
        d = zlib.decompressobj(wbits=31 if method == "gzip" else 15)
        out = _bounded(d.decompress, data, max_bytes, what)
        done, rest = d.eof, d.unconsumed_tail
    elif method == "bz2":
        d = bz2.BZ2Decompressor()
        out = _bounded(d.decompress, data, max_bytes, what)
        done, rest = d.eof, b""
    elif method in ("xz", "lzma"):
        d = lzma.LZMADecompressor()
        out = _bounded(d.decompress, data, max_bytes, what)
        done, rest = d.eof, b""
    elif method == "lz4":
        try:
            import lz4.frame
        except ImportError as e:
            raise ArtifactError(f"The {what} is lz4-compressed and the lz4 package is not installed.",
                                fix="pip install lz4", code="missing_dependency") from e
        d = lz4.frame.LZ4FrameDecompressor()
        out = _bounded(d.decompress, data, max_bytes, what)
        done, rest = d.eof, b""
    else:
        raise ValueError(f"unknown compression {method!r}")
    if len(out) > max_bytes or rest:
        raise _too_large_inflated(what, method, max_bytes)
    if not done:
        raise ArtifactError(f"The {what} is a truncated {method} stream.",
                            fix="Copy the file again; it was cut short.", code="corrupt")
    return out


def _bounded(decompress, data: bytes, cap: int, what: str) -> bytes:
    import zlib

    try:
        return decompress(data, max_length=cap + 1)
    except (OSError, EOFError, ValueError, RuntimeError, zlib.error) as e:  # each library its own type
        raise ArtifactError(f"The {what} cannot be decompressed: {e}.",
                            fix="Copy the file again; it is damaged.", code="corrupt") from e


def _too_large_inflated(what: str, method: str, cap: int) -> ArtifactError:
    return ArtifactError(f"The {what} inflates past the {cap}-byte limit ({method}).",
                         fix="Raise the limit if this model really is that large.", code="too_large")
