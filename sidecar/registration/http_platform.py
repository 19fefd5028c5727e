"""Registration with a generic HTTP platform registry.

The contract (``examples/platform_registry/receiver.py`` implements it):

* ``POST {url}`` with ``{"instance_id", "endpoint", "ttl_seconds", "veneer_version",
  "models": [...]}`` registers (or replaces) this instance: 200/201;
* ``PUT {url}/{instance_id}/heartbeat`` refreshes it: 200, or 404 when the
  platform forgot the instance (then veneer registers again);
* ``DELETE {url}/{instance_id}`` deregisters: 204 (404 is fine too);
* ``GET {url}`` lists instances; one whose heartbeat stopped for ``ttl_seconds``
  is marked ``gone``.

An optional bearer token is read from the environment variable ``token_env``
(never from the file). Redirects are not followed, so the token cannot leak to
another host.
"""

from __future__ import annotations

import os
from typing import Callable
from urllib.parse import quote


class RegistryRejected(RuntimeError):
    """The platform answered with an unexpected status."""


class HttpPlatformBackend:
    """The ``http`` registry backend (see the module docstring)."""

    name = "http"

    def __init__(self, url: str, *, versions: list[dict], endpoint_url: str, instance_id: str,
                 ttl_seconds: float = 30.0, heartbeat_seconds: float | None = None,
                 token_env: str | None = None, timeout_seconds: float = 2.0,
                 veneer_version: str = "") -> None:
        import requests

        self.url = url.rstrip("/")
        self.versions = [dict(v, artifact_path=None if v.get("artifact_path") is None
                              else str(v["artifact_path"])) for v in versions]
        self.endpoint_url = endpoint_url
        self.instance_id = instance_id
        self.ttl_seconds = float(ttl_seconds)
        self.heartbeat_seconds = float(heartbeat_seconds or max(0.05, self.ttl_seconds / 3))
        self.token_env = token_env
        self.timeout = float(timeout_seconds)
        self.veneer_version = veneer_version
        self.session = requests.Session()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "veneer-registrar"}
        token = os.environ.get(self.token_env) if self.token_env else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _instance_url(self) -> str:
        return f"{self.url}/{quote(self.instance_id, safe='')}"

    def _call(self, method: str, url: str, ok: tuple[int, ...], timeout: float | None = None,
              **kwargs):
        r = self.session.request(method, url, headers=self._headers(), allow_redirects=False,
                                 timeout=timeout or self.timeout, **kwargs)
        if r.status_code not in ok:
            raise RegistryRejected(f"{method} {url} answered {r.status_code}: {r.text[:200]!r}")
        return r

    def payload(self) -> dict:
        """The registration body."""
        return {"instance_id": self.instance_id, "endpoint": self.endpoint_url,
                "ttl_seconds": self.ttl_seconds, "veneer_version": self.veneer_version,
                "models": self.versions}

    def register(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """``POST`` the registration (idempotent on the platform: keyed by instance id)."""
        self._call("POST", self.url, (200, 201, 204), json=self.payload())

    def heartbeat(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """``PUT .../heartbeat``; a 404 means the platform lost us: register again."""
        r = self._call("PUT", self._instance_url() + "/heartbeat", (200, 204, 404),
                       json={"ttl_seconds": self.ttl_seconds})
        if r.status_code == 404:
            self.register(should_stop)

    def deregister(self) -> None:
        """``DELETE`` this instance (404: already gone, fine)."""
        self._call("DELETE", self._instance_url(), (200, 202, 204, 404))
