"""Print veneer's requirements (install_requires plus the chosen extras) from setup.cfg.

The Dockerfile installs these in a layer of their own, before it copies the source, so that
editing veneer's code rebuilds only the small layer that installs veneer itself.
Stdlib only: it runs in the bare base image.

    python requirements_from_setup_cfg.py setup.cfg "onnx,sklearn" > requirements.txt
"""

from __future__ import annotations

import configparser
import sys


def requirements(setup_cfg: str, extras: str) -> list[str]:
    """``install_requires`` plus every requirement of the comma-separated ``extras``.

    Raises SystemExit naming the unknown extra and the known ones.
    """
    cfg = configparser.ConfigParser(interpolation=None)
    if not cfg.read(setup_cfg):
        raise SystemExit(f"requirements: cannot read {setup_cfg!r}")
    lines = _lines(cfg.get("options", "install_requires", fallback=""))
    known = cfg["options.extras_require"] if cfg.has_section("options.extras_require") else {}
    for extra in filter(None, (e.strip() for e in extras.split(","))):
        if extra not in known:
            raise SystemExit(f"requirements: unknown extra {extra!r}; setup.cfg defines "
                             f"{', '.join(sorted(known))} (set the EXTRAS build argument to those)")
        lines += _lines(known[extra])
    return list(dict.fromkeys(lines))


def _lines(value: str) -> list[str]:
    return [line.split("#")[0].strip() for line in value.splitlines() if line.split("#")[0].strip()]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print("\n".join(requirements(sys.argv[1], sys.argv[2])))
