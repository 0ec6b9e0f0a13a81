# SPDX-License-Identifier: MIT
"""Fixtures for the integration suite: the real clusterdns binary on loopback.

`start_server(corefile, files=..., args=...)` writes the Corefile (with @PORT@ and @DIR@
replaced by a free port and the test's directory) and any extra files into a temp dir,
starts the binary, waits until it answers, and stops it (by PID) when the test ends.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import dns.message
import dns.query
import dns.rdatatype
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("CLUSTERDNS", os.path.join(ROOT, "build", "clusterdns"))
ZONES = os.path.join(ROOT, "zones")
# Started as root, clusterdns becomes nobody after binding (-user); the tests' temp dirs are
# root's (0700), so servers here stay root unless a test asks otherwise (test_privileges.py).
os.environ.setdefault("CLUSTERDNS_USER", "root")


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


class Server:
    def __init__(self, workdir, port, proc, logpath):
        self.dir = workdir
        self.port = port
        self.addr = "127.0.0.1"
        self.proc = proc
        self.logpath = logpath

    def query(self, name, rdtype="A", tcp=False, timeout=2.0, want_edns=False, payload=1232, **kw):
        q = dns.message.make_query(name, rdtype, use_edns=0 if want_edns else None, payload=payload, **kw)
        return self.send(q, tcp=tcp, timeout=timeout)

    def send(self, q, tcp=False, timeout=2.0):
        if tcp:
            return dns.query.tcp(q, self.addr, port=self.port, timeout=timeout)
        return dns.query.udp(q, self.addr, port=self.port, timeout=timeout, ignore_trailing=False)

    def raw_udp(self, payload, timeout=1.0):
        """Sends raw bytes over UDP; returns the raw reply or None on timeout."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(payload, (self.addr, self.port))
            try:
                return s.recv(65535)
            except socket.timeout:
                return None

    def log(self):
        with open(self.logpath, "r", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def run_binary(args, timeout=20, cwd=None, env=None):
    """Runs clusterdns to completion (for -check, -version, errors)."""
    return subprocess.run([BINARY] + list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def wait_ready(srv, probe="dns-version.cluster.local.", rdtype="TXT", deadline_s=15.0):
    end = time.time() + deadline_s
    while time.time() < end:
        if not srv.alive():
            raise RuntimeError("clusterdns exited (%s):\n%s" % (srv.proc.returncode, srv.log()))
        try:
            srv.query(probe, rdtype, timeout=0.3)
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError("clusterdns did not answer in time:\n" + srv.log())


@pytest.fixture
def start_server(tmp_path):
    started = []

    def start(corefile, files=None, args=(), probe="dns-version.cluster.local.", probe_type="TXT", port=None,
              wait=True, env=None):
        workdir = str(tmp_path)
        port = port or free_port()
        for name, content in (files or {}).items():
            path = os.path.join(workdir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(path, mode) as f:
                f.write(content)
        text = corefile.replace("@PORT@", str(port)).replace("@DIR@", workdir)
        cf = os.path.join(workdir, "Corefile")
        with open(cf, "w") as f:
            f.write(text)
        logpath = os.path.join(workdir, "clusterdns-%d.log" % len(started))
        logf = open(logpath, "w")
        proc = subprocess.Popen([BINARY, "-conf", cf] + list(args), stdout=logf, stderr=subprocess.STDOUT,
                                cwd=workdir, env=env)
        logf.close()
        srv = Server(workdir, port, proc, logpath)
        started.append(srv)
        if wait:
            wait_ready(srv, probe, probe_type)
        return srv

    yield start
    for srv in started:
        srv.stop(signal.SIGKILL if srv.alive() else signal.SIGTERM)


def demo_corefile(port):
    """The demo Corefile of zones/ with its port replaced and paths made absolute."""
    with open(os.path.join(ZONES, "Corefile")) as f:
        text = f.read()
    return text.replace(":1053", ":%d" % port)


@pytest.fixture(scope="module")
def demo():
    """The embedded demo (zones/Corefile) on a free port, shared by a test module."""
    workdir = tempfile.mkdtemp(prefix="cdns-demo-")
    port = free_port()
    # Paths in a Corefile resolve against its directory: link the demo's files beside the copy.
    for name in os.listdir(ZONES):
        if name != "Corefile":
            os.symlink(os.path.join(ZONES, name), os.path.join(workdir, name))
    cf = os.path.join(workdir, "Corefile")
    with open(cf, "w") as f:
        f.write(demo_corefile(port))
    logpath = os.path.join(workdir, "clusterdns.log")
    logf = open(logpath, "w")
    proc = subprocess.Popen([BINARY, "-conf", cf], stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT)
    logf.close()
    srv = Server(workdir, port, proc, logpath)
    try:
        wait_ready(srv)
        yield srv
    finally:
        srv.stop(signal.SIGKILL if srv.alive() else signal.SIGTERM)
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------- Kubernetes objects for tests
# Small builders for a test's own objects file (a v1 List, as `kubectl get ... -o json` prints it),
# so tests do not depend on the demo's content. Used by test_protocol, test_objects_reload, ...
def k8s_service(name, ns="default", cluster_ip=None, ports=(("http", "TCP", 80),), external_name=None):
    """A Service: ClusterIP when cluster_ip is set, headless when None, ExternalName when given."""
    spec = {"type": "ClusterIP", "ports": [dict({"protocol": p, "port": n}, **({"name": nm} if nm else {}))
                                          for (nm, p, n) in ports]}
    if external_name:
        spec = {"type": "ExternalName", "externalName": external_name}
    elif cluster_ip:
        spec.update(clusterIP=cluster_ip, clusterIPs=[cluster_ip])
    else:
        spec.update(clusterIP="None", clusterIPs=["None"])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def k8s_slice(service, endpoints, ns="default", ports=(("http", "TCP", 80),), suffix="x1"):
    """An EndpointSlice of `service`; endpoints are (ip, hostname or None, ready) tuples."""
    eps = []
    for ip, host, ready in endpoints:
        e = {"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": False}}
        if host:
            e["hostname"] = host
        eps.append(e)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": "%s-%s" % (service, suffix), "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service}},
            "endpoints": eps, "ports": [{"name": nm, "protocol": p, "port": n} for (nm, p, n) in ports]}


def k8s_pod(name, ip, ns="default", hostname=None, subdomain=None, ready=True):
    spec = {"containers": [{"name": "app", "image": "app:1"}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    cond = "True" if ready else "False"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec,
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": cond}]}}


def k8s_list(items, namespaces=("default",)):
    """The JSON text of a v1 List holding Namespace objects and `items`."""
    import json
    nss = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in namespaces]
    return json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                       "items": nss + list(items)}, indent=1)


# --- Added by the CoreDNS-port tests (test_coredns_kubernetes.py, test_demo.py) ---------------------

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory):
    """Module-scoped variant of `start_server` (same signature): one server shared by a test table.

    Every call gets its own temp dir; all servers are stopped (by PID) when the module ends.
    """
    started = []

    def start(corefile, files=None, args=(), probe="dns-version.cluster.local.", probe_type="TXT", port=None,
              wait=True, env=None):
        workdir = str(tmp_path_factory.mktemp("cdns-mod"))
        port = port or free_port()
        for name, content in (files or {}).items():
            path = os.path.join(workdir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(path, mode) as f:
                f.write(content)
        text = corefile.replace("@PORT@", str(port)).replace("@DIR@", workdir)
        cf = os.path.join(workdir, "Corefile")
        with open(cf, "w") as f:
            f.write(text)
        logpath = os.path.join(workdir, "clusterdns.log")
        logf = open(logpath, "w")
        proc = subprocess.Popen([BINARY, "-conf", cf] + list(args), stdout=logf, stderr=subprocess.STDOUT,
                                cwd=workdir, env=env)
        logf.close()
        srv = Server(workdir, port, proc, logpath)
        started.append(srv)
        if wait:
            try:
                wait_ready(srv, probe, probe_type)
            except Exception:
                srv.stop(signal.SIGKILL)
                raise
        return srv

    yield start
    for srv in started:
        srv.stop(signal.SIGKILL if srv.alive() else signal.SIGTERM)


def data_file(name, mode="r"):
    """The content of tests/integration/data/<name>."""
    with open(os.path.join(DATA, name), mode) as f:
        return f.read()


def query_rr(srv, name, rdtype, tcp=False, timeout=2.0):
    """Queries like CoreDNS's test.Case.Msg(): no EDNS, RD set; keeps one RR per RRset so that
    every RR keeps its own owner-name case and TTL, as miekg/dns's parser does."""
    q = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(q, srv.addr, port=srv.port, timeout=timeout, one_rr_per_rrset=True)
    return dns.query.udp(q, srv.addr, port=srv.port, timeout=timeout, one_rr_per_rrset=True,
                         ignore_trailing=False)


def rr_key(name, ttl, rdclass, rdtype, rdata):
    """A comparable form of one RR, the way plugin/test.Section compares it: owner name exactly
    (letter case included), TTL, class, type, rdata. SOA serials vary: serial is replaced by '*'.
    TXT strings are joined (test.Section joins them)."""
    rdclass = dns.rdataclass.to_text(rdclass) if not isinstance(rdclass, str) else rdclass
    tname = dns.rdatatype.to_text(rdtype) if not isinstance(rdtype, str) else rdtype
    if tname == "SOA":
        text = "%s %s * %d %d %d %d" % (rdata.mname.to_text(), rdata.rname.to_text(), rdata.refresh,
                                        rdata.retry, rdata.expire, rdata.minimum)
    elif tname == "TXT":
        text = "".join(s.decode() for s in rdata.strings)
    else:
        text = rdata.to_text()
    owner = name.to_text() if hasattr(name, "to_text") else name
    return (owner, int(ttl), rdclass, tname, text)


def section_keys(rrsets):
    """Sorted RR keys of a message section (order-insensitive, as SortAndCheck)."""
    keys = []
    for rrset in rrsets:
        for rd in rrset:
            keys.append(rr_key(rrset.name, rrset.ttl, rrset.rdclass, rrset.rdtype, rd))
    return sorted(keys)


def parse_rr(text):
    """Parses a zone-file line as miekg's dns.NewRR does (owner made absolute) into an RR key."""
    import dns.name
    import dns.rdata
    import dns.rdataclass
    parts = text.split()
    owner, ttl, rdclass, rdtype, rest = parts[0], parts[1], parts[2], parts[3], " ".join(parts[4:])
    if not owner.endswith("."):
        owner += "."
    rd = dns.rdata.from_text(dns.rdataclass.from_text(rdclass), dns.rdatatype.from_text(rdtype), rest,
                             origin=dns.name.root, relativize=False)
    return rr_key(owner, int(ttl), rdclass.upper(), rdtype.upper(), rd)


def assert_response(resp, qname, rcode, answer=(), ns=(), extra=(), aa=True, truncated=False):
    """CoreDNS's test.CNAMEOrder + test.SortAndCheck on a dnspython reply (parsed with
    one_rr_per_rrset=True), plus the AA and TC flags and the echoed question.

    answer/ns/extra are zone-file lines; sections compare as sorted lists of rr_key()s, so
    order does not matter but every RR (name case, TTL, rdata) and the counts do.
    """
    import dns.flags
    import dns.rcode
    errors = []
    got_rcode = dns.rcode.to_text(resp.rcode())
    if got_rcode != rcode:
        errors.append("rcode: expected %s, got %s" % (rcode, got_rcode))
    if aa is not None and bool(resp.flags & dns.flags.AA) != aa:
        errors.append("AA: expected %s, got %s" % (aa, bool(resp.flags & dns.flags.AA)))
    if bool(resp.flags & dns.flags.TC) != truncated:
        errors.append("TC: expected %s, got %s" % (truncated, bool(resp.flags & dns.flags.TC)))
    want_q = qname if qname.endswith(".") else qname + "."
    if len(resp.question) != 1 or resp.question[0].name.to_text() != want_q:
        errors.append("question not echoed as asked (%s): %s" % (want_q, [q.to_text() for q in resp.question]))
    seen = []
    for rrset in resp.answer:
        if rrset.rdtype == dns.rdatatype.CNAME and rrset[0].target.to_text() in seen:
            errors.append("CNAME %s found after its target record" % rrset.name)
        seen.append(rrset.name.to_text())
    for title, want, got in (("ANSWER", answer, resp.answer), ("AUTHORITY", ns, resp.authority),
                             ("ADDITIONAL", extra, resp.additional)):
        w = sorted(parse_rr(r) for r in want)
        g = section_keys(got)
        if w != g:
            errors.append("%s:\n    expected %s\n    got      %s" % (title, w, g))
    assert not errors, "%s:\n  %s\n%s" % (qname, "\n  ".join(errors), resp.to_text())
