# SPDX-License-Identifier: MIT
"""Wire protocol: EDNS, truncation, TCP framing and pipelining, malformed input, opcodes,
REFUSED outside our zones, and name compression in responses. Over UDP and TCP unless noted.

Each test starts the real binary on loopback with its own small objects file (not the demo).
"""
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from conftest import k8s_list, k8s_pod, k8s_service, k8s_slice

ZONE = "cluster.local."
COREFILE = """\
cluster.local:@PORT@ {
    kubernetes cluster.local {
        objects cluster.json
    }
}
"""

BIG = ["10.244.1.%d" % i for i in range(1, 61)]     # 60 ready endpoints: > 512 octets, < 1232
HUGE = ["10.244.2.%d" % i for i in range(1, 121)]   # 120 ready endpoints: > 1232 octets, < 4096
NGINX = [("web-0", "10.244.3.10"), ("web-1", "10.244.3.11"), ("web-2", "10.244.3.12")]


def objects_json():
    items = [
        k8s_service("kubernetes", cluster_ip="10.96.0.1", ports=(("https", "TCP", 443),)),
        k8s_slice("kubernetes", [("172.18.0.2", None, True)], ports=(("https", "TCP", 6443),)),
        k8s_service("web", cluster_ip="10.96.0.20"),
        k8s_service("big"),
        k8s_slice("big", [(ip, None, True) for ip in BIG]),
        k8s_service("huge"),
        k8s_slice("huge", [(ip, None, True) for ip in HUGE[:100]], suffix="a"),
        k8s_slice("huge", [(ip, None, True) for ip in HUGE[100:]], suffix="b"),
        k8s_service("nginx"),
        k8s_slice("nginx", [(ip, host, True) for host, ip in NGINX]),
    ]
    items += [k8s_pod(host, ip, hostname=host, subdomain="nginx") for host, ip in NGINX]
    return k8s_list(items)


@pytest.fixture
def srv(start_server):
    return start_server(COREFILE, files={"cluster.json": objects_json()})


@pytest.fixture(params=["udp", "tcp"])
def transport(request):
    return request.param


def fq(name):
    return "%s.default.svc.%s" % (name, ZONE)


# ------------------------------------------------------------------ raw transport helpers
def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_read_msg(sock):
    """One length-prefixed message, or None on EOF/timeout."""
    try:
        hdr = recv_exact(sock, 2)
        if hdr is None:
            return None
        return recv_exact(sock, struct.unpack("!H", hdr)[0])
    except (socket.timeout, ConnectionResetError):
        return None


def tcp_connect(srv, timeout=2.0):
    s = socket.create_connection((srv.addr, srv.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def exchange(srv, wire, transport, timeout=2.0):
    """Sends raw wire bytes; returns the raw reply or None when nothing came back."""
    if transport == "udp":
        return srv.raw_udp(wire, timeout=timeout)
    with tcp_connect(srv, timeout) as s:
        try:
            s.sendall(struct.pack("!H", len(wire)) + wire)
        except (BrokenPipeError, ConnectionResetError):
            return None
        return tcp_read_msg(s)


def ask(srv, q, transport, timeout=2.0):
    raw = exchange(srv, q.to_wire(), transport, timeout)
    assert raw is not None, "no reply to %s over %s" % (q.question, transport)
    return raw, dns.message.from_wire(raw, ignore_trailing=False)


def header(raw):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", raw[:12])
    return dict(id=qid, flags=flags, qr=bool(flags & 0x8000), opcode=(flags >> 11) & 0xF,
                tc=bool(flags & 0x0200), rcode=flags & 0xF, qd=qd, an=an, ns=ns, ar=ar)


def a_addrs(msg, name):
    rr = msg.get_rrset(msg.answer, dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.A)
    return sorted(r.address for r in rr) if rr else []


def assert_alive(srv, transport="udp"):
    assert srv.alive(), "server died:\n" + srv.log()
    raw, r = ask(srv, dns.message.make_query(fq("web"), "A"), transport)
    assert r.rcode() == dns.rcode.NOERROR
    assert a_addrs(r, fq("web")) == ["10.96.0.20"]


# ------------------------------------------------------------------ EDNS
def test_edns_opt_echoed_and_we_advertise_1232(srv, transport):
    q = dns.message.make_query(fq("web"), "A", use_edns=0, payload=4096)
    raw, r = ask(srv, q, transport)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.edns == 0, "the reply to an EDNS query must carry an OPT record (version 0)"
    assert r.payload == 1232, "advertised UDP payload size: expected 1232, got %d" % r.payload
    assert a_addrs(r, fq("web")) == ["10.96.0.20"]
    assert header(raw)["ar"] == 1, "only the OPT record is expected in ADDITIONAL"


def test_no_opt_without_edns(srv, transport):
    raw, r = ask(srv, dns.message.make_query(fq("web"), "A"), transport)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.edns == -1, "a reply to a query without EDNS must not carry an OPT record"


def test_edns_badvers(srv, transport):
    q = dns.message.make_query(fq("web"), "A")
    q.use_edns(1, payload=1232)   # make_query(use_edns=1) silently sends version 0 in dnspython 2.3
    assert q.to_wire()[-5] == 1, "the query must carry EDNS version 1"
    raw, r = ask(srv, q, transport)
    h = header(raw)
    assert h["id"] == q.id and h["qr"]
    assert r.edns == 0, "BADVERS must come with an OPT record of version 0 (got edns=%d)" % r.edns
    assert r.rcode() == dns.rcode.BADVERS, "expected BADVERS (16), got %s" % dns.rcode.to_text(r.rcode())
    assert len(r.answer) == 0, "BADVERS carries no answer"


def test_edns_unknown_option_ignored(srv, transport):
    opt = dns.edns.GenericOption(65001, b"unknown-option-payload")
    q = dns.message.make_query(fq("web"), "A", use_edns=0, payload=1232, options=[opt])
    raw, r = ask(srv, q, transport)
    assert r.rcode() == dns.rcode.NOERROR
    assert a_addrs(r, fq("web")) == ["10.96.0.20"]
    assert r.edns == 0
    assert all(o.otype != 65001 for o in r.options), "an unknown option must not be echoed"


def test_edns_client_size_honoured_udp(srv):
    """UDP only: a 600-octet client buffer gets at most 600 octets, truncated."""
    q = dns.message.make_query(fq("big"), "A", use_edns=0, payload=600)
    raw, r = ask(srv, q, "udp")
    assert len(raw) <= 600, "reply of %d octets for a client buffer of 600" % len(raw)
    assert r.flags & dns.flags.TC
    assert r.edns == 0, "a truncated EDNS reply still carries OPT"


def test_edns_below_512_treated_as_512(srv):
    """UDP only (RFC 6891 6.2.5): a payload size under 512 means 512; small answers still fit."""
    q = dns.message.make_query(fq("web"), "A", use_edns=0, payload=100)
    raw, r = ask(srv, q, "udp")
    assert not (r.flags & dns.flags.TC)
    assert a_addrs(r, fq("web")) == ["10.96.0.20"]


def test_edns_1232_fits_60_records(srv):
    q = dns.message.make_query(fq("big"), "A", use_edns=0, payload=1232)
    raw, r = ask(srv, q, "udp")
    assert len(raw) <= 1232
    assert not (r.flags & dns.flags.TC), "60 A records (~1 KB) fit in 1232 octets"
    assert a_addrs(r, fq("big")) == sorted(BIG)


def test_edns_4096_large_answer(srv):
    """UDP only: the reply is capped by the client's size (4096), so 120 A records (~2 KB) fit."""
    q = dns.message.make_query(fq("huge"), "A", use_edns=0, payload=4096)
    raw, r = ask(srv, q, "udp")
    assert len(raw) <= 4096
    assert r.payload == 1232
    assert not (r.flags & dns.flags.TC), "reply of %d octets truncated although the client offered 4096" % len(raw)
    assert a_addrs(r, fq("huge")) == sorted(HUGE)


def test_edns_1232_truncates_large_answer(srv):
    q = dns.message.make_query(fq("huge"), "A", use_edns=0, payload=1232)
    raw, r = ask(srv, q, "udp")
    assert len(raw) <= 1232
    assert r.flags & dns.flags.TC


# ------------------------------------------------------------------ truncation
def test_truncation_udp_no_edns(srv):
    q = dns.message.make_query(fq("big"), "A")
    raw, r = ask(srv, q, "udp")   # from_wire raises on a partial record or wrong counts
    h = header(raw)
    assert len(raw) <= 512, "UDP reply without EDNS of %d octets" % len(raw)
    assert h["tc"], "60 A records do not fit in 512 octets: TC must be set"
    assert h["an"] == sum(len(rr) for rr in r.answer), "ANCOUNT disagrees with the records present"
    for rr in r.answer:
        for rd in rr:
            assert rd.address in BIG


def test_truncation_keeps_only_complete_rrsets(srv):
    """The design writes whole RRsets: a truncated reply holds none of an RRset that did not fit."""
    raw, r = ask(srv, dns.message.make_query(fq("big"), "A"), "udp")
    assert r.flags & dns.flags.TC
    for rr in r.answer:
        if rr.name == dns.name.from_text(fq("big")) and rr.rdtype == dns.rdatatype.A:
            assert len(rr) == len(BIG), "partial RRset of %d/%d records in a truncated reply" % (len(rr), len(BIG))


def test_answer_over_64k_over_tcp(start_server):
    """4500 A records (~72 KB) cannot fit in one TCP message: a clean, parseable, truncated reply."""
    ips = ["10.%d.%d.%d" % (50 + i // 65025, (i // 255) % 255, i % 255 + 1) for i in range(4500)]
    objs = k8s_list([k8s_service("giant"),
                     k8s_slice("giant", [(ip, None, True) for ip in ips[:1000]], suffix="a"),
                     k8s_slice("giant", [(ip, None, True) for ip in ips[1000:2000]], suffix="b"),
                     k8s_slice("giant", [(ip, None, True) for ip in ips[2000:3000]], suffix="c"),
                     k8s_slice("giant", [(ip, None, True) for ip in ips[3000:]], suffix="d")])
    srv = start_server(COREFILE, files={"cluster.json": objs})
    for transport in ("tcp", "udp"):
        q = dns.message.make_query(fq("giant"), "A", use_edns=0, payload=65000)
        raw, r = ask(srv, q, transport, timeout=5.0)
        assert len(raw) <= 65535
        assert r.flags & dns.flags.TC, "%s: a 72 KB answer must be truncated" % transport
        for rr in r.answer:
            for rd in rr:
                assert rd.address in ips
    assert_alive_any = srv.query(fq("giant"), "AAAA")
    assert assert_alive_any.rcode() == dns.rcode.NOERROR


def test_truncated_query_retried_over_tcp_gets_full_answer(srv):
    raw, r = ask(srv, dns.message.make_query(fq("big"), "A"), "tcp")
    assert not (r.flags & dns.flags.TC)
    assert a_addrs(r, fq("big")) == sorted(BIG)
    raw, r = ask(srv, dns.message.make_query(fq("huge"), "A"), "tcp")
    assert not (r.flags & dns.flags.TC)
    assert a_addrs(r, fq("huge")) == sorted(HUGE)


def test_question_case_preserved(srv, transport):
    """DNS 0x20: the reply echoes the question as sent, and answers owners in the same case."""
    name = "WeB.DeFaUlT.SvC.ClUsTeR.LoCaL."
    q = dns.message.make_query(name, "A")
    raw, r = ask(srv, q, transport)
    assert r.rcode() == dns.rcode.NOERROR
    assert raw[12:12 + len(q.question[0].name.to_wire())] == q.to_wire()[12:12 + len(q.question[0].name.to_wire())], \
        "question not echoed octet for octet"
    assert [rd.address for rr in r.answer for rd in rr] == ["10.96.0.20"]
    assert r.answer[0].name.to_text() == name, "answer owner %s (case changed)" % r.answer[0].name


def test_truncated_reply_echoes_question(srv):
    q = dns.message.make_query(fq("huge"), "A")
    raw, r = ask(srv, q, "udp")
    assert r.flags & dns.flags.TC
    assert r.id == q.id and r.question == q.question
    assert r.rcode() == dns.rcode.NOERROR


# ------------------------------------------------------------------ TCP framing
def test_tcp_pipelining_100_queries_one_send(srv):
    names = [("web", "A", ["10.96.0.20"]), ("kubernetes", "A", ["10.96.0.1"]),
             ("nginx", "A", sorted(ip for _, ip in NGINX)), ("nosuch", "A", None)]
    queries = {}
    blob = b""
    for i in range(100):
        name, t, want = names[i % len(names)]
        q = dns.message.make_query(fq(name), t)
        q.id = 1000 + i
        queries[q.id] = (q, name, want)
        w = q.to_wire()
        blob += struct.pack("!H", len(w)) + w
    with tcp_connect(srv, timeout=5.0) as s:
        s.sendall(blob)
        got = {}
        deadline = time.time() + 10
        while len(got) < 100 and time.time() < deadline:
            raw = tcp_read_msg(s)
            if raw is None:
                break
            r = dns.message.from_wire(raw)
            assert r.id in queries, "reply with an ID never sent: %d" % r.id
            assert r.id not in got, "two replies for ID %d" % r.id
            got[r.id] = r
    assert len(got) == 100, "%d of 100 pipelined queries answered" % len(got)
    for qid, (q, name, want) in queries.items():
        r = got[qid]
        assert r.question == q.question, "reply %d answers another question" % qid
        if want is None:
            assert r.rcode() == dns.rcode.NXDOMAIN
        else:
            assert a_addrs(r, fq(name)) == want


def test_tcp_query_split_byte_by_byte(srv):
    q = dns.message.make_query(fq("web"), "A")
    w = q.to_wire()
    data = struct.pack("!H", len(w)) + w
    with tcp_connect(srv, timeout=5.0) as s:
        for b in data:
            s.sendall(bytes([b]))
            time.sleep(0.005)
        raw = tcp_read_msg(s)
    assert raw is not None, "no reply to a query sent one octet at a time"
    r = dns.message.from_wire(raw)
    assert r.id == q.id
    assert a_addrs(r, fq("web")) == ["10.96.0.20"]


def test_tcp_zero_length_and_abandoned_messages(srv):
    with tcp_connect(srv, timeout=1.0) as s:   # a zero-length message
        s.sendall(b"\x00\x00")
        raw = tcp_read_msg(s)
        assert raw is None or header(raw)["rcode"] == dns.rcode.FORMERR
    with tcp_connect(srv, timeout=1.0) as s:   # half a message, then the client goes away
        w = dns.message.make_query(fq("web"), "A").to_wire()
        s.sendall(struct.pack("!H", len(w)) + w[:10])
    with tcp_connect(srv, timeout=1.0) as s:   # a length prefix and nothing else
        s.sendall(b"\x00\x40")
    assert_alive(srv, "tcp")
    assert_alive(srv, "udp")


def test_udp_many_concurrent_clients(srv):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(50)]
    try:
        sent = {}
        for i, s in enumerate(socks):
            for j in range(10):
                q = dns.message.make_query(fq("web"), "A")
                q.id = i * 10 + j
                sent[q.id] = s
                s.sendto(q.to_wire(), (srv.addr, srv.port))
        got = set()
        deadline = time.time() + 5
        for s in socks:
            s.settimeout(0.5)
        while len(got) < len(sent) and time.time() < deadline:
            for s in socks:
                try:
                    while True:
                        raw = s.recv(4096)
                        r = dns.message.from_wire(raw)
                        assert sent[r.id] is s, "reply sent to the wrong client socket"
                        assert a_addrs(r, fq("web")) == ["10.96.0.20"]
                        got.add(r.id)
                        s.settimeout(0.01)
                except socket.timeout:
                    pass
        # UDP may drop under load on a busy machine, but loopback with 500 queries should not.
        assert len(got) >= 0.98 * len(sent), "%d of %d UDP queries answered" % (len(got), len(sent))
    finally:
        for s in socks:
            s.close()


def test_tcp_pipelined_large_answers_slow_reader(srv):
    """100 pipelined 2 KB answers (~200 KB) while the client reads slowly: nothing lost."""
    blob = b""
    for i in range(100):
        q = dns.message.make_query(fq("huge"), "A")
        q.id = 5000 + i
        w = q.to_wire()
        blob += struct.pack("!H", len(w)) + w
    with tcp_connect(srv, timeout=5.0) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(blob)
        time.sleep(1.0)   # let the server's writes back up
        ids = set()
        while len(ids) < 100:
            raw = tcp_read_msg(s)
            assert raw is not None, "connection ended after %d of 100 answers" % len(ids)
            r = dns.message.from_wire(raw)
            assert a_addrs(r, fq("huge")) == sorted(HUGE)
            ids.add(r.id)
    assert ids == set(range(5000, 5100))
    assert_alive(srv, "udp")


def test_tcp_many_connections(srv):
    conns = []
    try:
        for i in range(100):
            conns.append(tcp_connect(srv, timeout=5.0))
        for i, s in enumerate(conns):
            q = dns.message.make_query(fq("web"), "A")
            q.id = i
            w = q.to_wire()
            s.sendall(struct.pack("!H", len(w)) + w)
        for i, s in enumerate(conns):
            raw = tcp_read_msg(s)
            assert raw is not None, "connection %d of 100 got no answer" % i
            r = dns.message.from_wire(raw)
            assert r.id == i and a_addrs(r, fq("web")) == ["10.96.0.20"]
    finally:
        for s in conns:
            s.close()


def test_tcp_two_queries_sequential_on_one_connection(srv):
    with tcp_connect(srv) as s:
        for name, ip in (("web", "10.96.0.20"), ("kubernetes", "10.96.0.1")):
            w = dns.message.make_query(fq(name), "A").to_wire()
            s.sendall(struct.pack("!H", len(w)) + w)
            raw = tcp_read_msg(s)
            assert raw is not None
            assert a_addrs(dns.message.from_wire(raw), fq(name)) == [ip]


# ------------------------------------------------------------------ malformed input
def hdr(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def qname(name):
    return dns.name.from_text(name).to_wire()


TYPE_A_IN = struct.pack("!HH", 1, 1)
MALFORMED = {
    "truncated-header": b"\x12\x34\x01\x00\x00",
    "qdcount-0": hdr(qd=0),
    "qdcount-0-with-question": hdr(qd=0) + qname(fq("web")) + TYPE_A_IN,
    "qdcount-2": hdr(qd=2) + qname(fq("web")) + TYPE_A_IN + qname(fq("kubernetes")) + TYPE_A_IN,
    "compression-loop": hdr() + b"\xc0\x0c" + TYPE_A_IN,
    "compression-loop-2": hdr() + b"\x03web\xc0\x0c" + TYPE_A_IN,
    "pointer-forward": hdr() + b"\xc0\x20" + TYPE_A_IN,
    "label-past-end": hdr() + b"\x3fabc",
    "no-qtype": hdr() + qname(fq("web")),
    "name-over-255": hdr() + (b"\x3f" + b"a" * 63) * 5 + b"\x00" + TYPE_A_IN,
    "bad-label-type": hdr() + b"\x80abc\x00" + TYPE_A_IN,
    # RFC 6891 6.1.1: more than one OPT, or an OPT whose owner is not the root, is FORMERR.
    "two-opt": hdr(ar=2) + qname(fq("web")) + TYPE_A_IN + (b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00") * 2,
    "opt-not-root": hdr(ar=1) + qname(fq("web")) + TYPE_A_IN + b"\x01a\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00",
    "ancount-past-end": hdr(an=1) + qname(fq("web")) + TYPE_A_IN,
    "opt-rdlen-past-end": hdr(ar=1) + qname(fq("web")) + TYPE_A_IN + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x20",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_formerr_or_silence(srv, transport, case):
    wire = MALFORMED[case]
    raw = exchange(srv, wire, transport, timeout=1.0)
    if raw is not None:
        assert len(raw) >= 12, "reply shorter than a header: %r" % raw
        h = header(raw)
        assert h["qr"], "a reply must have QR=1"
        if len(wire) >= 2:
            assert h["id"] == struct.unpack("!H", wire[:2])[0]
        assert h["rcode"] == dns.rcode.FORMERR, \
            "%s: expected FORMERR or no reply, got rcode %d" % (case, h["rcode"])
        assert h["an"] == 0
        dns.message.from_wire(raw, ignore_trailing=False)  # the FORMERR itself is well formed
    assert_alive(srv, transport)
    assert_alive(srv, "udp" if transport == "tcp" else "tcp")


def test_malformed_burst_then_alive(srv):
    for _ in range(20):
        for wire in MALFORMED.values():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(wire, (srv.addr, srv.port))
    time.sleep(0.2)
    assert_alive(srv, "udp")
    assert_alive(srv, "tcp")


def test_response_packets_never_answered(srv, transport):
    q = dns.message.make_query(fq("web"), "A")
    w = bytearray(q.to_wire())
    w[2] |= 0x80   # QR=1
    raw = exchange(srv, bytes(w), transport, timeout=1.0)
    assert raw is None, "a packet with QR=1 was answered: %r" % raw
    assert_alive(srv, transport)


@pytest.mark.parametrize("opcode", [dns.opcode.IQUERY, dns.opcode.STATUS, 3, dns.opcode.UPDATE])
def test_unimplemented_opcodes_notimp(srv, transport, opcode):
    q = dns.message.make_query(ZONE, "SOA")
    q.set_opcode(opcode)
    raw = exchange(srv, q.to_wire(), transport)
    assert raw is not None, "no reply to opcode %s" % dns.opcode.to_text(opcode)
    h = header(raw)
    assert h["id"] == q.id and h["qr"]
    assert h["opcode"] == opcode, "the reply must echo the opcode"
    assert h["rcode"] == dns.rcode.NOTIMP, "opcode %s: expected NOTIMP, got rcode %d" % (
        dns.opcode.to_text(opcode), h["rcode"])
    assert h["an"] == 0


@pytest.mark.parametrize("name", ["example.com.", "kubernetes.default.svc.cluster.remote.", "local."])
def test_outside_our_zones_refused(srv, transport, name):
    raw, r = ask(srv, dns.message.make_query(name, "A"), transport)
    assert r.rcode() == dns.rcode.REFUSED, "%s: expected REFUSED, got %s" % (name, dns.rcode.to_text(r.rcode()))
    assert len(r.answer) == 0
    assert r.question == dns.message.make_query(name, "A").question


# ------------------------------------------------------------------ compression
def read_name(wire, off):
    """Walks a name at off; returns (offset after it, whether it ends in a compression pointer)."""
    while True:
        n = wire[off]
        if n == 0:
            return off + 1, False
        if n & 0xC0 == 0xC0:
            return off + 2, True
        off += 1 + n


def sections(wire):
    """Yields (section, owner offset, owner compressed?, rrtype) for every record of a reply."""
    h = header(wire)
    off = 12
    for _ in range(h["qd"]):
        off, _c = read_name(wire, off)
        off += 4
    for sec, count in (("answer", h["an"]), ("authority", h["ns"]), ("additional", h["ar"])):
        for _ in range(count):
            start = off
            off, compressed = read_name(wire, off)
            rrtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", wire[off:off + 10])
            off += 10 + rdlen
            yield sec, start, compressed, rrtype
    assert off == len(wire), "trailing octets after the last record"


def uncompressed_len(msg):
    n = 12
    for q in msg.question:
        n += len(q.name.to_wire()) + 4
    for sec in (msg.answer, msg.authority, msg.additional):
        for rr in sec:
            for rd in rr:
                n += len(rr.name.to_wire()) + 10 + len(rd.to_wire())
    if msg.edns >= 0:
        n += 11 + sum(4 + len(o.to_wire()) for o in msg.options)
    return n


def test_srv_answer_compressed_with_additionals(srv, transport):
    name = "_http._tcp." + fq("nginx")
    q = dns.message.make_query(name, "SRV", use_edns=0, payload=1232)
    raw, r = ask(srv, q, transport)
    assert r.rcode() == dns.rcode.NOERROR
    targets = {}
    for rr in r.answer:
        assert rr.rdtype == dns.rdatatype.SRV
        for rd in rr:
            assert rd.port == 80
            targets[rd.target.to_text()] = True
    want = {"%s.%s" % (h, fq("nginx")) for h, _ in NGINX}
    assert set(targets) == want
    addl = {rr.name.to_text(): sorted(rd.address for rd in rr) for rr in r.additional
            if rr.rdtype == dns.rdatatype.A}
    assert addl == {"%s.%s" % (h, fq("nginx")): [ip] for h, ip in NGINX}, \
        "ADDITIONAL should hold the A records of the SRV targets, got %s" % addl
    recs = list(sections(raw))
    for sec, off, compressed, rrtype in recs:
        if sec in ("answer", "additional") and rrtype != dns.rdatatype.OPT:
            assert compressed, "%s owner at offset %d is not compressed" % (sec, off)
    assert len(raw) < uncompressed_len(r), "reply (%d octets) not smaller than uncompressed (%d)" % (
        len(raw), uncompressed_len(r))


def test_a_answer_owner_is_pointer_to_question(srv, transport):
    raw, r = ask(srv, dns.message.make_query(fq("big"), "A", use_edns=0, payload=1232), transport)
    for sec, off, compressed, rrtype in sections(raw):
        if sec == "answer":
            assert raw[off:off + 2] == b"\xc0\x0c", "answer owner should point at the question (offset 12)"
