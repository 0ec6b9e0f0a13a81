# SPDX-License-Identifier: MIT
"""kubeadm's default Corefile (the one in deploy/coredns.yaml) runs unchanged but for addresses:
the listening ports (a free port for DNS, loopback ports for health/ready/prometheus, so that
parallel runs do not collide) and the resolv.conf path (a file this test writes, naming its own
upstream on 127.0.0.x:53). The kubernetes plugin reaches the fake API server through in-cluster
configuration (KUBERNETES_SERVICE_HOST/PORT and a service-account directory), as in a Pod.
Skipped until `clusterdns -plugins` lists every directive the Corefile uses."""
import os
import re
import socket
import socketserver
import threading
import time
import urllib.request

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from conftest import free_port, run_binary
from kube_helpers import DATA, clean_env, fa, wait_answer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UPSTREAM_IP = "127.0.0.77"


def kubeadm_corefile():
    import yaml
    with open(os.path.join(ROOT, "deploy", "coredns.yaml")) as f:
        for doc in yaml.safe_load_all(f):
            if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "coredns":
                return doc["data"]["Corefile"]
    raise AssertionError("no ConfigMap coredns in deploy/coredns.yaml")


COREFILE = kubeadm_corefile()
SKIP = {"pods", "fallthrough", "ttl", "lameduck", "max_concurrent"}
NEEDED = {m.group(1) for m in re.finditer(r"^\s*([a-z_]+)(?=\s|$)", COREFILE, re.M)} - SKIP
HAVE = set(re.findall(r"^\s+dns\.(\S+)$", run_binary(["-plugins"]).stdout, re.M))
pytestmark = pytest.mark.skipif(not NEEDED <= HAVE, reason="clusterdns -plugins lacks %s" % sorted(NEEDED - HAVE))


class Upstream:
    """A tiny authoritative upstream on UDP and TCP: example.com. A -> 192.0.2.1, others NXDOMAIN."""

    def __init__(self, ip):
        self.queries = []
        up = self

        def answer(wire):
            q = dns.message.from_wire(wire)
            up.queries.append((q.question[0].name.to_text(), q.question[0].rdtype))
            r = dns.message.make_response(q)
            if q.question[0].name.to_text().lower() == "example.com." and q.question[0].rdtype == dns.rdatatype.A:
                r.answer.append(dns.rrset.from_text("example.com.", 300, "IN", "A", "192.0.2.1"))
            else:
                r.set_rcode(dns.rcode.NXDOMAIN)
            return r.to_wire()

        class U(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                sock.sendto(answer(data), self.client_address)

        class T(socketserver.BaseRequestHandler):
            def handle(self):
                n = int.from_bytes(self.request.recv(2), "big")
                out = answer(self.request.recv(n))
                self.request.sendall(len(out).to_bytes(2, "big") + out)

        socketserver.UDPServer.allow_reuse_address = True
        socketserver.TCPServer.allow_reuse_address = True
        self.udp = socketserver.ThreadingUDPServer((ip, 53), U)
        self.tcp = socketserver.ThreadingTCPServer((ip, 53), T)
        for s in (self.udp, self.tcp):
            threading.Thread(target=s.serve_forever, daemon=True).start()

    def stop(self):
        for s in (self.udp, self.tcp):
            s.shutdown()
            s.server_close()


@pytest.fixture
def upstream():
    try:
        u = Upstream(UPSTREAM_IP)
    except OSError as e:
        pytest.skip("cannot listen on %s:53 for the test upstream: %s" % (UPSTREAM_IP, e))
    yield u
    u.stop()


@pytest.fixture
def fake_in_cluster(tmp_path):
    if not os.access("/usr/bin/openssl", os.X_OK):
        pytest.skip("openssl not installed")
    pki = fa.make_test_pki(str(tmp_path / "pki"))
    tok = "tok-kubeadm"
    fake = fa.FakeAPIServer(objects=DATA, tls=pki, token=tok, bookmark_interval=0.2).start()
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(tok)
    (sa / "ca.crt").write_text(open(pki.ca_cert).read())
    (sa / "namespace").write_text("kube-system")
    yield clean_env(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=fake.port,
                    CLUSTERDNS_SERVICEACCOUNT_DIR=str(sa))
    fake.stop()


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_kubeadm_default_corefile(start_server, upstream, fake_in_cluster, tmp_path):
    hport, rport, mport = free_port(), free_port(), free_port()
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# the test's own upstream\nnameserver %s\n" % UPSTREAM_IP)
    text = (COREFILE.replace(".:53 {", ".:@PORT@ {")
            .replace("health {", "health 127.0.0.1:%d {" % hport)
            .replace("\n    ready\n", "\n    ready 127.0.0.1:%d\n" % rport)
            .replace("prometheus :9153", "prometheus 127.0.0.1:%d" % mport)
            .replace("/etc/resolv.conf", str(resolv)))
    # Everything else is kubeadm's text, line for line.
    assert [l.strip() for l in text.splitlines() if "127.0.0.1" not in l and "@PORT@" not in l and "resolv" not in l] \
        == [l.strip() for l in COREFILE.splitlines() if not re.match(r"^\s*(health|ready|prometheus|forward|\.:53)", l)]
    srv = start_server(text, env=fake_in_cluster, probe="example.com.", probe_type="A")
    # Cluster names from the API server (kubernetes, pods insecure, ttl 30).
    wait_answer(srv, "web.prod.svc.cluster.local.", ("NOERROR", ["10.96.1.10"]), deadline_s=10)
    resp = srv.query("web.prod.svc.cluster.local.", "A")
    assert resp.answer[0].ttl <= 30
    assert srv.query("10-1-2-3.prod.pod.cluster.local.", "A").answer[0][0].address == "10.1.2.3"
    # Other names through forward . <resolv.conf>, then from cache 30.
    before = len(upstream.queries)
    resp = srv.query("example.com.", "A")
    assert resp.answer[0][0].address == "192.0.2.1"
    n = len(upstream.queries)
    for _ in range(3):
        assert srv.query("example.com.", "A").answer[0][0].address == "192.0.2.1"
    assert len(upstream.queries) == n, "cache 30 should have answered the repeats"
    assert n >= before
    assert srv.query("nothere.example.com.", "A").rcode() == dns.rcode.NXDOMAIN
    # fallthrough in-addr.arpa: an address the cluster does not know goes upstream.
    srv.query("9.9.0.203.in-addr.arpa.", "PTR")
    assert ("9.9.0.203.in-addr.arpa.", dns.rdatatype.PTR) in upstream.queries
    # TCP answers too.
    assert srv.query("web.prod.svc.cluster.local.", "A", tcp=True).answer
    # health, ready and prometheus where the Deployment's probes and the Service expect them.
    assert http_get("http://127.0.0.1:%d/health" % hport)[0] == 200
    end = time.time() + 10
    while http_get("http://127.0.0.1:%d/ready" % rport)[0] != 200:
        assert time.time() < end, "never ready"
        time.sleep(0.1)
    code, metrics = http_get("http://127.0.0.1:%d/metrics" % mport)
    assert code == 200 and "coredns_dns_requests_total" in metrics
    assert srv.alive()
