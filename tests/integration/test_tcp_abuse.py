# SPDX-License-Identifier: MIT
"""TCP abuse (issue 7, point 4): idle connections closed after the idle timeout (10 s) while new
clients are served, the per-worker connection cap (1024) holding, slowloris (a length prefix then
a byte at a time), connections reset mid-answer, half-closed sockets, and file-descriptor
exhaustion (a low RLIMIT_NOFILE): UDP keeps serving and TCP recovers once the clients let go.
(100 pipelined queries on one connection: test_protocol.py.)

Servers are started here with their own rlimits (preexec_fn), one worker where a count matters.
"""
import os
import resource
import signal
import socket
import struct
import subprocess
import threading
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from conftest import BINARY, free_port, k8s_list, k8s_service, k8s_slice

IDLE_S = 10.0      # main.c: tcp_idle_ms
CAP = 1024         # main.c: tcp_max_conns, per worker
WEB = "web.default.svc.cluster.local."
BIG = "big.default.svc.cluster.local."
COREFILE = """\
cluster.local:%d {
    bind 127.0.0.1
    kubernetes cluster.local {
        objects cluster.json
    }
}
"""


def objects():
    return k8s_list([k8s_service("web", cluster_ip="10.96.0.20"), k8s_service("big"),
                     k8s_slice("big", [("10.244.1.%d" % i, None, True) for i in range(1, 121)])])


class Srv:
    def __init__(self, d, port, nofile, workers):
        self.addr, self.port, self.dir = "127.0.0.1", port, d
        with open(os.path.join(d, "cluster.json"), "w") as f:
            f.write(objects())
        cf = os.path.join(d, "Corefile")
        with open(cf, "w") as f:
            f.write(COREFILE % port)
        self.logpath = os.path.join(d, "clusterdns.log")

        def limits():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        with open(self.logpath, "w") as logf:
            self.proc = subprocess.Popen([BINARY, "-conf", cf, "-workers", str(workers)], stdout=logf,
                                         stderr=subprocess.STDOUT, cwd=d, preexec_fn=limits)
        end = time.monotonic() + 15
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                self.udp(timeout=0.3)
                break
            except Exception:
                assert time.monotonic() < end, self.log()
                time.sleep(0.05)

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def udp(self, name=WEB, timeout=2.0):
        r = dns.query.udp(dns.message.make_query(name, "A"), self.addr, port=self.port, timeout=timeout)
        assert r.rcode() == dns.rcode.NOERROR
        return r

    def tcp(self, name=WEB, timeout=2.0):
        r = dns.query.tcp(dns.message.make_query(name, "A"), self.addr, port=self.port, timeout=timeout)
        assert r.rcode() == dns.rcode.NOERROR
        return r

    def assert_serving(self):
        assert self.proc.poll() is None, "server died:\n" + self.log()[-4000:]
        assert [a.address for a in self.udp().answer[0]] == ["10.96.0.20"]
        assert [a.address for a in self.tcp().answer[0]] == ["10.96.0.20"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def server(tmp_path):
    started = []

    def start(nofile=4096, workers=1):
        s = Srv(str(tmp_path), free_port(), nofile, workers)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


@pytest.fixture(autouse=True)
def many_fds():
    """This process opens more than the usual 1024 sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 4096:
        pytest.skip("RLIMIT_NOFILE hard limit %d: too low for these tests" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def connect(s, timeout=2.0):
    c = socket.create_connection((s.addr, s.port), timeout=timeout)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def closed_by_peer(c, wait_s):
    """True when the server closed c (EOF or reset) within wait_s."""
    c.settimeout(wait_s)
    try:
        return c.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def frame(q):
    w = q.to_wire()
    return struct.pack("!H", len(w)) + w


def read_msg(c):
    def exact(n):
        b = b""
        while len(b) < n:
            chunk = c.recv(n - len(b))
            if not chunk:
                return None
            b += chunk
        return b
    h = exact(2)
    return None if h is None else exact(struct.unpack("!H", h)[0])


# ------------------------------------------------------------------ idle connections
def test_idle_connections_closed_after_the_timeout_new_clients_served(server):
    s = server(workers=2)
    base = s.fds()
    idle = [connect(s) for _ in range(300)]
    time.sleep(0.5)
    assert s.fds() >= base + 300 - 5, "the server does not hold the idle connections open"
    t0 = time.monotonic()
    s.assert_serving()                    # new clients get through while 300 sit idle
    # One connection that asked something stays open until its own idle window ends.
    used = connect(s)
    used.sendall(frame(dns.message.make_query(WEB, "A")))
    assert read_msg(used) is not None
    time.sleep(IDLE_S - 3)
    assert not closed_by_peer(idle[0], 0.1), "closed before the idle timeout"
    for c in idle:
        assert closed_by_peer(c, max(0.1, t0 + IDLE_S + 4 - time.monotonic())), \
            "an idle connection was still open %.1f s after it was made" % (time.monotonic() - t0)
        c.close()
    s.assert_serving()
    assert closed_by_peer(used, 6.0), "the connection that asked was never closed"
    time.sleep(0.3)
    assert s.fds() <= base + 2, "fds not released: %d then %d" % (base, s.fds())


def test_connection_cap_holds_and_new_clients_still_served(server):
    s = server(workers=1)
    base = s.fds()
    conns = []
    for _ in range(CAP + 200):
        try:
            conns.append(connect(s, timeout=5.0))
        except OSError:
            break
    time.sleep(1.0)
    held = s.fds() - base
    assert held <= CAP + 2, "the server holds %d connections, the cap is %d" % (held, CAP)
    assert held >= CAP - 50, "far fewer connections held (%d) than the cap" % held
    s.assert_serving()                    # the cap sheds the oldest idle ones: new clients get in
    closed = sum(1 for c in conns[:300] if closed_by_peer(c, 0.01))
    assert closed >= 150, "the oldest idle connections were not the ones shed (%d of 300 closed)" % closed
    for c in conns:
        c.close()
    s.assert_serving()


# ------------------------------------------------------------------ slowloris
def test_slowloris_is_cut_off_and_does_not_block_others(server):
    s = server(workers=1)
    lorises = []
    for _ in range(20):
        c = connect(s)
        c.sendall(b"\x00\x30")              # announces 48 octets
        lorises.append(c)
    t0 = time.monotonic()
    cut = [None] * len(lorises)
    wire = dns.message.make_query(WEB, "A").to_wire()
    i = 0
    while time.monotonic() - t0 < IDLE_S + 5 and None in cut:
        for k, c in enumerate(lorises):
            if cut[k] is not None:
                continue
            try:
                c.sendall(wire[i % len(wire):i % len(wire) + 1])   # one byte at a time
            except (BrokenPipeError, ConnectionResetError):
                cut[k] = time.monotonic() - t0
                continue
            if closed_by_peer(c, 0.001):
                cut[k] = time.monotonic() - t0
        i += 1
        if i % 5 == 0:
            s.assert_serving()                # everyone else is served meanwhile
        time.sleep(0.4)
    assert None not in cut, "slowloris connections still open after %.0f s" % (IDLE_S + 5)
    assert max(cut) <= IDLE_S + 5
    for c in lorises:
        c.close()
    s.assert_serving()


def test_length_prefix_only_then_silence(server):
    s = server(workers=1)
    c = connect(s)
    c.sendall(b"\x01\x00")
    assert closed_by_peer(c, IDLE_S + 4), "a connection that never completes its message stays open"
    s.assert_serving()


# ------------------------------------------------------------------ resets and half-closes
def test_reset_mid_answer(server):
    s = server(workers=2)
    big = frame(dns.message.make_query(BIG, "A"))
    for _ in range(60):
        c = connect(s)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sendall(big * 40)                 # 40 answers of ~2 KB each: more than the socket buffers
        time.sleep(0.005)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()                           # RST with answers still being written
    time.sleep(0.3)
    s.assert_serving()
    r = s.tcp(BIG)
    assert len(r.answer[0]) == 120


def test_half_closed_after_queries_gets_every_answer(server):
    s = server(workers=2)
    c = connect(s)
    qs = [dns.message.make_query(WEB, "A") for _ in range(5)] + [dns.message.make_query(BIG, "A")]
    c.sendall(b"".join(frame(q) for q in qs))
    c.shutdown(socket.SHUT_WR)
    got = set()
    while True:
        raw = read_msg(c)
        if raw is None:
            break
        got.add(dns.message.from_wire(raw).id)
    assert got == {q.id for q in qs}, "answers missing after a half-close"
    c.close()
    # Half-closed before asking anything: the server closes its side.
    c = connect(s)
    c.shutdown(socket.SHUT_WR)
    assert closed_by_peer(c, 3.0)
    c.close()
    # Half-closed by the client and never reading: the server must not hang on to it forever.
    stuck = []
    for _ in range(20):
        c = connect(s)
        c.sendall(frame(dns.message.make_query(BIG, "A")) * 20)
        c.shutdown(socket.SHUT_WR)
        stuck.append(c)
    s.assert_serving()
    for c in stuck:
        c.close()
    s.assert_serving()


# ------------------------------------------------------------------ fd exhaustion
def test_fd_exhaustion_keeps_udp_and_recovers_tcp(server):
    s = server(nofile=96, workers=1)
    base = s.fds()
    conns, refused = [], 0
    for _ in range(300):
        try:
            conns.append(connect(s, timeout=1.0))
        except OSError:
            refused += 1
    time.sleep(0.5)
    assert s.fds() <= 96
    # With every descriptor taken, UDP (its socket is already open) keeps answering.
    for _ in range(20):
        assert [a.address for a in s.udp().answer[0]] == ["10.96.0.20"]
    assert s.proc.poll() is None, s.log()[-3000:]
    # A TCP query now may fail; once the clients let go it must work again.
    for c in conns:
        c.close()
    end = time.monotonic() + 10
    while True:
        try:
            s.tcp(timeout=1.0)
            break
        except Exception:
            assert time.monotonic() < end, "TCP did not recover after the descriptors came back:\n" + s.log()[-3000:]
            time.sleep(0.2)
    s.assert_serving()
    time.sleep(0.5)
    assert s.fds() <= base + 4, "descriptors leaked: %d before, %d after" % (base, s.fds())
    # And again: a second wave does not wedge it either.
    conns = []
    for _ in range(150):
        try:
            conns.append(connect(s, timeout=1.0))
        except OSError:
            pass
    s.udp()
    for c in conns:
        c.close()
    time.sleep(0.5)
    s.assert_serving()


def test_parallel_clients_during_abuse(server):
    """Idle hoarders, slowloris and resets at once while 4 clients query over TCP and UDP:
    every good query is answered."""
    s = server(workers=2)
    stop = threading.Event()
    errors = []

    def client(tcp):
        n = 0
        while not stop.is_set():
            try:
                (s.tcp if tcp else s.udp)()
                n += 1
            except Exception as e:   # noqa: BLE001 - reported below
                errors.append(repr(e))
        return n

    threads = [threading.Thread(target=client, args=(k % 2 == 0,)) for k in range(4)]
    for t in threads:
        t.start()
    hoard = [connect(s) for _ in range(200)]
    for c in hoard[:50]:
        c.sendall(b"\x00\x40\x12")
    big = frame(dns.message.make_query(BIG, "A"))
    for _ in range(30):
        c = connect(s)
        c.sendall(big * 20)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(10)
    for c in hoard:
        c.close()
    assert not errors, "good queries failed during the abuse: %s" % errors[:5]
    s.assert_serving()
