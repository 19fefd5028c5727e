"""Real images with podman: set podman up, make the registry-free base, build the project's
Dockerfile unmodified and the example images, once per session.

Every container runs with ``--network host`` on a free 127.0.0.1 port and is removed by the
name this session gave it. When podman cannot be installed or run here, the tests skip with
the reason ``scripts/containers/setup-podman.sh`` printed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.helpers.server import REPO, free_port
from tests.helpers.wait import wait_for

SCRIPTS = REPO / "scripts" / "containers"
EXAMPLES = REPO / "examples"
RUN_ID = uuid.uuid4().hex[:8]


def podman(*args: str, check: bool = True, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run ``podman ARGS``; on failure the assertion shows its output."""
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def build(tag: str, context: Path, dockerfile: Path | None = None) -> float:
    """``podman build`` the way CONTAINERS.md says (no pull, host network, docker format); seconds."""
    start = time.monotonic()
    args = ["build", "--pull=never", "--network", "host", "--format", "docker", "-t", tag]
    if dockerfile:
        args += ["-f", str(dockerfile)]
    podman(*args, str(context))
    return time.monotonic() - start


@dataclass
class Images:
    """Tags of the images built for this session, and what building them measured."""

    veneer: str
    examples: str
    legacy: str
    sidecar: str
    context: Path                 # the example image's build context (artifacts + veneer.yaml)
    seconds: dict[str, float] = field(default_factory=dict)

    def size_mb(self, tag: str) -> float:
        """Size of an image as podman reports it, in MB."""
        return int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()) / 1e6


@pytest.fixture(scope="session")
def podman_ready() -> None:
    """podman installed and configured (CONTAINERS.md), or the tests skip with the reason."""
    if shutil.which("apt-get") is None and shutil.which("podman") is None:
        pytest.skip("podman is not installed and apt-get is not available to install it")
    proc = subprocess.run(["bash", str(SCRIPTS / "setup-podman.sh")], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"podman cannot be set up here: {(proc.stderr or proc.stdout).strip()}")


@pytest.fixture(scope="session")
def images(podman_ready, tmp_path_factory) -> Images:
    """The base stand-in, veneer's image, the example image, the legacy service and the sidecar."""
    seconds = {}
    start = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPTS / "make-base-image.sh")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"make-base-image.sh failed:\n{proc.stdout}\n{proc.stderr}"
    seconds["base"] = time.monotonic() - start
    veneer = f"localhost/veneer:test-{RUN_ID}"
    seconds["veneer"] = build(veneer, REPO)
    # A user's Dockerfile says `FROM veneer`: that name must be this build.
    podman("tag", veneer, "localhost/veneer:latest")
    sys.path.insert(0, str(EXAMPLES / "docker"))
    try:
        from make_context import make_context
    finally:
        sys.path.remove(str(EXAMPLES / "docker"))
    context = make_context(tmp_path_factory.mktemp("example-image"))
    tags = Images(veneer=veneer, examples=f"localhost/veneer-examples:test-{RUN_ID}",
                  legacy=f"localhost/veneer-legacy:test-{RUN_ID}",
                  sidecar=f"localhost/veneer-sidecar:test-{RUN_ID}", context=context, seconds=seconds)
    seconds["examples"] = build(tags.examples, context)
    seconds["legacy"] = build(tags.legacy, EXAMPLES / "legacy_models" / "scoring_service",
                              EXAMPLES / "docker" / "legacy-service" / "Dockerfile")
    seconds["sidecar"] = build(tags.sidecar, EXAMPLES / "docker" / "sidecar")
    print(f"\n[containers] build seconds: { {k: round(v, 1) for k, v in seconds.items()} }; "
          f"veneer image {tags.size_mb(veneer):.0f} MB")
    yield tags
    for tag in (tags.examples, tags.legacy, tags.sidecar, veneer):
        podman("rmi", "-f", tag, check=False)


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    """A fresh HS256 secret for this session's containers."""
    return secrets.token_urlsafe(48)


def make_token(config: Path, secret: str, *args: str) -> str:
    """``veneer token create --owner ci ARGS --config CONFIG`` signed with ``secret``."""
    proc = subprocess.run([sys.executable, "-m", "veneer.sidecar.cli", "token", "create", "--owner", "ci",
                           *args, "--config", str(config)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **_secret_env(config, secret)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _secret_env(config: Path, secret: str) -> dict[str, str]:
    import yaml

    auth = yaml.safe_load(config.read_text()).get("auth") or {}
    return {auth.get("secret_env") or "VENEER_JWT_SECRET": secret}


@contextmanager
def container(image: str, *, env: dict[str, str] | None = None, args: list[str] | None = None,
              volumes: list[str] | None = None):
    """``podman run -d --network host`` the image; yields its name; removes it (by that name) after."""
    name = f"veneer-test-{RUN_ID}-{uuid.uuid4().hex[:6]}"
    cmd = ["run", "-d", "--name", name, "--network", "host"]
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    for volume in volumes or []:
        cmd += ["-v", volume]
    podman(*cmd, image, *(args or []))
    try:
        yield name
    finally:
        podman("rm", "-f", "-t", "5", name, check=False)


def logs(name: str) -> str:
    """What a container printed (for assertion messages)."""
    proc = podman("logs", name, check=False)
    return proc.stdout[-4000:] + proc.stderr[-4000:]


def wait_ready(url: str, name: str, timeout: float = 90.0) -> float:
    """Poll ``url`` until it answers 200; seconds it took. Fails early if the container exited."""
    start = time.monotonic()

    def ready():
        state = podman("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
        if state in ("exited", "stopped", ""):
            return f"container {name} is {state or 'gone'}"
        return requests.get(url, timeout=2).status_code == 200

    try:
        outcome = wait_for(ready, timeout=timeout, interval=0.1, what=url)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{logs(name)}") from None
    assert outcome is True, f"{outcome} before {url} was ready:\n{logs(name)}"
    return time.monotonic() - start


__all__ = ["Images", "build", "container", "free_port", "logs", "make_token", "podman", "wait_ready"]
