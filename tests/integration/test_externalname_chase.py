# SPDX-License-Identifier: MIT
"""ExternalName services: the CNAME and then the target's records in the same answer, chased in
the store for targets inside the cluster zone and through the chain (forward) for the others."""
import subprocess

import dns.rcode
import pytest

from conftest import k8s_list, k8s_service
from upstream import Upstream


@pytest.fixture
def up():
    u = Upstream("127.0.0.2")
    u.answers["www.example.org."] = {"A": ["192.0.2.10"], "AAAA": ["2001:db8::10"]}
    u.answers["alias.example.org."] = {"CNAME": ["www.example.org."]}
    yield u
    u.stop()


def objects():
    return k8s_list([
        k8s_service("ext", external_name="WWW.example.org"),
        k8s_service("ext2", external_name="alias.example.org"),
        k8s_service("inner", external_name="svc.default.svc.cluster.local"),
        k8s_service("svc", cluster_ip="10.96.0.10"),
        k8s_service("gone", external_name="missing.example.org"),
    ])


@pytest.fixture
def srv(start_server, up):
    cf = """.:@PORT@ {
    kubernetes cluster.local {
        objects @DIR@/objects.json
    }
    forward . %s
}
""" % up.target
    return start_server(cf, files={"objects.json": objects()})


def test_out_of_zone_target_through_forward(srv, up):
    r = srv.query("ext.default.svc.cluster.local.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    got = [(rr.name.to_text().lower(), rr.rdtype, [x.to_text() for x in rr]) for rr in r.answer]
    assert got[0] == ("ext.default.svc.cluster.local.", 5, ["WWW.example.org."]) or got[0][2][0].lower() == "www.example.org."
    assert got[1][0] == "www.example.org." and got[1][2] == ["192.0.2.10"]
    assert up.count("www.example.org.") >= 1


def test_aaaa_and_tcp(srv, up):
    r = srv.query("ext.default.svc.cluster.local.", "AAAA", tcp=True)
    assert [x.to_text() for x in r.answer[-1]] == ["2001:db8::10"]


def test_target_that_is_a_cname_upstream(srv, up):
    r = srv.query("ext2.default.svc.cluster.local.", "A")
    names = [rr.name.to_text().lower() for rr in r.answer]
    assert names == ["ext2.default.svc.cluster.local.", "alias.example.org.", "www.example.org."]
    assert [x.to_text() for x in r.answer[-1]] == ["192.0.2.10"]


def test_in_zone_target_from_the_store(srv, up):
    r = srv.query("inner.default.svc.cluster.local.", "A")
    assert [x.to_text() for x in r.answer[-1]] == ["10.96.0.10"]
    assert up.count("svc.default.svc.cluster.local.") == 0


def test_missing_target_keeps_the_cname(srv, up):
    r = srv.query("gone.default.svc.cluster.local.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert len(r.answer) == 1 and r.answer[0].rdtype == 5


def test_dig_short_prints_cname_then_address(srv, up):
    out = subprocess.run(["dig", "+short", "+tries=1", "+time=5", "-p", str(srv.port), "@127.0.0.1",
                          "ext.default.svc.cluster.local", "A"], capture_output=True, text=True, timeout=20).stdout
    lines = out.split()
    assert lines[0].lower() == "www.example.org." and lines[1] == "192.0.2.10", out
