"""`make demo`: serve every example legacy model behind veneer, with tokens and metrics.

Builds a demo config from examples/legacy_models/build/veneer.yaml (plus the
legacy HTTP scoring service, which veneer starts and supervises itself), starts
`veneer serve` with two workers, mints a token, prints working `curl` lines for
each protocol (and one that is refused), runs each once to show the answers,
and keeps serving until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

HERE = Path(__file__).resolve().parent
BUILD = HERE / "legacy_models" / "build"
SERVICE = HERE / "legacy_models" / "scoring_service" / "service.py"
VENEER = [sys.executable, "-m", "veneer.sidecar.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_config(legacy_port: int) -> Path:
    """build/veneer.yaml plus the legacy scoring service (started by veneer via command:)."""
    config = yaml.safe_load((BUILD / "veneer.yaml").read_text())
    config["models"]["scoring"] = {
        "description": "A legacy scoring service with its own payload format, fronted by veneer.",
        "versions": [{
            "version": "1", "adapter": "http", "url": f"http://127.0.0.1:{legacy_port}/score",
            "stage": "production", "idempotent": True,
            "options": {
                "request": {"format": "json", "body": "records", "orient": "records"},
                "response": {"format": "json", "path": "result.scores[*]", "name": "churn_probability"},
                "inputs": ["tenure", "monthly_charges", "support_calls"],
                "timeouts": {"connect": 0.5, "read": 2.0, "deadline": 4.0},
                "health": {"url": f"http://127.0.0.1:{legacy_port}/healthz", "interval": 2.0},
                "command": [sys.executable, str(SERVICE), "--port", str(legacy_port)],
            }}]}
    path = BUILD / "demo.yaml"
    path.write_text("# written by examples/demo.py from veneer.yaml; safe to delete\n" + yaml.safe_dump(config))
    return path


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Poll readiness, showing progress, until ready or the server exits."""
    deadline = time.monotonic() + timeout
    print("waiting for veneer to load the models ", end="", flush=True)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"\nveneer exited with code {proc.returncode}; see the log above")
        try:
            if requests.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                print(" ready", flush=True)
                return
        except requests.RequestException:
            pass
        print(".", end="", flush=True)
        time.sleep(0.5)
    raise SystemExit(f"\nveneer was not ready after {timeout:.0f}s")


def mint(config: Path, env: dict, *args: str) -> str:
    """A token from `veneer token create` signed with the demo secret."""
    out = subprocess.run(VENEER + ["token", "create", "--config", str(config), *args], env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def examples(url: str) -> list[tuple[str, str, list[str], str | None]]:
    """(title, method+path, extra curl args, body) for each protocol."""
    churn = '[{"tenure_months": 24, "monthly_charges": 89.8, "total_charges": 2106.3, "support_calls": 1, ' \
            '"contract": "Month-to-month", "payment_method": "Mailed check", "internet_service": "Fiber optic"}]'
    credit = '{"inputs": [{"name": "features", "shape": [1, 6], "datatype": "FP32", ' \
             '"data": [35, 52000, 0.31, 0.45, 1, 6]}]}'
    fraud = '{"dataframe_split": {"columns": ["amount", "hour_of_day", "distance_from_home", "txn_count_24h", ' \
            '"is_foreign", "merchant_category"], "data": [[912.5, 3, 410.0, 9, 1, "electronics"]]}}'
    forest = '{"instances": [{"age": 41, "income": 58.2, "loan_amount": 12.5, "loan_term_months": 36, ' \
             '"credit_score": 690, "debt_to_income": 0.28, "num_open_accounts": 5, "num_delinquencies": 0}]}'
    scoring = '[{"tenure": 12, "monthly_charges": 70.5, "support_calls": 4}]'
    return [
        ("native route, churn pickle (weighted 90/10 between v1 and v2)", "POST /models/risk/churn/", [], churn),
        ("native route pinned to the v3 draft", "POST /models/risk/churn/v3/", [], churn),
        ("Open Inference Protocol (KServe/Triton clients), ONNX credit model", "POST /v2/models/credit/infer", [],
         credit),
        ("MLflow scoring (/invocations), MLflow fraud model", "POST /models/risk/fraud/invocations", [], fraud),
        ("KServe V1, random forest pickle", "POST /v1/models/forest:predict", [], forest),
        ("legacy HTTP scoring service behind veneer", "POST /models/risk/scoring/", [], scoring),
        ("model metadata", "GET /models/risk/churn/?get_meta=true", [], None),
    ]


def curl_line(url: str, with_token: bool, method_path: str, body: str | None) -> str:
    """A copy-pasteable curl command; the token comes from $TOKEN (printed once above)."""
    method, path = method_path.split(" ", 1)
    parts = ["curl", "-s"]
    if method != "GET":
        parts += ["-X", method, "-H", "Content-Type: application/json", "-d", body]
    line = shlex.join(parts + [url + path])
    return line.replace("curl -s", 'curl -s -H "Authorization: Bearer $TOKEN"', 1) if with_token else line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--once", action="store_true", help="run the examples and stop (no Ctrl-C wait)")
    args = parser.parse_args()
    if not (BUILD / "veneer.yaml").exists():
        raise SystemExit("examples are not built: run `make examples` (or `make demo`) first")
    # `kill` or a CI timeout stops the demo like Ctrl-C does: the finally below stops the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    secret = secrets.token_urlsafe(48)
    env = {**os.environ, "VENEER_JWT_SECRET": secret}
    config = demo_config(free_port())
    url = f"http://{args.host}:{args.port}"
    from veneer.sidecar.parent_death import death_signal_setter

    proc = subprocess.Popen(VENEER + ["serve", str(config), "--host", args.host, "--port", str(args.port),
                                      "--workers", "2"], env=env, start_new_session=True,
                            preexec_fn=death_signal_setter(signal.SIGTERM))
    try:
        wait_ready(url, proc)
        models = ["churn", "credit", "fraud", "forest", "scoring", "ltv", "scorecard"]
        token = mint(config, env, "--owner", "demo", "--prefix", "risk", *sum((["--model", m] for m in models), []),
                     "--permission", "predict", "--permission", "pin", "--expires", "1d")
        print(f"\nveneer is serving the example legacy models on {url} (auth on, metrics at {url}/metrics)")
        print("\nA token for the models of prefix 'risk' (valid 1 day; the signing secret lives only in this "
              f"process). Paste this line into your shell, then try the curl lines:\n\nexport TOKEN={token}\n")
        for title, method_path, _, body in examples(url):
            line = curl_line(url, True, method_path, body)
            print(f"# {title}\n{line}")
            method, path = method_path.split(" ", 1)
            r = requests.request(method, url + path, data=body, timeout=10,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            version = r.headers.get("X-Veneer-Model-Version")
            answer = r.text if len(r.text) < 300 else r.text[:300] + "..."
            print(f"  -> {r.status_code}" + (f" (version {version})" if version else "") + f": {answer}\n")
        refused = curl_line(url, False, "POST /models/risk/churn/", '[{"tenure_months": 1}]')
        r = requests.post(url + "/models/risk/churn/", data='[{"tenure_months": 1}]',
                          headers={"Content-Type": "application/json"}, timeout=10)
        print(f"# refused: no token\n{refused}\n  -> {r.status_code}: {r.text}\n")
        print(f"# Prometheus metrics (no token needed)\ncurl -s {url}/metrics | grep veneer_requests_total\n")
        print(f"# API docs in a browser (Swagger UI; ReDoc at /models/risk/redoc/):\n"
              f"{url}/models/risk/docs/#token={token}\n")
        if args.once:
            return 0
        print("Serving until Ctrl-C ...")
        proc.wait()
        return proc.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
