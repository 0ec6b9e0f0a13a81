# SPDX-License-Identifier: MIT
"""The file plugin: RFC 1035 zone files served by the real binary on loopback.

The answer tables are ports of CoreDNS's plugin/file tests (lookup_test.go, delegation_test.go,
wildcard_test.go, ent_test.go, include_test.go): same zones, same queries, same sections. Cases
about DNSSEC (the DO bit), DNAME substitution or upstream re-resolution are left out with a
reason (see the module's SKIPPED list). Then set-up errors (FILE:LINE), reload on a new serial,
a broken file on reload and a missing file.
"""
import os
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from conftest import assert_response, query_rr, run_binary

DB_MIEK_NL = """
$TTL    30M
$ORIGIN miek.nl.
@       IN      SOA     linode.atoom.net. miek.miek.nl. (
                             1282630057 ; Serial
                             4H         ; Refresh
                             1H         ; Retry
                             7D         ; Expire
                             4H )       ; Negative Cache TTL
                IN      NS      linode.atoom.net.
                IN      NS      ns-ext.nlnetlabs.nl.
                IN      NS      omval.tednet.nl.
                IN      NS      ext.ns.whyscream.net.

                IN      MX      1  aspmx.l.google.com.
                IN      MX      5  alt1.aspmx.l.google.com.
                IN      MX      5  alt2.aspmx.l.google.com.
                IN      MX      10 aspmx2.googlemail.com.
                IN      MX      10 aspmx3.googlemail.com.

\t\tIN      A       139.162.196.78
\t\tIN      AAAA    2a01:7e00::f03c:91ff:fef1:6735

a               IN      A       139.162.196.78
                IN      AAAA    2a01:7e00::f03c:91ff:fef1:6735
www             IN      CNAME   a
archive         IN      CNAME   a
*.x             IN      CNAME   www
b.x             IN      CNAME   a
*.y             IN      A       139.162.196.78
dname           IN      DNAME   x

srv\t\tIN\tSRV     10 10 8080 a.miek.nl.
mx\t\tIN\tMX      10 a.miek.nl.

txt     IN\tTXT     "v=spf1 a mx ~all"
caa     IN  CAA    0 issue letsencrypt.org
*.nodata    IN   A      139.162.196.79
ext-cname   IN   CNAME  example.com.
"""

DB_MIEK_NL_DELEGATION = """
$TTL    30M
$ORIGIN miek.nl.
@       IN      SOA     linode.atoom.net. miek.miek.nl. (
                             1282630057 ; Serial
                             4H         ; Refresh
                             1H         ; Retry
                             7D         ; Expire
                             4H )       ; Negative Cache TTL
                IN      NS      linode.atoom.net.
                IN      NS      ns-ext.nlnetlabs.nl.
                IN      NS      omval.tednet.nl.
                IN      NS      ext.ns.whyscream.net.

                IN      MX      1  aspmx.l.google.com.
                IN      MX      5  alt1.aspmx.l.google.com.
                IN      MX      5  alt2.aspmx.l.google.com.
                IN      MX      10 aspmx2.googlemail.com.
                IN      MX      10 aspmx3.googlemail.com.

delegated\tIN\tNS      a.delegated
\t\tIN\tNS      ns-ext.nlnetlabs.nl.

a.delegated     IN      TXT     "obscured"
                IN      A       139.162.196.78
                IN      AAAA    2a01:7e00::f03c:91ff:fef1:6735

a               IN      A       139.162.196.78
                IN      AAAA    2a01:7e00::f03c:91ff:fef1:6735
www             IN      CNAME   a
archive         IN      CNAME   a
"""

DB_ADDITIONAL = """
$TTL 30M
$ORIGIN example.org.
@\tIN SOA\tns.example.org. admin.example.org. (
\t\t\t2024010100 ; serial
\t\t\t14400      ; refresh (4 hours)
\t\t\t3600       ; retry (1 hour)
\t\t\t604800     ; expire (1 week)
\t\t\t14400      ; minimum (4 hours)
\t\t\t)
\tIN NS\tns.example.org.
ns\t\tIN A\t192.0.2.1
host\t\tIN A\t192.0.2.10
\t\tIN AAAA\t2001:db8::10
other\t\tIN A\t192.0.2.20
\t\tIN AAAA\t2001:db8::20
mx\t\tIN MX\t10 host.example.org.
\t\tIN MX\t20 host.example.org.
srv\t\tIN SRV\t10 50 8080 host.example.org.
\t\tIN SRV\t20 50 8080 host.example.org.
mixed\t\tIN SRV\t10 50 8080 host.example.org.
\t\tIN SRV\t20 50 8080 HOST.EXAMPLE.ORG.
two\t\tIN MX\t10 host.example.org.
\t\tIN MX\t20 other.example.org.
cname-srv\tIN CNAME\tsrv.example.org.
*.wild\t\tIN CNAME\tsrv.example.org.
"""

EXAMPLE_ORG = """; example.org test file
$TTL 3600
example.org.\t\tIN\tSOA\tsns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600
example.org.\t\tIN\tNS\tb.iana-servers.net.
example.org.\t\tIN\tNS\ta.iana-servers.net.
example.org.\t\tIN\tA\t127.0.0.1
example.org.\t\tIN\tA\t127.0.0.2
*.w.example.org.        IN      TXT     "Wildcard"
a.b.c.w.example.org.    IN      TXT     "Not a wildcard"
*.c.example.org.        IN      TXT     "c Wildcard"
*.d.example.org.        IN      CNAME   alias.example.org.
alias.example.org.      IN      TXT     "Wildcard CNAME expansion"
"""

APEX_WILDCARD = """; example.org test file with wildcard at apex
$TTL 3600
example.org.\t\tIN\tSOA\tsns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600
example.org.\t\tIN\tNS\tb.iana-servers.net.
*.example.org.          IN      A       127.0.0.53
foo.example.org.        IN      A       127.0.0.54
"""

DOUBLE_WILDCARD = """; example.org test file with wildcard at apex
$TTL 3600
example.org.\t\tIN\tSOA\tsns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600
example.org.\t\tIN\tNS\tb.iana-servers.net.
*.example.org.          IN      A       127.0.0.53
*.intern.example.org.   IN      A       127.0.1.52
foo.example.org.        IN      A       127.0.0.54
"""

WILDCARD_ADDITIONAL = """
$TTL 30M
$ORIGIN example.org.
@\tIN SOA\tns.example.org. admin.example.org. 2024010100 14400 3600 604800 14400
\tIN NS\tns.example.org.
ns\tIN A\t192.0.2.1
mail\tIN A\t192.0.2.10
\tIN AAAA\t2001:db8::10
*.wild\tIN MX\t10 mail.example.org.
"""

CLOSER_ENT_WILDCARD = """; example.org test file with a wildcard and a deeper empty non-terminal
$TTL 3600
example.org.             IN     SOA     sns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600
example.org.             IN     NS      b.iana-servers.net.
*.example.org.           IN     A       127.0.0.53
real.deeper.example.org. IN     A       127.0.0.54
"""

DB_MIEK_ENT = """
$TTL 1800
miek.nl.\t\t1800\tIN SOA\tlinode.atoom.net. miek.miek.nl. 1282630057 14400 3600 604800 14400
\t\t\t1800\tNS\tlinode.atoom.net.
a.miek.nl.\t\t1800\tIN A\t139.162.196.78
a.b.c.miek.nl.\t\t1800\tIN A\t139.162.196.78
"""

MIEK_AUTH = [
    "miek.nl.	1800	IN	NS	ext.ns.whyscream.net.",
    "miek.nl.	1800	IN	NS	linode.atoom.net.",
    "miek.nl.	1800	IN	NS	ns-ext.nlnetlabs.nl.",
    "miek.nl.	1800	IN	NS	omval.tednet.nl.",
]
MIEK_SOA = "miek.nl.	1800	IN	SOA	linode.atoom.net. miek.miek.nl. 1282630057 14400 3600 604800 14400"

# (zone file, origin, qname, qtype, rcode, answer, ns, extra, aa)
LOOKUP = [
    ("www.miek.nl.", "A", "NOERROR", ["a.miek.nl.	1800	IN	A	139.162.196.78",
                                      "www.miek.nl.	1800	IN	CNAME	a.miek.nl."], MIEK_AUTH, []),
    ("www.miek.nl.", "AAAA", "NOERROR", ["a.miek.nl.	1800	IN	AAAA	2a01:7e00::f03c:91ff:fef1:6735",
                                         "www.miek.nl.	1800	IN	CNAME	a.miek.nl."], MIEK_AUTH, []),
    ("miek.nl.", "SOA", "NOERROR", [MIEK_SOA], MIEK_AUTH, []),
    ("miek.nl.", "AAAA", "NOERROR", ["miek.nl.	1800	IN	AAAA	2a01:7e00::f03c:91ff:fef1:6735"], MIEK_AUTH, []),
    ("mIeK.NL.", "AAAA", "NOERROR", ["mIeK.NL.	1800	IN	AAAA	2a01:7e00::f03c:91ff:fef1:6735"],
     ["mIeK.NL.	1800	IN	NS	" + ns.split()[-1] for ns in MIEK_AUTH], []),
    ("miek.nl.", "MX", "NOERROR", ["miek.nl.	1800	IN	MX	1 aspmx.l.google.com.",
                                   "miek.nl.	1800	IN	MX	10 aspmx2.googlemail.com.",
                                   "miek.nl.	1800	IN	MX	10 aspmx3.googlemail.com.",
                                   "miek.nl.	1800	IN	MX	5 alt1.aspmx.l.google.com.",
                                   "miek.nl.	1800	IN	MX	5 alt2.aspmx.l.google.com."], MIEK_AUTH, []),
    ("a.miek.nl.", "SRV", "NOERROR", [], [MIEK_SOA], []),
    ("b.miek.nl.", "A", "NXDOMAIN", [], [MIEK_SOA], []),
    ("srv.miek.nl.", "SRV", "NOERROR", ["srv.miek.nl.	1800	IN	SRV	10 10 8080  a.miek.nl."], MIEK_AUTH,
     ["a.miek.nl.	1800	IN	A       139.162.196.78", "a.miek.nl.	1800	IN	AAAA	2a01:7e00::f03c:91ff:fef1:6735"]),
    ("mx.miek.nl.", "MX", "NOERROR", ["mx.miek.nl.	1800	IN	MX	10 a.miek.nl."], MIEK_AUTH,
     ["a.miek.nl.	1800	IN	A       139.162.196.78", "a.miek.nl.	1800	IN	AAAA	2a01:7e00::f03c:91ff:fef1:6735"]),
    ("asterisk.x.miek.nl.", "CNAME", "NOERROR", ["asterisk.x.miek.nl. 1800    IN      CNAME   www.miek.nl."],
     MIEK_AUTH, []),
    ("a.b.x.miek.nl.", "CNAME", "NXDOMAIN", [], [MIEK_SOA], []),
    ("asterisk.y.miek.nl.", "A", "NOERROR", ["asterisk.y.miek.nl.     1800    IN      A       139.162.196.78"],
     MIEK_AUTH, []),
    ("ext-cname.miek.nl.", "A", "SERVFAIL", ["ext-cname.miek.nl.	1800	IN	CNAME	example.com."], MIEK_AUTH, []),
    ("txt.miek.nl.", "TXT", "NOERROR", ['txt.miek.nl.  1800	IN	TXT "v=spf1 a mx ~all"'], MIEK_AUTH, []),
    ("caa.miek.nl.", "CAA", "NOERROR", ["caa.miek.nl.  1800	IN	CAA  0 issue letsencrypt.org"], MIEK_AUTH, []),
    # TestLookUpNoDataResult
    ("a.miek.nl.", "MX", "NOERROR", [], [MIEK_SOA], []),
    ("wildcard.nodata.miek.nl.", "MX", "NOERROR", [], [MIEK_SOA], []),
    # more names of the same zone
    ("archive.miek.nl.", "A", "NOERROR", ["archive.miek.nl.	1800	IN	CNAME	a.miek.nl.",
                                          "a.miek.nl.	1800	IN	A	139.162.196.78"], MIEK_AUTH, []),
    ("b.x.miek.nl.", "A", "NOERROR", ["b.x.miek.nl.	1800	IN	CNAME	a.miek.nl.",
                                      "a.miek.nl.	1800	IN	A	139.162.196.78"], MIEK_AUTH, []),
    # RFC 4592: the closest encloser is x.miek.nl., so *.x answers for names any depth below it.
    ("deep.asterisk.x.miek.nl.", "A", "NOERROR", ["deep.asterisk.x.miek.nl.	1800	IN	CNAME	www.miek.nl.",
                                                 "www.miek.nl.	1800	IN	CNAME	a.miek.nl.",
                                                 "a.miek.nl.	1800	IN	A	139.162.196.78"], MIEK_AUTH, []),
    ("miek.nl.", "NS", "NOERROR", MIEK_AUTH, [], []),
]
SKIPPED = {
    "foo.dname.miek.nl. CNAME": "DNAME substitution is not implemented (see the README's differences)",
    "srv.dname.example.org. SRV": "DNAME substitution is not implemented",
    "DO-bit cases of delegation_test/wildcard_test/ent_test": "DNSSEC record selection is not implemented",
}

DELEG_NS = ["delegated.miek.nl.	1800	IN	NS	a.delegated.miek.nl.",
            "delegated.miek.nl.	1800	IN	NS	ns-ext.nlnetlabs.nl."]
DELEG_GLUE = ["a.delegated.miek.nl. 1800 IN A 139.162.196.78",
              "a.delegated.miek.nl. 1800 IN AAAA 2a01:7e00::f03c:91ff:fef1:6735"]
DELEGATION = [
    ("a.delegated.miek.nl.", "TXT", "NOERROR", [], DELEG_NS, DELEG_GLUE, False),
    ("delegated.miek.nl.", "NS", "NOERROR", [], DELEG_NS, DELEG_GLUE, False),
    ("foo.delegated.miek.nl.", "A", "NOERROR", [], DELEG_NS, DELEG_GLUE, False),
    ("foo.delegated.miek.nl.", "TXT", "NOERROR", [], DELEG_NS, DELEG_GLUE, False),
    ("foo.delegated.miek.nl.", "SOA", "NOERROR", [], DELEG_NS, DELEG_GLUE, False),
    ("miek.nl.", "SOA", "NOERROR", [MIEK_SOA], MIEK_AUTH, [], True),
    ("miek.nl.", "AAAA", "NOERROR", [], [MIEK_SOA], [], True),
]

ADD_AUTH = ["example.org. 1800 IN NS ns.example.org."]
HOST = ["host.example.org. 1800 IN A 192.0.2.10", "host.example.org. 1800 IN AAAA 2001:db8::10"]
ADDITIONAL = [
    ("mx.example.org.", "MX", ["mx.example.org. 1800 IN MX 10 host.example.org.",
                               "mx.example.org. 1800 IN MX 20 host.example.org."], HOST),
    ("srv.example.org.", "SRV", ["srv.example.org. 1800 IN SRV 10 50 8080 host.example.org.",
                                 "srv.example.org. 1800 IN SRV 20 50 8080 host.example.org."], HOST),
    ("two.example.org.", "MX", ["two.example.org. 1800 IN MX 10 host.example.org.",
                                "two.example.org. 1800 IN MX 20 other.example.org."],
     HOST + ["other.example.org. 1800 IN A 192.0.2.20", "other.example.org. 1800 IN AAAA 2001:db8::20"]),
    ("cname-srv.example.org.", "SRV", ["cname-srv.example.org. 1800 IN CNAME srv.example.org.",
                                       "srv.example.org. 1800 IN SRV 10 50 8080 host.example.org.",
                                       "srv.example.org. 1800 IN SRV 20 50 8080 host.example.org."], HOST),
    ("foo.wild.example.org.", "SRV", ["foo.wild.example.org. 1800 IN CNAME srv.example.org.",
                                      "srv.example.org. 1800 IN SRV 10 50 8080 host.example.org.",
                                      "srv.example.org. 1800 IN SRV 20 50 8080 host.example.org."], HOST),
]

EX_AUTH = ["example.org.	3600	IN	NS	a.iana-servers.net.", "example.org.	3600	IN	NS	b.iana-servers.net."]
WILDCARDS = [
    (EXAMPLE_ORG, "wild.w.example.org.", "TXT", "NOERROR", ['wild.w.example.org. 3600 IN	TXT	"Wildcard"'], EX_AUTH, []),
    (EXAMPLE_ORG, "wild.c.example.org.", "TXT", "NOERROR", ['wild.c.example.org. 3600 IN	TXT	"c Wildcard"'], EX_AUTH,
     []),
    (EXAMPLE_ORG, "wild.d.example.org.", "TXT", "NOERROR",
     ['alias.example.org. 3600 IN	TXT	"Wildcard CNAME expansion"',
      "wild.d.example.org. 3600 IN	CNAME	alias.example.org."], EX_AUTH, []),
    (EXAMPLE_ORG, "alias.example.org.", "TXT", "NOERROR", ['alias.example.org. 3600 IN	TXT	"Wildcard CNAME expansion"'],
     EX_AUTH, []),
    (APEX_WILDCARD, "foo.example.org.", "A", "NOERROR", ["foo.example.org. 3600	IN	A 127.0.0.54"],
     ["example.org. 3600 IN NS b.iana-servers.net."], []),
    (APEX_WILDCARD, "bar.example.org.", "A", "NOERROR", ["bar.example.org. 3600	IN	A 127.0.0.53"],
     ["example.org. 3600 IN NS b.iana-servers.net."], []),
    (DOUBLE_WILDCARD, "bar.intern.example.org.", "A", "NOERROR", ["bar.intern.example.org. 3600	IN	A 127.0.1.52"],
     ["example.org. 3600 IN NS b.iana-servers.net."], []),
    (DOUBLE_WILDCARD, "bar.example.org.", "A", "NOERROR", ["bar.example.org. 3600	IN	A 127.0.0.53"],
     ["example.org. 3600 IN NS b.iana-servers.net."], []),
    (WILDCARD_ADDITIONAL, "foo.wild.example.org.", "MX", "NOERROR",
     ["foo.wild.example.org. 1800 IN MX 10 mail.example.org."], ["example.org. 1800 IN NS ns.example.org."],
     ["mail.example.org. 1800 IN A 192.0.2.10", "mail.example.org. 1800 IN AAAA 2001:db8::10"]),
    (CLOSER_ENT_WILDCARD, "nonexistent.deeper.example.org.", "A", "NXDOMAIN", [],
     ["example.org. 3600 IN SOA sns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600"], []),
    (CLOSER_ENT_WILDCARD, "nonexistent.example.org.", "A", "NOERROR", ["nonexistent.example.org. 3600 IN A 127.0.0.53"],
     ["example.org. 3600 IN NS b.iana-servers.net."], []),
    # the wildcard itself asked for by name
    (APEX_WILDCARD, "*.example.org.", "A", "NOERROR", ["*.example.org. 3600 IN A 127.0.0.53"],
     ["example.org. 3600 IN NS b.iana-servers.net."], []),
    # NODATA from a wildcard
    (APEX_WILDCARD, "bar.example.org.", "TXT", "NOERROR", [],
     ["example.org. 3600 IN SOA sns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600"], []),
]


def zone_server(start, text, origin, extra_block=""):
    corefile = "%s:@PORT@ {\n    bind 127.0.0.1\n    file db.zone%s\n}\n" % (origin, extra_block)
    return start(corefile, files={"db.zone": text})


@pytest.fixture(scope="module")
def servers(start_module_server):
    cache = {}

    def get(text, origin):
        key = (text, origin)
        if key not in cache:
            cache[key] = zone_server(start_module_server, text, origin)
        return cache[key]
    return get


@pytest.mark.parametrize("qname,qtype,rcode,answer,ns,extra", LOOKUP, ids=["%s-%s" % (c[0], c[1]) for c in LOOKUP])
def test_lookup(servers, qname, qtype, rcode, answer, ns, extra):
    srv = servers(DB_MIEK_NL, "miek.nl")
    assert_response(query_rr(srv, qname, qtype), qname, rcode, answer, ns, extra)


@pytest.mark.parametrize("qname,qtype,rcode,answer,ns,extra,aa", DELEGATION,
                         ids=["%s-%s" % (c[0], c[1]) for c in DELEGATION])
def test_delegation(servers, qname, qtype, rcode, answer, ns, extra, aa):
    srv = servers(DB_MIEK_NL_DELEGATION, "miek.nl")
    assert_response(query_rr(srv, qname, qtype), qname, rcode, answer, ns, extra, aa=aa)


@pytest.mark.parametrize("qname,qtype,answer,extra", ADDITIONAL, ids=[c[0] for c in ADDITIONAL])
def test_additional_dedup(servers, qname, qtype, answer, extra):
    srv = servers(DB_ADDITIONAL, "example.org")
    assert_response(query_rr(srv, qname, qtype), qname, "NOERROR", answer, ADD_AUTH, extra)


def test_additional_mixed_case_target(servers):
    srv = servers(DB_ADDITIONAL, "example.org")
    resp = query_rr(srv, "mixed.example.org.", "SRV")
    assert sum(len(r) for r in resp.answer) == 2
    assert sum(len(r) for r in resp.additional) == 2, resp.to_text()


@pytest.mark.parametrize("zone,qname,qtype,rcode,answer,ns,extra", WILDCARDS,
                         ids=["%s-%s" % (c[1], c[2]) for c in WILDCARDS])
def test_wildcard(servers, zone, qname, qtype, rcode, answer, ns, extra):
    srv = servers(zone, "example.org")
    assert_response(query_rr(srv, qname, qtype), qname, rcode, answer, ns, extra)


def test_ent(servers):
    srv = servers(DB_MIEK_ENT, "miek.nl")
    assert_response(query_rr(srv, "b.c.miek.nl.", "A"), "b.c.miek.nl.", "NOERROR", [],
                    ["miek.nl.	1800	IN	SOA	linode.atoom.net. miek.miek.nl. 1282630057 14400 3600 604800 14400"])


def test_tcp_and_edns_answers_match(servers):
    srv = servers(DB_MIEK_NL, "miek.nl")
    udp = srv.query("srv.miek.nl.", "SRV", want_edns=True)
    tcp = srv.query("srv.miek.nl.", "SRV", tcp=True)
    assert udp.answer == tcp.answer and udp.additional == tcp.additional
    assert udp.edns == 0


def test_axfr_refused(servers):
    srv = servers(DB_MIEK_NL, "miek.nl")
    assert srv.query("miek.nl.", "AXFR", tcp=True).rcode() == dns.rcode.REFUSED


def test_outside_zone_goes_to_next_plugin(start_server):
    srv = start_server(".:@PORT@ {\n    bind 127.0.0.1\n    file db.zone miek.nl\n    whoami\n}\n",
                       files={"db.zone": DB_MIEK_NL})
    resp = srv.query("example.com.", "A")
    assert resp.rcode() == dns.rcode.NOERROR
    assert any(r.rdtype == dns.rdatatype.A for r in resp.additional)  # whoami answered
    assert srv.query("a.miek.nl.", "A").answer[0][0].address == "139.162.196.78"


# --------------------------------------------------------------- fallthrough (TestLookupFallthrough)
@pytest.mark.parametrize("fall,cases", [
    ("fallthrough", [("doesnotexist.miek.nl.", "SERVFAIL"), ("x.miek.nl.", "SERVFAIL")]),
    ("fallthrough a.miek.nl", [("a.miek.nl.", "NOERROR"), ("doesnotexist.miek.nl.", "NXDOMAIN"),
                               ("passthrough.a.miek.nl.", "SERVFAIL")]),
    ("fallthrough x.miek.nl", [("x.miek.nl.", "SERVFAIL"), ("wildcard.x.miek.nl.", "NOERROR")]),
])
def test_fallthrough(start_server, fall, cases):
    # The next plugin is missing, so a query that falls through gets SERVFAIL, as CoreDNS's
    # test.ErrorHandler gives.
    srv = start_server("miek.nl:@PORT@ {\n    bind 127.0.0.1\n    file db.zone {\n        %s\n    }\n}\n" % fall,
                       files={"db.zone": DB_MIEK_NL})
    for qname, rcode in cases:
        assert dns.rcode.to_text(srv.query(qname, "A").rcode()) == rcode, (fall, qname)


def test_fallthrough_to_next_plugin_answers(start_server):
    srv = start_server("miek.nl:@PORT@ {\n    bind 127.0.0.1\n    file db.zone {\n        fallthrough\n    }\n"
                       "    whoami\n}\n", files={"db.zone": DB_MIEK_NL})
    resp = srv.query("doesnotexist.miek.nl.", "A")
    assert resp.rcode() == dns.rcode.NOERROR and resp.additional  # whoami's answer
    nodata = srv.query("a.miek.nl.", "MX")  # a name with records: NODATA, no fallthrough
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.authority[0].rdtype == dns.rdatatype.SOA


# ------------------------------------------------------------------ directives of the zone file
def test_include_origin_and_ttl(start_server, tmp_path):
    zone = ("$ORIGIN example.org.\n"
            "@ IN SOA sns.dns.icann.org. noc.dns.icann.org. 2017042766 7200 3600 1209600 3600\n"
            "  IN NS ns\n"
            "$INCLUDE inc/foo.zone\n"
            "$INCLUDE inc/sub.zone sub\n"
            "after IN A 10.0.0.3\n"
            "$TTL 60\n"
            "short IN A 10.0.0.4\n")
    srv = start_server("example.org:@PORT@ {\n    bind 127.0.0.1\n    file db.zone\n}\n",
                       files={"db.zone": zone, "inc/foo.zone": "foo\tIN\tA\t127.0.0.1\n",
                              "inc/sub.zone": "www 300 IN A 10.0.0.2\n"})
    assert srv.query("foo.example.org.", "A").answer[0][0].address == "127.0.0.1"
    www = srv.query("www.sub.example.org.", "A").answer[0]
    assert www[0].address == "10.0.0.2" and www.ttl == 300
    # The included file's origin does not leak back into the including file.
    after = srv.query("after.example.org.", "A")
    assert after.answer and after.answer[0][0].address == "10.0.0.3"
    assert srv.query("after.sub.example.org.", "A").rcode() == dns.rcode.NXDOMAIN
    assert srv.query("short.example.org.", "A").answer[0].ttl == 60


def test_one_file_several_zones(start_server):
    zone = "@ 300 IN SOA ns hostmaster 7 7200 3600 1209600 300\n@ 300 IN NS ns\nns 300 IN A 10.0.0.53\nwww 300 IN A 10.1.1.1\n"
    srv = start_server(".:@PORT@ {\n    bind 127.0.0.1\n    file db.zone example.org example.net\n}\n",
                       files={"db.zone": zone})
    for z in ("example.org.", "example.net."):
        resp = srv.query("www." + z, "A")
        assert resp.answer[0][0].address == "10.1.1.1"
        assert resp.authority[0][0].target.to_text() == "ns." + z
    assert srv.query("nope.example.net.", "A").authority[0].name.to_text() == "example.net."


# ------------------------------------------------------------------------------- set-up errors
def check(tmp_path, corefile, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    cf = tmp_path / "Corefile"
    cf.write_text(corefile)
    return str(cf), run_binary(["-conf", str(cf), "-check"])


def test_bad_zone_file_names_file_and_line(tmp_path):
    zone = "$ORIGIN example.org.\n@ IN SOA ns hostmaster 1 2 3 4 5\nwww IN A 10.0.0.1\nbad IN A 10.0.0.300\n"
    cf, res = check(tmp_path, "example.org:1053 {\n    file db.zone\n}\n", {"db.zone": zone})
    assert res.returncode == 1
    assert "%s:2: plugin/file:" % cf in res.stderr
    assert "db.zone:4:" in res.stderr, res.stderr


def test_bad_included_file_names_it(tmp_path):
    zone = "$ORIGIN example.org.\n@ IN SOA ns hostmaster 1 2 3 4 5\n$INCLUDE inc.zone\n"
    cf, res = check(tmp_path, "example.org:1053 {\n    file db.zone\n}\n",
                    {"db.zone": zone, "inc.zone": "a IN A 10.0.0.1\n\nb IN MX x y z\n"})
    assert res.returncode == 1 and "inc.zone:3:" in res.stderr, res.stderr


def test_zone_without_soa(tmp_path):
    cf, res = check(tmp_path, "example.org:1053 {\n    file db.zone\n}\n", {"db.zone": "www 60 IN A 10.0.0.1\n"})
    assert res.returncode == 1 and "no SOA record for origin example.org." in res.stderr, res.stderr


def test_bad_directives(tmp_path):
    for body, want in (("file", "Wrong argument count"), ("file db.zone {\n        reload\n    }", "reload"),
                       ("file db.zone {\n        reload 1x\n    }", "invalid reload duration"),
                       ("file db.zone {\n        bogus\n    }", "unknown property 'bogus'")):
        cf, res = check(tmp_path, "example.org:1053 {\n    %s\n}\n" % body,
                        {"db.zone": "@ IN SOA ns hostmaster 1 2 3 4 5\n"})
        assert res.returncode == 1 and want in res.stderr and "plugin/file" in res.stderr, (body, res.stderr)


def test_missing_file_with_reload_zero_is_an_error(tmp_path):
    cf, res = check(tmp_path, "example.org:1053 {\n    file nothere.zone {\n        reload 0\n    }\n}\n", {})
    assert res.returncode == 1 and "nothere.zone" in res.stderr


# -------------------------------------------------------------------------------------- reload
SERIAL_ZONE = "$ORIGIN example.org.\n@ 60 IN SOA ns hostmaster %d 7200 3600 1209600 60\n@ 60 IN NS ns\nns 60 IN A 10.0.0.53\nwww 60 IN A %s\n"


def wait_for(fn, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.05)
    return False


def test_reload_on_new_serial_keeps_old_on_error(start_server):
    srv = start_server("example.org:@PORT@ {\n    bind 127.0.0.1\n    file db.zone {\n        reload 200ms\n    }\n}\n",
                       files={"db.zone": SERIAL_ZONE % (1, "10.0.0.1")})
    path = os.path.join(srv.dir, "db.zone")
    www = lambda: srv.query("www.example.org.", "A").answer[0][0].address  # noqa: E731
    assert www() == "10.0.0.1"
    # New content without a new serial: not picked up (as CoreDNS).
    with open(path, "w") as f:
        f.write(SERIAL_ZONE % (1, "10.0.0.2"))
    time.sleep(0.8)
    assert www() == "10.0.0.1"
    # A new serial: the new zone replaces the old one.
    with open(path, "w") as f:
        f.write(SERIAL_ZONE % (2, "10.0.0.3"))
    assert wait_for(lambda: www() == "10.0.0.3"), srv.log()
    assert 'Successfully reloaded zone "example.org." in' in srv.log()
    assert "with 2 SOA serial" in srv.log()
    # A broken file: logged with FILE:LINE, the old zone keeps answering.
    with open(path, "w") as f:
        f.write(SERIAL_ZONE % (3, "10.0.0.999"))
    assert wait_for(lambda: "Parsing zone" in srv.log()), srv.log()
    assert "db.zone:5:" in srv.log()
    assert www() == "10.0.0.3" and srv.alive()


def test_missing_file_is_retried(start_server):
    srv = start_server("example.org:@PORT@ {\n    bind 127.0.0.1\n    file late.zone {\n        reload 200ms\n    }\n}\n",
                       probe="www.example.org.", probe_type="A")
    assert srv.query("www.example.org.", "A").rcode() == dns.rcode.SERVFAIL
    with open(os.path.join(srv.dir, "late.zone"), "w") as f:
        f.write(SERIAL_ZONE % (1, "10.0.0.7"))
    assert wait_for(lambda: srv.query("www.example.org.", "A").rcode() == dns.rcode.NOERROR), srv.log()


# -------------------------------------------------------------------------------------- demo
def test_demo_example_zone(demo):
    resp = query_rr(demo, "www.example.org.", "A")
    assert_response(resp, "www.example.org.", "NOERROR",
                    ["www.example.org. 3600 IN CNAME example.org.", "example.org. 3600 IN A 192.0.2.1"],
                    ["example.org. 3600 IN NS ns1.example.org.", "example.org. 3600 IN NS ns2.example.org."])
    srv = query_rr(demo, "_http._tcp.example.org.", "SRV")
    assert [r.to_text() for r in srv.additional] == ["api.example.org. 60 IN A 192.0.2.10",
                                                     "api.example.org. 3600 IN AAAA 2001:db8::10"]
    ref = query_rr(demo, "host.lab.example.org.", "A")
    assert not (ref.flags & dns.flags.AA) and ref.authority[0][0].target.to_text() == "ns.lab.example.org."
    assert query_rr(demo, "x.apps.example.org.", "A").answer[0][0].address == "192.0.2.80"
    # The cluster block still answers beside it.
    assert demo.query("kubernetes.default.svc.cluster.local.", "A").rcode() == dns.rcode.NOERROR
