"""What the image promises, checked without building it: the Dockerfile agrees with the
manifests and the server, builds on Docker's classic API builder, and layers so that a
user's artifacts never reinstall packages. Also `veneer docker build`'s errors."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.helpers.server import REPO
from veneer.sidecar import k8s, k8s_pod
from veneer.sidecar.docker_build import BuildFailed, build_image
from veneer.wrapper.errors import ConfigError

DOCKERFILE = (REPO / "Dockerfile").read_text()
_UNCOMMENTED = re.sub(r"(?m)^#.*\n", "", DOCKERFILE)
INSTRUCTIONS = [re.sub(r"\\\n\s*", " ", block).strip()
                for block in re.split(r"\n(?=[A-Z]+ )", _UNCOMMENTED) if block.strip()]


def final_stage() -> list[str]:
    starts = [i for i, ins in enumerate(INSTRUCTIONS) if ins.startswith("FROM ")]
    return INSTRUCTIONS[starts[-1]:]


def test_every_stage_starts_from_python_slim_and_the_final_one_copies_the_venv():
    froms = [ins for ins in INSTRUCTIONS if ins.startswith("FROM ")]
    assert len(froms) >= 2 and all(f.split()[1] == "python:3.11-slim" for f in froms)
    final = final_stage()
    assert any(ins.startswith("COPY --from=deps /opt/veneer /opt/veneer") for ins in final)
    assert 'ARG EXTRAS="onnx,sklearn"' in INSTRUCTIONS


def test_the_final_image_agrees_with_the_manifests_and_the_server():
    final = final_stage()
    env = " ".join(ins for ins in final if ins.startswith("ENV "))
    assert f"USER {k8s_pod.UID}:{k8s_pod.UID}" in final
    assert "EXPOSE 8080" in final and "VENEER_PORT=8080" in env and "VENEER_HOST=0.0.0.0" in env
    assert final[-1] == f'CMD ["veneer", "serve", "{k8s_pod.CONFIG_PATH}"]'
    health = next(ins for ins in final if ins.startswith("HEALTHCHECK"))
    assert k8s.READY_PATH in health and "urllib" in health  # slim images have no curl
    # the writable places the k8s pod mounts as emptyDir are where the image writes
    home = k8s_pod.WRITABLE["home"][0]
    assert f"HOME={home}" in env and f"PIP_PREFIX={home}/.local" in env
    assert f"PYTHONPATH={home}/.local/lib/python3.11/site-packages" in env
    assert f"VENEER_STATE_DIR={home}/state" in env


def test_dependencies_install_before_the_source_is_copied():
    install = "pip install --no-cache-dir -r requirements.txt"
    deps = INSTRUCTIONS.index(next(i for i in INSTRUCTIONS if install in i))
    source = INSTRUCTIONS.index("COPY . /src")
    assert INSTRUCTIONS[deps - 1].startswith("COPY setup.cfg ")
    assert deps < source


def test_no_buildkit_only_syntax_so_the_docker_api_classic_builder_accepts_it():
    assert "--mount=" not in DOCKERFILE
    assert "<<" not in DOCKERFILE  # heredocs: neither this buildah nor the classic builder
    assert not any(ins.startswith("ONBUILD") for ins in INSTRUCTIONS)


def test_the_user_example_is_two_lines():
    lines = [line for line in (REPO / "examples" / "docker" / "Dockerfile").read_text().splitlines() if line]
    assert lines == ["FROM veneer", "COPY . /models/"]


def test_dockerignore_sends_only_the_package_sources():
    patterns = [p for p in (REPO / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    assert patterns[0] == "*"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert {"veneer", "wrapper", "adapters", "sidecar", "setup.cfg", "setup.py", "pyproject.toml"} <= allowed
    assert not allowed & {".venv", "tests", "examples", ".git"}


def run_requirements(*args: str) -> subprocess.CompletedProcess:
    script = REPO / "scripts" / "containers" / "requirements_from_setup_cfg.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=30)


def test_requirements_are_install_requires_plus_the_chosen_extras():
    out = run_requirements(str(REPO / "setup.cfg"), "onnx,sklearn").stdout.split()
    assert "flask>=3.0" in out and "gunicorn>=23.0" in out
    assert "onnxruntime>=1.17" in out and "scikit-learn>=1.3" in out
    assert not any(r.startswith("mlflow") for r in out)
    assert len(out) == len(set(out))


def test_an_unknown_extra_names_the_known_ones():
    proc = run_requirements(str(REPO / "setup.cfg"), "onnx,sklaern")
    assert proc.returncode != 0
    assert "unknown extra 'sklaern'" in proc.stderr and "sklearn" in proc.stderr and "EXTRAS" in proc.stderr


def test_docker_build_without_a_dockerfile_or_an_engine_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="no Dockerfile in build context"):
        build_image(tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM veneer\n")
    with pytest.raises(BuildFailed) as e:
        build_image(tmp_path, base_url=f"unix://{tmp_path}/no-engine.sock")
    assert "cannot reach a Docker engine" in str(e.value) and "DOCKER_HOST" in str(e.value)
