"""Which version answers a request: weights, stages, pins and sticky keys.

A ``TrafficTable`` is an immutable snapshot of every model's versions with their
stage, weight and draft flag. Runtime changes build a new table and swap the
reference, so a request keeps the snapshot it started with.

Rules, for a request that does not pin a version:
- the traffic set is the non-draft versions with stage production or staging and
  weight > 0; one is picked with probability proportional to its weight;
- when no version of a model declares a stage or a weight, its ``latest``
  version (highest non-draft id) takes all traffic;
- with a routing key the pick is deterministic: weighted rendezvous hashing, so
  moving weight from one version to another only moves keys between those two
  (about as many keys as the share of weight moved).
Pins: a version id in the URL, or a header naming a version id or a stage
(``production``, ``staging``, ``latest``), bypass the weights.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from veneer.wrapper.errors import VersionNotFound
from veneer.wrapper.settings import ModelSpec

STAGE_PINS = ("production", "staging", "latest")


@dataclass(frozen=True)
class VersionRoute:
    """Traffic facts of one version."""

    version: str
    stage: str | None
    weight: float | None
    draft: bool


@dataclass(frozen=True)
class ModelTraffic:
    """One model's versions and the weighted set derived from them."""

    model: str
    versions: tuple[VersionRoute, ...]
    traffic: tuple[tuple[str, float], ...] = field(init=False)
    latest: str | None = field(init=False)

    def __post_init__(self) -> None:
        eligible = [v for v in self.versions if not v.draft]
        latest = max(eligible, key=lambda v: version_sort_key(v.version), default=None)
        object.__setattr__(self, "latest", latest.version if latest else None)
        declared = any(v.stage or v.weight is not None for v in self.versions)
        if not declared:
            traffic = ((latest.version, 100.0),) if latest else ()
        else:
            traffic = tuple((v.version, float(effective_weight(v))) for v in eligible
                            if v.stage in ("production", "staging") and effective_weight(v) > 0)
        object.__setattr__(self, "traffic", traffic)

    def route(self, version: str) -> VersionRoute | None:
        """The entry of ``version``, or None."""
        for v in self.versions:
            if v.version == version:
                return v
        return None

    def stage_of(self, version: str) -> str | None:
        """The stage of ``version`` (None when it has none)."""
        route = self.route(version)
        return route.stage if route else None

    def in_traffic(self, version: str) -> bool:
        """Whether ``version`` is in the weighted set."""
        return any(v == version for v, _ in self.traffic)


def effective_weight(v: VersionRoute) -> float:
    """A production version without a weight counts as 100; any other as 0."""
    if v.weight is not None:
        return v.weight
    return 100.0 if v.stage == "production" else 0.0


def version_sort_key(version: str) -> tuple:
    """Numeric ids sort numerically ("10" after "9"); others after them, as text."""
    parts = version.split(".")
    if all(p.isdigit() for p in parts):
        return (0, tuple(int(p) for p in parts), version)
    return (1, (), version)


@dataclass(frozen=True)
class TrafficTable:
    """Snapshot of every model's traffic; ``generation`` grows with each change."""

    models: Mapping[str, ModelTraffic]
    generation: int = 0

    @classmethod
    def from_specs(cls, specs: Iterable[ModelSpec], overrides: Mapping[str, Mapping[str, Mapping]] | None = None,
                   generation: int = 0) -> "TrafficTable":
        """Build from config specs, applying ``{model: {version: {stage, weight, draft}}}`` overrides."""
        overrides = overrides or {}
        models = {}
        for m in specs:
            changes = overrides.get(m.qualified_name, {})
            routes = []
            for v in m.versions:
                c = changes.get(v.version, {})
                routes.append(VersionRoute(version=v.version, stage=c.get("stage", v.stage),
                                           weight=c.get("weight", v.weight), draft=c.get("draft", v.draft)))
            models[m.qualified_name] = ModelTraffic(model=m.qualified_name, versions=tuple(routes))
        return cls(models=models, generation=generation)


@dataclass(frozen=True)
class Pick:
    """The version chosen for one request and why."""

    version: str
    stage: str | None
    reason: str  # "weights", "sticky", "url", "header"


class Router:
    """Picks versions from the current ``TrafficTable``."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def pick(self, traffic: ModelTraffic, *, url_version: str | None = None, header_pin: str | None = None,
             routing_key: str | None = None, may_pin_outside: bool = True) -> Pick:
        """Choose a version; raises ``VersionNotFound`` for unknown ids and stages without versions."""
        if url_version is not None:
            return self._pinned(traffic, url_version, "url")
        if header_pin:
            pick = self._header(traffic, header_pin, routing_key)
            if pick is not None and (may_pin_outside or traffic.in_traffic(pick.version)):
                return pick
        return self._weighted(traffic, routing_key)

    def _pinned(self, traffic: ModelTraffic, version: str, reason: str) -> Pick:
        route = traffic.route(version)
        if route is None:
            raise VersionNotFound(traffic.model, version, known=[v.version for v in traffic.versions])
        return Pick(version=version, stage=route.stage, reason=reason)

    def _header(self, traffic: ModelTraffic, pin: str, routing_key: str | None) -> Pick | None:
        pin = pin.strip()
        if pin == "latest":
            if traffic.latest is None:
                raise VersionNotFound(traffic.model, "latest")
            return self._pinned(traffic, traffic.latest, "header")
        if pin in ("production", "staging"):
            candidates = [(v.version, max(effective_weight(v), 1e-9)) for v in traffic.versions
                          if v.stage == pin and not v.draft]
            if not candidates:
                raise VersionNotFound(traffic.model, pin,
                                      known=[v.version for v in traffic.versions])
            version = self._choose(candidates, routing_key)
            return Pick(version=version, stage=pin, reason="header")
        return self._pinned(traffic, pin, "header")

    def _weighted(self, traffic: ModelTraffic, routing_key: str | None) -> Pick:
        if not traffic.traffic:
            raise VersionNotFound(traffic.model, "(none taking traffic)",
                                  known=[v.version for v in traffic.versions])
        version = self._choose(traffic.traffic, routing_key)
        return Pick(version=version, stage=traffic.stage_of(version),
                    reason="sticky" if routing_key else "weights")

    def _choose(self, weighted: tuple[tuple[str, float], ...] | list, routing_key: str | None) -> str:
        if len(weighted) == 1:
            return weighted[0][0]
        if routing_key:
            return rendezvous(weighted, routing_key)
        total = sum(w for _, w in weighted)
        x = self.rng.random() * total
        for version, w in weighted:
            x -= w
            if x < 0:
                return version
        return weighted[-1][0]


def rendezvous(weighted: Iterable[tuple[str, float]], key: str) -> str:
    """Weighted rendezvous (highest random weight) hashing of ``key`` onto versions.

    Score = -w / ln(u) with u uniform in (0, 1) from a hash of (key, version):
    a key lands on each version with probability w_i / sum(w), and changing one
    version's weight only moves keys to or from that version.
    """
    best, best_score = None, -math.inf
    for version, w in weighted:
        if w <= 0:
            continue
        digest = hashlib.blake2b(f"{version}\x00{key}".encode(), digest_size=8).digest()
        u = (int.from_bytes(digest, "big") + 0.5) / 2.0 ** 64
        score = -w / math.log(u)
        if score > best_score:
            best, best_score = version, score
    return best
