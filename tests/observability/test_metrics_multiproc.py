"""Multiprocess mode with real forked processes writing a real prometheus directory (CASES 74-77).

Each child plays a gunicorn worker: it inherits the Metrics object built before
the fork (as with ``preload``), records requests and exits. The parent scrapes
with a fresh collector, as a worker answering ``/metrics`` would.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import signal
import stat
from types import SimpleNamespace

import pytest

from veneer.sidecar.metrics import Metrics, child_exit, prepare_multiproc_dir, set_registry_up
from veneer.wrapper.errors import ConfigError

from .conftest import scrape, total

CTX = multiprocessing.get_context("fork")
MODELS = ["risk/churn", "risk/fraud"]


def _worker(metrics: Metrics, n: int, seed: int) -> None:
    for i in range(n):
        model = MODELS[(i + seed) % 2]
        status = (200, 200, 404, 422, 401)[(i * 7 + seed) % 5]
        with metrics.in_flight(model):
            metrics.observe_request(model=model, version="1", protocol="native", status=status,
                                    seconds=0.001 * (i % 5), rows=i % 3 + 1)


def _metrics() -> Metrics:
    return Metrics(known_models=MODELS, known_versions={m: ["1"] for m in MODELS})


def test_counts_from_four_processes_sum_exactly(multiproc):
    m = _metrics()
    sizes = [250, 250, 300, 200]
    procs = [CTX.Process(target=_worker, args=(m, n, seed)) for seed, n in enumerate(sizes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
        child_exit(None, SimpleNamespace(pid=p.pid))
    s = scrape()
    assert total(s, "veneer_requests_total") == 1000
    assert total(s, "veneer_request_duration_seconds_count") == 1000
    assert total(s, "veneer_request_rows_count") == 1000
    expected_rows = sum(i % 3 + 1 for n in sizes for i in range(n))
    assert total(s, "veneer_request_rows_sum") == expected_rows
    expected_401 = sum(1 for seed, n in enumerate(sizes) for i in range(n) if (i * 7 + seed) % 5 == 4)
    assert total(s, "veneer_requests_total", code="401") == expected_401
    assert total(s, "veneer_requests_in_flight") == 0
    # the scrape is the same whichever process does it: repeat from a fresh child
    q = CTX.Queue()
    p = CTX.Process(target=lambda: q.put(total(scrape(), "veneer_requests_total")))
    p.start()
    assert q.get(timeout=30) == 1000
    p.join(30)


def _stuck_in_flight(metrics: Metrics, ready, release) -> None:
    with metrics.in_flight("risk/churn"):
        metrics.observe_request(model="risk/churn", version="1", protocol="oip", status=200,
                                seconds=0.01, rows=1)
        ready.set()
        release.wait(30)


def test_killed_worker_in_flight_gauge_drops_and_counters_never_go_down(multiproc):
    m = _metrics()
    ready, release = CTX.Event(), CTX.Event()
    p = CTX.Process(target=_stuck_in_flight, args=(m, ready, release))
    p.start()
    assert ready.wait(30)
    s = scrape()
    assert total(s, "veneer_requests_in_flight", model="risk/churn") == 1
    assert total(s, "veneer_requests_total") == 1
    os.kill(p.pid, signal.SIGKILL)       # a worker aborted mid-request
    p.join(30)
    # until gunicorn's child_exit runs, the dead worker still counts as in flight
    assert total(scrape(), "veneer_requests_in_flight") == 1
    child_exit(None, SimpleNamespace(pid=p.pid))
    s = scrape()
    assert total(s, "veneer_requests_in_flight") == 0
    assert total(s, "veneer_requests_total") == 1      # its counts stay
    # recycle many workers: the total only ever grows
    seen = [1.0]
    for seed in range(6):
        w = CTX.Process(target=_worker, args=(m, 10, seed))
        w.start()
        w.join(30)
        child_exit(None, SimpleNamespace(pid=w.pid))
        seen.append(total(scrape(), "veneer_requests_total"))
    assert seen == sorted(seen) and seen[-1] == 61
    assert total(scrape(), "veneer_requests_in_flight") == 0


def test_model_info_and_load_time_from_the_preloading_master_survive_worker_deaths(multiproc):
    m = _metrics()
    m.observe_model_load(model="risk/churn", version="1", adapter="pickle", seconds=1.5,
                         sha256="f" * 64, saved_with="scikit-learn=1.3.2")
    w = CTX.Process(target=_worker, args=(m, 5, 0))
    w.start()
    w.join(30)
    child_exit(None, SimpleNamespace(pid=w.pid))
    s = scrape()
    assert total(s, "veneer_model_info", model="risk/churn", sha256="ffffffffffff") == 1
    assert total(s, "veneer_model_load_seconds_count") == 1
    assert total(s, "veneer_model_load_seconds_sum") == 1.5


def test_registrar_state_written_by_the_master_reaches_the_scrape(multiproc):
    set_registry_up("mlflow", True)
    set_registry_up("http", False)
    q = CTX.Queue()
    p = CTX.Process(target=lambda: q.put(scrape().get("veneer_registry_up")))
    p.start()
    assert q.get(timeout=30) == {(("registry", "mlflow"),): 1.0, (("registry", "http"),): 0.0}
    p.join(30)
    set_registry_up("mlflow", False)
    assert total(scrape(), "veneer_registry_up") == 0


def test_stale_files_of_an_earlier_run_are_wiped(multiproc, tmp_path):
    m = _metrics()
    _worker(m, 25, 0)
    assert total(scrape(), "veneer_requests_total") == 25
    keep = tmp_path / "prom" / "notes.txt"
    keep.write_text("not ours")
    # next start of the server, same directory
    prepare_multiproc_dir(multiproc, workers=2)
    assert total(scrape(), "veneer_requests_total") == 0
    assert keep.read_text() == "not ours"          # only *.db files are removed
    m2 = _metrics()
    _worker(m2, 3, 0)
    assert total(scrape(), "veneer_requests_total") == 3


def test_default_is_a_fresh_private_directory(multiproc):
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]      # the fixture restores it
    path = prepare_multiproc_dir(None, workers=2)
    try:
        assert path != multiproc and os.path.isdir(path)
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    finally:
        from veneer.sidecar.metrics import cleanup_multiproc_dir

        cleanup_multiproc_dir()
    assert not os.path.exists(path)


def test_missing_directory_is_created_but_a_missing_parent_is_an_error(tmp_path, multiproc):
    created = prepare_multiproc_dir(tmp_path / "new-dir", workers=2)
    assert os.path.isdir(created)
    with pytest.raises(ConfigError) as e:
        prepare_multiproc_dir(tmp_path / "no" / "such" / "dir", workers=4)
    msg = str(e.value)
    assert "does not exist" in msg and "no/such" in msg and "metrics_dir" in msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory_fails_fast_with_the_fix(tmp_path, multiproc):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError) as e:
            prepare_multiproc_dir(locked, workers=4)
        assert "not writable" in str(e.value) and str(locked) in str(e.value)
        assert "4 worker" in str(e.value)
    finally:
        locked.chmod(0o700)


def test_unwritable_directory_fails_fast_even_for_root(multiproc):
    # /proc/self/fdinfo exists but takes no new files, whoever we are
    with pytest.raises(ConfigError) as e:
        prepare_multiproc_dir("/proc/self/fdinfo", workers=3)
    assert "not writable" in str(e.value) and "3 worker" in str(e.value)


def test_a_file_in_place_of_the_directory_is_an_error(tmp_path, multiproc):
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        prepare_multiproc_dir(f, workers=2)


def _scrape_loop(stop, out) -> None:
    seen = []
    while not stop.is_set():
        seen.append(total(scrape(), "veneer_requests_total"))
    out.put(seen)


def test_dead_workers_are_archived_files_stay_bounded_and_concurrent_scrapes_never_dip(multiproc):
    """CASES 75: 30 recycled workers leave a constant number of files; a scraper running
    meanwhile (another process, as a worker serving /metrics) only ever sees totals grow."""
    m = _metrics()
    m.observe_model_load(model="risk/churn", version="1", adapter="pickle", seconds=0.1)
    stop, out = CTX.Event(), CTX.Queue()
    scraper = CTX.Process(target=_scrape_loop, args=(stop, out))
    scraper.start()
    files = []
    for seed in range(30):
        w = CTX.Process(target=_worker, args=(m, 20, seed))
        w.start()
        w.join(30)
        child_exit(None, SimpleNamespace(pid=w.pid))        # marks dead and archives
        files.append(len(glob.glob(os.path.join(multiproc, "*.db"))))
    stop.set()
    seen = out.get(timeout=30)
    scraper.join(30)
    assert len(seen) > 5
    assert seen == sorted(seen), "a scrape saw a total go down"
    s = scrape()
    assert total(s, "veneer_requests_total") == 600
    assert total(s, "veneer_request_duration_seconds_count") == 600
    assert total(s, "veneer_model_info", model="risk/churn") == 1
    assert total(s, "veneer_requests_in_flight") == 0
    # the scraper's own files + the preloading "master" (this process) + the archives
    assert max(files) <= 8 and files[-1] == files[5]
    assert sorted(os.path.basename(f) for f in glob.glob(os.path.join(multiproc, "*_archive.db"))) == [
        "counter_archive.db", "gauge_max_archive.db", "histogram_archive.db"]
