# Veneer base image: serves the models described by /models/veneer.yaml.
#
# A user's image is two lines (examples/docker/Dockerfile):
#     FROM veneer
#     COPY . /models/
# Their COPY is the last layer, so changing artifacts or veneer.yaml never reinstalls Python
# packages. There is no ONBUILD: the COPY stays visible in the user's file, and the same image
# runs unchanged as a sidecar, where there is nothing to copy.
#
#     docker build -t veneer .                                  # extras: onnx, sklearn
#     docker build -t veneer:all --build-arg EXTRAS=all .       # + mlflow (much larger)
#
# Every server option is an environment variable (VENEER_PORT, VENEER_WORKERS, VENEER_THREADS,
# VENEER_TIMEOUT, VENEER_GRACEFUL_TIMEOUT, ...), so one image runs everywhere.
# VENEER_STARTUP_SCRIPT (or startup_script: in veneer.yaml) runs once before serving, as the
# non-root user; a `pip install` in it lands in /home/veneer/.local (PIP_PREFIX), which is on
# PYTHONPATH. The venv itself stays read-only to the serving user.

# ---- deps: a venv with veneer's requirements and the chosen extras ----------------------------
FROM python:3.11-slim AS deps
ARG EXTRAS="onnx,sklearn"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_WARN_SCRIPT_LOCATION=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/veneer
WORKDIR /src
# From setup.cfg alone, so editing veneer's source never reinstalls them. The packages' own
# test suites (about 100 MB) are dropped: nothing imports them at run time. No RUN --mount
# cache: `veneer docker build` uses the Docker API's classic builder, which (unlike BuildKit
# and podman) rejects it; the layer cache does the same job here.
COPY setup.cfg scripts/containers/requirements_from_setup_cfg.py ./
RUN python requirements_from_setup_cfg.py setup.cfg "$EXTRAS" > requirements.txt \
 && /opt/veneer/bin/pip install --no-cache-dir -r requirements.txt \
 && /opt/veneer/bin/python -c "import pathlib, shutil; [shutil.rmtree(p) for p in list(pathlib.Path('/opt/veneer/lib/python3.11/site-packages').glob('*/**/tests')) if p.is_dir() and p.exists()]"

# ---- wheel: veneer itself, built once its build tools are in a cached layer ---------------------
FROM python:3.11-slim AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m pip install --no-cache-dir "setuptools>=68" wheel
COPY . /src
RUN python -m pip wheel --no-cache-dir --no-build-isolation --no-deps --wheel-dir /wheels /src

# ---- final: the venv, veneer's wheel, a non-root user ---------------------------------------------
FROM python:3.11-slim
ARG EXTRAS="onnx,sklearn"
LABEL org.opencontainers.image.title="veneer" \
      org.opencontainers.image.description="Serve legacy ML models behind standard APIs" \
      io.veneer.extras="${EXTRAS}"

# uid 10001 by number too, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN echo "veneer:x:10001:10001:veneer:/home/veneer:/bin/sh" >> /etc/passwd \
 && echo "veneer:x:10001:" >> /etc/group \
 && mkdir -p /models /home/veneer/.local/lib/python3.11/site-packages /home/veneer/state \
 && chown -R 10001:10001 /home/veneer

# Two layers: the large dependency venv stays cached while only the small wheel changes.
COPY --from=deps /opt/veneer /opt/veneer
COPY --from=wheel /wheels/ /tmp/wheels/
RUN /opt/veneer/bin/pip install --no-cache-dir --no-deps /tmp/wheels/veneer-*.whl \
 && rm -rf /tmp/wheels \
 && cd / && /opt/veneer/bin/veneer --version

ENV PATH=/opt/veneer/bin:/home/veneer/.local/bin:$PATH \
    VIRTUAL_ENV=/opt/veneer \
    HOME=/home/veneer \
    PIP_PREFIX=/home/veneer/.local \
    PYTHONPATH=/home/veneer/.local/lib/python3.11/site-packages \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VENEER_STATE_DIR=/home/veneer/state \
    VENEER_HOST=0.0.0.0 \
    VENEER_PORT=8080

USER 10001:10001
WORKDIR /models
EXPOSE 8080
# Slim images have no curl: ask the readiness endpoint with the interpreter that is there.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ.get('VENEER_PORT', '8080'), timeout=2)"]
CMD ["veneer", "serve", "/models/veneer.yaml"]
