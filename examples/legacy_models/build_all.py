"""Build every example legacy model into ``build/`` and write the hash-pinned ``build/veneer.yaml``.

    python examples/legacy_models/build_all.py            # build what is missing or out of date
    python examples/legacy_models/build_all.py --force    # rebuild everything

Each step runs one training script's ``main(out_dir)`` in this process (so scikit-learn is
imported once) into a private staging folder, then moves the outputs into ``build/``: a
reader never sees a half-written artifact, and concurrent runs (``make test`` plus a test
fixture) are serialised by a lock file. A step is skipped when its outputs exist and were
built from the same script text and library versions (recorded in ``build/.stamps/``), so
a second run rebuilds nothing and the pinned hashes stay stable.

Finally ``veneer.template.yaml`` is rendered to ``build/veneer.yaml`` with each
``{{sha256:FILE}}`` replaced by the hash of ``build/FILE``, and ``build/checksums.json``
lists the sha256 of every built file.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
TEMPLATE = HERE / "veneer.template.yaml"
PIN = re.compile(r"\{\{sha256:([\w./-]+)\}\}")
# files in build/ that are bookkeeping or derived, not artifacts
NOT_ARTIFACTS = {"veneer.yaml", "checksums.json", ".build.lock"}
LIBRARIES = ("sklearn", "numpy", "pandas", "joblib", "skl2onnx", "onnx", "mlflow")


@dataclass(frozen=True)
class Step:
    """One training script and the files it writes into the build folder."""

    name: str
    script: str          # relative to this folder; its main(out_dir) returns the written paths
    outputs: tuple[str, ...]


STEPS = (
    Step("churn", "churn/train.py",
         ("churn_2017.joblib", "churn_2019.joblib", "churn_2021.joblib", "churn_sample.csv", "churn_holdout.csv")),
    Step("credit_risk", "credit_risk/train.py",
         ("credit_risk.onnx", "credit_risk_multi.onnx", "credit_risk_features.json", "credit_risk_sample.csv")),
    Step("fraud_mlflow", "fraud_mlflow/train.py", ("mlflow_fraud", "fraud_sample.csv", "fraud_holdout.csv")),
    Step("ltv", "platform_model/train.py", ("ltv_model.joblib", "ltv_sample.csv")),
    Step("forest", "forest/train.py",
         ("forest_100.joblib", "gbm.joblib", "forest_sample.csv", "forest_holdout.csv")),
    Step("scorecard", "scorecard_sample.py", ("scorecard_sample.csv",)),
)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    dists = {"sklearn": "scikit-learn"}
    found = {}
    for lib in LIBRARIES:
        try:
            found[lib] = version(dists.get(lib, lib))
        except PackageNotFoundError:
            found[lib] = "absent"
    return found


def _fingerprint(step: Step, libraries: dict[str, str]) -> str:
    # the script text and the library versions decide the bytes; mtimes do not survive git checkouts
    digest = hashlib.sha256((HERE / step.script).read_bytes())
    digest.update(json.dumps(libraries, sort_keys=True).encode())
    return digest.hexdigest()


def _up_to_date(step: Step, build: Path, fingerprint: str) -> bool:
    stamp = build / ".stamps" / f"{step.name}.json"
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("fingerprint") == fingerprint and all((build / o).exists() for o in step.outputs)


def _run_script(step: Step, out_dir: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"_veneer_example_{step.name}", HERE / step.script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look the module up here
    try:
        spec.loader.exec_module(module)
        returned = module.main(out_dir)
    finally:
        sys.modules.pop(spec.name, None)
    written = {Path(p).name for p in returned}
    if written != set(step.outputs):
        raise RuntimeError(f"{step.script} wrote {sorted(written)}, build_all.py expects {sorted(step.outputs)}; "
                           "update Step.outputs in build_all.py")


def _move_into(staging: Path, build: Path, names: tuple[str, ...]) -> None:
    for name in names:
        src, dst = staging / name, build / name
        if src.is_dir():
            # a directory cannot be replaced atomically: swap it with a trash name, then delete
            trash = build / f".old-{name}-{os.getpid()}"
            if dst.exists():
                os.replace(dst, trash)
            os.replace(src, dst)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(src, dst)


@contextmanager
def _build_lock(build: Path):
    build.mkdir(parents=True, exist_ok=True)
    with open(build / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build waits here instead of racing
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def render_config(build: Path = BUILD, template: Path = TEMPLATE) -> Path:
    """Write ``build/veneer.yaml`` from the template, pinning each ``{{sha256:FILE}}`` to build/FILE."""
    def pin(match: re.Match) -> str:
        target = build / match.group(1)
        if not target.is_file():
            raise FileNotFoundError(f"{template.name} pins {match.group(1)!r}, which is not in {build}; "
                                    "add a step that builds it or fix the name")
        return sha256_of(target)

    text = PIN.sub(pin, template.read_text())
    header = f"# GENERATED by build_all.py from {template.name}: edit the template, not this file.\n"
    _write_atomic(build / "veneer.yaml", header + text)
    return build / "veneer.yaml"


def write_checksums(build: Path = BUILD) -> dict[str, str]:
    """sha256 of every built file (relative POSIX path -> hex), also written to build/checksums.json."""
    sums = {}
    for path in sorted(build.rglob("*")):
        rel = path.relative_to(build)
        if (path.is_file() and rel.parts[0] not in NOT_ARTIFACTS and not rel.parts[0].startswith(".")
                and path.suffix != ".db"):
            sums[rel.as_posix()] = sha256_of(path)
    _write_atomic(build / "checksums.json", json.dumps(sums, indent=2, sort_keys=True) + "\n")
    return sums


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def build_all(force: bool = False, only: tuple[str, ...] = (), build: Path = BUILD,
              log=print) -> dict[str, str]:
    """Build the steps (all, or ``only``) into ``build``; return {step name: "built" | "skipped"}."""
    unknown = set(only) - {s.name for s in STEPS}
    if unknown:
        raise SystemExit(f"unknown step(s) {sorted(unknown)}; known: {', '.join(s.name for s in STEPS)}")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    started = time.perf_counter()
    result: dict[str, str] = {}
    with _build_lock(build):
        libraries = _library_versions()
        for step in STEPS:
            if only and step.name not in only:
                continue
            fingerprint = _fingerprint(step, libraries)
            if not force and _up_to_date(step, build, fingerprint):
                log(f"  {step.name:<13} up to date          {', '.join(step.outputs)}")
                result[step.name] = "skipped"
                continue
            t0 = time.perf_counter()
            staging = build / ".staging" / f"{step.name}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            try:
                _run_script(step, staging)
                _move_into(staging, build, step.outputs)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
                try:
                    staging.parent.rmdir()  # only when no concurrent build still uses it
                except OSError:
                    pass
            (build / ".stamps").mkdir(exist_ok=True)
            _write_atomic(build / ".stamps" / f"{step.name}.json",
                          json.dumps({"fingerprint": fingerprint, "libraries": libraries}, indent=2))
            log(f"  {step.name:<13} built in {time.perf_counter() - t0:5.1f} s   {', '.join(step.outputs)}")
            result[step.name] = "built"
        try:
            config = render_config(build)
        except FileNotFoundError as e:
            if not only:
                raise
            log(f"  veneer.yaml not written (a partial build with --only): {e}")
        else:
            log(f"  wrote {config.relative_to(build.parent)}")
        write_checksums(build)
    log(f"  wrote checksums.json; total {time.perf_counter() - started:.1f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line: ``build_all.py [--force] [--only STEP ...]``."""
    parser = argparse.ArgumentParser(description="Build the example legacy models into build/.")
    parser.add_argument("--force", action="store_true", help="rebuild even what is up to date")
    parser.add_argument("--only", nargs="+", default=(), metavar="STEP",
                        help=f"build only these steps: {', '.join(s.name for s in STEPS)}")
    parser.add_argument("--build", type=Path, default=BUILD, metavar="DIR",
                        help="build folder (default: build/ next to this script)")
    args = parser.parse_args(argv)
    print(f"building example legacy models into {args.build}")
    build_all(force=args.force, only=tuple(args.only), build=args.build.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
