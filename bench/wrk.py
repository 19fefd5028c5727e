"""Drive a URL with wrk on a core of its own and parse requests/s and latency percentiles."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class Result:
    """Throughput and latency of one wrk run."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    #: server CPU time (all its processes) per request: steadier than req/s on a shared VM
    cpu_ms: float = float("nan")

    def row(self) -> str:
        return (f"{self.rps:10.0f} req/s   p50 {self.p50_ms:7.2f} ms   p99 {self.p99_ms:7.2f} ms   "
                f"server CPU {self.cpu_ms:6.3f} ms/req")


def lua_script(body: bytes, headers: dict[str, str]) -> str:
    """A wrk script that POSTs ``body`` with ``headers`` and counts non-2xx answers as errors."""
    escaped = body.decode().replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    lines = ['wrk.method = "POST"', f'wrk.body = "{escaped}"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def run_wrk(url: str, body: bytes, headers: dict[str, str], *, seconds: int = 8, connections: int = 8,
            core: int | None = 1) -> Result:
    """Run wrk against ``url``; pinned to ``core`` with taskset when available."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: run `make bench` (it installs wrk) or apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua_script(body, headers))
        script = f.name
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url]
    if core is not None and shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1:
        cmd = ["taskset", "-c", str(core)] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    os.unlink(script)
    return parse(out)


def parse(out: str) -> Result:
    """Parse wrk's --latency output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
           for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errors = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    total = re.search(r"(\d+) requests in", out)
    return Result(rps=rps, p50_ms=pct.get("50", float("nan")), p99_ms=pct.get("99", float("nan")), errors=errors,
                  requests=int(total.group(1)) if total else 0)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and all its descendants (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            with open(f"/proc/{current}/task/{current}/children") as f:
                stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total
