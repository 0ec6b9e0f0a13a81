# SPDX-License-Identifier: MIT
"""Hostile packets (issue 7, point 3), each over UDP and over TCP, each followed by a good query
that must still be answered on both transports. What Knot and NSD do is the bar: FORMERR, NOTIMP,
BADVERS or silence, never a crash, never a reply to a reply (QR=1), never an answer larger than the
client allows. ANY gets RFC 8482's minimal answer over UDP (one RRset) and everything over TCP.

test_protocol.py has the first malformed cases (short header, QDCOUNT 0/2, a pointer loop, a
label past the end, two OPTs, ...); these add their variants and the rest of the list, plus
5000 seeded random datagrams and a few hundred random TCP messages.
"""
import random
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from conftest import k8s_list, k8s_service, k8s_slice

COREFILE = """\
cluster.local:@PORT@ {
    kubernetes cluster.local {
        objects cluster.json
    }
}
example:@PORT@ {
    file db.example
}
"""
ZONEFILE = """\
$ORIGIN example.
@       3600 IN SOA ns.example. hostmaster.example. 1 7200 3600 1209600 3600
@       3600 IN NS  ns.example.
@       3600 IN A   192.0.2.1
@       3600 IN MX  10 mail.example.
@       3600 IN TXT "v=spf1 -all"
ns      3600 IN A   192.0.2.53
mail    3600 IN A   192.0.2.25
"""
WEB = "web.default.svc.cluster.local."
BIG = ["10.244.1.%d" % i for i in range(1, 121)]


def objects():
    return k8s_list([k8s_service("web", cluster_ip="10.96.0.20"), k8s_service("big"),
                     k8s_slice("big", [(ip, None, True) for ip in BIG])])


@pytest.fixture(scope="module")
def srv(start_module_server):
    return start_module_server(COREFILE, files={"cluster.json": objects(), "db.example": ZONEFILE})


@pytest.fixture(params=["udp", "tcp"])
def transport(request):
    return request.param


# ------------------------------------------------------------------ raw transport
def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def exchange(srv, wire, transport, timeout=0.8):
    """Sends wire bytes; the raw reply, or None when the server stayed silent or closed."""
    if transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(wire, (srv.addr, srv.port))
            try:
                return s.recv(65535)
            except socket.timeout:
                return None
    with socket.create_connection((srv.addr, srv.port), timeout=timeout) as s:
        try:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            hdr = recv_exact(s, 2)
            return None if hdr is None else recv_exact(s, struct.unpack("!H", hdr)[0])
        except (socket.timeout, ConnectionResetError, BrokenPipeError):
            return None


def header(raw):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", raw[:12])
    return dict(id=qid, qr=bool(flags & 0x8000), opcode=(flags >> 11) & 0xF, tc=bool(flags & 0x200),
                rcode=flags & 0xF, qd=qd, an=an, ns=ns, ar=ar)


def assert_alive(srv):
    """The good query after each hostile one, over both transports."""
    assert srv.alive(), "server died:\n" + srv.log()[-4000:]
    for tr in ("udp", "tcp"):
        q = dns.message.make_query(WEB, "A")
        raw = exchange(srv, q.to_wire(), tr, timeout=2.0)
        assert raw is not None, "no answer to a good query over %s after a hostile one" % tr
        r = dns.message.from_wire(raw)
        assert r.id == q.id and r.rcode() == dns.rcode.NOERROR
        assert [rr.address for rr in r.answer[0]] == ["10.96.0.20"]


def check_reply(wire, raw, allowed, transport, limit=None):
    """None (silence) is always fine; a reply must be a well-formed response with the query's
    ID, an allowed rcode and no more octets than the client allows."""
    if raw is None:
        return None
    assert len(raw) >= 12, "a reply shorter than a header: %r" % raw
    h = header(raw)
    assert h["qr"], "a reply without QR"
    if len(wire) >= 2:
        assert h["id"] == struct.unpack("!H", wire[:2])[0]
    if limit is None:
        limit = 512 if transport == "udp" else 65535
    assert len(raw) <= limit, "reply of %d octets, the client allows %d" % (len(raw), limit)
    r = dns.message.from_wire(raw, ignore_trailing=False)
    assert r.rcode() in allowed, "rcode %s not in %s" % (dns.rcode.to_text(r.rcode()),
                                                         [dns.rcode.to_text(a) for a in allowed])
    return r


def hdr(qid=0x4242, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def qn(name):
    return dns.name.from_text(name).to_wire()


def q_tail(qtype=1, qclass=1):
    return struct.pack("!HH", qtype, qclass)


def opt(payload=1232, ext_rcode=0, version=0, flags=0, rdata=b"", owner=b"\x00"):
    return owner + struct.pack("!HHBBHH", 41, payload, ext_rcode, version, flags, len(rdata)) + rdata


def option(code, data):
    return struct.pack("!HH", code, len(data)) + data


GOOD_Q = qn(WEB) + q_tail()
FORMERR = {dns.rcode.FORMERR}

# name: (wire, rcodes a reply may carry)
MALFORMED = {}
for n in range(0, 12):
    MALFORMED["header-%d-octets" % n] = (hdr()[:n], FORMERR)
MALFORMED.update({
    "qdcount-3": (hdr(qd=3) + GOOD_Q * 3, FORMERR),
    "qdcount-65535": (hdr(qd=65535) + GOOD_Q, FORMERR),
    "qdcount-1-no-question": (hdr(qd=1), FORMERR),
    "question-cut-in-type": (hdr() + qn(WEB) + b"\x00", FORMERR),
    "label-63-past-end": (hdr() + b"\x3f" + b"a" * 10, FORMERR),
    "label-past-end-after-good-labels": (hdr() + b"\x03web\x07default\x20abc", FORMERR),
    "name-without-root": (hdr() + b"\x03web", FORMERR),
    "pointer-to-itself": (hdr() + b"\xc0\x0c" + q_tail(), FORMERR),
    "pointer-loop-two-hops": (hdr() + b"\x01a\xc0\x0e\x01b\xc0\x0c" + q_tail(), FORMERR),
    "pointer-forward": (hdr() + b"\xc0\x10" + q_tail() + b"\x03web\x00", FORMERR),
    "pointer-into-header": (hdr() + b"\xc0\x02" + q_tail(), FORMERR),
    "pointer-past-end": (hdr() + b"\xff\xff" + q_tail(), FORMERR),
    "pointer-cut": (hdr() + b"\xc0", FORMERR),
    "label-type-01": (hdr() + b"\x41abc\x00" + q_tail(), FORMERR),
    "label-type-10": (hdr() + b"\x81abc\x00" + q_tail(), FORMERR),
    "name-256-octets": (hdr() + (b"\x3f" + b"x" * 63) * 4 + b"\x00" + q_tail(), FORMERR),
    "name-254-labels": (hdr() + b"\x01a" * 128 + b"\x00" + q_tail(), FORMERR),
    # OPT: bad placement, bad owner, duplicates, bad option framing.
    "opt-in-answer": (hdr(an=1) + GOOD_Q + opt(), FORMERR),
    "opt-in-authority": (hdr(ns=1) + GOOD_Q + opt(), FORMERR),
    "two-opt-different-sizes": (hdr(ar=2) + GOOD_Q + opt(512) + opt(4096), FORMERR),
    "three-opt": (hdr(ar=3) + GOOD_Q + opt() * 3, FORMERR),
    "opt-owner-compressed": (hdr(ar=1) + GOOD_Q + opt(owner=b"\xc0\x0c"), FORMERR),
    "opt-cut-in-fixed-part": (hdr(ar=1) + GOOD_Q + opt()[:6], FORMERR),
    "opt-option-past-rdata": (hdr(ar=1) + GOOD_Q + opt(rdata=struct.pack("!HH", 10, 40) + b"x" * 4), FORMERR),
    "opt-option-header-cut": (hdr(ar=1) + GOOD_Q + opt(rdata=b"\x00\x0a\x00"), FORMERR),
    "arcount-past-end": (hdr(ar=5) + GOOD_Q + opt(), FORMERR),
    "nscount-past-end": (hdr(ns=2) + GOOD_Q, FORMERR),
    "trailing-garbage": (hdr() + GOOD_Q + b"\x00" * 7, FORMERR | {dns.rcode.NOERROR}),
})


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed(srv, transport, case):
    wire, allowed = MALFORMED[case]
    raw = exchange(srv, wire, transport)
    r = check_reply(wire, raw, allowed, transport)
    if r is not None:
        assert len(r.answer) == 0 or r.rcode() == dns.rcode.NOERROR
    assert_alive(srv)


# ------------------------------------------------------------------ opcodes, classes, types
@pytest.mark.parametrize("opcode", [4] + list(range(6, 16)))
def test_unknown_opcode_notimp(srv, transport, opcode):
    wire = hdr(flags=0x0100 | (opcode << 11)) + GOOD_Q
    raw = exchange(srv, wire, transport)
    assert raw is not None, "opcode %d: no reply" % opcode
    h = header(raw)   # dnspython cannot parse opcodes it does not know: the header is checked by hand
    assert h["qr"] and h["id"] == 0x4242 and h["opcode"] == opcode, h
    assert h["rcode"] in (dns.rcode.NOTIMP, dns.rcode.REFUSED) and h["an"] == 0, h
    assert len(raw) <= 512
    assert_alive(srv)


@pytest.mark.parametrize("qclass", [0, 2, 3, 4, 42, 254, 255, 65280, 65535])
def test_unknown_and_odd_classes(srv, transport, qclass):
    wire = hdr() + qn(WEB) + q_tail(1, qclass)
    raw = exchange(srv, wire, transport)
    ok = {dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.REFUSED, dns.rcode.NOTIMP, dns.rcode.FORMERR}
    r = check_reply(wire, raw, ok, transport)
    if r is not None:
        for rrset in r.answer:
            assert rrset.rdclass == qclass or qclass == 255, "answer of class %d to a class %d query" % (
                rrset.rdclass, qclass)
    assert_alive(srv)


@pytest.mark.parametrize("qtype", [0, 3, 4, 62, 128, 249, 250, 251, 252, 253, 254, 4711, 32768, 65280, 65535])
def test_unknown_and_meta_types(srv, transport, qtype):
    for name in (WEB, "example."):
        wire = hdr() + qn(name) + q_tail(qtype)
        raw = exchange(srv, wire, transport)
        ok = {dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.REFUSED, dns.rcode.NOTIMP, dns.rcode.FORMERR}
        r = check_reply(wire, raw, ok, transport)
        if r is not None and qtype not in (255,):
            for rrset in r.answer:
                assert rrset.rdtype == qtype, "answer of type %s to qtype %d" % (
                    dns.rdatatype.to_text(rrset.rdtype), qtype)
    assert_alive(srv)


# ------------------------------------------------------------------ EDNS
@pytest.mark.parametrize("version", [1, 2, 128, 255])
def test_edns_unknown_version_badvers(srv, transport, version):
    wire = hdr(ar=1) + GOOD_Q + opt(version=version, flags=0x8000, rdata=option(10, b"\x01" * 8))
    raw = exchange(srv, wire, transport)
    assert raw is not None
    r = check_reply(wire, raw, {dns.rcode.BADVERS}, transport)
    assert r.edns == 0 and len(r.answer) == 0
    assert_alive(srv)


def test_edns_many_unknown_options_ignored(srv, transport):
    opts = b"".join(option(65000 + i, bytes([i]) * i) for i in range(20)) + option(65535, b"z" * 600)
    wire = hdr(ar=1) + GOOD_Q + opt(rdata=opts)
    raw = exchange(srv, wire, transport)
    r = check_reply(wire, raw, {dns.rcode.NOERROR}, transport, limit=1232 if transport == "udp" else None)
    assert r is not None and r.edns == 0
    assert [rr.address for rr in r.answer[0]] == ["10.96.0.20"]
    assert all(o.otype < 65000 for o in r.options), "unknown options echoed"
    assert_alive(srv)


@pytest.mark.parametrize("payload", [0, 1, 511, 65535])
def test_edns_odd_payload_sizes_bound_the_reply(srv, payload):
    """UDP: below 512 counts as 512; the largest a reply ever gets is min(client's, our 1232
    advertised... or the client's when larger answers are allowed) and never over 65535."""
    q = dns.message.make_query("big.default.svc.cluster.local.", "A", use_edns=0, payload=payload)
    wire = q.to_wire()
    raw = exchange(srv, wire, "udp")
    assert raw is not None
    limit = max(512, payload)
    r = check_reply(wire, raw, {dns.rcode.NOERROR}, "udp", limit=limit)
    assert len(raw) <= 65535
    if payload < 2000:
        assert r.flags & dns.flags.TC, "120 A records cannot fit in %d octets" % limit
    assert_alive(srv)


# ------------------------------------------------------------------ QR=1: never answered
QR_CASES = {
    "response-to-good-question": hdr(flags=0x8180) + GOOD_Q,
    "response-with-answer": hdr(flags=0x8580, an=1) + GOOD_Q + b"\xc0\x0c" + q_tail() +
    struct.pack("!IH", 60, 4) + b"\x0a\x00\x00\x01",
    "response-formerr": hdr(flags=0x8001) + GOOD_Q,
    "response-notimp-opcode-update": hdr(flags=0x8000 | (5 << 11) | 4) + GOOD_Q,
    "response-malformed": hdr(flags=0x8000) + b"\xc0\x0c",
    "response-header-only": hdr(flags=0x8000, qd=0),
    "response-badvers": hdr(flags=0x8000, ar=1) + GOOD_Q + opt(ext_rcode=1),
}


@pytest.mark.parametrize("case", sorted(QR_CASES))
def test_qr_set_never_answered(srv, transport, case):
    wire = QR_CASES[case]
    raw = exchange(srv, wire, transport)
    assert raw is None, "%s: a packet with QR=1 was answered (reflection loop): %r" % (case, raw)
    assert_alive(srv)


# ------------------------------------------------------------------ ANY (RFC 8482)
def test_any_over_udp_is_minimal(srv):
    q = dns.message.make_query("example.", "ANY", use_edns=0, payload=1232)
    raw = exchange(srv, q.to_wire(), "udp")
    r = check_reply(q.to_wire(), raw, {dns.rcode.NOERROR}, "udp", limit=1232)
    assert r is not None
    assert len(r.answer) == 1, "RFC 8482: one RRset over UDP, got %s" % [x.to_text() for x in r.answer]
    assert r.answer[0].name == dns.name.from_text("example.")
    assert len(r.authority) == 0 and len(r.additional) == 0
    assert not (r.flags & dns.flags.TC), "a minimal ANY answer is complete, not truncated"


def test_any_over_tcp_is_complete(srv):
    q = dns.message.make_query("example.", "ANY")
    raw = exchange(srv, q.to_wire(), "tcp")
    r = check_reply(q.to_wire(), raw, {dns.rcode.NOERROR}, "tcp")
    types = sorted(dns.rdatatype.to_text(x.rdtype) for x in r.answer)
    assert types == ["A", "MX", "NS", "SOA", "TXT"], types


def test_any_in_the_cluster_zone(srv, transport):
    """CoreDNS's kubernetes plugin answers ANY like an unknown type: NODATA (its handler's
    default case), which is as minimal as it gets; a missing name stays NXDOMAIN."""
    q = dns.message.make_query(WEB, "ANY")
    raw = exchange(srv, q.to_wire(), transport)
    r = check_reply(q.to_wire(), raw, {dns.rcode.NOERROR}, transport)
    assert r is not None and len(r.answer) == 0
    assert [dns.rdatatype.to_text(x.rdtype) for x in r.authority] == ["SOA"]
    q = dns.message.make_query("nope.default.svc.cluster.local.", "ANY")
    raw = exchange(srv, q.to_wire(), transport)
    assert check_reply(q.to_wire(), raw, {dns.rcode.NXDOMAIN}, transport) is not None
    assert_alive(srv)


def test_any_missing_name_still_negative(srv):
    q = dns.message.make_query("nope.example.", "ANY")
    r = check_reply(q.to_wire(), exchange(srv, q.to_wire(), "udp"), {dns.rcode.NXDOMAIN}, "udp")
    assert r is not None and len(r.answer) == 0 and len(r.authority) == 1   # the SOA stays


# ------------------------------------------------------------------ random input
def mutate(rng, base):
    b = bytearray(base)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(4)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:
            del b[rng.randrange(len(b)):]
        elif op == 2:
            b[rng.randrange(len(b) + 1):0] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif len(b) > 2:
            b[2] = rng.randrange(256) & 0x7f   # QR=0: made to look like a query
    return bytes(b)


def parse_reply(raw):
    """dnspython parses replies with the opcodes it knows; others (echoed from random queries)
    are checked to be a bare header: NOTIMP and no records."""
    h = header(raw)
    if h["opcode"] == 0:   # (an UPDATE's zone section follows other rules in dnspython)
        return dns.message.from_wire(raw, ignore_trailing=False)
    assert h["rcode"] in (dns.rcode.NOTIMP, dns.rcode.FORMERR) and h["an"] == h["ns"] == 0, h
    return None


def random_packets(seed, n):
    rng = random.Random(seed)
    bases = [hdr() + GOOD_Q, hdr(ar=1) + GOOD_Q + opt(), hdr() + qn("example.") + q_tail(255),
             hdr(ar=1) + qn("big.default.svc.cluster.local.") + q_tail(33) + opt(4096)]
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 600))))
        else:
            out.append(mutate(rng, rng.choice(bases)))
    return out


def test_random_udp_datagrams(srv):
    """5000 seeded datagrams (random bytes and mutated queries): every reply well formed, never
    a reply to a QR=1 packet, never over 512 octets without EDNS (nor 65535 with it)."""
    pkts = random_packets(20240607, 5000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.settimeout(0.3)
        by_id = {}
        for i, p in enumerate(pkts):
            s.sendto(p, (srv.addr, srv.port))
            if len(p) >= 12:
                by_id.setdefault(p[:2], []).append(p)
            if i % 200 == 199:
                time.sleep(0.02)   # stay under the socket buffers: this is about content, not load
        replies = []
        try:
            while True:
                replies.append(s.recv(65535))
        except socket.timeout:
            pass
    assert replies, "not a single reply to 5000 packets (3000+ are valid-looking queries)"
    for raw in replies:
        assert len(raw) >= 12 and raw[2] & 0x80, "reply without QR: %r" % raw[:16]
        sent = by_id.get(raw[:2], [])
        assert sent, "a reply with an ID we never sent"
        assert any(not (p[2] & 0x80) for p in sent), "a reply to a packet with QR=1"
        assert len(raw) <= 65535
        if not any(len(p) > 12 and b"\x00\x29" in p for p in sent) and len(raw) > 512:
            raise AssertionError("reply of %d octets to a query without OPT" % len(raw))
        parse_reply(raw)
    assert_alive(srv)


def test_random_tcp_messages(srv):
    """300 random framed messages spread over 30 connections, then a good query on each
    connection that is still open (the server may close one after garbage, as Knot does)."""
    pkts = random_packets(777, 300)
    for c in range(30):
        try:
            s = socket.create_connection((srv.addr, srv.port), timeout=2.0)
        except OSError as e:
            raise AssertionError("connection %d refused: %s" % (c, e))
        with s:
            try:
                for p in pkts[c * 10:(c + 1) * 10]:
                    s.sendall(struct.pack("!H", len(p)) + p)
                q = dns.message.make_query(WEB, "A")
                s.sendall(struct.pack("!H", len(q.to_wire())) + q.to_wire())
                s.settimeout(1.0)
                while True:
                    hdr2 = recv_exact(s, 2)
                    if hdr2 is None:
                        break
                    raw = recv_exact(s, struct.unpack("!H", hdr2)[0])
                    assert raw is not None and len(raw) >= 12 and raw[2] & 0x80
                    parse_reply(raw)
                    if raw[:2] == q.to_wire()[:2]:
                        break
            except (socket.timeout, ConnectionResetError, BrokenPipeError):
                pass
    assert_alive(srv)
