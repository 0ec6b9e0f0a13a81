# SPDX-License-Identifier: MIT
"""health, ready and the lameduck drain: probe codes through start-up, readiness and SIGTERM."""
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import free_port, k8s_list, k8s_service, run_binary

OBJECTS = k8s_list([k8s_service("web", cluster_ip="10.96.1.1")])
PROBE = "web.default.svc.cluster.local."


def get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path; (None, error) when nothing listens."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return None, str(e)


def corefile(hport, rport, lameduck=None, kube="objects objects.json"):
    ld = " {\n        lameduck %s\n    }" % lameduck if lameduck else ""
    return """cluster.local:@PORT@ {
    bind 127.0.0.1
    health 127.0.0.1:%d%s
    ready 127.0.0.1:%d
    kubernetes cluster.local {
        %s
    }
}
""" % (hport, ld, rport, kube)


def test_health_and_ready_ok(start_server):
    hport, rport = free_port(), free_port()
    srv = start_server(corefile(hport, rport), files={"objects.json": OBJECTS}, probe=PROBE, probe_type="A")
    assert get(hport, "/health") == (200, "OK")
    deadline = time.time() + 5
    while get(rport, "/ready")[0] != 200 and time.time() < deadline:
        time.sleep(0.05)
    assert get(rport, "/ready") == (200, "OK")
    # Each endpoint has its own path on its own address.
    assert get(hport, "/ready")[0] == 404
    assert get(rport, "/health")[0] == 404
    assert srv.query(PROBE).answer


def test_shared_address_serves_both(start_server):
    port = free_port()
    cf = """cluster.local:@PORT@ {
    bind 127.0.0.1
    health 127.0.0.1:%d
    ready 127.0.0.1:%d
    prometheus 127.0.0.1:%d
    kubernetes cluster.local {
        objects objects.json
    }
}
""" % (port, port, port)
    start_server(cf, files={"objects.json": OBJECTS}, probe=PROBE, probe_type="A")
    assert get(port, "/health") == (200, "OK")
    deadline = time.time() + 5
    while get(port, "/ready")[0] != 200 and time.time() < deadline:
        time.sleep(0.05)
    assert get(port, "/ready") == (200, "OK")
    status, body = get(port, "/metrics")
    assert status == 200 and "coredns_build_info" in body


def test_ready_503_names_plugin_until_synced(start_server):
    # An API server that is not there: kubernetes never syncs, so ready names it.
    hport, rport, closed = free_port(), free_port(), free_port()
    cf = corefile(hport, rport, kube="endpoint http://127.0.0.1:%d" % closed)
    srv = start_server(cf, probe=PROBE, probe_type="A")
    time.sleep(0.5)
    assert get(rport, "/ready") == (503, "kubernetes")
    assert get(hport, "/health") == (200, "OK")
    # Not ready yet: CoreDNS answers SERVFAIL rather than NXDOMAIN.
    assert srv.query(PROBE).rcode() == 2


class QueryLoop(threading.Thread):
    """Sends queries back to back; counts answers and failures (timeouts, errors)."""

    def __init__(self, srv, name=PROBE, stop_on_refused=False):
        super().__init__(daemon=True)
        self.srv, self.name = srv, name
        self.ok = self.failed = 0
        self.stopped = threading.Event()
        self.last_ok = None

    def run(self):
        while not self.stopped.is_set():
            try:
                r = self.srv.query(self.name, timeout=1.0)
                if r.rcode() == 0 and r.answer:
                    self.ok += 1
                    self.last_ok = time.time()
                else:
                    self.failed += 1
            except Exception:
                self.failed += 1
                time.sleep(0.01)

    def stop(self):
        self.stopped.set()
        self.join(5)


def test_lameduck_sequence(start_server):
    hport, rport = free_port(), free_port()
    srv = start_server(corefile(hport, rport, lameduck="2s"), files={"objects.json": OBJECTS}, probe=PROBE,
                       probe_type="A")
    deadline = time.time() + 5
    while get(rport, "/ready")[0] != 200 and time.time() < deadline:
        time.sleep(0.05)
    assert get(rport, "/ready") == (200, "OK")
    loop = QueryLoop(srv)
    loop.start()
    time.sleep(0.2)
    t0 = time.time()
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # Inside the lameduck period: out of the Service, still alive, still answering.
    assert get(rport, "/ready") == (503, "Shutting down")
    assert get(hport, "/health") == (200, "OK")
    ok_before = loop.ok
    time.sleep(1.0)
    assert srv.alive()
    assert loop.ok > ok_before, "DNS stopped answering during lameduck"
    assert get(hport, "/health") == (200, "OK")
    rc = srv.proc.wait(timeout=2 + 5)
    elapsed = time.time() - t0
    loop.stop()
    assert rc == 0
    assert elapsed >= 1.9, "exited before the lameduck period ended (%.2fs)" % elapsed
    assert loop.last_ok - t0 >= 1.5, "answers stopped early"
    log = srv.log()
    assert "Going into lameduck mode for 2s" in log
    # After exit nothing listens any more.
    assert get(hport, "/health")[0] is None


def test_sigterm_without_lameduck_exits_promptly(start_server):
    hport, rport = free_port(), free_port()
    srv = start_server(corefile(hport, rport), files={"objects.json": OBJECTS}, probe=PROBE, probe_type="A")
    t0 = time.time()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=5) == 0
    assert time.time() - t0 < 3


def test_drain_finishes_tcp_connection(start_server):
    hport, rport = free_port(), free_port()
    srv = start_server(corefile(hport, rport, lameduck="1s"), files={"objects.json": OBJECTS}, probe=PROBE,
                       probe_type="A")
    # An idle TCP connection open across the lameduck: queries on it keep working, then the
    # server closes it and exits 0.
    import dns.message
    import dns.query
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=3)
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    q = dns.message.make_query(PROBE, "A")
    dns.query.send_tcp(s, q)
    r, _ = dns.query.receive_tcp(s, expiration=time.time() + 2)
    assert r.answer
    assert srv.proc.wait(timeout=6) == 0
    s.settimeout(2)
    assert s.recv(10) == b""  # closed by the server
    s.close()


@pytest.mark.parametrize("stanza,want", [
    ("health 127.0.0.1", "plugin/health: address 127.0.0.1: missing port in address"),
    ("health :1 :2", "plugin/health: Wrong argument count"),
    ("health :8080 {\n        lameduck\n    }", "plugin/health: Wrong argument count"),
    ("health :8080 {\n        lameduck five\n    }", "plugin/health: unable to parse lameduck duration value: 'five'"),
    ("health :8080 {\n        foo 1s\n    }", "plugin/health: unknown property 'foo'"),
    ("ready a:b:1", "plugin/ready: address a:b:1: too many colons in address"),
    ("ready :8181 {\n        monitor sometimes\n    }", "plugin/ready: monitor type 'sometimes' not supported"),
    ("ready\n    ready", "plugin/ready: this plugin can only be used once per Server Block"),
])
def test_setup_errors(tmp_path, stanza, want):
    cf = tmp_path / "Corefile"
    cf.write_text(".:1053 {\n    %s\n    whoami\n}\n" % stanza)
    r = run_binary(["-conf", str(cf), "-check"])
    assert r.returncode == 1
    assert want in r.stderr, r.stderr
    assert "%s:" % cf in r.stderr


def test_defaults_accepted(tmp_path):
    cf = tmp_path / "Corefile"
    cf.write_text(".:1053 {\n    health {\n        lameduck 5s\n    }\n    ready {\n        monitor continuously\n"
                  "    }\n    prometheus :9153\n    whoami\n}\n")
    r = run_binary(["-conf", str(cf), "-check"])
    assert r.returncode == 0, r.stderr
