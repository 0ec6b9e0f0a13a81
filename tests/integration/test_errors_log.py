# SPDX-License-Identifier: MIT
"""The errors and log plugins: CoreDNS's line formats, {class} filters, consolidation, and the
promise that logging never blocks a worker (a stderr nobody reads must not stop answers)."""
import os
import re
import signal
import socket
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from conftest import BINARY, free_port, wait_ready, Server

# CoreDNS's {common} format: {remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do}
# {>bufsize}" {rcode} {>rflags} {rsize} {duration}
COMMON = re.compile(r'^\[INFO\] 127\.0\.0\.1:(\d+) - (\d+) "(\S+) IN (\S+) (udp|tcp) (\d+) (true|false) (\d+)" '
                    r'(\S+) ([a-z,]+) (\d+) (\d+\.\d+)s$', re.M)


def wait_log(srv, pattern, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        m = re.search(pattern, srv.log(), re.M)
        if m:
            return m
        time.sleep(0.05)
    raise AssertionError("no line matching %r in:\n%s" % (pattern, srv.log()))


def test_log_common_format(start_server):
    srv = start_server("example.org:@PORT@ {\n    bind 127.0.0.1\n    log\n    whoami\n}\n",
                       probe="probe.example.org.", probe_type="A")
    q = dns.message.make_query("www.example.org.", "A", use_edns=0, payload=1232, want_dnssec=True)
    resp = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=2)
    wait_log(srv, r"www\.example\.org\.")
    lines = [m for m in COMMON.finditer(srv.log()) if m.group(4) == "www.example.org."]
    assert len(lines) == 1, srv.log()
    m = lines[0]
    assert m.group(2) == str(q.id) and m.group(3) == "A" and m.group(5) == "udp"
    assert m.group(6) == str(len(q.to_wire())) and m.group(7) == "true" and m.group(8) == "1232"
    assert m.group(9) == "NOERROR" and m.group(10) == "qr,aa,rd" and m.group(11) == str(len(resp.to_wire()))
    # TCP is logged as tcp.
    srv.query("tcp.example.org.", "A", tcp=True)
    wait_log(srv, r'"A IN tcp\.example\.org\. tcp ')


def test_log_class_filter_and_names(start_server):
    srv = start_server(".:@PORT@ {\n    bind 127.0.0.1\n    log example.org {\n        class denial error\n    }\n"
                       "    hosts {\n        10.0.0.1 ok.example.org\n        10.0.0.2 ok.example.net\n    }\n}\n",
                       probe="ok.example.org.", probe_type="A")
    srv.query("ok.example.org.", "A")           # success: filtered out
    srv.query("missing.example.org.", "A")      # SERVFAIL from hosts: error class
    srv.query("missing.example.net.", "A")      # not below example.org: not logged
    wait_log(srv, r'"A IN missing\.example\.org\. udp .*" SERVFAIL ')
    time.sleep(0.2)
    log = srv.log()
    assert '"A IN ok.example.org.' not in log and "missing.example.net." not in log, log


def test_log_custom_format(start_server):
    srv = start_server("example.org:@PORT@ {\n    bind 127.0.0.1\n    log . \"{proto} {name} {type} {rcode} {>opcode}\"\n"
                       "    whoami\n}\n", probe="probe.example.org.", probe_type="A")
    srv.query("custom.example.org.", "AAAA")
    wait_log(srv, r"^\[INFO\] udp custom\.example\.org\. AAAA NOERROR 0$")


def test_errors_default_format(start_server):
    # No plugin answers: the pipeline's "no next plugin found" SERVFAIL is the error.
    srv = start_server("example.org:@PORT@ {\n    bind 127.0.0.1\n    errors\n}\n", probe="probe.example.org.",
                       probe_type="A")
    assert srv.query("www.example.org.", "MX").rcode() == dns.rcode.SERVFAIL
    wait_log(srv, r"^\[ERROR\] plugin/errors: 2 www\.example\.org\. MX: no next plugin found$")


def test_errors_consolidate(start_server):
    srv = start_server("example.org:@PORT@ {\n    bind 127.0.0.1\n    errors {\n"
                       "        consolidate 1s \"^no next plugin\" warning\n    }\n}\n", probe="probe.example.org.",
                       probe_type="A")
    time.sleep(1.3)  # let the probe's own error be summarized first
    before = srv.log()
    for i in range(5):
        srv.query("n%d.example.org." % i, "A")
    m = wait_log(srv, r"^\[WARNING\] plugin/errors: 5 errors like '\^no next plugin' occurred in last 1s$", timeout=4)
    assert m
    new = srv.log()[len(before):]
    assert "n0.example.org." not in new, new  # consolidated, not logged one by one


def test_errors_consolidate_show_first_and_no_match(start_server):
    srv = start_server("example.org:@PORT@ {\n    bind 127.0.0.1\n    errors {\n"
                       "        consolidate 500ms \"i/o timeout$\"\n        consolidate 1s \"next plugin\" error show_first\n"
                       "    }\n}\n", probe="probe.example.org.", probe_type="A")
    time.sleep(1.3)
    before = len(srv.log())
    for i in range(3):
        srv.query("s%d.example.org." % i, "A")
    wait_log(srv, r"^\[ERROR\] plugin/errors: 3 errors like 'next plugin' occurred in last 1s$", timeout=4)
    new = srv.log()[before:]
    assert new.count("plugin/errors: 2 s") == 1, new  # only the first one, as it happened


def test_errors_consolidate_setup_errors(tmp_path):
    from conftest import run_binary
    for block, want in (("consolidate 1s", "consolidate needs"), ("consolidate x1 abc", "invalid duration"),
                        ("consolidate 1s abc loud", "unknown log level"), ("consolidate 1s \"(\"", "invalid regular"),
                        ("bogus", "unknown property 'bogus'")):
        cf = tmp_path / "Corefile"
        cf.write_text(".:1053 {\n    errors {\n        %s\n    }\n    whoami\n}\n" % block)
        res = run_binary(["-conf", str(cf), "-check"])
        assert res.returncode == 1 and want in res.stderr and "%s:3:" % cf in res.stderr, (block, res.stderr)


def test_logging_never_blocks_a_worker(tmp_path):
    """stderr is a pipe nobody reads: once it is full, the log writer is stuck in write(2), yet
    every query is answered, the lost lines are counted, and the rest comes out once read."""
    port = free_port()
    cf = tmp_path / "Corefile"
    cf.write_text("example.org:%d {\n    bind 127.0.0.1\n    log\n    whoami\n}\n" % port)
    proc = subprocess.Popen([BINARY, "-conf", str(cf), "-workers", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        srv = Server(str(tmp_path), port, proc, os.devnull)
        end = time.time() + 10
        while True:
            try:
                srv.query("probe.example.org.", "A", timeout=0.3)
                break
            except Exception:
                assert time.time() < end and proc.poll() is None
        # ~4000 lines of ~120 octets: far more than the 64 KiB a pipe holds.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        answered = 0
        t0 = time.time()
        for i in range(4000):
            q = dns.message.make_query("q%d.example.org." % i, "A")
            s.sendto(q.to_wire(), ("127.0.0.1", port))
            data = s.recv(4096)
            if dns.message.from_wire(data).id == q.id:
                answered += 1
        s.close()
        assert answered == 4000
        assert time.time() - t0 < 30
        # Now read: the writer gets unstuck and reports what it had to drop.
        proc.send_signal(signal.SIGTERM)
        _, out = proc.communicate(timeout=20)
        text = out.decode(errors="replace")
        assert re.search(r"\[WARNING\] plugin/log: \d+ log lines dropped", text), text[-2000:]
        assert text.count('"A IN q') > 100
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
