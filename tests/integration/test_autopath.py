# SPDX-License-Identifier: MIT
"""autopath @kubernetes: queries from a pod's address (the client bound to 127.0.0.42, a pod IP in
the test's objects) walk the search path on the server and come back in one round trip with the
CNAME CoreDNS adds; other clients, and `pods insecure`, get plain answers."""
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from conftest import k8s_list, k8s_pod, k8s_service
from upstream import Upstream

POD_IP = "127.0.0.42"
OTHER_IP = "127.0.0.43"


@pytest.fixture
def up():
    u = Upstream("127.0.0.2")
    u.answers["example.org."] = {"A": ["192.0.2.1"]}
    yield u
    u.stop()


def objects():
    return k8s_list([
        k8s_service("web", "default", "10.96.0.20"),
        k8s_service("kube-dns", "kube-system", "10.96.0.10"),
        k8s_pod("client", POD_IP, "default"),
    ], namespaces=("default", "kube-system"))


def corefile(up, pods="verified"):
    return (".:@PORT@ {\n"
            "    autopath @kubernetes\n"
            "    kubernetes cluster.local {\n"
            "        objects objects.json\n"
            "        pods %s\n"
            "    }\n"
            "    forward . %s\n"
            "}\n") % (pods, up.target)


def ask(srv, name, rdtype="A", source=POD_IP, tcp=False):
    q = dns.message.make_query(name, rdtype)
    if tcp:
        return q, dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=4, source=source)
    return q, dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=4, source=source)


def start(start_server, up, pods="verified"):
    srv = start_server(corefile(up, pods), files={"objects.json": objects()}, probe="web.default.svc.cluster.local.",
                       probe_type="A")
    # The pod table is built on the main loop once the kubernetes plugin has loaded: wait for it.
    deadline = time.time() + 10
    while pods == "verified" and time.time() < deadline:
        _, r = ask(srv, "web.default.default.svc.cluster.local.")  # NXDOMAIN until autopath works
        if r.answer or r.rcode() == dns.rcode.NOERROR:
            break
        time.sleep(0.1)
    return srv


def rrs(r):
    return [(rr.name.to_text(), dns.rdatatype.to_text(rr.rdtype), [x.to_text() for x in rr]) for rr in r.answer]


def test_cluster_name_found_on_second_candidate_with_cname(start_server, up):
    srv = start(start_server, up)
    q, r = ask(srv, "kube-dns.kube-system.default.svc.cluster.local.")
    assert r.id == q.id and r.rcode() == dns.rcode.NOERROR
    assert r.question[0].name.to_text() == "kube-dns.kube-system.default.svc.cluster.local."
    assert rrs(r) == [
        ("kube-dns.kube-system.default.svc.cluster.local.", "CNAME", ["kube-dns.kube-system.svc.cluster.local."]),
        ("kube-dns.kube-system.svc.cluster.local.", "A", ["10.96.0.10"]),
    ]
    assert up.count() == 0  # never left the cluster


def test_first_candidate_answers_without_cname(start_server, up):
    srv = start(start_server, up)
    _, r = ask(srv, "web.default.svc.cluster.local.")
    assert rrs(r) == [("web.default.svc.cluster.local.", "A", ["10.96.0.20"])]


def test_external_name_costs_one_round_trip(start_server, up):
    srv = start(start_server, up)
    for tcp in (False, True):
        _, r = ask(srv, "example.org.default.svc.cluster.local.", tcp=tcp)
        assert r.rcode() == dns.rcode.NOERROR
        assert r.question[0].name.to_text() == "example.org.default.svc.cluster.local."
        assert rrs(r) == [
            ("example.org.default.svc.cluster.local.", "CNAME", ["example.org."]),
            ("example.org.", "A", ["192.0.2.1"]),
        ]
    # the upstream saw the bare name only, once per client query
    assert up.count("example.org.") == 2
    assert up.count() == 2


def test_all_candidates_fail_gives_the_first_reply(start_server, up):
    srv = start(start_server, up)
    _, r = ask(srv, "nothere.default.svc.cluster.local.")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.question[0].name.to_text() == "nothere.default.svc.cluster.local."
    assert not r.answer
    assert any(rr.rdtype == dns.rdatatype.SOA and rr.name.to_text() == "cluster.local." for rr in r.authority)


def test_not_a_pod_gets_no_autopath(start_server, up):
    srv = start(start_server, up)
    _, r = ask(srv, "example.org.default.svc.cluster.local.", source=OTHER_IP)
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert up.count() == 0


def test_other_namespace_search_path_is_not_first(start_server, up):
    srv = start(start_server, up)
    # the name is not under the pod's own ns.svc.zone: no autopath
    _, r = ask(srv, "example.org.kube-system.svc.cluster.local.")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert up.count() == 0


def test_pods_insecure_leaves_autopath_idle(start_server, up):
    srv = start(start_server, up, pods="insecure")
    _, r = ask(srv, "kube-dns.kube-system.default.svc.cluster.local.")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert "pods verified" in srv.log()


def test_setup_errors(run_binary_conf):
    assert run_binary_conf(". {\n    autopath\n    whoami\n}\n") != 0
    assert run_binary_conf(". {\n    autopath kubernetes\n    whoami\n}\n") != 0
    assert run_binary_conf(". {\n    autopath @kubernetes\n    whoami\n}\n") == 0
    assert run_binary_conf(". {\n    autopath @whoami\n    whoami\n}\n") != 0


@pytest.fixture
def run_binary_conf(tmp_path):
    from conftest import run_binary

    def run(text):
        p = tmp_path / "Corefile"
        p.write_text(text)
        return run_binary(["-conf", str(p), "-check"]).returncode
    return run
