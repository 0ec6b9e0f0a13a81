# SPDX-License-Identifier: MIT
"""prometheus: CoreDNS's metric names, labels and values after known queries, in valid text format."""
import socket
import time
import urllib.request

import dns.message
import dns.query
import pytest

import promtext
from conftest import free_port, k8s_list, k8s_service, run_binary

OBJECTS = k8s_list([k8s_service("web", cluster_ip="10.96.1.1")])


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def corefile(mport, extra=""):
    return """cluster.local:@PORT@ {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    kubernetes cluster.local {
        objects objects.json
    }
}
example.org:@PORT@ {
    bind 127.0.0.1
    whoami
}
%s""" % (mport, extra)


@pytest.fixture
def srv(start_server):
    mport = free_port()
    s = start_server(corefile(mport), files={"objects.json": OBJECTS}, args=["-workers", "2"],
                     probe="web.default.svc.cluster.local.", probe_type="A")
    s.mport = mport
    return s


def test_counts_after_known_queries(srv):
    before = promtext.parse(scrape(srv.mport))
    base = promtext.value(before, "coredns_dns_requests_total", zone="cluster.local.", proto="udp", type="A") or 0
    for _ in range(7):
        r = srv.query("web.default.svc.cluster.local.", "A")
        assert r.answer
    for _ in range(2):
        srv.query("web.default.svc.cluster.local.", "AAAA")
    srv.query("nope.default.svc.cluster.local.", "A")
    srv.query("web.default.svc.cluster.local.", "A", tcp=True)
    srv.query("web.default.svc.cluster.local.", "CAA")  # not a monitored type: "other"
    srv.query("www.example.org.", "A")  # a block without prometheus: not counted
    text = scrape(srv.mport)
    fams = promtext.parse(text)
    server = "dns://127.0.0.1:%d" % srv.port
    req = lambda **kw: promtext.value(fams, "coredns_dns_requests_total", server=server, zone="cluster.local.",
                                      view="", family="1", **kw)
    assert req(proto="udp", type="A") - base == 8  # 7 + the NXDOMAIN one
    assert req(proto="udp", type="AAAA") == 2
    assert req(proto="tcp", type="A") == 1
    assert req(proto="udp", type="other") == 1
    assert promtext.value(fams, "coredns_dns_requests_total", zone="example.org.") is None
    resp = lambda rcode: promtext.value(fams, "coredns_dns_responses_total", server=server, zone="cluster.local.",
                                        view="", rcode=rcode, plugin="kubernetes")
    assert resp("NXDOMAIN") == 1
    total_requests = sum(v for n, l, v in fams["coredns_dns_requests_total"]["samples"] if l["zone"] == "cluster.local.")
    total_responses = sum(v for n, l, v in fams["coredns_dns_responses_total"]["samples"]
                          if l["zone"] == "cluster.local.")
    assert total_requests == total_responses
    # Histograms: every request observed once, with CoreDNS's buckets.
    dur = promtext.value(fams, "coredns_dns_request_duration_seconds_count", server=server, zone="cluster.local.")
    assert dur == total_requests
    les = [l["le"] for n, l, v in fams["coredns_dns_request_duration_seconds"]["samples"]
           if n.endswith("_bucket") and l["zone"] == "cluster.local."]
    assert les == ["0.00025", "0.0005", "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128",
                   "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"]
    assert fams["coredns_dns_request_duration_seconds"]["type"] == "histogram"
    sizes = [l["le"] for n, l, v in fams["coredns_dns_request_size_bytes"]["samples"]
             if n.endswith("_bucket") and l["proto"] == "tcp"]
    assert sizes == ["0", "100", "200", "300", "400", "511", "1023", "2047", "4095", "8291", "16000", "32000",
                     "48000", "64000", "+Inf"]
    assert promtext.value(fams, "coredns_dns_response_size_bytes_count", server=server, zone="cluster.local.",
                          proto="tcp") == 1
    # Duration labels are CoreDNS's current ones (vars.go): no "type".
    assert set(fams["coredns_dns_request_duration_seconds"]["samples"][0][1]) == {"server", "zone", "view", "le"}
    promtext.promtool_check(text)


def test_refused_counts_as_dropped(srv):
    q = dns.message.make_query("elsewhere.test.", "A")
    r = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=2)
    assert r.rcode() == 5
    fams = promtext.parse(scrape(srv.mport))
    assert promtext.value(fams, "coredns_dns_responses_total", zone="dropped", rcode="REFUSED", plugin="") >= 1


def test_process_and_build_metrics(srv):
    text = scrape(srv.mport)
    fams = promtext.parse(text)
    info = fams["coredns_build_info"]["samples"]
    assert len(info) == 1 and set(info[0][1]) == {"version", "revision", "goversion"} and info[0][2] == 1
    assert promtext.value(fams, "coredns_panics_total") == 0
    assert promtext.value(fams, "coredns_reload_failed_total") == 0
    for name in ("process_resident_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds",
                 "process_virtual_memory_bytes"):
        assert promtext.value(fams, name) > 0, name
    assert fams["process_cpu_seconds_total"]["type"] == "counter"
    start = promtext.value(fams, "process_start_time_seconds")
    assert abs(start - time.time()) < 120
    enabled = {(l["zone"], l["name"]) for n, l, v in fams["coredns_plugin_enabled"]["samples"] if v == 1}
    assert ("cluster.local.", "kubernetes") in enabled and ("cluster.local.", "prometheus") in enabled
    assert not any(z == "example.org." for z, _ in enabled)
    promtool = promtext.promtool_check(text)
    assert promtool is None or "error" not in promtool.lower()


def test_counters_from_many_clients_sum(srv):
    # Several sockets spread over both workers (SO_REUSEPORT hashes by source port).
    q = dns.message.make_query("web.default.svc.cluster.local.", "SRV")
    n = 0
    for i in range(40):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(q.to_wire(), ("127.0.0.1", srv.port))
            s.recv(4096)
            n += 1
    fams = promtext.parse(scrape(srv.mport))
    assert promtext.value(fams, "coredns_dns_requests_total", zone="cluster.local.", proto="udp", type="SRV") == n


def test_404_elsewhere(srv):
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/nothing" % srv.mport, timeout=5)
        assert False, "expected 404"
    except urllib.error.HTTPError as e:
        assert e.code == 404


def test_setup_errors(tmp_path):
    cases = [
        ("prometheus 127.0.0.1", "plugin/prometheus: address 127.0.0.1: missing port in address"),
        ("prometheus a:1 b:2", "plugin/prometheus: Wrong argument count"),
        ("prometheus :9153 {\n tls x\n}", "plugin/prometheus: tls is not supported"),
        ("prometheus :9153 {\n foo\n}", "plugin/prometheus: unknown option: foo"),
        ("prometheus\n    prometheus", "plugin/prometheus: this plugin can only be used once per Server Block"),
    ]
    for stanza, want in cases:
        cf = tmp_path / "Corefile"
        cf.write_text(".:1053 {\n    %s\n    whoami\n}\n" % stanza)
        r = run_binary(["-conf", str(cf), "-check"])
        assert r.returncode == 1, stanza
        assert want in r.stderr, (stanza, r.stderr)
        assert str(cf) + ":" in r.stderr
    cf = tmp_path / "Corefile"
    cf.write_text(".:1053 {\n    prometheus localhost:9253 {\n        runtime_metrics\n    }\n    whoami\n}\n")
    assert run_binary(["-conf", str(cf), "-check"]).returncode == 0


def test_parser_rejects_bad_expositions():
    bad = [
        "x 1\n",  # no TYPE
        "# TYPE x counter\nx{a=\"\\q\"} 1\n",  # bad escape
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
        "# TYPE x counter\nx 1\nx 1\n",
        "# TYPE x counter\nx 1",
    ]
    for text in bad:
        with pytest.raises(ValueError):
            promtext.parse(text)
