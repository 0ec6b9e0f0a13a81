# SPDX-License-Identifier: MIT
"""loop: a forward that sends queries back to this server is detected at start and halts it."""
import time

import pytest

from upstream import Upstream


def test_forward_to_self_exits_with_loop_error(start_server):
    srv = start_server(".:@PORT@ {\n loop\n forward . 127.0.0.1:@PORT@\n}\n", wait=False)
    try:
        srv.proc.wait(timeout=20)
    except Exception:
        pytest.fail("no loop detected:\n" + srv.log())
    assert srv.proc.returncode == 1
    log = srv.log()
    assert "plugin/loop: Loop (127.0.0.1:" in log and "detected for zone \".\"" in log
    assert "HINFO " in log and "coredns.io/plugins/loop#troubleshooting" in log
    assert "127.0.0.53" in log  # the hint names the systemd-resolved trap


def test_good_upstream_no_false_positive(start_server):
    up = Upstream("127.0.0.2")
    up.answers["example.org."] = {"A": ["192.0.2.1"]}
    try:
        srv = start_server(".:@PORT@ {\n loop\n forward . %s\n}\n" % up.target, probe="example.org.", probe_type="A")
        time.sleep(3)
        assert srv.alive()
        # the probe went upstream once, and later HINFO queries for it do not count
        hinfo = [n for (_t, n, ty, _m) in up.queries if ty == "HINFO"]
        assert len(hinfo) >= 1
        q = hinfo[0]
        for _ in range(4):
            srv.query(q, "HINFO")
        assert srv.alive()
    finally:
        up.stop()


def test_setup_rejects_arguments(tmp_path):
    from conftest import run_binary
    cf = tmp_path / "Corefile"
    cf.write_text(".:1053 {\n loop x\n}\n")
    r = run_binary(["-conf", str(cf), "-check"])
    assert r.returncode != 0
