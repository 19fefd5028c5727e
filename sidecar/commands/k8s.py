"""Write Kubernetes manifests for a config: veneer k8s CONFIG [--out FILE] [--sidecar] [--image ...]

Options come from the config's deployment: section; the flags override them. The
manifests follow the file's server settings (port, graceful_timeout), not this shell's
VENEER_* variables. Warnings (e.g. auth switched off) go to stderr and into the header.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``veneer k8s``."""
    parser.add_argument("config", help="the veneer.yaml the image serves")
    parser.add_argument("--out", "-o", metavar="FILE", help="write the YAML here (default: stdout)")
    parser.add_argument("--sidecar", action="store_true",
                        help="a legacy container plus the veneer sidecar in one pod "
                             "(needs deployment.sidecar.legacy_image or --legacy-image)")
    parser.add_argument("--image", help="the veneer image (default: deployment.image)")
    parser.add_argument("--legacy-image", dest="legacy_image", metavar="IMAGE",
                        help="the legacy service's image (sidecar pods)")
    parser.add_argument("--name", help="name of the objects (default: deployment.name or veneer-<prefix>)")
    parser.add_argument("--namespace", "-n", help="namespace written into every object")


def run(args: argparse.Namespace) -> int:
    """Load the config, build the manifests, print or write them."""
    from veneer.sidecar.k8s import build_manifests, render
    from veneer.wrapper.config import load_config

    config = load_config(args.config, env={})
    manifests = build_manifests(config, sidecar=True if args.sidecar or args.legacy_image else None,
                                image=args.image, legacy_image=args.legacy_image, name=args.name,
                                namespace=args.namespace)
    for warning in manifests.warnings:
        print(f"veneer k8s: warning: {warning}", file=sys.stderr)
    text = render(manifests, source=args.config)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        kinds = ", ".join(d["kind"] for d in manifests.docs)
        print(f"veneer k8s: wrote {kinds} to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
