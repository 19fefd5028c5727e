"""Validate a config, load every version and run one probe prediction each.

Exit status 0 when everything loads and predicts, 1 otherwise. The probe uses
the version's `probe:` CSV when it has one, else one row made from the model's
declared inputs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``veneer check``."""
    parser.add_argument("config", help="the veneer.yaml to check")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    """Check and print a per-version report."""
    from veneer.sidecar.model_store import ModelStore
    from veneer.sidecar.probe import probe_batch
    from veneer.sidecar.targets import load_target
    from veneer.wrapper.batch import normalize_outputs

    config = load_target(args.config)
    print(f"config {args.config}: valid ({len(config.models)} model(s))", file=sys.stderr)
    store = ModelStore(config)
    report, ok = [], True
    for lv in store.versions.values():
        name = f"{lv.spec.qualified_name} v{lv.spec.version} ({lv.spec.adapter})"
        print(f"  loading {name} ...", file=sys.stderr, flush=True)
        store.load_version(lv)
        entry = lv.describe() | {"model": lv.spec.qualified_name}
        if lv.state == "ready":
            try:
                batch = probe_batch(lv)
                start = time.perf_counter()
                outputs = normalize_outputs(lv.adapter.predict(batch))
                entry["probe"] = {"ok": True, "rows": batch.n_rows, "outputs": sorted(outputs),
                                  "seconds": round(time.perf_counter() - start, 4)}
            except Exception as e:  # report every failure, keep checking the others
                entry["probe"] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                ok = False
            extra = getattr(lv.adapter, "check_report", None)
            if callable(extra):
                entry["acceleration"] = extra()
        else:
            ok = False
        report.append(entry)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for e in report:
            probe = e.get("probe") or {}
            status = "ok" if e["state"] == "ready" and probe.get("ok") else "FAILED"
            detail = e.get("reason") or probe.get("error") or f"probe {probe.get('rows')} row(s) in {probe.get('seconds')}s"
            print(f"{status:6} {e['model']} v{e['version']} [{e['adapter']}] {detail}")
            if e.get("acceleration"):
                print(f"       acceleration: {json.dumps(e['acceleration'], default=str)}")
    return 0 if ok else 1
