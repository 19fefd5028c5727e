"""``veneer.Client``: call a veneer server from Python."""

from __future__ import annotations

from typing import Any

import requests


class Client:
    """A small client for a veneer server's native and OIP routes.

    ``Client("http://127.0.0.1:8080", token="...")``; every call has a timeout.
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def predict(self, model: str, data: Any, *, version: str | None = None,
                routing_key: str | None = None) -> Any:
        """POST rows (list of dicts, or a DataFrame) to ``/models/{prefix}/{model}/``; returns the JSON."""
        if hasattr(data, "to_dict"):
            data = data.to_dict(orient="records")
        path = f"/models/{model.strip('/')}/" + (f"v{version}/" if version else "")
        headers = {"X-Veneer-Routing-Key": routing_key} if routing_key else {}
        response = self.session.post(self.url + path, json=data, headers=headers, timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def metadata(self, model: str) -> dict:
        """The model's metadata (``?get_meta=true``)."""
        response = self.session.get(f"{self.url}/models/{model.strip('/')}/", params={"get_meta": "true"},
                                    timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def ready(self) -> bool:
        """Whether the server reports ready."""
        return self.session.get(self.url + "/v2/health/ready", timeout=self.timeout).status_code == 200
