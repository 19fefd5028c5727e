"""Latency veneer adds in front of a legacy HTTP scoring service (target: <= 1 ms at p50).

The example legacy service (``examples/legacy_models/scoring_service/service.py``) and
veneer both run pinned to core 0; wrk runs pinned to core 1 and drives, with the same
connections, duration and rows, first the service directly (its own ``{"records": ...}``
format) and then veneer's native route in front of it (``http`` adapter). The difference
of the percentiles is what veneer adds: parsing, routing, translation, the upstream call
through a pooled keep-alive session, and encoding.

    python bench/http_overhead.py                       # 1 and 8 connections, 1 and 100 rows
    python bench/http_overhead.py --seconds 5 --connections 1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from bench.run import process  # noqa: E402
from bench.wrk import Result, run_wrk  # noqa: E402
from tests.helpers.server import free_port  # noqa: E402

SERVICE = REPO / "examples" / "legacy_models" / "scoring_service" / "service.py"
COLUMNS = ("tenure", "monthly_charges", "support_calls")


def records(n: int) -> list[dict]:
    """``n`` distinct customers."""
    return [dict(zip(COLUMNS, (i % 72, 20.0 + (i * 7.3) % 100, i % 6))) for i in range(n)]


def veneer_config(tmp: Path, service_url: str, threads: int) -> Path:
    """One model, one http version in front of the service; no auth, registry or access log."""
    text = f"""prefix: bench
auth: none
registry: {{enabled: false}}
server: {{access_log: false}}
models:
  churn:
    versions:
      - version: "1"
        adapter: http
        url: {service_url}/score
        idempotent: true
        options:
          request: {{format: json, body: records}}
          response: {{format: json, path: "result.scores[*]"}}
          inputs: [tenure, monthly_charges, support_calls]
          pool: {{maxsize: {max(threads, 4)}}}
  inproc:
    versions:
      - version: "1"
        adapter: python
        options: {{callable: "service:predict", search_path: {SERVICE.parent}}}
"""
    path = tmp / "veneer.yaml"
    path.write_text(text)
    return path


def _warm(url: str, body: bytes) -> None:
    import requests

    for _ in range(50):
        r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        r.raise_for_status()


def _median(results: list[Result]) -> Result:
    """Median of each figure over interleaved rounds (robust to a noisy neighbour on the machine)."""
    import statistics

    return Result(rps=statistics.median(r.rps for r in results),
                  p50_ms=statistics.median(r.p50_ms for r in results),
                  p99_ms=statistics.median(r.p99_ms for r in results), errors=sum(r.errors for r in results))


def measure_overhead(*, seconds: int = 8, connections: tuple[int, ...] = (1, 8), rows: tuple[int, ...] = (1, 100),
                     workers: int = 1, threads: int = 2, rounds: int = 1,
                     pin_servers: bool = True) -> dict[str, dict[str, Result]]:
    """``{"<rows> rows, <c> conn": {"direct": Result, "veneer": Result, "inproc": Result}}``, one run.

    ``inproc`` is veneer calling the same scoring code in process (python adapter): veneer's
    own floor, so ``veneer - inproc`` is what the http adapter's hop costs.

    With ``rounds`` > 1, direct and veneer runs alternate and each figure is the median.
    ``pin_servers`` puts the service and veneer on core 0 (wrk is always on core 1).
    """
    out: dict[str, dict[str, Result]] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sport, vport = free_port(), free_port()
        service = f"http://127.0.0.1:{sport}"
        with process([sys.executable, str(SERVICE), "--port", str(sport)], {}, f"{service}/healthz", pin_servers):
            config = veneer_config(tmp, service, threads)
            cmd = [sys.executable, "-m", "veneer.sidecar.cli", "serve", str(config), "--port", str(vport),
                   "--workers", str(workers), "--threads", str(threads)]
            with process(cmd, {}, f"http://127.0.0.1:{vport}/v2/health/ready", pin_servers):
                veneer = f"http://127.0.0.1:{vport}/models/bench/churn/"
                inproc = f"http://127.0.0.1:{vport}/models/bench/inproc/"
                for n in rows:
                    recs = records(n)
                    direct_body = json.dumps({"records": recs}).encode()
                    veneer_body = json.dumps(recs).encode()
                    _warm(f"{service}/score", direct_body)
                    _warm(veneer, veneer_body)
                    _warm(inproc, veneer_body)
                    for c in connections:
                        hdr = {"Content-Type": "application/json"}
                        runs: dict[str, list[Result]] = {"direct": [], "veneer": [], "inproc": []}
                        for _ in range(rounds):
                            runs["direct"].append(run_wrk(f"{service}/score", direct_body, hdr, seconds=seconds,
                                                          connections=c))
                            runs["veneer"].append(run_wrk(veneer, veneer_body, hdr, seconds=seconds, connections=c))
                            runs["inproc"].append(run_wrk(inproc, veneer_body, hdr, seconds=seconds, connections=c))
                        out[f"{n} rows, {c} conn"] = {k: _median(v) for k, v in runs.items()}
    return out


def report(results: dict[str, dict[str, Result]]) -> bool:
    """Print the table; True when every 1-connection p50 overhead is within 1 ms."""
    ok = True
    print(f"{'load':18} {'direct p50':>11} {'veneer p50':>11} {'added p50':>10} {'direct p99':>11} "
          f"{'veneer p99':>11} {'added p99':>10} {'in-proc p50':>12} {'hop p50':>9} {'errors':>7}")
    for label, r in results.items():
        d, v, i = r["direct"], r["veneer"], r["inproc"]
        added50, added99 = v.p50_ms - d.p50_ms, v.p99_ms - d.p99_ms
        print(f"{label:18} {d.p50_ms:9.3f}ms {v.p50_ms:9.3f}ms {added50:8.3f}ms {d.p99_ms:9.3f}ms "
              f"{v.p99_ms:9.3f}ms {added99:8.3f}ms {i.p50_ms:10.3f}ms {v.p50_ms - i.p50_ms:7.3f}ms "
              f"{d.errors + v.errors + i.errors:7d}")
        if label.endswith(" 1 conn") and added50 > 1.0:
            ok = False
    print("in-proc: veneer running the same scoring in process (its own floor); hop: veneer - in-proc")
    print("target (<= 1 ms added at p50, one connection):", "met" if ok else "NOT met")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per run")
    parser.add_argument("--connections", default="1,8", help="comma-separated wrk connection counts")
    parser.add_argument("--rows", default="1,100", help="comma-separated rows per request")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="alternate direct/veneer runs; report medians")
    parser.add_argument("--no-pin-servers", dest="pin_servers", action="store_false",
                        help="let the scheduler place the service and veneer (wrk stays on core 1)")
    args = parser.parse_args()
    results = measure_overhead(seconds=args.seconds, workers=args.workers, threads=args.threads, rounds=args.rounds,
                               pin_servers=args.pin_servers,
                               connections=tuple(int(c) for c in args.connections.split(",")),
                               rows=tuple(int(n) for n in args.rows.split(",")))
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
