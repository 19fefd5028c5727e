"""Version routing rules: weights, stickiness, pins, drafts and latest (unit level)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from veneer.sidecar.routing import ModelTraffic, Router, VersionRoute, rendezvous
from veneer.wrapper.errors import VersionNotFound


def traffic(*routes) -> ModelTraffic:
    return ModelTraffic(model="risk/churn", versions=tuple(VersionRoute(*r) for r in routes))


def test_weights_split_within_two_points_on_10000_picks():
    t = traffic(("1", "production", 90, False), ("2", "staging", 10, False))
    router = Router(random.Random(7))
    counts = Counter(router.pick(t).version for _ in range(10_000))
    assert abs(counts["2"] / 10_000 - 0.10) <= 0.02
    assert set(counts) == {"1", "2"}


def test_versions_without_stage_weight_or_with_draft_take_no_traffic():
    t = traffic(("1", "production", 50, False), ("2", None, 50, False), ("3", "staging", 50, True),
                ("4", "staging", 0, False))
    assert t.traffic == (("1", 50.0),)
    router = Router(random.Random(1))
    assert {router.pick(t).version for _ in range(200)} == {"1"}


def test_latest_is_highest_non_draft_numerically_and_takes_all_when_nothing_is_declared():
    t = traffic(("2", None, None, False), ("10", None, None, False), ("11", None, None, True))
    assert t.latest == "10"
    assert t.traffic == (("10", 100.0),)
    assert Router().pick(t).version == "10"


def test_sticky_keys_are_deterministic_and_move_only_towards_the_canary():
    before = traffic(("1", "production", 90, False), ("2", "staging", 10, False))
    after = traffic(("1", "production", 80, False), ("2", "staging", 20, False))
    router = Router()
    keys = [f"user-{i}" for i in range(1000)]
    first = {k: router.pick(before, routing_key=k).version for k in keys}
    again = {k: router.pick(before, routing_key=k).version for k in keys}
    assert first == again
    moved = {k for k in keys if router.pick(after, routing_key=k).version != first[k]}
    assert len(moved) / 1000 <= 0.12
    assert len(moved) >= 50  # weight did move: about 10 % of keys follow it
    assert all(first[k] == "1" for k in moved), "no key may move from the canary back"


def test_rendezvous_share_matches_weights():
    counts = Counter(rendezvous([("a", 70), ("b", 20), ("c", 10)], f"k{i}") for i in range(20_000))
    assert abs(counts["a"] / 20_000 - 0.7) < 0.02 and abs(counts["c"] / 20_000 - 0.1) < 0.02


def test_pins_by_url_and_header():
    t = traffic(("1", "production", 100, False), ("2", "staging", 0, False), ("3", None, None, True))
    router = Router()
    assert router.pick(t, url_version="3").version == "3"
    assert router.pick(t, url_version="3").reason == "url"
    assert router.pick(t, header_pin="staging").version == "2"
    assert router.pick(t, header_pin="production").version == "1"
    assert router.pick(t, header_pin="latest").version == "2"  # 3 is a draft
    assert router.pick(t, header_pin="3").version == "3"
    # a restricted caller pinning outside the traffic set falls back to the weights
    assert router.pick(t, header_pin="3", may_pin_outside=False).version == "1"
    assert router.pick(t, header_pin="1", may_pin_outside=False).version == "1"


def test_unknown_versions_are_404():
    t = traffic(("1", "production", 100, False))
    with pytest.raises(VersionNotFound) as info:
        Router().pick(t, url_version="99")
    assert info.value.status == 404 and "99" in str(info.value)
    with pytest.raises(VersionNotFound):
        Router().pick(t, header_pin="staging")
