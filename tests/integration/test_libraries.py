# SPDX-License-Identifier: MIT
"""Which shared libraries a configuration maps (src/base/dynlib.c): libcurl, and OpenSSL,
Kerberos, LDAP... through it, only once the kubernetes plugin talks to an API server; ldns (and
libcrypto through it) only once a file plugin reads a zone file. A server answering from an
objects file maps neither: 3 MB less resident memory (bench/RESULTS.md). Each case also
answers, so a library loaded late still works."""
import json
import os

from conftest import k8s_list, k8s_service
from kube_helpers import clean_env, corefile, fa, svc, wait_answer

ZONE = """$ORIGIN example.org.
$TTL 300
@   IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 30
@   IN NS  ns.example.org.
ns  IN A   192.0.2.53
www IN A   192.0.2.80
"""


def mapped(srv):
    """Base names of the shared objects mapped by the server process."""
    with open("/proc/%d/maps" % srv.proc.pid) as f:
        return {os.path.basename(line.split()[5]) for line in f if len(line.split()) >= 6 and ".so" in line}


def has(libs, stem):
    return any(name.startswith(stem + ".so") or name.startswith(stem + "-") for name in libs)


def objects_file():
    return k8s_list([k8s_service("kubernetes", cluster_ip="10.96.0.1", ports=(("https", "TCP", 443),)),
                     k8s_service("web", cluster_ip="10.96.0.10")])


def test_objects_file_maps_neither_curl_nor_ldns(start_server):
    srv = start_server("cluster.local:@PORT@ {\n    bind 127.0.0.1\n    kubernetes cluster.local {\n"
                       "        objects cluster.json\n    }\n}\n", files={"cluster.json": objects_file()},
                       probe="web.default.svc.cluster.local.", probe_type="A")
    r = srv.query("web.default.svc.cluster.local.", "A")
    assert [rd.address for rr in r.answer for rd in rr] == ["10.96.0.10"]
    libs = mapped(srv)
    assert has(libs, "libuv"), libs  # the check itself sees what is mapped
    for stem in ("libcurl", "libldns", "libcrypto", "libssl"):
        assert not has(libs, stem), "%s mapped without an API server or a zone file: %s" % (stem, sorted(libs))


def test_zone_file_maps_ldns_not_curl(start_server):
    srv = start_server("example.org:@PORT@ {\n    bind 127.0.0.1\n    file db.example.org\n}\n",
                       files={"db.example.org": ZONE}, probe="www.example.org.", probe_type="A")
    r = srv.query("www.example.org.", "A")
    assert [rd.address for rr in r.answer for rd in rr] == ["192.0.2.80"]
    libs = mapped(srv)
    assert has(libs, "libldns"), sorted(libs)
    assert not has(libs, "libcurl"), sorted(libs)


def test_api_server_maps_curl(start_server):
    fake = fa.FakeAPIServer(objects=json.loads(objects_file())).start()
    try:
        srv = start_server(corefile(["endpoint %s" % fake.url], zones="cluster.local"), env=clean_env(),
                           wait=False)
        wait_answer(srv, svc("web", "default"), ("NOERROR", ["10.96.0.10"]), deadline_s=10.0, what="initial sync")
        libs = mapped(srv)
        assert has(libs, "libcurl"), sorted(libs)
        assert not has(libs, "libldns"), sorted(libs)
    finally:
        fake.stop()
