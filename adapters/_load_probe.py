"""Trial-load a pickle in a child process under a memory limit before loading it for real.

The allowlist stops code execution, not a pickle that asks an allowed class for far
more memory than the file holds (``pandas.DataFrame(0.0, index=range(10**5),
columns=range(10**4))`` fills 8 GB from a few hundred bytes). Trying the load in a
child with ``RLIMIT_AS`` turns that into a clean ``too_large`` refusal instead of the
server's master being killed by the OOM killer. The child gets the verified bytes on
stdin (never the path, so it loads exactly what was hashed) and the same allowlist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Iterable

from veneer.wrapper.errors import ArtifactError


def probe(data: bytes, *, allow_modules: Iterable[str], memory_bytes: int, timeout: float,
          what: str = "pickle") -> None:
    """Raise ``ArtifactError`` if loading ``data`` needs more than ``memory_bytes`` or ``timeout`` s."""
    cmd = [sys.executable, "-m", "veneer.adapters._load_probe", str(int(memory_bytes)), *allow_modules]
    try:
        done = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout, env=os.environ.copy())
    except subprocess.TimeoutExpired as e:
        raise ArtifactError(f"Loading the {what} took longer than {timeout:g} s in the trial load.",
                            fix="Raise options.load_timeout_s if the model is legitimately slow to load.",
                            code="timeout") from e
    try:
        verdict = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):  # killed before it could answer: out of memory, or a signal
        verdict = {"code": "too_large", "message": f"the trial load died (exit {done.returncode})"}
    if verdict.get("ok"):
        return
    code = verdict.get("code", "load_failed")
    fix = ("Raise options.load_memory_mb if the model is legitimately this large."
           if code == "too_large" else verdict.get("fix"))
    raise ArtifactError(f"The trial load of the {what} failed: {verdict.get('message')}", fix=fix, code=code)


def _used_address_space() -> int:
    with open("/proc/self/statm") as f:  # first field: total program size, in pages
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def main(argv: list[str]) -> int:
    """Child side: import the libraries, cap the address space, load stdin, report JSON."""
    import resource

    from veneer.adapters._safe_unpickle import safe_loads

    for heavy in ("numpy", "scipy", "pandas", "sklearn"):  # their import is not the model's cost
        try:
            __import__(heavy)
        except ImportError:
            pass
    data = sys.stdin.buffer.read()
    budget = int(argv[0])
    limit = _used_address_space() + budget
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        safe_loads(data, allow_modules=argv[1:])
    except ArtifactError as e:
        print(json.dumps({"code": e.code, "message": e.message, "fix": e.fix}))
        return 1
    except MemoryError:
        print(json.dumps({"code": "too_large", "message": f"it needs more than {budget} bytes of memory"}))
        return 1
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
