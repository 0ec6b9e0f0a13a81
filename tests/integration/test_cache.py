# SPDX-License-Identifier: MIT
"""cache in front of forward, against a dnspython upstream on 127.0.0.2: hits that never reach the
upstream, TTL decay, the client's ID and case, negative entries (SOA TTL), SERVFAIL caching per
`servfail`, prefetch, serve_stale while the upstream is silent, and the coredns_cache_* metrics."""
import time

import dns.message
import dns.query
import dns.rcode
import dns.rrset
import pytest

from upstream import Upstream


class NegUpstream(Upstream):
    """Adds the zone's SOA to NXDOMAIN and NODATA answers, as a real authoritative server does."""

    def reply(self, q, transport):
        r = super().reply(q, transport)
        if r.rcode() == dns.rcode.NXDOMAIN or (r.rcode() == dns.rcode.NOERROR and not r.answer):
            r.authority.append(dns.rrset.from_text("example.org.", 60, "IN", "SOA",
                                                   "ns.example.org. host.example.org. 1 7200 3600 1209600 300"))
        return r


@pytest.fixture
def up():
    u = NegUpstream("127.0.0.2")
    u.answers["example.org."] = {"A": ["192.0.2.1"]}
    u.answers["www.example.org."] = {"A": ["192.0.2.2"]}
    yield u
    u.stop()


def start(start_server, up, cache="cache"):
    body = ".:@PORT@ {\n    %s\n    forward . %s\n    prometheus 127.0.0.1:@MPORT@\n}\n" % (cache, up.target)
    from conftest import free_port
    mport = free_port()
    srv = start_server(body.replace("@MPORT@", str(mport)), probe="probe.invalid.", probe_type="A")
    srv.mport = mport
    return srv


def a_ttl(r):
    return r.answer[0].ttl


def test_hit_never_reaches_upstream_and_ttl_decays(start_server, up):
    srv = start(start_server, up)
    q = dns.message.make_query("example.org.", "A")
    r = srv.send(q)
    assert r.rcode() == dns.rcode.NOERROR and a_ttl(r) == 300
    n = up.count("example.org.")
    q2 = dns.message.make_query("ExAmPlE.oRg.", "A")
    r2 = srv.send(q2)
    assert r2.id == q2.id and r2.question[0].name.to_text() == "ExAmPlE.oRg."
    assert [x.to_text() for x in r2.answer[0]] == ["192.0.2.1"]
    assert r2.flags & dns.flags.AA  # CoreDNS sets AA on answers from its cache
    assert up.count("example.org.") == n
    time.sleep(2.1)
    r3 = srv.send(q)
    assert 296 <= a_ttl(r3) <= 298
    assert up.count("example.org.") == n
    # TCP hits too
    r4 = srv.send(q, tcp=True)
    assert [x.to_text() for x in r4.answer[0]] == ["192.0.2.1"]
    assert up.count("example.org.") == n


def test_cache_ttl_caps_and_expires(start_server, up):
    srv = start(start_server, up, "cache 2")
    r = srv.send(dns.message.make_query("example.org.", "A"))
    assert a_ttl(r) == 2  # capped on the way out, as CoreDNS does
    n = up.count("example.org.")
    srv.send(dns.message.make_query("example.org.", "A"))
    assert up.count("example.org.") == n
    time.sleep(2.2)
    srv.send(dns.message.make_query("example.org.", "A"))
    assert up.count("example.org.") == n + 1


def test_negative_answers_cached_by_soa_ttl(start_server, up):
    srv = start(start_server, up)
    r = srv.send(dns.message.make_query("nothere.example.org.", "A"))
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.authority[0].ttl == 60
    r = srv.send(dns.message.make_query("nothere.example.org.", "A"))
    assert r.rcode() == dns.rcode.NXDOMAIN and r.authority[0].rdtype == dns.rdatatype.SOA
    assert up.count("nothere.example.org.") == 1
    # NODATA is its own entry (same name, other type)
    srv.send(dns.message.make_query("example.org.", "MX"))
    r = srv.send(dns.message.make_query("example.org.", "MX"))
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.authority
    assert up.count("example.org.") == 1


def test_servfail_cached_unless_disabled(start_server, up):
    up.rcode = dns.rcode.SERVFAIL
    srv = start(start_server, up)
    for _ in range(3):
        assert srv.send(dns.message.make_query("example.org.", "A")).rcode() == dns.rcode.SERVFAIL
    assert up.count("example.org.") == 1


def test_servfail_zero_not_cached(start_server, up):
    up.rcode = dns.rcode.SERVFAIL
    srv = start(start_server, up, "cache {\n        servfail 0\n    }")
    for _ in range(3):
        srv.send(dns.message.make_query("example.org.", "A"))
    assert up.count("example.org.") == 3


def test_prefetch_refreshes_popular_entry(start_server, up):
    up.ttl = 10
    srv = start(start_server, up, "cache {\n        prefetch 1 1m 90%\n    }")
    srv.send(dns.message.make_query("www.example.org.", "A"))
    assert up.count("www.example.org.") == 1
    # a hit with the TTL under 90% of 10 s starts a background fetch; the client is answered from cache
    time.sleep(1.1)
    r = srv.send(dns.message.make_query("www.example.org.", "A"))
    assert [x.to_text() for x in r.answer[0]] == ["192.0.2.2"]
    deadline = time.time() + 3
    while up.count("www.example.org.") < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert up.count("www.example.org.") == 2
    time.sleep(0.2)
    r = srv.send(dns.message.make_query("www.example.org.", "A"))
    assert a_ttl(r) == 10  # the refreshed entry


def test_serve_stale_while_upstream_is_silent(start_server, up):
    up.ttl = 1
    srv = start(start_server, up, "cache {\n        success 1024 1 0\n        serve_stale 1h\n    }")
    srv.send(dns.message.make_query("example.org.", "A"))
    up.silent = True
    time.sleep(2.1)
    t0 = time.time()
    r = srv.send(dns.message.make_query("example.org.", "A"), timeout=3)
    assert time.time() - t0 < 1.0  # immediate: no waiting for the dead upstream
    assert [x.to_text() for x in r.answer[0]] == ["192.0.2.1"]
    assert a_ttl(r) == 0


def test_serve_stale_verify_falls_back(start_server, up):
    up.ttl = 1
    srv = start(start_server, up, "cache {\n        success 1024 1 0\n        serve_stale 1h verify\n    }")
    srv.send(dns.message.make_query("example.org.", "A"))
    up.rcode = dns.rcode.SERVFAIL
    time.sleep(2.1)
    r = srv.send(dns.message.make_query("example.org.", "A"), timeout=8)
    assert r.rcode() == dns.rcode.NOERROR
    assert [x.to_text() for x in r.answer[0]] == ["192.0.2.1"]
    assert up.count("example.org.") == 2  # verify asked the upstream first


def test_metrics(start_server, up):
    import urllib.request
    srv = start(start_server, up)
    for _ in range(3):
        srv.send(dns.message.make_query("example.org.", "A"))
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.mport, timeout=3).read().decode()
    server = 'server="dns://:%d"' % srv.port

    def value(prefix):
        for line in text.splitlines():
            if line.startswith(prefix) and server in line:
                return float(line.rsplit(" ", 1)[1])
        return None
    assert value('coredns_cache_hits_total{') is not None
    assert value('coredns_cache_hits_total{%s,type="success"' % server) >= 2
    assert value('coredns_cache_misses_total{') >= 1
    assert value('coredns_cache_requests_total{') >= 3
    assert value('coredns_cache_entries{%s,type="success"' % server) >= 1
