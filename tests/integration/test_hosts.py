# SPDX-License-Identifier: MIT
"""The hosts plugin on the real binary: ports of CoreDNS's plugin/hosts tests (hosts_test.go,
hostsfile_test.go, setup_test.go), plus inline entries, ttl, no_reverse, fallthrough and
reload of a file the test writes itself (never /etc/hosts)."""
import os
import time

import dns.flags
import dns.rcode
import pytest

from conftest import assert_response, query_rr, run_binary

HOSTS_EXAMPLE = """
127.0.0.1 localhost localhost.domain
::1 localhost localhost.domain
10.0.0.1 example.org
::FFFF:10.0.0.2 example.com
10.0.0.3 fallthrough-example.org
1.2.3.4 aa.example.com
5.6.7.8 *.apps.example.com
reload 5s
timeout 3600
"""

CASES = [
    ("example.org.", "A", "NOERROR", ["example.org. 3600	IN	A 10.0.0.1"]),
    ("example.com.", "A", "NOERROR", ["example.com. 3600	IN	A 10.0.0.2"]),
    ("localhost.", "AAAA", "NOERROR", ["localhost. 3600	IN	AAAA ::1"]),
    ("1.0.0.10.in-addr.arpa.", "PTR", "NOERROR", ["1.0.0.10.in-addr.arpa. 3600 IN PTR example.org."]),
    ("2.0.0.10.in-addr.arpa.", "PTR", "NOERROR", ["2.0.0.10.in-addr.arpa. 3600 IN PTR example.com."]),
    ("1.0.0.127.in-addr.arpa.", "PTR", "NOERROR", ["1.0.0.127.in-addr.arpa. 3600 IN PTR localhost.",
                                                   "1.0.0.127.in-addr.arpa. 3600 IN PTR localhost.domain."]),
    ("example.org.", "AAAA", "NOERROR", []),
    ("example.org.", "MX", "NOERROR", []),
    # hosts_test.go lists apps.example.com. -> 5.6.7.8, but its check is skipped when the plugin
    # writes no message, and CoreDNS indeed answers SERVFAIL: "*.apps.example.com" matches only
    # names one label below apps.example.com. (see test_wildcard_matches_one_label_only).
    ("x.apps.example.com.", "A", "NOERROR", ["x.apps.example.com. 3600	IN	A 5.6.7.8"]),
    ("aa.example.com.", "A", "NOERROR", ["aa.example.com. 3600	IN	A 1.2.3.4"]),
    ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", "PTR", "NOERROR",
     ["1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa. 3600 IN PTR localhost.",
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa. 3600 IN PTR localhost.domain."]),
    ("LocalHost.", "A", "NOERROR", ["LocalHost. 3600 IN A 127.0.0.1"]),
]


@pytest.fixture(scope="module")
def root_hosts(start_module_server):
    return start_module_server(".:@PORT@ {\n    bind 127.0.0.1\n    hosts example.hosts\n}\n",
                               files={"example.hosts": HOSTS_EXAMPLE})


@pytest.mark.parametrize("qname,qtype,rcode,answer", CASES, ids=["%s-%s" % (c[0], c[1]) for c in CASES])
def test_lookup(root_hosts, qname, qtype, rcode, answer):
    assert_response(query_rr(root_hosts, qname, qtype), qname, rcode, answer)


def test_wildcard_matches_one_label_only(root_hosts):
    assert root_hosts.query("deep.x.apps.example.com.", "A").rcode() == dns.rcode.SERVFAIL
    assert root_hosts.query("apps.example.com.", "A").rcode() == dns.rcode.SERVFAIL  # the wildcard's parent
    assert root_hosts.query("x.apps.example.com.", "A").answer[0][0].address == "5.6.7.8"
    # Wildcard names get no PTR.
    assert root_hosts.query("8.7.6.5.in-addr.arpa.", "PTR").rcode() == dns.rcode.SERVFAIL


def test_unknown_name_is_servfail_without_fallthrough(root_hosts):
    resp = root_hosts.query("nothere.example.org.", "A")
    assert resp.rcode() == dns.rcode.SERVFAIL and not resp.answer


def test_fallthrough_for_missing_name(start_server):
    srv = start_server(".:@PORT@ {\n    bind 127.0.0.1\n    hosts example.hosts {\n        fallthrough\n    }\n"
                       "    whoami\n}\n", files={"example.hosts": HOSTS_EXAMPLE})
    miss = srv.query("fallthrough-missing.example.org.", "AAAA")
    assert miss.rcode() == dns.rcode.NOERROR and miss.additional  # whoami answered
    # fallthrough-example.org has an A entry: its AAAA is an authoritative NODATA, not a fall.
    nodata = srv.query("fallthrough-example.org.", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and not nodata.additional
    assert nodata.flags & dns.flags.AA


@pytest.mark.parametrize("block,fall", [
    ("fallthrough", False),
    ("fallthrough\n        fallthrough_unsupported", True),
    ("fallthrough example.net\n        fallthrough_unsupported", False),
])
def test_fallthrough_unsupported_type(start_server, block, fall):
    srv = start_server(".:@PORT@ {\n    bind 127.0.0.1\n    hosts example.hosts {\n        %s\n    }\n"
                       "    whoami\n}\n" % block, files={"example.hosts": HOSTS_EXAMPLE})
    resp = srv.query("example.org.", "TXT")
    assert resp.rcode() == dns.rcode.NOERROR
    assert bool(resp.additional) == fall, resp.to_text()  # whoami's A/AAAA in ADDITIONAL
    if not fall:
        assert resp.flags & dns.flags.AA and not resp.answer


def test_inline_ttl_zones_and_no_reverse(start_server):
    srv = start_server("example.org:@PORT@ {\n    bind 127.0.0.1\n    hosts example.hosts {\n"
                       "        10.9.9.9 inline.example.org\n        10.0.0.1 extra.example.org\n"
                       "        ttl 60\n        no_reverse\n    }\n}\n",
                       files={"example.hosts": HOSTS_EXAMPLE}, probe="example.org.", probe_type="A")
    resp = srv.query("inline.example.org.", "A")
    assert resp.answer[0][0].address == "10.9.9.9" and resp.answer[0].ttl == 60
    assert srv.query("example.org.", "A").answer[0][0].address == "10.0.0.1"
    # Names outside the zones are not served, and no_reverse drops every PTR.
    assert srv.query("example.com.", "A").rcode() == dns.rcode.REFUSED  # no block for example.com.
    assert srv.query("1.0.0.10.in-addr.arpa.", "PTR").rcode() == dns.rcode.REFUSED


def test_inline_merges_with_file(start_server):
    srv = start_server(".:@PORT@ {\n    bind 127.0.0.1\n    hosts example.hosts {\n        10.0.0.99 example.org\n    }\n}\n",
                       files={"example.hosts": HOSTS_EXAMPLE}, probe="example.org.", probe_type="A")
    got = sorted(r.address for r in srv.query("example.org.", "A").answer[0])
    assert got == ["10.0.0.1", "10.0.0.99"]
    ptr = srv.query("99.0.0.10.in-addr.arpa.", "PTR")
    assert ptr.answer[0][0].target.to_text() == "example.org."


def test_missing_file_serves_inline(start_server):
    srv = start_server(".:@PORT@ {\n    bind 127.0.0.1\n    hosts nothere.hosts {\n        10.0.0.5 only.inline\n    }\n}\n",
                       probe="only.inline.", probe_type="A")
    assert srv.query("only.inline.", "A").answer[0][0].address == "10.0.0.5"
    assert "File does not exist" in srv.log()


def test_reload(start_server):
    srv = start_server(".:@PORT@ {\n    bind 127.0.0.1\n    hosts example.hosts {\n        reload 100ms\n    }\n}\n",
                       files={"example.hosts": "10.0.0.1 a.example.org\n"}, probe="a.example.org.", probe_type="A")
    path = os.path.join(srv.dir, "example.hosts")
    with open(path, "w") as f:
        f.write("10.0.0.2 a.example.org\n10.0.0.3 b.example.org   # new\n")
    end = time.time() + 5
    while time.time() < end and srv.query("b.example.org.", "A").rcode() != dns.rcode.NOERROR:
        time.sleep(0.05)
    assert srv.query("a.example.org.", "A").answer[0][0].address == "10.0.0.2"
    assert srv.query("b.example.org.", "A").answer[0][0].address == "10.0.0.3"
    # A deleted file keeps what was read from it.
    os.unlink(path)
    time.sleep(0.4)
    assert srv.query("b.example.org.", "A").answer[0][0].address == "10.0.0.3"


# ----------------------------------------------------------------------- set-up (setup_test.go)
@pytest.mark.parametrize("block,err", [
    ("hosts example.hosts {\n        ttl\n    }", "ttl needs a time in second"),
    ("hosts example.hosts {\n        ttl abc\n    }", "ttl needs a number of second"),
    ("hosts example.hosts {\n        ttl 0\n    }", "ttl provided is invalid"),
    ("hosts example.hosts {\n        ttl 65536\n    }", "ttl provided is invalid"),
    ("hosts example.hosts {\n        reload\n    }", "reload needs a duration"),
    ("hosts example.hosts {\n        reload -1s\n    }", "invalid duration for reload"),
    ("hosts example.hosts {\n        fallthrough\n        10.0.0.1 late.example.org\n    }", "unknown property '10.0.0.1'"),
    ("hosts example.hosts {\n        fallthrough_unsupported\n    }", "fallthrough_unsupported requires fallthrough"),
    ("hosts example.hosts\n    hosts example.hosts", "can only be used once per Server Block"),
])
def test_setup_errors(tmp_path, block, err):
    (tmp_path / "example.hosts").write_text(HOSTS_EXAMPLE)
    cf = tmp_path / "Corefile"
    cf.write_text(".:1053 {\n    %s\n}\n" % block)
    res = run_binary(["-conf", str(cf), "-check"])
    assert res.returncode == 1 and err in res.stderr and "%s:" % cf in res.stderr, res.stderr


@pytest.mark.parametrize("block", [
    "hosts",
    "hosts example.hosts example.org {\n        ttl 60\n        reload 0\n        no_reverse\n        fallthrough\n    }",
    "hosts example.hosts {\n        10.0.0.1 a.example.org\n        fallthrough example.org in-addr.arpa\n"
    "        fallthrough_unsupported\n    }",
])
def test_setup_ok(tmp_path, block):
    (tmp_path / "example.hosts").write_text(HOSTS_EXAMPLE)
    cf = tmp_path / "Corefile"
    cf.write_text(".:1053 {\n    %s\n}\n" % block)
    res = run_binary(["-conf", str(cf), "-check"])
    assert res.returncode == 0, res.stderr
