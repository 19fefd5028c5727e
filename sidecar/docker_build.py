"""Build veneer's image through the Docker Engine API (Docker, or podman's compatible socket).

``build_image(context, tag=..., extras=...)`` sends the build context (filtered by its
``.dockerignore``) to the engine named by ``base_url`` or ``DOCKER_HOST`` and streams the
build log. It uses the classic build endpoint, which podman serves too, so the Dockerfile
avoids BuildKit-only syntax. The ``docker`` package is imported only when a build runs
(``pip install 'veneer[docker]'``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from veneer.wrapper.errors import ConfigError, VeneerError

DEFAULT_TAG = "veneer:latest"
DEFAULT_EXTRAS = "onnx,sklearn"


class BuildFailed(VeneerError):
    """The engine refused or failed the build; the message carries its last error line."""

    code = "docker_build_failed"


def docker_client(base_url: str | None = None, timeout: int = 900) -> Any:
    """A ``docker.DockerClient`` for ``base_url``, else ``DOCKER_HOST``, else the default socket."""
    try:
        import docker
    except ImportError as e:
        raise ImportError("veneer docker needs the Docker SDK: pip install 'veneer[docker]'") from e
    try:
        if base_url:
            return docker.DockerClient(base_url=base_url, timeout=timeout)
        return docker.from_env(timeout=timeout)
    except docker.errors.DockerException as e:
        where = base_url or os.environ.get("DOCKER_HOST") or "the default Docker socket"
        raise BuildFailed(f"cannot reach a Docker engine at {where}: {e}.",
                          fix="Start Docker, or podman's API (podman system service --time=0 "
                              "unix:///tmp/podman.sock) and set DOCKER_HOST=unix:///tmp/podman.sock.") from e


def build_image(context: str | os.PathLike = ".", *, tag: str = DEFAULT_TAG, extras: str | None = None,
                dockerfile: str = "Dockerfile", base_url: str | None = None, network: str | None = None,
                build_args: dict[str, str] | None = None, pull: bool = False,
                on_log: Callable[[str], None] | None = None) -> str:
    """Build ``context`` (with its ``dockerfile``) and tag it; returns the image id.

    ``extras`` becomes the ``EXTRAS`` build argument (veneer's pip extras, e.g. "onnx,sklearn").
    ``network`` is the build's network mode ("host" where the registry is reached through
    the host's network only). ``on_log`` receives each line of the build output.
    """
    ctx = Path(context)
    if not (ctx / dockerfile).is_file():
        raise ConfigError(f"no {dockerfile} in build context {str(ctx)!r}.",
                          fix="Run from veneer's source folder or pass --context PATH (and --file NAME).")
    args = dict(build_args or {})
    if extras is not None:
        args["EXTRAS"] = extras
    client = docker_client(base_url)
    try:
        stream = client.api.build(path=str(ctx), tag=tag, dockerfile=dockerfile, buildargs=args or None,
                                  rm=True, forcerm=True, pull=pull, network_mode=network, decode=True)
        image_id = _follow(stream, on_log or (lambda line: None))
    except _docker_errors() as e:
        raise BuildFailed(f"the engine refused the build of {str(ctx)!r}: {e}.") from e
    finally:
        client.close()
    return image_id


def _follow(stream: Any, on_log: Callable[[str], None]) -> str:
    """Read the engine's JSON progress messages; return the built image id or raise."""
    image_id, last = "", ""
    for chunk in stream:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            message = (detail.get("message") or chunk.get("error", "")).strip()
            raise BuildFailed(f"docker build failed: {message}",
                              fix=f"See the build output above (last step: {last.strip()!r}).")
        text = chunk.get("stream")
        if text:
            for line in text.splitlines():
                if line.strip():
                    last = line
                    on_log(line)
        aux = chunk.get("aux") or {}
        if aux.get("ID"):
            image_id = aux["ID"]
    if not image_id:
        # Podman's compatible API reports the id only as a final "Successfully built <id>" line.
        for word in ("Successfully built ", "COMMIT "):
            if last.startswith(word):
                image_id = last[len(word):].strip()
        if not image_id and last.strip() and all(c in "0123456789abcdef" for c in last.strip()):
            image_id = last.strip()
    if not image_id:
        raise BuildFailed(f"the engine finished without reporting an image id (last line: {last!r}).")
    return image_id


def _docker_errors() -> tuple[type[BaseException], ...]:
    import docker

    return (docker.errors.APIError, docker.errors.BuildError)
