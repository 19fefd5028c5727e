"""The bench's scenarios and the ratios it prints (see run.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

CHURN = "churn_sample.csv"
FOREST = "forest_sample.csv"


@dataclass
class Scenario:
    """One server configuration measured with the 1-row and 100-row payloads."""

    name: str
    description: str
    runner: Callable

    def run(self, args, tmp):
        return self.runner(args, tmp)


def _veneer(csv: str = CHURN, **cfg):
    def runner(args, tmp):
        from bench.run import payloads, run_veneer

        return run_veneer(args, payloads(csv), tmp, **cfg)
    return runner


def _baseline(csv: str = CHURN, model: str = "churn_2017.joblib"):
    def runner(args, tmp):
        from bench.run import payloads, run_baseline

        return run_baseline(args, payloads(csv), model=model)
    return runner


SCENARIOS = [
    Scenario("baseline", "hand-written Flask + gunicorn app serving the churn pickle", _baseline()),
    Scenario("veneer", "veneer native route, churn pickle, auth off, metrics on", _veneer()),
    Scenario("veneer-hs256", "same, HS256 token checked on every request", _veneer(auth="hs256")),
    Scenario("veneer-rs256", "same, RS256 token checked on every request", _veneer(auth="rs256")),
    Scenario("veneer-nometrics", "veneer with metrics off", _veneer(metrics=False)),
    Scenario("veneer-weighted", "two versions weighted 90/10 (routing on)", _veneer(versions=2)),
    Scenario("forest-sklearn", "100-tree forest pickle served by scikit-learn", _veneer(FOREST, model="forest_100.joblib")),
    Scenario("forest-onnx", "same forest with accelerate: onnx, after promotion",
             _veneer(FOREST, model="forest_100.joblib", accelerate=True)),
]

RATIOS = [
    ("veneer / baseline", "veneer", "baseline", "issue 2 target >= 1.0"),
    ("veneer HS256 / baseline", "veneer-hs256", "baseline", "issue 3 target >= 1.0"),
    ("veneer RS256 / baseline", "veneer-rs256", "baseline", "issue 3 target >= 1.0"),
    ("metrics on / off", "veneer", "veneer-nometrics", "issue 5: cost of metrics"),
    ("weighted / single version", "veneer-weighted", "veneer", "issue 4: routing overhead"),
    ("forest onnx / sklearn", "forest-onnx", "forest-sklearn", "issue 8 target >= 10 on 1 row"),
]


def median_results(runs: dict[str, list[dict]]) -> dict[str, dict]:
    """Per scenario and payload: median requests/s, p50, p99 and CPU per request, each over the rounds."""
    import statistics
    from dataclasses import replace

    out = {}
    for name, rounds in runs.items():
        out[name] = {}
        for payload in rounds[0]:
            results = [r[payload] for r in rounds]
            ordered = sorted(results, key=lambda res: res.rps)
            out[name][payload] = replace(ordered[len(ordered) // 2],
                                         cpu_ms=statistics.median(r.cpu_ms for r in results))
    return out


def print_ratios(results) -> None:
    """Ratios between scenarios measured in this run: throughput, and server CPU per request.

    The CPU ratio (other's CPU ms per request / this one's) is the steadier of the two on a
    shared machine: it does not move when the VM's neighbours steal time.
    """
    print("\n== ratios (this run; rps = requests/s ratio, cpu = CPU-per-request ratio, > 1 is better)")
    for label, top, bottom, note in RATIOS:
        if top not in results or bottom not in results:
            continue
        cells = []
        for payload in results[top]:
            a, b = results[top][payload], results[bottom].get(payload)
            if b and b.rps:
                cells.append(f"{payload}: rps {a.rps / b.rps:5.2f} cpu {b.cpu_ms / a.cpu_ms:5.2f}")
        print(f"   {label:28} {'   '.join(cells)}   ({note})")
