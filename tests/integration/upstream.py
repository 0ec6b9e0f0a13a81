# SPDX-License-Identifier: MIT
"""A tiny upstream DNS server for forward's tests (dnspython, UDP and TCP, in threads).

    up = Upstream("127.0.0.2")          # picks a free port; up.port, up.addr, up.target ("ip:port")
    up.answers["example.org."] = {"A": ["192.0.2.1"]}
    up.delay = 0.5                      # seconds before answering
    up.tc_udp = True                    # answer UDP with TC=1 and no records
    up.spoof_first = True               # send a reply with a wrong ID (then the real one)
    up.silent = True                    # never answer (a dead upstream that still accepts)
    up.rcode = dns.rcode.SERVFAIL       # force an rcode
    up.queries                          # list of (transport, qname, qtype, msg) received
    up.stop()

Only ever binds 127.0.0.0/8 (or ::1): tests never reach any other resolver.
"""
import socket
import socketserver
import threading
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


def _free_port(addr):
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((addr, 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((addr, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


class Upstream:
    def __init__(self, addr="127.0.0.2", port=None, tcp=True):
        assert addr.startswith("127.") or addr == "::1", "tests only use loopback upstreams"
        self.addr = addr
        self.port = port or _free_port(addr)
        self.answers = {}
        self.ttl = 300
        self.delay = 0.0
        self.tc_udp = False
        self.spoof_first = False
        self.spoof_source = False
        self.silent = False
        self.rcode = None
        self.big = 0  # add this many TXT records of 200 octets (for truncation tests)
        self.queries = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((addr, self.port))
        self.udp.settimeout(0.2)
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True)]
        self.tcp = None
        if tcp:
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.tcp.bind((addr, self.port))
            self.tcp.listen(64)
            self.tcp.settimeout(0.2)
            self.threads.append(threading.Thread(target=self._tcp_accept, daemon=True))
        for t in self.threads:
            t.start()

    @property
    def target(self):
        return "%s:%d" % (self.addr, self.port)

    def count(self, qname=None, transport=None):
        with self.lock:
            return sum(1 for (tr, n, _t, _m) in self.queries
                       if (qname is None or n.lower() == qname.lower()) and (transport is None or tr == transport))

    def reply(self, q, transport):
        name = q.question[0].name.to_text()
        rdtype = q.question[0].rdtype
        with self.lock:
            self.queries.append((transport, name, dns.rdatatype.to_text(rdtype), q))
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        if self.rcode is not None:
            r.set_rcode(self.rcode)
            return r
        if transport == "udp" and self.tc_udp:
            r.flags |= dns.flags.TC
            return r
        data = self.answers.get(name.lower())
        if data is None:
            r.set_rcode(dns.rcode.NXDOMAIN)
            return r
        typ = dns.rdatatype.to_text(rdtype)
        owner = name
        for _ in range(8):  # follows CNAMEs among its own names, as a recursive resolver would
            cname = None
            for t, values in data.items():
                if t == typ or (t == "CNAME" and typ != "CNAME"):
                    r.answer.append(dns.rrset.from_text_list(owner, self.ttl, "IN", t, values))
                    if t == "CNAME" and typ != "CNAME":
                        cname = values[0]
            if cname is None or cname.lower() not in self.answers:
                break
            owner, data = cname, self.answers[cname.lower()]
        if self.big and typ == "TXT":
            vals = ['"%s"' % ("%03d" % i + "x" * 197) for i in range(self.big)]
            r.answer.append(dns.rrset.from_text_list(name, self.ttl, "IN", "TXT", vals))
        return r

    def _udp_loop(self):
        while not self._stop.is_set():
            try:
                data, peer = self.udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            threading.Thread(target=self._udp_answer, args=(q, peer), daemon=True).start()

    def _udp_answer(self, q, peer):
        if self.silent:
            self.reply(q, "udp")
            return
        if self.delay:
            time.sleep(self.delay)
        r = self.reply(q, "udp")
        payload = q.payload if q.edns >= 0 else 512
        wire = r.to_wire(max_size=65535)
        if len(wire) > payload:
            r2 = dns.message.make_response(q)
            r2.flags |= dns.flags.TC
            wire = r2.to_wire()
        if self.spoof_first:
            bad = bytearray(wire)
            bad[0] ^= 0x5a  # a wrong ID
            bad[1] ^= 0xa5
            # a poisoned answer: a spoofer would put its own address in it
            self.udp.sendto(bytes(self._poison(q, bad)), peer)
            time.sleep(0.05)
        if self.spoof_source:
            # the right ID but from another address: must be ignored too
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.99", 0))
                s.sendto(self._poison(q, bytearray(wire)), peer)
            time.sleep(0.05)
        try:
            self.udp.sendto(wire, peer)
        except OSError:
            pass

    def _poison(self, q, wire):
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(q.question[0].name, 300, "IN", "A", "6.6.6.6"))
        w = bytearray(r.to_wire())
        w[0:2] = wire[0:2]
        return bytes(w)

    def _tcp_accept(self):
        while not self._stop.is_set():
            try:
                conn, _peer = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def _tcp_conn(self, conn):
        conn.settimeout(30)
        buf = b""
        try:
            while not self._stop.is_set():
                chunk = conn.recv(65535)
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 2 and len(buf) - 2 >= int.from_bytes(buf[:2], "big"):
                    n = int.from_bytes(buf[:2], "big")
                    data, buf = buf[2:2 + n], buf[2 + n:]
                    q = dns.message.from_wire(data)
                    if self.silent:
                        self.reply(q, "tcp")
                        continue
                    if self.delay:
                        time.sleep(self.delay)
                    wire = self.reply(q, "tcp").to_wire(max_size=65535)
                    conn.sendall(len(wire).to_bytes(2, "big") + wire)
        except OSError:
            return
        finally:
            conn.close()

    def stop(self):
        self._stop.set()
        for s in (self.udp, self.tcp):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        for t in self.threads:
            t.join(timeout=1)
