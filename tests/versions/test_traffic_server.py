"""Weighted traffic, stickiness and runtime changes on a real two-worker server (issue 4)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import requests

from tests.helpers.server import VeneerServer
from tests.helpers.wait import wait_for
from tests.server.conftest import toy_config

pytestmark = pytest.mark.slow
ROW = {"instances": [[1, 2]]}
ADMIN = "/admin/models/risk/sum"


def version_from_body(body: dict) -> str:
    """SumAdapter v2 adds 1000: the body itself says which version computed it."""
    return "2" if body["predictions"][0] > 1000 else "1"


def hammer(url: str, n: int, threads: int = 4, headers_for=None) -> list[tuple[int, str, str]]:
    """n requests from several threads; (status, header version, body version) each."""
    out: list[tuple[int, str, str]] = []
    lock = threading.Lock()

    host, port = url.rsplit("/", 1)[-1].split(":")
    payload = json.dumps(ROW)

    def work(count: int, offset: int) -> None:
        # http.client keep-alive: a lighter client than requests, so the server is what is measured
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        local = []
        for i in range(count):
            headers = {"Content-Type": "application/json", **(headers_for(offset + i) if headers_for else {})}
            conn.request("POST", "/v1/models/sum:predict", body=payload, headers=headers)
            r = conn.getresponse()
            body = r.read()
            body_version = version_from_body(json.loads(body)) if r.status == 200 else ""
            local.append((r.status, r.getheader("X-Veneer-Model-Version", ""), body_version))
        conn.close()
        with lock:
            out.extend(local)

    per = n // threads
    ts = [threading.Thread(target=work, args=(per, k * per)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


@pytest.fixture()
def server(tmp_path):
    with VeneerServer(toy_config(tmp_path, server="access_log: false"), workers=2, threads=4) as srv:
        yield srv


def test_10000_requests_split_90_10_and_headers_match_bodies(server):
    results = hammer(server.url, 10_000)
    assert all(status == 200 for status, _, _ in results)
    assert all(header == body for _, header, body in results), "the served version header must match the body"
    share = Counter(h for _, h, _ in results)["2"] / len(results)
    assert abs(share - 0.10) <= 0.02, share


def test_sticky_keys_move_only_towards_the_canary_when_weights_change(server):
    keys = [f"user-{i}" for i in range(1000)]

    def assign() -> dict[str, str]:
        got = hammer(server.url, 1000, threads=1, headers_for=lambda i: {"X-Veneer-Routing-Key": keys[i]})
        return {k: header for k, (_, header, _) in zip(keys, got)}

    s = requests.Session()
    before = assign()
    assert before == assign(), "the same key must land on the same version while weights stand"
    r = s.put(server.url + ADMIN + "/weights", json={"1": 80, "2": 20}, timeout=5)
    assert r.status_code == 200, r.text
    wait_for(lambda: all(s.post(server.url + "/v1/models/sum:predict", json=ROW, timeout=5,
                                headers={"X-Veneer-Routing-Key": "probe"}).ok for _ in range(4)), timeout=5)
    time.sleep(0.5)  # let both workers pass one poll period (0.2 s) after the write
    after = assign()
    moved = [k for k in keys if before[k] != after[k]]
    assert len(moved) / len(keys) <= 0.12
    assert len(moved) >= 40
    assert all(before[k] == "1" and after[k] == "2" for k in moved)


def test_weight_change_under_load_reaches_every_worker_within_a_second(server):
    stop = threading.Event()
    seen: list[tuple[float, int, str]] = []

    def load() -> None:
        s = requests.Session()
        while not stop.is_set():
            r = s.post(server.url + "/v1/models/sum:predict", json=ROW, timeout=10)
            seen.append((time.monotonic(), r.status_code, r.headers.get("X-Veneer-Model-Version", "")))

    threads = [threading.Thread(target=load) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(seen) > 200, timeout=20, what="load running")
        changed_at = time.monotonic()
        r = requests.put(server.url + ADMIN + "/weights", json={"1": 0, "2": 100}, timeout=5)
        assert r.status_code == 200, r.text
        wait_for(lambda: sum(1 for t, _, _ in seen if t > changed_at + 1.0) > 300, timeout=30,
                 what="requests after the change")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert all(status == 200 for _, status, _ in seen), Counter(s for _, s, _ in seen)
    late = [v for t, _, v in seen if t > changed_at + 1.0]
    assert set(late) == {"2"}, Counter(late)


def test_invalid_changes_are_422_and_change_nothing(server):
    s = requests.Session()
    for body in ({"1": -5}, {"1": "x"}, {"1": 0, "2": 0}, {"1": True}):
        r = s.put(server.url + ADMIN + "/weights", json=body, timeout=5)
        assert r.status_code == 422, (body, r.text)
    r = s.put(server.url + ADMIN + "/weights", data=b'{"1": NaN}', headers={"Content-Type": "application/json"},
              timeout=5)
    assert r.status_code == 400
    r = s.patch(server.url + ADMIN + "/versions/1", json={"stage": "prod"}, timeout=5)
    assert r.status_code == 422
    r = s.patch(server.url + ADMIN + "/versions/9", json={"weight": 1}, timeout=5)
    assert r.status_code == 404
    meta = s.get(server.url + ADMIN, timeout=5).json()
    assert meta["traffic"] == [{"version": "1", "weight": 90.0}, {"version": "2", "weight": 10.0}]


def test_changes_survive_a_restart_without_touching_the_yaml(tmp_path):
    config = toy_config(tmp_path)
    original = config.read_text()
    with VeneerServer(config, workers=1) as srv:
        r = requests.patch(srv.url + ADMIN + "/versions/2", json={"stage": "production", "weight": 50}, timeout=5)
        assert r.status_code == 200 and {"version": "2", "weight": 50.0} in r.json()["traffic"]
        r = requests.delete(srv.url + ADMIN + "/versions/3", timeout=5)
        assert r.status_code == 200
    assert config.read_text() == original
    assert json.loads((tmp_path / ".veneer-state" / "traffic.json").read_text())["models"]["risk/sum"]
    with VeneerServer(config, workers=1) as srv:
        meta = requests.get(srv.url + ADMIN, timeout=5).json()
        assert {"version": "2", "weight": 50.0} in meta["traffic"]
        assert [v["version"] for v in meta["versions"]] == ["1", "2"]


def test_added_version_is_served_by_every_worker(server, tmp_path):
    r = requests.post(server.url + ADMIN + "/versions", timeout=5, json={
        "version": "4", "adapter": "tests.fixtures.toy_adapters:SumAdapter", "path": "unused",
        "options": {"offset": 4000}, "stage": "staging", "weight": 0})
    assert r.status_code == 201, r.text
    s = requests.Session()

    def served() -> bool:
        answers = [s.post(server.url + "/v1/models/sum/versions/4:predict", json=ROW, timeout=5) for _ in range(10)]
        return all(a.status_code == 200 and a.json()["predictions"] == [4003.0] for a in answers)

    wait_for(served, timeout=15, what="version 4 in every worker")


def test_pinning_draft_latest_unknown_and_failed_versions(server):
    s = requests.Session()
    url = server.url + "/v1/models/sum"
    assert s.post(url + "/versions/2:predict", json=ROW, timeout=5).json() == {"predictions": [1003.0]}
    r = s.post(url + ":predict", json=ROW, headers={"X-Veneer-Model-Version": "latest"}, timeout=5)
    assert r.headers["X-Veneer-Model-Version"] == "2"  # v3 is a draft: never latest
    r = s.post(url + ":predict", json=ROW, headers={"X-Veneer-Model-Version": "production"}, timeout=5)
    assert r.headers["X-Veneer-Model-Version"] == "1" and r.headers["X-Veneer-Model-Stage"] == "production"
    assert s.post(url + "/versions/99:predict", json=ROW, timeout=5).status_code == 404
    r = s.post(url + "/versions/3:predict", json=ROW, timeout=5)
    assert r.status_code == 503 and "broken on purpose" in r.json()["error"]
    # weighted traffic never lands on the draft
    assert {s.post(url + ":predict", json=ROW, timeout=5).headers["X-Veneer-Model-Version"]
            for _ in range(100)} <= {"1", "2"}


def test_versions_cli_drives_the_admin_api(server):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "veneer.sidecar.cli", "versions", "--url", server.url, *args],
                              capture_output=True, text=True, timeout=30)

    out = cli("weights", "risk/sum", "1=70", "2=30")
    assert out.returncode == 0, out.stderr
    assert {"version": "2", "weight": 30.0} in json.loads(out.stdout)["traffic"]
    out = cli("set", "risk/sum", "2", "--weight", "-1")
    assert out.returncode == 2 or out.returncode == 1
    out = cli("list")
    assert out.returncode == 0 and json.loads(out.stdout)["models"][0]["model"] in ("risk/sum", "risk/slow")
