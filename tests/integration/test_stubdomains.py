# SPDX-License-Identifier: MIT
"""forward's `stubdomains DIR`: a mounted kube-dns ConfigMap (stubDomains, upstreamNameservers)
applied live, validated, and reverted when its keys disappear."""
import json
import os
import time

import dns.rcode
import pytest

from upstream import Upstream

PROBE_BLOCK = "invalid:@PORT@ {\n whoami\n}\n"


@pytest.fixture
def ups():
    made = []

    def make(addr, answers):
        u = Upstream(addr)
        u.answers.update(answers)
        made.append(u)
        return u

    yield make
    for u in made:
        u.stop()


def write(dirpath, name, text):
    """Writes as kubelet updates a ConfigMap volume: a new file renamed over the old one."""
    tmp = os.path.join(dirpath, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(dirpath, name))


def wait_for(fn, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.2)
    return False


def a_of(srv, name):
    r = srv.query(name, "A", timeout=8)
    return [x.to_text() for rr in r.answer for x in rr if rr.rdtype == 1], r.rcode()


def test_apply_change_and_revert_live(start_server, ups, tmp_path):
    default = ups("127.0.0.2", {"svc.corp.example.": {"A": ["192.0.2.1"]}, "example.org.": {"A": ["192.0.2.2"]}})
    stub1 = ups("127.0.0.3", {"svc.corp.example.": {"A": ["10.0.0.1"]}})
    stub2 = ups("127.0.0.4", {"svc.corp.example.": {"A": ["10.0.0.2"]}})
    other = ups("127.0.0.5", {"example.org.": {"A": ["198.51.100.7"]}})
    cm = tmp_path / "kube-dns"
    cm.mkdir()
    write(str(cm), "stubDomains", json.dumps({"corp.example": [stub1.target]}))
    srv = start_server(".:@PORT@ {\n forward . %s {\n  stubdomains @DIR@/kube-dns\n }\n}\n" % default.target
                       + PROBE_BLOCK, probe="probe.invalid.", probe_type="A")
    assert a_of(srv, "svc.corp.example.")[0] == ["10.0.0.1"]
    assert a_of(srv, "example.org.")[0] == ["192.0.2.2"]
    # change the stub's server: applied within 10 s
    write(str(cm), "stubDomains", json.dumps({"corp.example": [stub2.target]}))
    assert wait_for(lambda: a_of(srv, "svc.corp.example.")[0] == ["10.0.0.2"])
    # upstreamNameservers replaces TO for everything else
    write(str(cm), "upstreamNameservers", json.dumps([other.target]))
    assert wait_for(lambda: a_of(srv, "example.org.")[0] == ["198.51.100.7"])
    # bad JSON: the last good rules stay, and it is logged
    write(str(cm), "stubDomains", "{not json")
    time.sleep(3)
    assert a_of(srv, "svc.corp.example.")[0] == ["10.0.0.2"]
    assert "keeping the last good rules" in srv.log()
    # invalid domain or address: rejected the same way
    write(str(cm), "stubDomains", json.dumps({"Bad_Domain": [stub1.target]}))
    time.sleep(3)
    assert a_of(srv, "svc.corp.example.")[0] == ["10.0.0.2"]
    assert "DNS-1123" in srv.log()
    # keys removed: back to the Corefile's TO
    os.unlink(str(cm / "stubDomains"))
    os.unlink(str(cm / "upstreamNameservers"))
    assert wait_for(lambda: a_of(srv, "svc.corp.example.")[0] == ["192.0.2.1"])
    assert a_of(srv, "example.org.")[0] == ["192.0.2.2"]


def test_bad_configmap_at_start_is_a_setup_error(tmp_path):
    from conftest import run_binary
    cm = tmp_path / "cm"
    cm.mkdir()
    (cm / "stubDomains").write_text(json.dumps({"corp.example": ["not-an-ip"]}))
    cf = tmp_path / "Corefile"
    cf.write_text(".:1053 {\n forward . 127.0.0.2 {\n  stubdomains %s\n }\n}\n" % cm)
    r = run_binary(["-conf", str(cf), "-check"])
    assert r.returncode != 0 and "not an IP address" in r.stdout + r.stderr


@pytest.mark.parametrize("name,ok", [("corp.example", True), ("a-b.example.", True), ("-a.example", False),
                                      ("UPPER.example", False), ("a_b.example", False), ("a..b", False)])
def test_dns1123_validation(tmp_path, name, ok):
    from conftest import run_binary
    cm = tmp_path / "cm"
    cm.mkdir()
    (cm / "stubDomains").write_text(json.dumps({name: ["127.0.0.9:5353"]}))
    cf = tmp_path / "Corefile"
    cf.write_text(".:1053 {\n forward . 127.0.0.2 {\n  stubdomains %s\n }\n}\n" % cm)
    r = run_binary(["-conf", str(cf), "-check"])
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
