"""Veneer against a hand-written Flask + gunicorn app, same settings, same machine, same run.

Each scenario starts its server pinned to core 0 and drives it with wrk pinned to
core 1, for a 1-row and a 100-row request, and prints requests/s, p50 and p99,
and the ratio against the baseline measured in this run (never a stored number).

    python bench/run.py                      # every scenario
    python bench/run.py --only baseline,veneer --seconds 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from bench.wrk import Result, run_wrk, tree_cpu_seconds  # noqa: E402
from tests.helpers.server import free_port  # noqa: E402

BUILD = REPO / "examples" / "legacy_models" / "build"
SECRET = "bench-secret-" + "x" * 40


def payloads(csv_name: str) -> dict[str, bytes]:
    """1-row and 100-row record payloads from an example sample CSV."""
    import pandas as pd

    df = pd.read_csv(BUILD / csv_name)
    big = pd.concat([df] * (100 // len(df) + 1)).head(100)
    return {"1 row": json.dumps(df.head(1).to_dict(orient="records")).encode(),
            "100 rows": json.dumps(big.to_dict(orient="records")).encode()}


@contextmanager
def process(cmd: list[str], env: dict, ready_url: str, pin: bool = True):
    """Start a server (on core 0 when ``pin``), wait until ``ready_url`` answers, stop it by PID afterwards."""
    if pin and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", "0"] + cmd
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise SystemExit(f"server exited: {log.read().decode(errors='replace')[-3000:]}")
            try:
                if requests.get(ready_url, timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"server did not become ready: {cmd}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def veneer_config(tmp: Path, *, auth: str = "none", metrics: bool = True, versions: int = 1,
                  model: str = "churn_2017.joblib", accelerate: bool = False) -> Path:
    """A config serving one example pickle (optionally two weighted versions, auth, acceleration)."""
    lines = ["prefix: bench"]
    if auth == "hs256":
        lines += ["auth: {issuer: bench, audience: veneer, secret_env: BENCH_SECRET}"]
    elif auth == "rs256":
        lines += [f"auth: {{issuer: bench, audience: veneer, public_key_file: {tmp / 'public.pem'}, "
                  "algorithms: [RS256]}"]
    else:
        lines += ["auth: none"]
    # registration is background work measured elsewhere (it would share the pinned core at start)
    lines += [f"server: {{metrics: {str(metrics).lower()}, access_log: false}}", "registry: {enabled: false}",
              "models:", "  m:", "    versions:"]
    extra = ", accelerate: onnx" if accelerate else ""
    weights = [90, 10] if versions == 2 else [100]
    for i, w in enumerate(weights, start=1):
        stage = "production" if i == 1 else "staging"
        lines.append(f"      - {{version: '{i}', adapter: pickle, path: {BUILD / model}, stage: {stage}, "
                     f"weight: {w}{extra}}}")
    path = tmp / "veneer.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def mint(tmp: Path, auth: str) -> dict[str, str]:
    """The Authorization header for a scenario (PyJWT directly, claims as veneer expects)."""
    if auth == "none":
        return {}
    import jwt

    now = int(time.time())
    claims = {"iss": "bench", "aud": "veneer", "sub": "bench", "iat": now, "exp": now + 3600,
              "jti": "bench", "scope": ["bench/m"], "perm": ["predict"]}
    if auth == "hs256":
        token = jwt.encode(claims, SECRET, algorithm="HS256")
    else:
        token = jwt.encode(claims, (tmp / "private.pem").read_bytes(), algorithm="RS256")
    return {"Authorization": f"Bearer {token}"}


def rsa_keys(tmp: Path) -> None:
    """An RS256 key pair for the RS256 scenario."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp / "private.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    (tmp / "public.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def measure(url: str, bodies: dict[str, bytes], headers: dict[str, str], seconds: int,
            server_pid: int | None = None) -> dict[str, Result]:
    """Warm up, then one wrk run per payload (with the server's CPU time per request when its PID is given)."""
    out = {}
    for label, body in bodies.items():
        for _ in range(20):
            r = requests.post(url, data=body, headers={**headers, "Content-Type": "application/json"}, timeout=30)
            r.raise_for_status()
        cpu_before = tree_cpu_seconds(server_pid) if server_pid else None
        result = run_wrk(url, body, {**headers, "Content-Type": "application/json"}, seconds=seconds)
        if cpu_before is not None and result.requests:
            result.cpu_ms = (tree_cpu_seconds(server_pid) - cpu_before) / result.requests * 1000
        out[label] = result
    return out


def run_baseline(args, bodies, model: str = "churn_2017.joblib") -> dict[str, Result]:
    """The hand-written Flask app, same workers and threads."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "--threads", str(args.threads),
           "-k", "gthread", "-b", f"127.0.0.1:{port}", "--log-level", "warning", "bench.baseline_app:app"]
    with process(cmd, {"BASELINE_MODEL": str(BUILD / model), "PYTHONPATH": str(REPO)},
                 f"http://127.0.0.1:{port}/") as proc:
        return measure(f"http://127.0.0.1:{port}/predict", bodies, {}, args.seconds, server_pid=proc.pid)


def run_veneer(args, bodies, tmp: Path, **cfg) -> dict[str, Result]:
    """Veneer serving the same pickle with the scenario's options."""
    port = free_port()
    config = veneer_config(tmp, **cfg)
    cmd = [sys.executable, "-m", "veneer.sidecar.cli", "serve", str(config), "--port", str(port),
           "--workers", str(args.workers), "--threads", str(args.threads)]
    with process(cmd, {"BENCH_SECRET": SECRET}, f"http://127.0.0.1:{port}/v2/health/ready") as proc:
        url = f"http://127.0.0.1:{port}/models/bench/m/"
        if cfg.get("accelerate"):
            promote(url, bodies, mint(tmp, cfg.get("auth", "none")))
        return measure(url, bodies, mint(tmp, cfg.get("auth", "none")), args.seconds, server_pid=proc.pid)


def promote(url: str, bodies: dict[str, bytes], headers: dict[str, str]) -> None:
    """Send enough agreeing rows for the ONNX shadow to be promoted before measuring."""
    for _ in range(30):
        r = requests.post(url, data=bodies["100 rows"], headers={**headers, "Content-Type": "application/json"},
                          timeout=30)
        if r.headers.get("X-Veneer-Engine") == "onnx":
            return
    print("  (warning: ONNX was not promoted; the accelerated row measures scikit-learn)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per payload")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--rounds", type=int, default=3,
                        help="run every scenario this many times, interleaved; medians are compared "
                             "(a shared 2-core machine is noisy)")
    args = parser.parse_args()
    from bench.scenarios import SCENARIOS, median_results, print_ratios

    wanted = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    runs: dict[str, list[dict[str, Result]]] = {s.name: [] for s in wanted}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rsa_keys(tmp)
        for round_no in range(1, args.rounds + 1):
            # every other round runs the scenarios in reverse, so no scenario always follows
            # the same neighbour's start-up and shutdown (position bias was several percent here)
            for scenario in (wanted if round_no % 2 else list(reversed(wanted))):
                print(f"== round {round_no}/{args.rounds} {scenario.name}: {scenario.description}", flush=True)
                runs[scenario.name].append(scenario.run(args, tmp))
                for label, res in runs[scenario.name][-1].items():
                    print(f"   {label:8} {res.row()}", flush=True)
    results = median_results(runs)
    print("\n== medians over the rounds")
    for name, by_payload in results.items():
        for label, res in by_payload.items():
            print(f"   {name:18} {label:8} {res.row()}")
    print_ratios(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
