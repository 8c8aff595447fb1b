"""make bench's arithmetic for issue #14's targets: the critical path of the starts in either
layout, the floor a crash cannot beat, and the killed-service summary."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # bench/ lives beside tests/

from bench import report  # noqa: E402

DURATIONS = {"vip": 0.1, "shared-data": 0.2, "db": 1.5, "xcatd": 3.0, "named": 3.5, "dhcpd": 5.0,
             "conserver": 1.3, "http": 0.4}


def test_the_parallel_layout_waits_for_the_slowest_service_after_the_chain():
    assert report.critical_path(DURATIONS, "parallel") == pytest.approx(0.1 + 0.2 + 1.5 + 3.0 + 5.0)


def test_the_group_layout_adds_every_start():
    assert report.critical_path(DURATIONS, "group") == pytest.approx(sum(DURATIONS.values()))


def test_no_path_without_the_whole_chain():
    assert report.critical_path(dict(DURATIONS, db=None), "parallel") is None


def entry(median):
    return {"duration": {"min": median, "median": median, "max": median, "n": 1}}


def test_the_floor_is_fencing_plus_the_bare_daemons_path_and_the_overhead_is_the_rest():
    ours = {"all_answering": {"median": 20.0}, "fenced": {"median": 7.0},
            "starts": {name: entry(value) for name, value in DURATIONS.items()}}
    bare = dict(DURATIONS, named=0.2, dhcpd=0.1, conserver=2.2, http=0.1)
    stock = {"all_answering": {"median": 15.0}, "fenced": {"median": 7.0},
             "starts": {name: entry(value) for name, value in bare.items()}}
    floor = report.floor({"crash": {"ours": ours, "stock": stock}},
                         {"machine": {"cluster": {"layout": "parallel"}}})
    assert floor["bare_path_s"] == pytest.approx(0.1 + 0.2 + 1.5 + 3.0 + 2.2)
    assert floor["floor_s"] == 7.0 + floor["bare_path_s"]
    assert abs(floor["overhead_s"] - (20.0 - floor["floor_s"])) < 1e-9
    assert report.floor({"crash": {"ours": ours}}, {}) is None   # no stock crash: no floor


def test_a_service_that_never_served_again_is_counted_as_such():
    killed = report.killed_stats([{"service": "dhcpd", "serving_again_s": 3.2, "moved": False},
                                  {"service": "xcatd", "serving_again_s": None, "error": "no xcatd process"},
                                  {"service": "dhcpd", "serving_again_s": 4.0, "moved": True}])
    assert killed["dhcpd"]["serving_again"]["max"] == 4.0 and killed["dhcpd"]["moved"] == 1
    assert killed["xcatd"]["serving_again"] is None and killed["xcatd"]["errors"] == ["no xcatd process"]
    analysis = {"killed": {"ours": killed}, "crash": {}, "planned": {}, "own_code": {"share": None},
                "monitor_ratio": {}, "monitoring": {}}
    row = next(t for t in report.targets(analysis, {}) if t["name"].startswith("a killed service"))
    assert row["met"] is False and row["value"] is None and "xcatd never" in row["why"]
