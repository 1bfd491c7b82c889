"""`--scheduler local`: a Dask cluster on 127.0.0.1 only, no dashboard unless asked, and as many
single-threaded worker processes as --workers."""

from __future__ import annotations

import os

import pytest
from cli_helper import cli

pytest.importorskip("distributed")

from distributed import Client

from pipeline_sim.experiment import local_cluster


def _host(address: str) -> str:
    return address.split("://", 1)[1].rsplit(":", 1)[0]


def test_the_local_cluster_listens_on_localhost_with_no_dashboard_and_the_asked_workers():
    with local_cluster(workers=2) as cluster:
        assert _host(cluster.scheduler_address) == "127.0.0.1"
        scheduler = cluster.scheduler
        # the scheduler's HTTP server (health, metrics) is local too, and serves no dashboard
        assert scheduler.http_server.address == "127.0.0.1"
        routes = [rule.matcher.regex.pattern for rule in scheduler.http_application.wildcard_router.rules]
        assert routes and not any("status" in r for r in routes)
        with Client(cluster) as client:
            client.wait_for_workers(2, timeout=60)
            info = client.scheduler_info()
            pids = client.run(os.getpid)
        assert len(info["workers"]) == 2
        for address, worker in info["workers"].items():
            assert _host(address) == "127.0.0.1"
            assert worker["nthreads"] == 1
        # one process per worker, none of them this one
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()


def test_an_asked_for_dashboard_is_on_localhost_too():
    with local_cluster(workers=1, dashboard=True) as cluster:
        assert cluster.scheduler.http_server.address == "127.0.0.1"
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")


def test_dashboard_without_a_local_scheduler_is_refused(tmp_path):
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    proc = cli(tmp_path, "compare", "base.toml", "base.toml", "--dashboard", "-q")
    assert proc.returncode == 2 and "--dashboard needs --scheduler local" in proc.stderr
    assert not (tmp_path / "results").exists()
