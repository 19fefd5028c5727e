"""Build the veneer image through the Docker API: veneer docker build [--tag] [--extras] [--context .]

Works with Docker or with podman's Docker-compatible socket: set DOCKER_HOST (for
example unix:///tmp/podman.sock after `podman system service --time=0 unix:///tmp/podman.sock`)
or pass --docker-host. Needs `pip install 'veneer[docker]'`.
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``veneer docker``."""
    from veneer.sidecar.docker_build import DEFAULT_EXTRAS, DEFAULT_TAG

    sub = parser.add_subparsers(dest="docker_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build the image from a Dockerfile (default: veneer's own)")
    b.add_argument("--tag", "-t", default=DEFAULT_TAG, help=f"image name (default {DEFAULT_TAG})")
    b.add_argument("--extras", default=None,
                   help=f"veneer's pip extras in the image (default: the Dockerfile's, {DEFAULT_EXTRAS}; "
                        "'all' adds mlflow)")
    b.add_argument("--context", default=".", help="build context folder (default: the current one)")
    b.add_argument("--file", "-f", dest="dockerfile", default="Dockerfile",
                   help="Dockerfile within the context (default Dockerfile)")
    b.add_argument("--network", default=None,
                   help="network of the build's RUN steps, e.g. host (default: the engine's)")
    b.add_argument("--build-arg", dest="build_args", action="append", default=[], metavar="NAME=VALUE",
                   help="another build argument (repeatable)")
    b.add_argument("--docker-host", dest="docker_host", default=None,
                   help="engine address (default: DOCKER_HOST, else the default socket)")
    b.add_argument("--quiet", "-q", action="store_true", help="print only the image id")


def run(args: argparse.Namespace) -> int:
    """Run the build, streaming its log to stderr; print the image id on stdout."""
    from veneer.sidecar.docker_build import build_image
    from veneer.wrapper.errors import ConfigError

    build_args = {}
    for item in args.build_args:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--build-arg {item!r} is not NAME=VALUE.",
                              fix="Write e.g. --build-arg EXTRAS=all.")
        build_args[name] = value
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    image_id = build_image(args.context, tag=args.tag, extras=args.extras, dockerfile=args.dockerfile,
                           base_url=args.docker_host, network=args.network, build_args=build_args,
                           on_log=log)
    if not args.quiet:
        print(f"veneer docker: built {args.tag}", file=sys.stderr)
    print(image_id)
    return 0
