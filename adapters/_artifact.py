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
