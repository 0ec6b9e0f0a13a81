# SPDX-License-Identifier: MIT
"""The embedded demo (zones/Corefile + zones/cluster.json) answers every record kind of the
Kubernetes DNS specification (kubernetes/dns docs/specification.md), checked with dnspython and with
the real `dig` and `kdig`.

The demo cluster (zones/cluster.json), zone cluster.local, ttl 30, pods insecure, loadbalance:
  default/kubernetes    ClusterIP 10.96.0.1      https 443/TCP         slice 192.168.49.2:8443
  kube-system/kube-dns  ClusterIP 10.96.0.10     dns 53/UDP, dns-tcp 53/TCP, metrics 9153/TCP
                                                 slice 10.244.0.2, 10.244.0.3 (coredns pods)
  default/nginx         headless                 web 80/TCP   StatefulSet web: web-0 10.244.1.10,
                                                 web-1 10.244.2.11, web-2 10.244.1.12 (not ready)
  default/search        ExternalName search.example.com
  demo/frontend         ClusterIP 10.96.100.20 + fd00:10:96::14 (dual-stack)   http 80/TCP
  demo/api              ClusterIP 10.96.200.30   http 80, https 443, grpc 50051 /TCP, statsd 8125/UDP
  default/busybox       a pod, 10.244.1.5
"""
import shutil
import subprocess

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from conftest import assert_response, query_rr

Z = "cluster.local."
SOA = "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30"
SOA_V4 = "in-addr.arpa. 30 IN SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. 1 7200 1800 86400 30"


def ask(srv, name, rdtype, tcp=False):
    return query_rr(srv, name, rdtype, tcp=tcp)


# (qname, qtype, rcode, answer, authority, additional)
CASES = [
    # 1 - Schema version
    ("dns-version.cluster.local.", "TXT", "NOERROR", ["dns-version.cluster.local. 28800 IN TXT 1.1.0"], [], []),
    # 2.3.1 - ClusterIP A / AAAA
    ("kubernetes.default.svc.cluster.local.", "A", "NOERROR",
     ["kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"], [], []),
    ("kube-dns.kube-system.svc.cluster.local.", "A", "NOERROR",
     ["kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10"], [], []),
    ("api.demo.svc.cluster.local.", "A", "NOERROR", ["api.demo.svc.cluster.local. 30 IN A 10.96.200.30"], [], []),
    ("frontend.demo.svc.cluster.local.", "A", "NOERROR",
     ["frontend.demo.svc.cluster.local. 30 IN A 10.96.100.20"], [], []),
    ("frontend.demo.svc.cluster.local.", "AAAA", "NOERROR",
     ["frontend.demo.svc.cluster.local. 30 IN AAAA fd00:10:96::14"], [], []),
    # NODATA: the name exists, not with this type
    ("kubernetes.default.svc.cluster.local.", "AAAA", "NOERROR", [], [SOA], []),
    ("kubernetes.default.svc.cluster.local.", "TXT", "NOERROR", [], [SOA], []),
    ("nginx.default.svc.cluster.local.", "AAAA", "NOERROR", [], [SOA], []),
    # NXDOMAIN
    ("nosuch.default.svc.cluster.local.", "A", "NXDOMAIN", [], [SOA], []),
    ("kubernetes.nosuchns.svc.cluster.local.", "A", "NXDOMAIN", [], [SOA], []),
    ("kubernetes.default.svc.cluster.local.", "SRV", "NOERROR",
     ["kubernetes.default.svc.cluster.local. 30 IN SRV 0 100 443 kubernetes.default.svc.cluster.local."], [],
     ["kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"]),
    # 2.3.2 - SRV for named ports, the address as additional
    ("_https._tcp.kubernetes.default.svc.cluster.local.", "SRV", "NOERROR",
     ["_https._tcp.kubernetes.default.svc.cluster.local. 30 IN SRV 0 100 443 kubernetes.default.svc.cluster.local."],
     [], ["kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"]),
    ("_dns._udp.kube-dns.kube-system.svc.cluster.local.", "SRV", "NOERROR",
     ["_dns._udp.kube-dns.kube-system.svc.cluster.local. 30 IN SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."],
     [], ["kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10"]),
    ("_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local.", "SRV", "NOERROR",
     ["_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local. 30 IN SRV 0 100 53 "
      "kube-dns.kube-system.svc.cluster.local."],
     [], ["kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10"]),
    ("_metrics._tcp.kube-dns.kube-system.svc.cluster.local.", "SRV", "NOERROR",
     ["_metrics._tcp.kube-dns.kube-system.svc.cluster.local. 30 IN SRV 0 100 9153 "
      "kube-dns.kube-system.svc.cluster.local."],
     [], ["kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10"]),
    # the port named dns is UDP only
    ("_dns._tcp.kube-dns.kube-system.svc.cluster.local.", "SRV", "NXDOMAIN", [], [SOA], []),
    ("_grpc._tcp.api.demo.svc.cluster.local.", "SRV", "NOERROR",
     ["_grpc._tcp.api.demo.svc.cluster.local. 30 IN SRV 0 100 50051 api.demo.svc.cluster.local."],
     [], ["api.demo.svc.cluster.local. 30 IN A 10.96.200.30"]),
    ("_statsd._udp.api.demo.svc.cluster.local.", "SRV", "NOERROR",
     ["_statsd._udp.api.demo.svc.cluster.local. 30 IN SRV 0 100 8125 api.demo.svc.cluster.local."],
     [], ["api.demo.svc.cluster.local. 30 IN A 10.96.200.30"]),
    ("_statsd._tcp.api.demo.svc.cluster.local.", "SRV", "NXDOMAIN", [], [SOA], []),
    # every port of the service: one SRV each, weights sharing 100, the address once
    ("api.demo.svc.cluster.local.", "SRV", "NOERROR",
     ["api.demo.svc.cluster.local. 30 IN SRV 0 25 80 api.demo.svc.cluster.local.",
      "api.demo.svc.cluster.local. 30 IN SRV 0 25 443 api.demo.svc.cluster.local.",
      "api.demo.svc.cluster.local. 30 IN SRV 0 25 50051 api.demo.svc.cluster.local.",
      "api.demo.svc.cluster.local. 30 IN SRV 0 25 8125 api.demo.svc.cluster.local."],
     [], ["api.demo.svc.cluster.local. 30 IN A 10.96.200.30"]),
    # dual-stack: one SRV, both addresses
    ("_http._tcp.frontend.demo.svc.cluster.local.", "SRV", "NOERROR",
     ["_http._tcp.frontend.demo.svc.cluster.local. 30 IN SRV 0 50 80 frontend.demo.svc.cluster.local."],
     [], ["frontend.demo.svc.cluster.local. 30 IN A 10.96.100.20",
          "frontend.demo.svc.cluster.local. 30 IN AAAA fd00:10:96::14"]),
    # 2.4.1 - headless: the ready endpoints (web-2 is not ready)
    ("nginx.default.svc.cluster.local.", "A", "NOERROR",
     ["nginx.default.svc.cluster.local. 30 IN A 10.244.1.10", "nginx.default.svc.cluster.local. 30 IN A 10.244.2.11"],
     [], []),
    ("web-0.nginx.default.svc.cluster.local.", "A", "NOERROR",
     ["web-0.nginx.default.svc.cluster.local. 30 IN A 10.244.1.10"], [], []),
    ("web-1.nginx.default.svc.cluster.local.", "A", "NOERROR",
     ["web-1.nginx.default.svc.cluster.local. 30 IN A 10.244.2.11"], [], []),
    ("web-2.nginx.default.svc.cluster.local.", "A", "NXDOMAIN", [], [SOA], []),
    ("web-3.nginx.default.svc.cluster.local.", "A", "NXDOMAIN", [], [SOA], []),
    # 2.4.2 - headless SRV: one per ready endpoint, hostname targets
    ("_web._tcp.nginx.default.svc.cluster.local.", "SRV", "NOERROR",
     ["_web._tcp.nginx.default.svc.cluster.local. 30 IN SRV 0 50 80 web-0.nginx.default.svc.cluster.local.",
      "_web._tcp.nginx.default.svc.cluster.local. 30 IN SRV 0 50 80 web-1.nginx.default.svc.cluster.local."],
     [], ["web-0.nginx.default.svc.cluster.local. 30 IN A 10.244.1.10",
          "web-1.nginx.default.svc.cluster.local. 30 IN A 10.244.2.11"]),
    # endpoints without hostname: dashed-IP names
    ("10-244-0-2.kube-dns.kube-system.svc.cluster.local.", "A", "NOERROR",
     ["10-244-0-2.kube-dns.kube-system.svc.cluster.local. 30 IN A 10.244.0.2"], [], []),
    # 2.5 - ExternalName
    ("search.default.svc.cluster.local.", "CNAME", "NOERROR",
     ["search.default.svc.cluster.local. 30 IN CNAME search.example.com."], [], []),
    # Pods (pods insecure)
    ("10-244-1-5.default.pod.cluster.local.", "A", "NOERROR",
     ["10-244-1-5.default.pod.cluster.local. 30 IN A 10.244.1.5"], [], []),
    ("not-an-ip.default.pod.cluster.local.", "A", "NXDOMAIN", [], [SOA], []),
    # 2.3.3 / 2.4.3 - PTR: service IPs, endpoint IPs (with and without hostname), IPv6
    ("10.0.96.10.in-addr.arpa.", "PTR", "NOERROR",
     ["10.0.96.10.in-addr.arpa. 30 IN PTR kube-dns.kube-system.svc.cluster.local."], [], []),
    ("1.0.96.10.in-addr.arpa.", "PTR", "NOERROR",
     ["1.0.96.10.in-addr.arpa. 30 IN PTR kubernetes.default.svc.cluster.local."], [], []),
    ("10.1.244.10.in-addr.arpa.", "PTR", "NOERROR",
     ["10.1.244.10.in-addr.arpa. 30 IN PTR web-0.nginx.default.svc.cluster.local."], [], []),
    ("2.0.244.10.in-addr.arpa.", "PTR", "NOERROR",
     ["2.0.244.10.in-addr.arpa. 30 IN PTR 10-244-0-2.kube-dns.kube-system.svc.cluster.local."], [], []),
    ("4.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", "PTR", "NOERROR",
     ["4.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 30 IN PTR "
      "frontend.demo.svc.cluster.local."], [], []),
    # the not-ready endpoint has no PTR; nor has an unknown address
    ("12.1.244.10.in-addr.arpa.", "PTR", "NXDOMAIN", [], [SOA_V4], []),
    ("99.99.244.10.in-addr.arpa.", "PTR", "NXDOMAIN", [], [SOA_V4], []),
    # Apex
    ("cluster.local.", "SOA", "NOERROR", [SOA], [], []),
    # NS: CoreDNS names the servers after its local IPs, the non-loopback addresses it is bound
    # to (boundIPs); bound to 127.0.0.1 it has none, so the apex NS query is NODATA.
    ("cluster.local.", "NS", "NOERROR", [], [SOA], []),
    ("cluster.local.", "A", "NOERROR", [], [SOA], []),
    ("svc.cluster.local.", "A", "NOERROR", [], [SOA], []),
    ("default.svc.cluster.local.", "A", "NOERROR", [], [SOA], []),
    # Letter case of the question is kept in the answer
    ("KUBERNETES.Default.SVC.cluster.local.", "A", "NOERROR",
     ["KUBERNETES.Default.SVC.cluster.local. 30 IN A 10.96.0.1"], [], []),
    ("Web-0.NGINX.default.svc.Cluster.Local.", "A", "NOERROR",
     ["Web-0.NGINX.default.svc.Cluster.Local. 30 IN A 10.244.1.10"], [], []),
    ("NoSuch.default.svc.Cluster.Local.", "A", "NXDOMAIN", [],
     ["Cluster.Local. 30 IN SOA ns.dns.Cluster.Local. hostmaster.Cluster.Local. 1 7200 1800 86400 30"], []),
]


@pytest.mark.parametrize("qname,qtype,rcode,answer,authority,additional",
                         [pytest.param(*c, id="%s-%s" % (c[0], c[1])) for c in CASES])
def test_demo_record(demo, qname, qtype, rcode, answer, authority, additional):
    resp = ask(demo, qname, qtype)
    assert_response(resp, qname, rcode, answer, authority, additional)


TCP_NAMES = [("kube-dns.kube-system.svc.cluster.local.", "A"), ("_web._tcp.nginx.default.svc.cluster.local.", "SRV"),
             ("nosuch.default.svc.cluster.local.", "A"), ("10.0.96.10.in-addr.arpa.", "PTR")]


@pytest.mark.parametrize("qname,qtype", TCP_NAMES)
def test_demo_tcp_same_as_udp(demo, qname, qtype):
    c = next(c for c in CASES if (c[0], c[1]) == (qname, qtype))
    resp = ask(demo, qname, qtype, tcp=True)
    assert_response(resp, qname, c[2], c[3], c[4], c[5])


def test_demo_external_name_a_query_starts_with_cname(demo):
    """An A query for an ExternalName service answers the CNAME first (its target is outside the
    cluster and the demo has no upstream, so nothing may follow it but records for the target)."""
    resp = ask(demo, "search.default.svc.cluster.local.", "A")
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AA
    assert resp.answer, resp.to_text()
    first = resp.answer[0]
    assert first.rdtype == dns.rdatatype.CNAME
    assert first.name.to_text() == "search.default.svc.cluster.local."
    assert first[0].target.to_text() == "search.example.com."
    assert first.ttl == 30
    for rrset in resp.answer[1:]:
        assert rrset.name.to_text().lower() == "search.example.com.", resp.to_text()


def test_demo_nxdomain_differs_from_nodata(demo):
    nx = ask(demo, "nosuch.default.svc.cluster.local.", "A")
    nodata = ask(demo, "kubernetes.default.svc.cluster.local.", "AAAA")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nodata.rcode() == dns.rcode.NOERROR
    assert not nx.answer and not nodata.answer
    for r in (nx, nodata):
        assert r.flags & dns.flags.AA
        assert [rr.rdtype for rr in r.authority] == [dns.rdatatype.SOA]


def test_demo_loadbalance_keeps_the_set(demo):
    """loadbalance may reorder the headless A set; it never changes it."""
    want = {"10.244.1.10", "10.244.2.11"}
    for _ in range(8):
        resp = ask(demo, "nginx.default.svc.cluster.local.", "A")
        got = [rd.address for rrset in resp.answer for rd in rrset]
        assert sorted(got) == sorted(want), resp.to_text()


# --- the real tools ----------------------------------------------------------------------------

def tool(argv):
    if shutil.which(argv[0]) is None:
        pytest.skip("%s is not installed" % argv[0])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out
    return out.stdout


def dig(srv, *args):
    return tool(["dig", "@" + srv.addr, "-p", str(srv.port), "+time=2", "+tries=1"] + list(args))


def kdig(srv, *args):
    return tool(["kdig", "@" + srv.addr, "-p", str(srv.port), "+time=2", "+retry=0"] + list(args))


def lines(text):
    return sorted(line.strip() for line in text.splitlines() if line.strip() and not line.startswith(";"))


def test_dig_short_cluster_ip(demo):
    assert lines(dig(demo, "+short", "kubernetes.default.svc.cluster.local.", "A")) == ["10.96.0.1"]


def test_dig_short_txt_dns_version(demo):
    assert lines(dig(demo, "+short", "dns-version.cluster.local.", "TXT")) == ['"1.1.0"']


def test_dig_short_srv_tcp(demo):
    out = dig(demo, "+tcp", "+short", "_dns._udp.kube-dns.kube-system.svc.cluster.local.", "SRV")
    assert lines(out) == ["0 100 53 kube-dns.kube-system.svc.cluster.local."]


def test_dig_short_reverse(demo):
    assert lines(dig(demo, "+short", "-x", "10.96.0.10")) == ["kube-dns.kube-system.svc.cluster.local."]
    assert lines(dig(demo, "+short", "-x", "fd00:10:96::14")) == ["frontend.demo.svc.cluster.local."]


def test_dig_headless_set(demo):
    assert lines(dig(demo, "+short", "nginx.default.svc.cluster.local.", "A")) == ["10.244.1.10", "10.244.2.11"]


def test_dig_nxdomain_header(demo):
    out = dig(demo, "+noall", "+comments", "+authority", "nosuch.default.svc.cluster.local.", "A")
    assert "status: NXDOMAIN" in out, out
    flags = out.split("flags:", 1)[1].split(";", 1)[0].split()
    assert "aa" in flags and "qr" in flags, out
    assert "ns.dns.cluster.local. hostmaster.cluster.local." in out, out


def test_kdig_short_statefulset_pod(demo):
    assert lines(kdig(demo, "+short", "web-1.nginx.default.svc.cluster.local.", "A")) == ["10.244.2.11"]


def test_kdig_tcp_dual_stack(demo):
    assert lines(kdig(demo, "+tcp", "+short", "frontend.demo.svc.cluster.local.", "AAAA")) == ["fd00:10:96::14"]
    assert lines(kdig(demo, "+short", "frontend.demo.svc.cluster.local.", "A")) == ["10.96.100.20"]


def test_kdig_headless_srv(demo):
    out = kdig(demo, "+short", "_web._tcp.nginx.default.svc.cluster.local.", "SRV")
    assert lines(out) == ["0 50 80 web-0.nginx.default.svc.cluster.local.",
                          "0 50 80 web-1.nginx.default.svc.cluster.local."]


def test_kdig_external_name(demo):
    out = kdig(demo, "+short", "search.default.svc.cluster.local.", "CNAME")
    assert lines(out) == ["search.example.com."]


def test_dig_case_preserved(demo):
    # dig prints names as received (kdig lowercases them, so it cannot see this).
    out = dig(demo, "+noall", "+answer", "KUBERNETES.Default.SVC.cluster.local.", "A")
    recs = [line.split() for line in out.splitlines() if line.strip() and not line.startswith(";")]
    assert recs and all(r[0] == "KUBERNETES.Default.SVC.cluster.local." for r in recs), out
    assert [r[-1] for r in recs] == ["10.96.0.1"], out


def test_kdig_nodata_and_nxdomain(demo):
    out = kdig(demo, "nginx.default.svc.cluster.local.", "AAAA")
    assert "status: NOERROR" in out and "ANSWER: 0" in out and "AUTHORITY: 1" in out, out
    out = kdig(demo, "web-2.nginx.default.svc.cluster.local.", "A")
    assert "status: NXDOMAIN" in out and "qr aa" in out.lower(), out
