"""Assemble a build context for the two-line example image: artifacts plus a hash-pinned veneer.yaml.

A user's context is simply a folder with their artifacts and veneer.yaml. This script makes one
from the example models (``make examples`` first)::

    python examples/docker/make_context.py /tmp/veneer-examples
    docker build -t veneer-examples /tmp/veneer-examples      # its Dockerfile: FROM veneer + COPY

Stdlib only. The config serves ``risk/churn`` (two scikit-learn pickles, production 90 % and
staging 10 %) and ``risk/credit`` (ONNX), with HS256 tokens from ``VENEER_JWT_SECRET``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE.parent / "legacy_models" / "build"

#: model -> list of (version, adapter, file, extra YAML flow fields)
MODELS = {
    "churn": [("1", "pickle", "churn_2017.joblib", "stage: production, weight: 90"),
              ("2", "pickle", "churn_2019.joblib", "stage: staging, weight: 10")],
    "credit": [("1", "onnx", "credit_risk.onnx", "stage: production")],
}

HEADER = """\
# Served by the example image (examples/docker/Dockerfile); written by make_context.py.
# Artifacts are pinned by sha256: a changed file is refused until this file is regenerated.
prefix: risk
auth:
  issuer: veneer-demo
  audience: veneer
  secret_env: VENEER_JWT_SECRET
registry: {enabled: false}
models:
"""


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_context(out: Path, build: Path = BUILD, models: list[str] | None = None) -> Path:
    """Copy the chosen models' artifacts and the two-line Dockerfile into ``out``, write
    ``out/veneer.yaml``; returns ``out``."""
    chosen = models or list(MODELS)
    unknown = sorted(set(chosen) - set(MODELS))
    if unknown:
        raise SystemExit(f"make_context: unknown model(s) {unknown}; choose from {sorted(MODELS)}")
    out.mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for model in chosen:
        # a token for the prefix (risk) reaches every model of the image
        lines.append(f"  {model}:\n    cascade_prefix_tokens: true\n    versions:\n")
        for version, adapter, name, extra in MODELS[model]:
            src = build / name
            if not src.is_file():
                raise SystemExit(f"make_context: {src} is missing; run `make examples` first")
            shutil.copyfile(src, out / name)
            lines.append(f'      - {{version: "{version}", adapter: {adapter}, path: {name}, '
                         f'sha256: "{sha256(src)}", {extra}}}\n')
    (out / "veneer.yaml").write_text("".join(lines), encoding="utf-8")
    shutil.copyfile(HERE / "Dockerfile", out / "Dockerfile")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: make_context.py OUT [--build DIR] [--models churn,credit]."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="folder to create (the docker build context)")
    p.add_argument("--build", type=Path, default=BUILD, help="where `make examples` put the artifacts")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    args = p.parse_args(argv)
    out = make_context(args.out, args.build, [m for m in args.models.split(",") if m])
    print(f"build context ready in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
