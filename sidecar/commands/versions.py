"""List and change versions, stages and traffic weights of a running server (admin API).

Examples (token with the 'manage' permission in $VENEER_TOKEN or --token):
  veneer versions list --url http://127.0.0.1:8080
  veneer versions show risk/churn
  veneer versions set risk/churn 2 --stage production --weight 20
  veneer versions weights risk/churn 1=80 2=20      # one atomic change
  veneer versions add risk/churn 4 --adapter pickle --path churn_2023.joblib --stage staging --weight 0
  veneer versions remove risk/churn 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import requests


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``veneer versions``."""
    parser.add_argument("--url", default=os.environ.get("VENEER_URL", "http://127.0.0.1:8080"),
                        help="server URL (default $VENEER_URL or http://127.0.0.1:8080)")
    parser.add_argument("--token", default=None, help="bearer token (default $VENEER_TOKEN)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per call (default 10)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="every model you may manage")
    show = sub.add_parser("show", help="one model's versions and traffic")
    show.add_argument("model", help="prefix/model")
    change = sub.add_parser("set", help="set stage, weight and/or draft of one version")
    change.add_argument("model", help="prefix/model")
    change.add_argument("version")
    change.add_argument("--stage", choices=["production", "staging", "none"])
    change.add_argument("--weight", type=float)
    change.add_argument("--draft", choices=["true", "false"])
    weights = sub.add_parser("weights", help="set several weights as one atomic change")
    weights.add_argument("model", help="prefix/model")
    weights.add_argument("pairs", nargs="+", metavar="VERSION=WEIGHT")
    add = sub.add_parser("add", help="add a version whose artifact is already on the server")
    add.add_argument("model", help="prefix/model")
    add.add_argument("version")
    add.add_argument("--adapter", required=True)
    add.add_argument("--path")
    add.add_argument("--uri")
    add.add_argument("--sha256")
    add.add_argument("--stage", choices=["production", "staging", "none"])
    add.add_argument("--weight", type=float)
    add.add_argument("--draft", action="store_true")
    remove = sub.add_parser("remove", help="remove a version")
    remove.add_argument("model", help="prefix/model")
    remove.add_argument("version")


def request_for(args: argparse.Namespace) -> tuple[str, str, Any]:
    """(method, path, JSON body) of the admin call an invocation stands for."""
    base = "/admin/models"
    if args.action == "list":
        return "GET", base, None
    model = args.model.strip("/")
    if args.action == "show":
        return "GET", f"{base}/{model}", None
    if args.action == "set":
        body: dict[str, Any] = {}
        if args.stage:
            body["stage"] = None if args.stage == "none" else args.stage
        if args.weight is not None:
            body["weight"] = args.weight
        if args.draft:
            body["draft"] = args.draft == "true"
        if not body:
            raise SystemExit("veneer versions set: give --stage, --weight and/or --draft")
        return "PATCH", f"{base}/{model}/versions/{args.version}", body
    if args.action == "weights":
        pairs = {}
        for pair in args.pairs:
            version, sep, weight = pair.partition("=")
            if not sep:
                raise SystemExit(f"veneer versions weights: {pair!r} is not VERSION=WEIGHT")
            try:
                pairs[version] = float(weight)
            except ValueError:
                raise SystemExit(f"veneer versions weights: weight {weight!r} is not a number") from None
        return "PUT", f"{base}/{model}/weights", pairs
    if args.action == "add":
        body = {"version": args.version, "adapter": args.adapter, "draft": args.draft}
        for key in ("path", "uri", "sha256", "weight"):
            if getattr(args, key) is not None:
                body[key] = getattr(args, key)
        if args.stage:
            body["stage"] = None if args.stage == "none" else args.stage
        return "POST", f"{base}/{model}/versions", body
    return "DELETE", f"{base}/{model}/versions/{args.version}", None


def run(args: argparse.Namespace) -> int:
    """Call the admin API and print its JSON answer."""
    method, path, body = request_for(args)
    token = args.token or os.environ.get("VENEER_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = requests.request(method, args.url.rstrip("/") + path, json=body, headers=headers,
                             timeout=args.timeout, allow_redirects=False)
    except requests.RequestException as e:
        print(f"veneer versions: cannot reach {args.url}: {e}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(r.json(), indent=2))
    except ValueError:
        print(r.text)
    return 0 if r.ok else 1
