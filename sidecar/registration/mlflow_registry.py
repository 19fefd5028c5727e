"""Registration with an MLflow Model Registry (embedded SQLite file or any tracking server).

Each served version becomes one MLflow model version, found again by the
artifact's sha256 (tag ``veneer.sha256``), so restarts never create a second
registry version for the same bytes. Tags carry what the platform needs
(endpoint, weight, adapter, stage, veneer version, instance id, heartbeat);
aliases ``production`` and ``staging`` follow the stages and ``veneer-latest``
points at the highest non-draft version (MLflow reserves the alias name
``latest`` for itself). Every call is bounded: MLflow's own HTTP retry loop
(minutes by default) is cut down through its environment variables.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

TAG = "veneer."
SHA_TAG, IDENTITY_TAG = "veneer.sha256", "veneer.identity"
INSTANCE_TAG_PREFIX = "veneer.instance."
SHARED_INSTANCE_TAGS = ("veneer.endpoint", "veneer.instance_id", "veneer.heartbeat")
LATEST_ALIAS = "veneer-latest"
STAGE_ALIASES = ("production", "staging")
ALIASES = (*STAGE_ALIASES, LATEST_ALIAS)
#: MLflow's defaults are 7 retries and a 120 s timeout: far too long for a background
#: loop that must notice an outage and stop within a shutdown budget. A server never
#: phones home either: MLflow's usage telemetry is off (it also stalled exits by seconds).
MLFLOW_ENV_BOUNDS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
                     "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
                     "DO_NOT_TRACK": "true"}


def resolve_tracking_uri(uri: str, base_dir: Path) -> str:
    """A relative ``sqlite:///file.db`` resolved against ``base_dir``; other URIs unchanged."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        rel = uri[len("sqlite:///"):]
        if rel and rel != ":memory:":
            return "sqlite:///" + str((Path(base_dir) / rel).resolve())
    return uri


def registered_name(template: str, prefix: str, model: str) -> str:
    """The MLflow registered-model name of ``prefix/model`` (``/`` in the prefix becomes ``.``)."""
    name = template.format(prefix=prefix.replace("/", "."), model=model)
    return re.sub(r"\.{2,}", ".", name).strip(".") or model


def _version_key(v: str) -> tuple:
    # "10" sorts after "9"; non-numeric versions after numeric ones, alphabetically
    return (0, int(v), "") if str(v).isdigit() else (1, 0, str(v))


def _is_error(e: Exception, code: str) -> bool:
    return getattr(e, "error_code", None) == code or code in str(e)


class MlflowBackend:
    """The ``mlflow`` registry backend (see the module docstring)."""

    name = "mlflow"

    def __init__(self, tracking_uri: str, *, versions: list[dict], endpoint_url: str,
                 instance_id: str, heartbeat_seconds: float = 30.0,
                 model_name_template: str = "{prefix}.{model}", veneer_version: str = "",
                 await_creation_for: int = 2) -> None:
        self.tracking_uri = tracking_uri
        self.versions = [dict(v) for v in versions]
        #: False under registry.drive_traffic: MLflow is then the source of stages and
        #: weights, so existing weight/stage tags and aliases are never overwritten
        self.owns_traffic = True
        self.endpoint_url = endpoint_url
        self.instance_id = re.sub(r"[^A-Za-z0-9_.-]", "_", instance_id)[:120]
        self.heartbeat_seconds = heartbeat_seconds
        self.template = model_name_template
        self.veneer_version = veneer_version
        self.await_creation_for = await_creation_for
        self._client = None
        #: (registered name, identity) -> registry version number, from the last register
        self.registered: dict[tuple[str, str], str] = {}
        #: completed registrations (tags and aliases all written)
        self.completed = 0

    # -- plumbing ---------------------------------------------------------------------------

    def client(self):
        """The ``MlflowClient`` (mlflow is imported here, in the registrar thread, never at import)."""
        if self._client is None:
            for key, value in MLFLOW_ENV_BOUNDS.items():
                os.environ.setdefault(key, value)
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def name_of(self, item: dict) -> str:
        """Registered-model name of one ``versions`` item."""
        return registered_name(self.template, item.get("prefix") or "", item["model"])

    @staticmethod
    def identity(item: dict) -> str:
        """What makes a registry version the same one: the sha256, else prefix/model@version."""
        sha = item.get("sha256")
        if sha:
            return str(sha).lower()
        return f"nosha:{item.get('prefix') or ''}/{item['model']}@{item['version']}"

    def _instance_value(self, now: float) -> str:
        return json.dumps({"endpoint": self.endpoint_url, "heartbeat": round(now, 3)},
                          separators=(",", ":"))

    def _tags(self, item: dict, now: float) -> dict[str, str]:
        tags = {
            IDENTITY_TAG: self.identity(item),
            "veneer.version": str(item["version"]),
            "veneer.model": f"{item.get('prefix') or ''}/{item['model']}".lstrip("/"),
            "veneer.adapter": str(item.get("adapter") or ""),
            "veneer.stage": str(item.get("stage") or ""),
            "veneer.weight": "" if item.get("weight") is None else str(item["weight"]),
            "veneer.draft": "true" if item.get("draft") else "false",
            "veneer.veneer_version": self.veneer_version,
            "veneer.endpoint": self.endpoint_url,
            "veneer.instance_id": self.instance_id,
            "veneer.heartbeat": f"{now:.3f}",
            INSTANCE_TAG_PREFIX + self.instance_id: self._instance_value(now),
        }
        if item.get("sha256"):
            tags[SHA_TAG] = str(item["sha256"]).lower()
        return tags

    def _source(self, item: dict) -> str:
        path = item.get("artifact_path")
        if path:
            return str(path) if "://" in str(path) else Path(path).resolve().as_uri()
        return f"veneer://{item.get('prefix') or ''}/{item['model']}/{item['version']}"

    # -- registration -----------------------------------------------------------------------

    def _ensure_model(self, client, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            client.create_registered_model(name, tags={"veneer.managed": "true"},
                                           description="Registered by veneer.")
        except MlflowException as e:
            # another instance (or our previous run) created it: that is success
            if not _is_error(e, "RESOURCE_ALREADY_EXISTS"):
                raise

    def _existing(self, client, name: str) -> dict[str, Any]:
        """identity -> model version, for every version of ``name`` carrying a veneer identity."""
        found: dict[str, Any] = {}
        token = None
        while True:
            page = client.search_model_versions(f"name = '{name}'", max_results=200,
                                                page_token=token)
            for mv in page:
                ident = (mv.tags or {}).get(IDENTITY_TAG) or (mv.tags or {}).get(SHA_TAG)
                if ident and (ident not in found or _version_key(mv.version) <
                              _version_key(found[ident].version)):
                    found[ident] = mv   # the oldest one wins if a race ever made two
            token = getattr(page, "token", None)
            if not token:
                return found

    def _create(self, client, name: str, item: dict, tags: dict[str, str]):
        from mlflow.exceptions import MlflowException

        try:
            return client.create_model_version(name, self._source(item), tags=tags,
                                               description=f"veneer version {item['version']}",
                                               await_creation_for=self.await_creation_for)
        except MlflowException as e:
            # a tracking server may refuse a local file path as a source: register under a
            # veneer:// URI instead (the path stays in the veneer.artifact tag)
            if not _is_error(e, "INVALID_PARAMETER_VALUE") or not item.get("artifact_path"):
                raise
            return client.create_model_version(name, self._source({**item, "artifact_path": None}),
                                               tags=tags, await_creation_for=self.await_creation_for)

    def _settle(self, client, name: str, ident: str, created):
        """Resolve a race of replicas starting together: the oldest version of the bytes wins.

        Two instances may both find no version and both create one; each then
        looks again, keeps the oldest and deletes its own newer duplicate, so
        the registry converges to one version per sha256.
        """
        winner = self._existing(client, name).get(ident, created)
        if str(winner.version) != str(created.version):
            client.delete_model_version(name, created.version)
        return winner

    def register(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Create or update every version's registry entry, tags and aliases (idempotent)."""
        client = self.client()
        now = time.time()
        by_name: dict[str, list[dict]] = {}
        for item in self.versions:
            by_name.setdefault(self.name_of(item), []).append(item)
        for name, items in by_name.items():
            if should_stop():
                return
            self._ensure_model(client, name)
            existing = self._existing(client, name)
            numbers: dict[str, str] = {}
            for item in items:
                if should_stop():   # a shutdown is waiting to deregister: do not add more
                    return
                tags = self._tags(item, now)
                if item.get("artifact_path"):
                    tags["veneer.artifact"] = str(item["artifact_path"])[:5000]
                ident = self.identity(item)
                mv = existing.get(ident)
                if mv is None:
                    mv = self._settle(client, name, ident, self._create(client, name, item, tags))
                    existing[ident] = mv
                    if INSTANCE_TAG_PREFIX + self.instance_id not in (mv.tags or {}):
                        for key, value in tags.items():
                            client.set_model_version_tag(name, mv.version, key, value)
                else:
                    for key, value in tags.items():
                        have = (mv.tags or {}).get(key)
                        if have == value or (not self.owns_traffic and have is not None
                                             and key in ("veneer.weight", "veneer.stage")):
                            continue
                        client.set_model_version_tag(name, mv.version, key, value)
                numbers[str(item["version"])] = str(mv.version)
                self.registered[(name, ident)] = str(mv.version)
            self._set_aliases(client, name, items, numbers)
        self.completed += 1

    def _set_aliases(self, client, name: str, items: list[dict], numbers: dict[str, str]) -> None:
        wanted: dict[str, str] = {}
        for stage in STAGE_ALIASES:
            staged = [i for i in items if i.get("stage") == stage]
            if staged:
                best = max(staged, key=lambda i: (float(i.get("weight") or 0),
                                                  _version_key(str(i["version"]))))
                wanted[stage] = numbers[str(best["version"])]
        public = [i for i in items if not i.get("draft")]
        if public:
            wanted[LATEST_ALIAS] = numbers[str(max(public, key=lambda i: _version_key(
                str(i["version"])))["version"])]
        current = dict(getattr(client.get_registered_model(name), "aliases", {}) or {})
        for alias, number in wanted.items():
            if not self.owns_traffic and alias in current:
                continue
            if str(current.get(alias)) != number:
                client.set_registered_model_alias(name, alias, number)

    def heartbeat(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Re-assert everything with a fresh heartbeat (heals a registry that lost its state)."""
        self.register(should_stop)

    # -- deregistration ---------------------------------------------------------------------

    def _other_live_instances(self, tags: dict[str, str], now: float) -> bool:
        for key, value in tags.items():
            if not key.startswith(INSTANCE_TAG_PREFIX) or key == INSTANCE_TAG_PREFIX + self.instance_id:
                continue
            try:
                beat = float(json.loads(value).get("heartbeat", 0))
            except (ValueError, AttributeError, TypeError):
                continue
            if now - beat < 3 * self.heartbeat_seconds:
                return True
        return False

    def deregister(self) -> None:
        """Remove this instance's tags; if no other live instance serves a version, its aliases too."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        now = time.time()
        for (name, _ident), number in list(self.registered.items()):
            try:
                mv = client.get_model_version(name, number)
            except MlflowException as e:
                if _is_error(e, "RESOURCE_DOES_NOT_EXIST"):
                    continue
                raise
            tags = dict(mv.tags or {})
            mine = INSTANCE_TAG_PREFIX + self.instance_id
            if mine in tags:
                client.delete_model_version_tag(name, number, mine)
            if self._other_live_instances(tags, now):
                continue
            for key in SHARED_INSTANCE_TAGS:
                if key in tags:
                    client.delete_model_version_tag(name, number, key)
            aliases = getattr(client.get_registered_model(name), "aliases", {}) or {}
            for alias, target in aliases.items():
                if alias in ALIASES and str(target) == number:
                    client.delete_registered_model_alias(name, alias)
        self.registered.clear()

