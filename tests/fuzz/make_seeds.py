#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of the fuzz targets added for issue 7 (query, watch, upstream,
kubeconfig, objects) into tests/fuzz/corpus/<target>/seed-*. Seeds are real messages: DNS
packets made with dnspython, watch events and List pages shaped as the API server and kubectl
print them (from tests/fuzz/data/cluster.json), a kind-style kubeconfig. Rerun it after changing
the fixture; regression inputs (crash-*, named by what they found) are never touched.

Several targets take a selector as their first input byte (see each fuzz_<t>.c); seeds carry
one chosen so that every mode is covered from the start.
"""
import json
import os
import sys

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = json.load(open(os.path.join(HERE, "data", "cluster.json")))


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def query(name, qtype="A", edns=-1, payload=1232, want_dnssec=False, qclass="IN", id_=0x4242, **kw):
    q = dns.message.make_query(name, qtype, rdclass=qclass, use_edns=edns, payload=payload,
                               want_dnssec=want_dnssec, **kw)
    q.id = id_
    return q


# ---------------------------------------------------------------- query (pipeline)
def seeds_query():
    z = "cluster.local."
    cases = {
        "svc-a": query("kubernetes.default.svc." + z),
        "svc-a-edns": query("kubernetes.default.svc." + z, edns=0),
        "svc-mixed-case": query("KuBeRnEtEs.Default.SVC.Cluster.Local.", edns=0),
        "srv-port": query("_dns._udp.kube-dns.kube-system.svc." + z, "SRV", edns=0),
        "srv-svc": query("kube-dns.kube-system.svc." + z, "SRV"),
        "srv-nounderscore": query("dns-tcp.tcp.kube-dns.kube-system.svc." + z, "SRV"),
        "dual-aaaa": query("dual.demo.svc." + z, "AAAA", edns=0),
        "dual-any": query("dual.demo.svc." + z, "ANY"),
        "headless-a": query("nginx.default.svc." + z, "A", edns=0, payload=4096),
        "headless-srv": query("nginx.default.svc." + z, "SRV"),
        "endpoint-a": query("web-0.nginx.default.svc." + z),
        "endpoint6": query("h0.headless6.demo.svc." + z, "AAAA"),
        "ptr4": query("10.0.96.10.in-addr.arpa.", "PTR"),
        "ptr6": query(dns.name.from_text(
            "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa."), "PTR"),
        "ptr-endpoint": query("5.1.244.10.in-addr.arpa.", "PTR"),
        "externalname": query("ext.demo.svc." + z),
        "externalname-inner": query("inner.demo.svc." + z),
        "dns-version": query("dns-version." + z, "TXT"),
        "soa": query(z, "SOA", edns=0),
        "ns": query(z, "NS"),
        "ns-a": query("ns.dns." + z),
        "nxdomain": query("nope.default.svc." + z, edns=0, want_dnssec=True),
        "nodata-ns": query("demo.svc." + z, "A"),
        "pod-verified": query("10-244-1-5.default.pod." + z),
        "pod-insecure": query("10-1-2-3.default.pod.insecure.local."),
        "autopath": query("example.com.default.svc." + z),
        "whoami": query("example.com.", "A"),
        "axfr": query(z, "AXFR"),
        "chaos": query("version.bind.", "TXT", qclass="CH"),
        "unknown-type": query("kubernetes.default.svc." + z, 65280),
    }
    for k, q in cases.items():
        out("query", k, q.to_wire())
    # Malformed and special packets, as a hostile client sends them.
    base = query("kubernetes.default.svc." + z).to_wire()
    out("query", "qr-set", base[:2] + bytes([base[2] | 0x80]) + base[3:])
    out("query", "opcode-status", base[:2] + bytes([(base[2] & 0x87) | (2 << 3)]) + base[3:])
    out("query", "qdcount0", base[:4] + b"\x00\x00" + base[6:12])
    out("query", "qdcount2", base[:4] + b"\x00\x02" + base[6:] + base[12:])
    out("query", "badvers", query("kubernetes.default.svc." + z, edns=1).to_wire())
    out("query", "pointer-loop", base[:12] + b"\xc0\x0c\x00\x01\x00\x01")
    out("query", "truncated", base[:20])
    q = query("kubernetes.default.svc." + z, edns=0,
              options=[dns.edns.GenericOption(65001, b"\x01\x02"), dns.edns.ECSOption("10.1.0.0", 16)])
    out("query", "edns-options", q.to_wire())


# ------------------------------------------------------------------- watch (events)
KINDS = {"Service": 0, "EndpointSlice": 1, "Endpoints": 2, "Pod": 3, "Namespace": 4}


def seeds_watch():
    by_kind = {}
    for it in CLUSTER["items"]:
        by_kind.setdefault(it["kind"], []).append(it)
    for kind, sel in KINDS.items():
        items = by_kind.get(kind, [])
        if not items:
            continue
        lines = [{"type": "ADDED", "object": it} for it in items]
        mod = json.loads(json.dumps(items[0]))
        mod["metadata"]["resourceVersion"] = "2000"
        mod["metadata"].setdefault("labels", {})["changed"] = "yes"
        lines.append({"type": "MODIFIED", "object": mod})
        lines.append({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": items[0]["apiVersion"],
                                                     "metadata": {"resourceVersion": "2001", "annotations": {
                                                         "k8s.io/initial-events-end": "true"}}}})
        if len(items) > 1:
            lines.append({"type": "DELETED", "object": items[-1]})
        stream = "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in lines).encode()
        # Whole stream in one chunk, and cut into 7-octet chunks (high nibble 0xf / 0x2 + 1 → 4).
        out("watch", kind.lower() + "-stream", bytes([0xf0 | sel]) + stream)
        out("watch", kind.lower() + "-chunked", bytes([0x20 | sel]) + stream.replace(b"\n", b"\r\n"))
        # A LIST page of that kind, as GET /api/v1/services?limit=500 returns it.
        page = {"kind": kind + "List", "apiVersion": items[0]["apiVersion"],
                "metadata": {"resourceVersion": "1999", "continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTk5OX0"},
                "items": [{k: v for k, v in it.items() if k not in ("kind", "apiVersion")} for it in items]}
        out("watch", kind.lower() + "-list", bytes([0x08 | sel]) + json.dumps(page).encode())
    gone = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                        "message": "too old resource version: 1 (2000)", "reason": "Expired",
                                        "code": 410}}
    out("watch", "error-410", b"\xf0" + json.dumps(gone).encode() + b"\n")


# ---------------------------------------------------------- upstream (forward + cache)
def reply(q, rcode=dns.rcode.NOERROR, answer=(), authority=(), additional=(), flags=dns.flags.RA):
    r = dns.message.make_response(q)
    r.flags |= flags
    r.set_rcode(rcode)
    for rr in answer:
        r.answer.append(dns.rrset.from_text(*rr))
    for rr in authority:
        r.authority.append(dns.rrset.from_text(*rr))
    for rr in additional:
        r.additional.append(dns.rrset.from_text(*rr))
    return r.to_wire()


def seeds_upstream():
    soa = ("example.org.", 3600, "IN", "SOA", "ns1.example.org. hostmaster.example.org. 2024050101 7200 3600 1209600 300")
    # Selector bits: 0 TCP, 1 DO, 2 EDNS, 3-5 EDNS size index, 6 CD.
    udp, udp_edns, tcp = 0x00, 0x04 | (1 << 3), 0x01
    q = query("www.example.org.")
    out("upstream", "a", bytes([udp]) + reply(q, answer=[("www.example.org.", 300, "IN", "A", "192.0.2.1", "192.0.2.2")]))
    q = query("www.example.org.", "AAAA", edns=0)
    out("upstream", "aaaa-edns", bytes([udp_edns]) + reply(q, answer=[("www.example.org.", 60, "IN", "AAAA", "2001:db8::1")]))
    q = query("alias.example.org.")
    out("upstream", "cname-chain", bytes([udp]) + reply(q, answer=[
        ("alias.example.org.", 300, "IN", "CNAME", "www.example.org."),
        ("www.example.org.", 30, "IN", "A", "192.0.2.1")]))
    q = query("nope.example.org.", edns=0)
    out("upstream", "nxdomain", bytes([udp_edns]) + reply(q, dns.rcode.NXDOMAIN, authority=[soa]))
    q = query("www.example.org.", "MX")
    out("upstream", "nodata", bytes([udp]) + reply(q, authority=[soa]))
    q = query("broken.example.org.")
    out("upstream", "servfail", bytes([udp]) + reply(q, dns.rcode.SERVFAIL))
    q = query("sub.example.org.", "NS")
    out("upstream", "delegation", bytes([udp]) + reply(q, authority=[("sub.example.org.", 86400, "IN", "NS", "ns1.sub.example.org.")],
                                                      additional=[("ns1.sub.example.org.", 86400, "IN", "A", "192.0.2.53")], flags=0))
    q = query("big.example.org.", "TXT", edns=0, payload=4096)
    txt = ['"%s"' % ("x" * 200) for _ in range(12)]
    big = reply(q, answer=[("big.example.org.", 300, "IN", "TXT", t) for t in txt])
    out("upstream", "big-txt-udp512", bytes([udp]) + big)  # client without EDNS: cut to 512 with TC
    out("upstream", "big-txt-tcp", bytes([tcp]) + big)
    q = query("_xmpp._tcp.example.org.", "SRV", edns=0, want_dnssec=True)
    out("upstream", "srv-do", bytes([udp_edns | 0x02]) + reply(q, answer=[
        ("_xmpp._tcp.example.org.", 600, "IN", "SRV", "10 5 5222 xmpp1.example.org.", "20 5 5222 xmpp2.example.org.")],
        additional=[("xmpp1.example.org.", 600, "IN", "A", "192.0.2.7")], flags=dns.flags.RA | dns.flags.AD))
    q = query("WwW.ExAmPlE.oRg.")
    out("upstream", "case", bytes([udp]) + reply(q, answer=[("WwW.ExAmPlE.oRg.", 300, "IN", "A", "192.0.2.1")]))
    q = query("tc.example.org.")
    r = dns.message.make_response(q)
    r.flags |= dns.flags.TC
    out("upstream", "tc-set", bytes([udp]) + r.to_wire())


# ------------------------------------------------------------------ kubeconfig
KUBECONFIG = """apiVersion: v1
kind: Config
preferences: {}
current-context: kind-dev
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
    server: https://127.0.0.1:39021
  name: kind-dev
- cluster:
    certificate-authority: pki/ca.crt
    server: https://10.0.0.1:6443/
  name: prod
- cluster:
    insecure-skip-tls-verify: true
    server: http://127.0.0.1:8080
  name: lab
contexts:
- context:
    cluster: kind-dev
    user: kind-dev
  name: kind-dev
- context:
    cluster: kind-dev
    user: kind-dev
    namespace: default
  name: dev
- context:
    cluster: prod
    user: prod-user
  name: prod
- context:
    cluster: lab
    user: lab-user
  name: lab
- context:
    cluster: missing
    user: kind-dev
  name: broken
users:
- name: kind-dev
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSURJVENDQWdtZ0F3SUJBZ0lJCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVBCi0tLS0tRU5EIFJTQSBQUklWQVRFIEtFWS0tLS0tCg==
- name: prod-user
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
- name: lab-user
  user:
    token: eyJhbGciOiJSUzI1NiIsImtpZCI6ImZ1enoifQ.e30.c2lnbmF0dXJl
"""


def seeds_kubeconfig():
    # Selector: the context argument (0 current-context, 1 dev, 2 prod, 3 lab, 4 broken).
    for i, name in enumerate(["current", "dev", "prod", "lab", "broken"]):
        out("kubeconfig", name, bytes([i]) + KUBECONFIG.encode())
    exec_user = KUBECONFIG.replace("    token: eyJhbGciOiJSUzI1NiIsImtpZCI6ImZ1enoifQ.e30.c2lnbmF0dXJl\n",
                                   "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                                   "      command: aws\n      args: [eks, get-token]\n")
    out("kubeconfig", "exec", bytes([3]) + exec_user.encode())
    flow = ('{"apiVersion": "v1", "kind": "Config", "current-context": "c", "clusters": [{"name": "k", "cluster": '
            '{"server": "https://[::1]:6443", "certificate-authority-data": "Y2E="}}], "contexts": [{"name": "c", '
            '"context": {"cluster": "k", "user": "u"}}], "users": [{"name": "u", "user": {"client-certificate": '
            '"/etc/c.pem", "client-key": "k.pem"}}]}\n')
    out("kubeconfig", "flow-json", b"\x00" + flow.encode())
    out("kubeconfig", "anchors", b"\x00" + b"a: &x [*x]\nclusters: *x\ncurrent-context: !!binary Zm9v\n")


# -------------------------------------------------------------------- objects
def seeds_objects():
    text = json.dumps(CLUSTER, indent=2).encode()
    # Selector bits: 0-1 pods mode, 2 endpoint_pod_names, 3 noendpoints, 4 ignore_empty_service,
    # 5 namespaces default+kube-system, 6 local IP (own Service for NS), 7 TTL 0.
    for sel in (0x00, 0x02 | 0x04, 0x01 | 0x08 | 0x10, 0x20 | 0x40 | 0x02, 0x80 | 0x02):
        out("objects", "cluster-%02x" % sel, bytes([sel]) + text)
    svcs = [it for it in CLUSTER["items"] if it["kind"] == "Service"]
    typed = {"apiVersion": "v1", "kind": "ServiceList", "metadata": {"resourceVersion": "1999"},
             "items": [{k: v for k, v in it.items() if k not in ("kind", "apiVersion")} for it in svcs]}
    out("objects", "servicelist", b"\x02" + json.dumps(typed).encode())
    out("objects", "single-service", b"\x00" + json.dumps(svcs[1]).encode())
    eps = [it for it in CLUSTER["items"] if it["kind"] in ("Endpoints", "Service", "Pod")]
    out("objects", "core-endpoints", b"\x06" + json.dumps({"kind": "List", "apiVersion": "v1", "items": eps}).encode())


def main():
    for fn in (seeds_query, seeds_watch, seeds_upstream, seeds_kubeconfig, seeds_objects):
        fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
