# SPDX-License-Identifier: MIT
"""forward: against upstreams the tests start on 127.0.0.x (upstream.py), never a real resolver."""
import socket
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from upstream import Upstream


@pytest.fixture
def ups():
    started = []

    def make(addr="127.0.0.2", **kw):
        u = Upstream(addr, **kw)
        u.answers["example.org."] = {"A": ["192.0.2.1"]}
        u.answers["big.example.org."] = {"TXT": ['"x"']}
        started.append(u)
        return u

    yield make
    for u in started:
        u.stop()


# The readiness probe is answered by a block of its own, so a dead upstream does not delay start.
PROBE_BLOCK = "invalid:@PORT@ {\n whoami\n}\n"


def corefile(body):
    return ".:@PORT@ {\n%s\n}\n" % body + PROBE_BLOCK


def start(start_server, body, files=None):
    return start_server(corefile(body), files=files, probe="probe.invalid.", probe_type="A")


def test_udp_and_tcp_forwarding_keeps_id_and_case(start_server, ups):
    up = ups()
    srv = start(start_server, "forward . %s" % up.target)
    q = dns.message.make_query("ExAmPle.ORG.", "A")
    r = srv.send(q)
    assert r.id == q.id and r.rcode() == dns.rcode.NOERROR
    assert r.question[0].name.to_text() == "ExAmPle.ORG."
    assert [x.to_text() for x in r.answer[0]] == ["192.0.2.1"]
    r = srv.send(q, tcp=True)
    assert [x.to_text() for x in r.answer[0]] == ["192.0.2.1"]
    # the client's transport is kept: a TCP query went out over TCP
    assert up.count("example.org.", "tcp") >= 1
    # every upstream query got a fresh ID, never the client's
    ids = {m.id for (_t, _n, _ty, m) in up.queries}
    assert q.id not in ids or len(ids) > 1


def test_fresh_random_ids_and_many_source_ports(start_server, ups):
    up = ups()
    srv = start(start_server, "forward . %s" % up.target)
    for i in range(40):
        srv.query("example.org.", "A")
    ids = [m.id for (t, n, _ty, m) in up.queries if n == "example.org."]
    assert len(set(ids)) >= 38  # 16-bit random IDs: collisions in 40 are rare


def test_force_tcp_and_prefer_udp(start_server, ups):
    up = ups()
    srv = start(start_server, "forward . %s {\n force_tcp\n }" % up.target)
    assert srv.query("example.org.").rcode() == dns.rcode.NOERROR
    assert up.count("example.org.", "tcp") == 1 and up.count("example.org.", "udp") == 0
    srv.stop()
    up2 = ups("127.0.0.3")
    srv = start(start_server, "forward . %s {\n prefer_udp\n }" % up2.target)
    assert srv.query("example.org.", tcp=True).rcode() == dns.rcode.NOERROR
    assert up2.count("example.org.", "udp") == 1


def test_tc_from_upstream_retries_over_tcp(start_server, ups):
    up = ups()
    up.tc_udp = True
    srv = start(start_server, "forward . %s" % up.target)
    r = srv.query("example.org.", want_edns=True)
    assert r.rcode() == dns.rcode.NOERROR and not (r.flags & dns.flags.TC)
    assert [x.to_text() for x in r.answer[0]] == ["192.0.2.1"]
    assert up.count("example.org.", "udp") == 1 and up.count("example.org.", "tcp") == 1


def test_large_answer_truncated_to_client_size(start_server, ups):
    up = ups()
    up.big = 20  # ~4 KB of TXT
    srv = start(start_server, "forward . %s" % up.target)
    r = srv.query("big.example.org.", "TXT", want_edns=True, payload=1232)
    assert r.flags & dns.flags.TC
    assert len(r.to_wire()) <= 1232
    r = srv.query("big.example.org.", "TXT", tcp=True)
    assert not (r.flags & dns.flags.TC) and sum(len(a) for a in r.answer) >= 20


def test_edns_and_do_bit_passed_through(start_server, ups):
    up = ups()
    srv = start(start_server, "forward . %s" % up.target)
    q = dns.message.make_query("example.org.", "A", want_dnssec=True, payload=4000)
    srv.send(q)
    sent = [m for (_t, n, _ty, m) in up.queries if n == "example.org."][-1]
    assert sent.edns == 0 and sent.payload == 4000 and (sent.ednsflags & dns.flags.DO)


def test_spoofed_reply_with_wrong_id_is_ignored(start_server, ups):
    up = ups()
    up.spoof_first = True
    srv = start(start_server, "forward . %s" % up.target)
    r = srv.query("example.org.", timeout=5)
    assert [x.to_text() for x in r.answer[0]] == ["192.0.2.1"]


def test_reply_from_wrong_address_is_ignored(start_server, ups):
    up = ups()
    up.spoof_source = True
    srv = start(start_server, "forward . %s" % up.target)
    r = srv.query("example.org.", timeout=5)
    assert [x.to_text() for x in r.answer[0]] == ["192.0.2.1"]


def test_timeout_fails_over_to_next_upstream(start_server, ups):
    dead = ups("127.0.0.2")
    dead.silent = True
    good = ups("127.0.0.3")
    srv = start(start_server, "forward . %s %s {\n policy sequential\n }" % (dead.target, good.target))
    t0 = time.time()
    r = srv.query("example.org.", timeout=8)
    assert r.rcode() == dns.rcode.NOERROR
    assert [x.to_text() for x in r.answer[0]] == ["192.0.2.1"]
    assert 1.5 < time.time() - t0 < 4.5  # one 2 s read timeout, then the second upstream
    assert dead.count("example.org.") == 1 and good.count("example.org.") == 1


def test_all_down_servfail(start_server, ups):
    a = ups("127.0.0.2")
    b = ups("127.0.0.3")
    a.silent = b.silent = True
    srv = start(start_server, "forward . %s %s" % (a.target, b.target))
    t0 = time.time()
    r = srv.query("example.org.", timeout=10)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert time.time() - t0 < 6


def test_max_concurrent_refused(start_server, ups):
    up = ups()
    up.delay = 1.0
    srv = start(start_server, "forward . %s {\n max_concurrent 2\n }" % up.target)
    socks = []
    for i in range(6):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(dns.message.make_query("example.org.", "A").to_wire(), ("127.0.0.1", srv.port))
        socks.append(s)
    rcodes = [dns.message.from_wire(s.recv(4096)).rcode() for s in socks]
    for s in socks:
        s.close()
    assert rcodes.count(dns.rcode.REFUSED) == 4 and rcodes.count(dns.rcode.NOERROR) == 2


def test_except_and_from(start_server, ups):
    up = ups()
    up.answers["a.example.org."] = {"A": ["192.0.2.9"]}
    srv = start(start_server, "forward example.org %s {\n except skip.example.org\n }" % up.target)
    assert srv.query("a.example.org.").rcode() == dns.rcode.NOERROR
    # not under FROM, and under an except: nobody answers (CoreDNS: SERVFAIL, no next plugin)
    assert srv.query("example.net.").rcode() == dns.rcode.SERVFAIL
    assert srv.query("x.skip.example.org.").rcode() == dns.rcode.SERVFAIL
    assert up.count("example.net.") == 0 and up.count("x.skip.example.org.") == 0


def test_several_forwards_in_one_block_by_from(start_server, ups):
    stub = ups("127.0.0.2")
    stub.answers["svc.corp.example."] = {"A": ["10.1.1.1"]}
    default = ups("127.0.0.3")
    srv = start(start_server, "forward corp.example %s\n forward . %s" % (stub.target, default.target))
    assert [x.to_text() for x in srv.query("svc.corp.example.").answer[0]] == ["10.1.1.1"]
    assert [x.to_text() for x in srv.query("example.org.").answer[0]] == ["192.0.2.1"]
    assert stub.count("example.org.") == 0 and default.count("svc.corp.example.") == 0


def test_stub_domain_as_separate_server_block(start_server, ups):
    stub = ups("127.0.0.2")
    stub.answers["svc.corp.example."] = {"A": ["10.1.1.1"]}
    default = ups("127.0.0.3")
    cf = "corp.example:@PORT@ {\n forward . %s\n}\n.:@PORT@ {\n forward . %s\n}\n" % (stub.target, default.target)
    cf += PROBE_BLOCK
    srv = start_server(cf, probe="probe.invalid.", probe_type="A")
    assert [x.to_text() for x in srv.query("svc.corp.example.").answer[0]] == ["10.1.1.1"]
    assert srv.query("example.org.").rcode() == dns.rcode.NOERROR
    assert default.count("svc.corp.example.") == 0


def test_resolv_conf_file_as_to(start_server, ups):
    up = ups("127.0.0.4", port=None)
    # resolv.conf has no port: the upstream must be on 53, which tests cannot bind as non-root,
    # so check that the file's nameservers are read (and used, when on port 53 is possible).
    r = start_server(corefile("forward . @DIR@/resolv.conf"), files={"resolv.conf": "search x\nnameserver 127.0.0.4\n"},
                     probe="probe.invalid.", probe_type="A")
    assert r.alive()


def test_health_check_marks_down_and_up(start_server, ups):
    a = ups("127.0.0.2")
    b = ups("127.0.0.3")
    a.silent = True
    srv = start(start_server, "forward . %s %s {\n policy sequential\n health_check 0.2s\n max_fails 1\n }"
                % (a.target, b.target))
    srv.query("example.org.", timeout=8)  # times out on a, kicks a's health check
    time.sleep(1.5)  # probes every 0.2 s, each failing after 1 s timeout ... a goes down
    for _ in range(10):
        if "is down" in srv.log():
            break
        time.sleep(0.5)
    assert "is down" in srv.log()
    before = a.count("example.org.")
    t0 = time.time()
    r = srv.query("example.org.", timeout=8)
    assert r.rcode() == dns.rcode.NOERROR and time.time() - t0 < 1.0  # a is skipped
    assert a.count("example.org.") == before
    assert a.count(".") >= 2  # health probes are ". IN NS"
    probe = [m for (_t, n, ty, m) in a.queries if n == "." and ty == "NS"][0]
    assert probe.flags & dns.flags.RD
    a.silent = False  # a recovers: the next probe brings it back
    time.sleep(1.5)
    a_before = a.count("example.org.")
    for _ in range(5):
        srv.query("example.org.", timeout=8)
    assert a.count("example.org.") > a_before


def test_health_check_no_rec(start_server, ups):
    a = ups("127.0.0.2")
    b = ups("127.0.0.3")
    a.silent = True
    srv = start(start_server, "forward . %s %s {\n policy sequential\n health_check 0.2s no_rec\n }"
                % (a.target, b.target))
    srv.query("example.org.", timeout=8)
    time.sleep(1.0)
    probes = [m for (_t, n, ty, m) in a.queries if n == "." and ty == "NS"]
    assert probes and not (probes[0].flags & dns.flags.RD)


def test_all_down_still_tries_one(start_server, ups):
    a = ups("127.0.0.2")
    a.silent = True
    srv = start(start_server, "forward . %s {\n health_check 0.1s\n max_fails 1\n }" % a.target)
    srv.query("example.org.", timeout=8)
    time.sleep(2.5)
    assert "is down" in srv.log()
    a.silent = False
    # health says down, but with every upstream down one is tried anyway
    r = srv.query("example.org.", timeout=8)
    assert r.rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("body,msg", [
    ("forward .", "Wrong argument count"),
    ("forward . tls://127.0.0.1", "not supported"),
    ("forward . 127.0.0.1 {\n tls\n }", "not supported"),
    ("forward . 127.0.0.1 {\n policy bogus\n }", "unknown policy"),
    ("forward . 127.0.0.1 {\n health_check 1s bogus\n }", "unknown option"),
    ("forward . 127.0.0.1 {\n max_fails x\n }", "max_fails"),
    ("forward . 127.0.0.1 {\n bogus\n }", "unknown property"),
    ("forward . not-an-ip", "not an IP address"),
    ("forward . 127.0.0.1 {\n failover NOERROR\n }", "NOERROR"),
])
def test_setup_errors(tmp_path, body, msg):
    from conftest import run_binary
    cf = tmp_path / "Corefile"
    cf.write_text(corefile(body).replace("@PORT@", "1053"))
    r = run_binary(["-conf", str(cf), "-check"])
    assert r.returncode != 0 and msg in (r.stdout + r.stderr)


def test_setup_accepts_coredns_forms(tmp_path):
    from conftest import run_binary
    body = ("forward . dns://127.0.0.1:5300 127.0.0.2 [::1]:53 {\n except a.org b.org\n force_tcp\n prefer_udp\n"
            " expire 20s\n max_fails 3\n health_check 5s no_rec domain example.org\n policy round_robin\n"
            " max_concurrent 100\n next NXDOMAIN SERVFAIL\n failover SERVFAIL REFUSED\n max_connect_attempts 4\n }")
    cf = tmp_path / "Corefile"
    cf.write_text(corefile(body).replace("@PORT@", "1053"))
    r = run_binary(["-conf", str(cf), "-check"])
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(not __import__("shutil").which("knotd"), reason="knotd (Debian's knot) is not installed")
def test_real_upstream_knotd(start_server, tmp_path):
    """A real authoritative server as the upstream: knotd on 127.0.0.6, over UDP and TCP."""
    import subprocess
    from upstream import _free_port
    port = _free_port("127.0.0.6")
    (tmp_path / "db").mkdir()
    (tmp_path / "example.test.zone").write_text(
        "$ORIGIN example.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.6\n"
        "www A 192.0.2.80\nwww AAAA 2001:db8::80\nalias CNAME www\n")
    (tmp_path / "knot.conf").write_text(
        'server:\n    rundir: "%s"\n    listen: 127.0.0.6@%d\n    udp-workers: 1\n    tcp-workers: 1\n'
        '    background-workers: 1\ndatabase:\n    storage: "%s/db"\nlog:\n  - target: stderr\n    any: warning\n'
        'template:\n  - id: default\n    storage: "%s"\n    zonefile-sync: -1\n    journal-content: none\n'
        'zone:\n  - domain: example.test\n    file: "%s/example.test.zone"\n'
        % (tmp_path, port, tmp_path, tmp_path, tmp_path))
    knot = subprocess.Popen(["knotd", "-c", str(tmp_path / "knot.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        srv = start(start_server, "forward example.test 127.0.0.6:%d" % port)
        deadline = time.time() + 10
        r = None
        while time.time() < deadline:
            r = srv.query("www.example.test.", timeout=3)
            if r.rcode() == dns.rcode.NOERROR:
                break
            time.sleep(0.2)
        assert [x.to_text() for x in r.answer[0]] == ["192.0.2.80"]
        assert r.flags & dns.flags.AA  # knotd's flags come through unchanged
        r = srv.query("ALIAS.example.test.", "AAAA", tcp=True)
        assert r.question[0].name.to_text() == "ALIAS.example.test."
        assert [x.to_text() for x in r.answer[-1]] == ["2001:db8::80"]
        assert srv.query("nope.example.test.").rcode() == dns.rcode.NXDOMAIN
    finally:
        knot.terminate()
        knot.wait(timeout=10)
