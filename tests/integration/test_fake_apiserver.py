# SPDX-License-Identifier: MIT
"""The fake API server (fake_apiserver.py) speaks the real protocol: proven with the real kubectl
(discovery, list, pagination, watch, selectors, token, TLS, RBAC errors, a missing group) and with
raw HTTP (chunked framing, bookmarks, 410s, resuming, faults, the /_fake control endpoint)."""
import http.client
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_apiserver as fa  # noqa: E402

DATA = os.path.join(HERE, "data", "fake_cluster.json")
KUBECTL = "/usr/bin/kubectl"
PY = "/usr/bin/python3"

SERVICES = [("default", "kubernetes"), ("kube-system", "kube-dns"), ("prod", "api"), ("prod", "db"),
            ("prod", "ext"), ("prod", "web"), ("staging", "lb"), ("staging", "web")]

needs_kubectl = pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason="kubectl not installed")
needs_openssl = pytest.mark.skipif(not os.access("/usr/bin/openssl", os.X_OK), reason="openssl not installed")


# ------------------------------------------------------------------------------ fixtures, helpers
@pytest.fixture
def fake():
    srv = fa.FakeAPIServer(objects=DATA, bookmark_interval=0.2).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not os.access("/usr/bin/openssl", os.X_OK):
        pytest.skip("openssl not installed")
    return fa.make_test_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def kenv(tmp_path_factory):
    """An environment where kubectl reads no real config and caches in a temp dir."""
    d = tmp_path_factory.mktemp("kubectl")
    env = dict(os.environ, KUBECONFIG="/dev/null", HOME=str(d))
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return env, str(d)


def kubectl(kenv, srv_url, *args, timeout=20, extra=()):
    env, home = kenv
    cmd = [KUBECTL, "--server", srv_url, "--request-timeout=5s", "--cache-dir", os.path.join(home, "cache")] + \
        list(extra) + list(args)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def rows(out):
    """kubectl table output → list of column lists (header dropped)."""
    lines = [ln.split() for ln in out.strip().splitlines()]
    return lines[1:] if lines else []


def conn(srv, timeout=5):
    u = urllib.parse.urlsplit(srv.url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def get_json(srv, path, headers=None):
    c = conn(srv)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), json.loads(r.read() or b"null")
    finally:
        c.close()


def control(srv, method, path, body=None):
    c = conn(srv)
    try:
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, "/_fake" + path, body=data, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


class RawWatch:
    """A watch over a raw socket, parsing the chunked framing by hand."""

    def __init__(self, srv, path, headers=None, timeout=5):
        u = urllib.parse.urlsplit(srv.url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        hdr = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: application/json\r\n%s\r\n" %
                           (path, u.hostname, u.port, hdr)).encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)}
        self.chunks = []

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("eof")
        self.buf += data

    def _until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def chunk(self):
        """The next chunk's payload; b"" for the terminating 0-chunk; EOFError on a cut stream."""
        size = int(self._until(b"\r\n"), 16)
        if size == 0:
            assert self._until(b"\r\n") == b""
            return b""
        data = self._exact(size)
        assert self._exact(2) == b"\r\n", "chunk not followed by CRLF"
        self.chunks.append(data)
        return data

    def event(self):
        """The next event (one JSON line per chunk), or None at the end of the stream."""
        data = self.chunk()
        if data == b"":
            return None
        assert data.endswith(b"\n") and data.count(b"\n") == 1, data
        return json.loads(data)

    def events_until_end(self):
        out = []
        while True:
            ev = self.event()
            if ev is None:
                return out
            out.append(ev)

    def close(self):
        self.sock.close()


def watch(srv, path, **q):
    q.setdefault("watch", "1")
    return RawWatch(srv, path + "?" + urllib.parse.urlencode(q))


def names(items):
    return [(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in items]


# ======================================================================================= kubectl
@needs_kubectl
def test_kubectl_get_services_all_namespaces(fake, kenv):
    r = kubectl(kenv, fake.url, "get", "svc", "-A")
    assert r.returncode == 0, r.stderr
    assert [tuple(x[:2]) for x in rows(r.stdout)] == SERVICES
    # kubectl asked for aggregated discovery and a Table; plain JSON answers were good enough.
    assert fake.requests("/api/v1/services")[-1]["headers"]["Accept"].startswith("application/json;as=Table")
    assert "APIGroupDiscoveryList" in fake.requests("/apis")[0]["headers"]["Accept"]


@needs_kubectl
def test_kubectl_get_endpointslices_pods_namespaces(fake, kenv):
    r = kubectl(kenv, fake.url, "get", "endpointslices", "-A")
    assert r.returncode == 0, r.stderr
    assert ("prod", "web-x7k2p") in [tuple(x[:2]) for x in rows(r.stdout)]
    assert len(rows(r.stdout)) == 7
    r = kubectl(kenv, fake.url, "get", "pods", "-A")
    assert r.returncode == 0, r.stderr
    assert len(rows(r.stdout)) == 9 and ["prod", "db-0"] == rows(r.stdout)[2][:2] or \
        ("prod", "db-0") in [tuple(x[:2]) for x in rows(r.stdout)]
    r = kubectl(kenv, fake.url, "get", "ns")
    assert r.returncode == 0, r.stderr
    assert [x[0] for x in rows(r.stdout)] == ["default", "kube-system", "prod", "staging"]
    r = kubectl(kenv, fake.url, "get", "ep", "-n", "prod")
    assert r.returncode == 0, r.stderr
    assert [x[0] for x in rows(r.stdout)] == ["db", "web"]
    r = kubectl(kenv, fake.url, "get", "svc", "web", "-n", "prod", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["spec"]["clusterIP"] == "10.96.1.10"
    r = kubectl(kenv, fake.url, "get", "svc", "nope", "-n", "prod")
    assert r.returncode != 0 and 'services "nope" not found' in r.stderr


@needs_kubectl
def test_kubectl_discovery_commands_and_missing_openapi(fake, kenv):
    r = kubectl(kenv, fake.url, "api-resources")
    assert r.returncode == 0, r.stderr
    table = {x[0]: x for x in rows(r.stdout)}
    assert set(table) == {"endpoints", "namespaces", "pods", "services", "endpointslices"}
    assert table["services"][1] == "svc" and table["endpointslices"][1] == "discovery.k8s.io/v1"
    r = kubectl(kenv, fake.url, "api-versions")
    assert r.stdout.split() == ["discovery.k8s.io/v1", "v1"]
    r = kubectl(kenv, fake.url, "version")
    assert "Server Version: v1.32.4" in r.stdout
    # No OpenAPI: explain fails cleanly with the server's NotFound, get (custom columns) still works.
    r = kubectl(kenv, fake.url, "explain", "svc")
    assert r.returncode != 0 and "could not find the requested resource" in r.stderr
    assert any(x["status"] == 404 for x in fake.requests("/openapi"))
    r = kubectl(kenv, fake.url, "get", "svc", "-A", "-o", "custom-columns=NAME:.metadata.name,IP:.spec.clusterIP")
    assert r.returncode == 0, r.stderr
    assert ["web", "10.96.1.10"] in rows(r.stdout)
    r = kubectl(kenv, fake.url, "get", "all", "-A")
    assert r.returncode == 0 and "service/kube-dns" in r.stdout and "pod/db-0" in r.stdout


@needs_kubectl
def test_kubectl_chunk_size_paginates(fake, kenv):
    r = kubectl(kenv, fake.url, "get", "pods", "-A", "--chunk-size=2")
    assert r.returncode == 0, r.stderr
    assert len(rows(r.stdout)) == 9
    reqs = fake.requests("/api/v1/pods")
    assert [q["query"].get("limit") for q in reqs] == [["2"]] * 5
    assert sum(1 for q in reqs if "continue" in q["query"]) == 4
    r = kubectl(kenv, fake.url, "get", "svc", "-A", "--chunk-size=3", "-l", "tier")
    assert r.returncode == 0, r.stderr
    assert [tuple(x[:2]) for x in rows(r.stdout)] == [("prod", "api"), ("prod", "db"), ("prod", "web"),
                                                        ("staging", "lb"), ("staging", "web")]


@needs_kubectl
def test_kubectl_selectors(fake, kenv):
    def svc(*sel):
        r = kubectl(kenv, fake.url, "get", "svc", "-A", *sel)
        assert r.returncode == 0, r.stderr
        return [tuple(x[:2]) for x in rows(r.stdout)]
    assert svc("-l", "app=web") == [("prod", "web"), ("staging", "lb"), ("staging", "web")]
    assert svc("-l", "tier in (backend),app!=db") == [("prod", "api")]
    assert svc("-l", "!tier") == [("default", "kubernetes"), ("kube-system", "kube-dns"), ("prod", "ext")]
    assert svc("--field-selector", "metadata.namespace=staging,metadata.name!=lb") == [("staging", "web")]
    r = kubectl(kenv, fake.url, "get", "pods", "-A", "--field-selector", "spec.nodeName=node-2")
    assert len(rows(r.stdout)) == 3
    r = kubectl(kenv, fake.url, "get", "svc", "-A", "--field-selector", "spec.bogus=1")
    assert r.returncode != 0 and "field label not supported: spec.bogus" in r.stderr


class _Lines:
    """Reads a subprocess's stdout lines in a thread."""

    def __init__(self, proc):
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, args=(proc,), daemon=True)
        self.t.start()

    def _run(self, proc):
        for ln in proc.stdout:
            self.q.put(ln.rstrip("\n"))

    def wait_for(self, pred, timeout=10):
        end = time.monotonic() + timeout
        seen = []
        while time.monotonic() < end:
            try:
                ln = self.q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            seen.append(ln)
            if pred(ln):
                return ln
        raise AssertionError("line not seen; got %r" % seen)


@needs_kubectl
def test_kubectl_watch_shows_added_modified_deleted(fake, kenv):
    env, home = kenv
    proc = subprocess.Popen([KUBECTL, "--server", fake.url, "--request-timeout=30s", "--cache-dir",
                             os.path.join(home, "cache"), "get", "svc", "-A", "-w", "--output-watch-events"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True)
    try:
        lines = _Lines(proc)
        lines.wait_for(lambda ln: "staging" in ln and " web " in ln + " ")
        assert fake.wait_for_watches(1, resource="services")
        w = fake.watches()[0]
        assert w["query"]["resourceVersion"] == str(fake.resource_version)  # resumes from the LIST's RV
        fake.add(fa.service("newsvc", "prod", "10.96.7.7"))
        assert lines.wait_for(lambda ln: "newsvc" in ln).split()[:3] == ["ADDED", "prod", "newsvc"]
        fake.modify("svc", "prod", "newsvc", lambda o: o["metadata"].setdefault("labels", {}).update(x="1"))
        assert lines.wait_for(lambda ln: "newsvc" in ln).split()[:3] == ["MODIFIED", "prod", "newsvc"]
        fake.delete("services", "prod", "newsvc")
        assert lines.wait_for(lambda ln: "newsvc" in ln).split()[:3] == ["DELETED", "prod", "newsvc"]
        # Other kinds' events do not leak into the services watch.
        fake.add(fa.pod("p-x", "prod", "10.244.9.9"))
        fake.add(fa.service("after", "staging", "10.96.7.8"))
        assert lines.wait_for(lambda ln: "after" in ln or "p-x" in ln).split()[:3] == ["ADDED", "staging", "after"]
    finally:
        proc.kill()
        proc.wait()


@needs_kubectl
def test_kubectl_watch_survives_dropped_stream(fake, kenv):
    """kubectl -w exits 0 when the server ends the stream cleanly (0-chunk)."""
    env, home = kenv
    proc = subprocess.Popen([KUBECTL, "--server", fake.url, "--request-timeout=30s", "--cache-dir",
                             os.path.join(home, "cache"), "get", "ns", "-w", "--output-watch-events"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True)
    try:
        lines = _Lines(proc)
        lines.wait_for(lambda ln: ln.split()[-2:-1] == ["staging"])
        assert fake.wait_for_watches(1)
        fake.add(fa.namespace("later"))
        assert lines.wait_for(lambda ln: "later" in ln).split()[:2] == ["ADDED", "later"]
        assert fake.open_watches == 1
        assert fake.drop_watches("clean") == 1
        proc.wait(timeout=10)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@needs_kubectl
@needs_openssl
def test_kubectl_token(kenv, pki, tmp_path):
    srv = fa.FakeAPIServer(objects=DATA, tls=pki, token="s3cret").start()
    ca = ["--certificate-authority", pki.ca_cert]
    try:
        r = kubectl(kenv, srv.url, "get", "svc", "-A", extra=ca + ["--token", "s3cret"])
        assert r.returncode == 0 and len(rows(r.stdout)) == 8, r.stderr
        assert srv.requests("/api/v1/services")[-1]["headers"]["Authorization"] == "Bearer s3cret"
        srv.clear_log()
        # No credentials: kubectl prompts for a username on stdin (/dev/null here) after a 401 on /version.
        r = kubectl(kenv, srv.url, "get", "svc", "-A", extra=ca)
        assert r.returncode != 0
        assert [x["status"] for x in srv.requests()] and all(x["status"] == 401 for x in srv.requests())
        r = kubectl(kenv, srv.url, "get", "svc", "-A", extra=ca + ["--token", "wrong"])
        assert r.returncode != 0 and "You must be logged in to the server" in r.stderr
        # A token file is re-read on each request: rotation takes effect at once.
        tf = tmp_path / "token"
        tf.write_text("one\n")
        srv.set_token(str(tf))
        assert kubectl(kenv, srv.url, "get", "ns", extra=ca + ["--token", "one"]).returncode == 0
        tf.write_text("two\n")
        assert kubectl(kenv, srv.url, "get", "ns", extra=ca + ["--token", "one"]).returncode != 0
        assert kubectl(kenv, srv.url, "get", "ns", extra=ca + ["--token", "two"]).returncode == 0
    finally:
        srv.stop()


@needs_kubectl
def test_kubectl_sends_no_token_over_plain_http(fake, kenv):
    """client-go attaches credentials only to TLS transports: over http:// a --token is never sent."""
    fake.set_token("s3cret")
    r = kubectl(kenv, fake.url, "get", "ns", extra=["--token", "s3cret"])
    assert r.returncode != 0 and "You must be logged in to the server" in r.stderr
    assert all("Authorization" not in x["headers"] for x in fake.requests())


@needs_kubectl
@needs_openssl
def test_kubectl_tls(kenv, pki, tmp_path):
    other = fa.make_test_pki(str(tmp_path / "other"))
    srv = fa.FakeAPIServer(objects=DATA, tls=pki, token="tok").start()
    try:
        assert srv.url.startswith("https://127.0.0.1:")
        r = kubectl(kenv, srv.url, "get", "svc", "-A", extra=["--certificate-authority", pki.ca_cert, "--token", "tok"])
        assert r.returncode == 0 and len(rows(r.stdout)) == 8, r.stderr
        r = kubectl(kenv, srv.url, "get", "svc", "-A", extra=["--certificate-authority", other.ca_cert,
                                                              "--token", "tok"])
        assert r.returncode != 0 and "certificate signed by unknown authority" in r.stderr
        r = kubectl(kenv, srv.url, "get", "svc", "-A", extra=["--token", "tok"])  # system roots only
        assert r.returncode != 0 and "x509" in r.stderr
        # A client certificate from the CA authenticates without a token; its CN is the user.
        srv.forbid("endpointslices", ["list"])
        r = kubectl(kenv, srv.url, "get", "endpointslices", "-A", extra=[
            "--certificate-authority", pki.ca_cert, "--client-certificate", pki.client_cert,
            "--client-key", pki.client_key])
        assert r.returncode != 0
        assert ('endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:kube-system:coredns" '
                'cannot list resource "endpointslices" in API group "discovery.k8s.io" at the cluster scope') \
            in r.stderr
        r = kubectl(kenv, srv.url, "get", "ns", extra=["--certificate-authority", pki.ca_cert,
                                                       "--client-certificate", pki.client_cert,
                                                       "--client-key", pki.client_key])
        assert r.returncode == 0, r.stderr
        # With https and no credentials kubectl would prompt for a username: stdin is /dev/null → error.
        r = kubectl(kenv, srv.url, "get", "ns", extra=["--certificate-authority", pki.ca_cert])
        assert r.returncode != 0
    finally:
        srv.stop()


@needs_kubectl
def test_kubectl_forbidden_and_absent_group(fake, kenv):
    fake.forbid("services", ["list"])
    r = kubectl(kenv, fake.url, "get", "svc", "-n", "prod")
    assert r.returncode != 0
    assert ('services is forbidden: User "system:anonymous" cannot list resource "services" in API group "" '
            'in the namespace "prod"') in r.stderr
    fake.allow()
    fake.set_absent("endpointslices")
    r = kubectl(kenv, fake.url, "get", "endpointslices", "-A")   # with the discovery cached above
    assert r.returncode != 0 and ('Unable to list "discovery.k8s.io/v1, Resource=endpointslices": the server '
                                  'could not find the requested resource') in r.stderr
    r = kubectl(kenv, fake.url, "get", "endpointslices", "-A", extra=["--cache-dir", kenv[1] + "/fresh"])
    assert r.returncode != 0 and 'the server doesn\'t have a resource type "endpointslices"' in r.stderr
    r = kubectl(kenv, fake.url, "get", "endpoints", "-A")
    assert r.returncode == 0 and len(rows(r.stdout)) == 3


# ==================================================================================== discovery
def test_discovery_documents(fake):
    st, _, v = get_json(fake, "/version")
    assert st == 200 and v["gitVersion"].startswith("v1.") and v["major"] == "1"
    st, _, api = get_json(fake, "/api")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    st, _, rl = get_json(fake, "/api/v1")
    assert rl["kind"] == "APIResourceList" and rl["groupVersion"] == "v1"
    res = {r["name"]: r for r in rl["resources"]}
    assert set(res) == {"services", "endpoints", "pods", "namespaces"}
    assert res["services"]["shortNames"] == ["svc"] and res["services"]["namespaced"] is True
    assert res["namespaces"]["namespaced"] is False and res["endpoints"]["kind"] == "Endpoints"
    assert {"list", "watch", "get"} <= set(res["pods"]["verbs"])
    st, _, gl = get_json(fake, "/apis")
    assert gl["kind"] == "APIGroupList"
    assert gl["groups"][0]["name"] == "discovery.k8s.io"
    assert gl["groups"][0]["preferredVersion"]["groupVersion"] == "discovery.k8s.io/v1"
    st, _, rl = get_json(fake, "/apis/discovery.k8s.io/v1")
    assert rl["groupVersion"] == "discovery.k8s.io/v1" and rl["resources"][0]["kind"] == "EndpointSlice"
    # Aggregated discovery asked for: the legacy document, plain application/json.
    st, h, _ = get_json(fake, "/apis", {"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;"
                                               "as=APIGroupDiscoveryList,application/json"})
    assert st == 200 and h["Content-Type"] == "application/json"
    for p in ("/openapi/v2", "/openapi/v3", "/apis/nope.io/v1", "/api/v1/configmaps"):
        st, _, body = get_json(fake, p)
        assert st == 404 and body["kind"] == "Status" and body["reason"] == "NotFound", p


def test_absent_group_vanishes(fake):
    fake.set_absent("endpointslices")
    assert get_json(fake, "/apis")[2]["groups"] == []
    assert get_json(fake, "/apis/discovery.k8s.io/v1")[0] == 404
    assert get_json(fake, "/apis/discovery.k8s.io/v1/endpointslices")[0] == 404
    fake.set_absent("endpointslices", False)
    assert get_json(fake, "/apis/discovery.k8s.io/v1/endpointslices")[0] == 200


# ========================================================================================= LIST
def test_list_shape_and_resource_versions(fake):
    st, h, body = get_json(fake, "/api/v1/services")
    assert st == 200 and h["Content-Type"] == "application/json"
    assert body["kind"] == "ServiceList" and body["apiVersion"] == "v1"
    rv = int(body["metadata"]["resourceVersion"])
    assert rv == fake.resource_version
    assert names(body["items"]) == SERVICES
    assert all(int(o["metadata"]["resourceVersion"]) <= rv for o in body["items"])
    assert "kind" not in body["items"][0]  # as the real server: typed list items carry no kind
    st, _, body = get_json(fake, "/api/v1/namespaces/prod/endpoints")
    assert body["kind"] == "EndpointsList" and names(body["items"]) == [("prod", "db"), ("prod", "web")]
    st, _, body = get_json(fake, "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices")
    assert body["kind"] == "EndpointSliceList" and body["apiVersion"] == "discovery.k8s.io/v1"
    assert names(body["items"]) == [("kube-system", "kube-dns-abc12")]
    st, _, body = get_json(fake, "/api/v1/namespaces")
    assert body["kind"] == "NamespaceList" and len(body["items"]) == 4
    assert get_json(fake, "/api/v1/namespaces/prod")[2]["kind"] == "Namespace"
    # A mutation bumps the global RV; the object carries it.
    o = fake.add(fa.service("n1", "prod", "10.96.5.5"))
    assert int(o["metadata"]["resourceVersion"]) == rv + 1
    assert int(get_json(fake, "/api/v1/pods")[2]["metadata"]["resourceVersion"]) == rv + 1
    # ConfigMap in the file: not a served kind, skipped.
    assert fake.get("services", "kube-system", "coredns") is None


def test_list_pagination_and_expired_continue(fake):
    seen, cont, pages = [], None, 0
    while True:
        q = {"limit": "3"}
        if cont:
            q["continue"] = cont
        st, _, body = get_json(fake, "/api/v1/pods?" + urllib.parse.urlencode(q))
        assert st == 200
        pages += 1
        assert len(body["items"]) <= 3
        seen += names(body["items"])
        if pages == 1:
            assert body["metadata"]["remainingItemCount"] == 6
            first_rv = body["metadata"]["resourceVersion"]
            fake.add(fa.pod("aaa-inserted", "kube-system", "10.244.0.99"))  # after the snapshot: not seen
            fake.delete("pods", "staging", "web-7c8d-1")                    # deleted after: still seen
        else:
            assert body["metadata"]["resourceVersion"] == first_rv     # a consistent snapshot
        cont = body["metadata"].get("continue")
        if not cont:
            break
    assert pages == 3 and len(seen) == 9 and ("staging", "web-7c8d-1") in seen
    assert ("kube-system", "aaa-inserted") not in seen
    # After compaction the token is too old: 410 Expired, with a fresh token to continue inconsistently.
    st, _, body = get_json(fake, "/api/v1/pods?limit=2")
    cont = body["metadata"]["continue"]
    fake.add(fa.pod("x", "prod", "10.244.9.1"))
    fake.compact()
    st, _, body = get_json(fake, "/api/v1/pods?limit=2&continue=" + cont)
    assert st == 410 and body["kind"] == "Status" and body["reason"] == "Expired" and body["code"] == 410
    assert "continue parameter is too old" in body["message"]
    st, _, body = get_json(fake, "/api/v1/pods?limit=2&continue=" + body["metadata"]["continue"])
    assert st == 200 and len(body["items"]) == 2
    st, _, body = get_json(fake, "/api/v1/pods?limit=2&continue=garbage")
    assert st == 400 and body["reason"] == "BadRequest"


def test_list_label_and_field_selectors(fake):
    def svc(**q):
        st, _, body = get_json(fake, "/api/v1/services?" + urllib.parse.urlencode(q))
        assert st == 200, body
        return names(body["items"])
    assert svc(labelSelector="app=web") == [("prod", "web"), ("staging", "lb"), ("staging", "web")]
    assert svc(labelSelector="app==web,tier=frontend") == svc(labelSelector="app=web")
    assert svc(labelSelector="app!=web") == [("default", "kubernetes"), ("kube-system", "kube-dns"), ("prod", "api"),
                                             ("prod", "db"), ("prod", "ext")]
    assert svc(labelSelector="app in (api, db)") == [("prod", "api"), ("prod", "db")]
    assert svc(labelSelector="app notin (api,db),tier") == [("prod", "web"), ("staging", "lb"), ("staging", "web")]
    assert svc(labelSelector="k8s-app") == [("kube-system", "kube-dns")]
    assert svc(labelSelector="!app,!k8s-app") == [("default", "kubernetes")]
    assert svc(fieldSelector="metadata.name=web") == [("prod", "web"), ("staging", "web")]
    assert svc(fieldSelector="metadata.namespace==prod,metadata.name!=web") == [("prod", "api"), ("prod", "db"),
                                                                                  ("prod", "ext")]
    assert svc(fieldSelector="metadata.name=web", labelSelector="tier=frontend", limit="1") == [("prod", "web")]
    st, _, body = get_json(fake, "/api/v1/services?fieldSelector=metadata.name=web&limit=1")
    assert "continue" in body["metadata"] and "remainingItemCount" not in body["metadata"]
    st, _, body = get_json(fake, "/api/v1/services?labelSelector=" + urllib.parse.quote("a in (b"))
    assert st == 400
    st, _, body = get_json(fake, "/api/v1/pods?fieldSelector=status.phase%3DPending")
    assert names(body["items"]) == [("prod", "web-5d9c7b-3")]


# ======================================================================================== WATCH
def test_watch_chunked_framing_and_timeout(fake):
    w = watch(fake, "/api/v1/services", resourceVersion=str(fake.resource_version), timeoutSeconds="1")
    try:
        assert w.status == 200
        assert w.headers["transfer-encoding"] == "chunked"
        assert w.headers["content-type"] == "application/json"
        assert "content-length" not in w.headers
        fake.add(fa.service("w1", "prod", "10.96.3.1"))
        fake.add(fa.pod("p1", "prod", "10.244.3.1"))      # another kind: not on this stream
        fake.modify("services", "prod", "w1", lambda o: o["spec"].update(clusterIP="10.96.3.2"))
        t0 = time.monotonic()
        evs = w.events_until_end()       # ends with the 0-chunk at timeoutSeconds
        assert 0.5 < time.monotonic() - t0 < 3
        assert [e["type"] for e in evs] == ["ADDED", "MODIFIED"]
        assert evs[0]["object"]["kind"] == "Service" and evs[0]["object"]["apiVersion"] == "v1"
        assert evs[1]["object"]["spec"]["clusterIP"] == "10.96.3.2"
        assert int(evs[1]["object"]["metadata"]["resourceVersion"]) == fake.resource_version
        assert all(c.endswith(b"\n") for c in w.chunks)  # one JSON line per chunk
    finally:
        w.close()
    # Keep-alive after a clean end: http.client reuses the connection for a second request.
    c = conn(fake)
    c.request("GET", "/api/v1/namespaces/prod/services?watch=true&timeoutSeconds=1&resourceVersion=%d"
              % fake.resource_version)
    r = c.getresponse()
    assert r.status == 200 and r.read() == b""
    c.request("GET", "/api/v1/namespaces")
    assert json.loads(c.getresponse().read())["kind"] == "NamespaceList"
    c.close()


def test_watch_without_rv_sends_current_state_first(fake):
    w = watch(fake, "/api/v1/namespaces/prod/services", timeoutSeconds="1")
    evs = w.events_until_end()
    w.close()
    assert [e["type"] for e in evs] == ["ADDED"] * 4
    assert [e["object"]["metadata"]["name"] for e in evs] == ["api", "db", "ext", "web"]
    # sendInitialEvents=true (watch-list): the state, then a BOOKMARK marking its end.
    w = watch(fake, "/api/v1/namespaces", timeoutSeconds="1", sendInitialEvents="true",
              allowWatchBookmarks="true", resourceVersionMatch="NotOlderThan")
    evs = w.events_until_end()
    w.close()
    assert [e["type"] for e in evs[:5]] == ["ADDED"] * 4 + ["BOOKMARK"]
    assert evs[4]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_bookmarks(fake):
    rv = fake.resource_version
    w = watch(fake, "/apis/discovery.k8s.io/v1/endpointslices", resourceVersion=str(rv),
              allowWatchBookmarks="true", timeoutSeconds="1")
    fake.add(fa.service("unrelated", "prod", "10.96.3.3"))  # moves the global RV
    evs = w.events_until_end()
    w.close()
    bms = [e for e in evs if e["type"] == "BOOKMARK"]
    assert len(bms) >= 2 and len(bms) == len(evs)
    for b in bms:
        assert set(b["object"]) == {"kind", "apiVersion", "metadata"}
        assert b["object"]["kind"] == "EndpointSlice" and b["object"]["apiVersion"] == "discovery.k8s.io/v1"
        assert set(b["object"]["metadata"]) <= {"resourceVersion", "creationTimestamp"}
    assert bms[-1]["object"]["metadata"]["resourceVersion"] == str(rv + 1)
    # No bookmarks unless asked for.
    w = watch(fake, "/apis/discovery.k8s.io/v1/endpointslices", resourceVersion=str(rv), timeoutSeconds="1")
    assert w.events_until_end() == []
    w.close()


def test_watch_resume_replays_only_newer_events(fake):
    fake.add(fa.service("r0", "prod", "10.96.4.0"))
    rv = fake.resource_version
    fake.add(fa.service("r1", "prod", "10.96.4.1"))
    fake.modify("svc", "prod", "r0", lambda o: o["metadata"].update(labels={"v": "2"}))
    fake.delete("svc", "prod", "r1")
    w = watch(fake, "/api/v1/services", resourceVersion=str(rv), timeoutSeconds="1")
    evs = w.events_until_end()
    w.close()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [
        ("ADDED", "r1"), ("MODIFIED", "r0"), ("DELETED", "r1")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
    assert rvs == sorted(rvs) and rvs[0] > rv and rvs[-1] == fake.resource_version
    # Legacy /watch/ paths, and a single object (fieldSelector=metadata.name=...), work too.
    w = RawWatch(fake, "/api/v1/watch/namespaces/prod/services/r0?resourceVersion=%d&timeoutSeconds=1" % rv)
    assert [e["type"] for e in w.events_until_end()] == ["MODIFIED"]
    w.close()


def test_watch_expired_resource_version_gets_410(fake):
    old = fake.resource_version
    fake.add(fa.service("e1", "prod", "10.96.6.1"))
    fake.compact()
    w = watch(fake, "/api/v1/services", resourceVersion=str(old), timeoutSeconds="5")
    assert w.status == 200
    ev = w.event()
    assert ev["type"] == "ERROR"
    st = ev["object"]
    assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired"
    assert re.match(r"too old resource version: \d+ \(\d+\)", st["message"])
    assert w.event() is None  # then the stream ends
    w.close()
    # The current RV is fine; a small history evicts old events by itself.
    small = fa.FakeAPIServer(objects=DATA, history=5).start()
    try:
        rv = small.resource_version
        for i in range(10):
            small.add(fa.namespace("h%d" % i))
        w = watch(small, "/api/v1/namespaces", resourceVersion=str(rv), timeoutSeconds="1")
        assert w.event()["object"]["reason"] == "Expired"
        w.close()
        w = watch(small, "/api/v1/namespaces", resourceVersion=str(small.resource_version - 3), timeoutSeconds="1")
        assert [e["object"]["metadata"]["name"] for e in w.events_until_end()] == ["h7", "h8", "h9"]
        w.close()
    finally:
        small.stop()


def test_watch_future_resource_version(fake):
    # Current servers: the stream opens and carries events after that RV.
    future = fake.resource_version + 2
    w = watch(fake, "/api/v1/namespaces", resourceVersion=str(future), timeoutSeconds="1")
    for n in ("f1", "f2", "f3"):
        fake.add(fa.namespace(n))
    assert [e["object"]["metadata"]["name"] for e in w.events_until_end()] == ["f3"]
    w.close()
    # Older servers (too_large_wait): an ERROR event with a 504 "Too large resource version" Status.
    fake.too_large_wait = 0.2
    w = watch(fake, "/api/v1/services", resourceVersion=str(fake.resource_version + 100))
    ev = w.event()
    assert ev["type"] == "ERROR" and ev["object"]["code"] == 504 and ev["object"]["reason"] == "Timeout"
    assert ev["object"]["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    assert w.event() is None
    w.close()


def test_watch_selectors_and_namespace(fake):
    rv = str(fake.resource_version)
    w_ns = watch(fake, "/api/v1/namespaces/staging/services", resourceVersion=rv, timeoutSeconds="1")
    w_lbl = watch(fake, "/api/v1/services", resourceVersion=rv, labelSelector="app in (web)", timeoutSeconds="1")
    w_fld = watch(fake, "/api/v1/services", resourceVersion=rv, fieldSelector="metadata.name=db", timeoutSeconds="1")
    fake.add(fa.service("s1", "staging", "10.96.8.1", labels={"app": "other"}))
    fake.modify("svc", "staging", "s1", lambda o: o["metadata"]["labels"].update(app="web"))   # enters selector
    fake.modify("svc", "prod", "web", lambda o: o["metadata"]["labels"].update(app="gone"))   # leaves selector
    fake.modify("svc", "prod", "db", lambda o: o["spec"].update(clusterIP="None"))
    fake.delete("svc", "staging", "s1")

    def summary(w):
        out = [(e["type"], e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"])
               for e in w.events_until_end()]
        w.close()
        return out
    assert summary(w_ns) == [("ADDED", "staging", "s1"), ("MODIFIED", "staging", "s1"), ("DELETED", "staging", "s1")]
    assert summary(w_lbl) == [("ADDED", "staging", "s1"), ("DELETED", "prod", "web"), ("DELETED", "staging", "s1")]
    assert summary(w_fld) == [("MODIFIED", "prod", "db")]


# ========================================================================================= auth
def test_auth_status_objects(fake, tmp_path):
    tf = tmp_path / "tok"
    tf.write_text("abc\n")
    fake.set_token(str(tf))
    st, h, body = get_json(fake, "/api/v1/services")
    assert st == 401 and body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    assert get_json(fake, "/api/v1/services", {"Authorization": "Bearer abc"})[0] == 200
    assert get_json(fake, "/version", {"Authorization": "Bearer nope"})[0] == 401
    tf.write_text("rotated")
    assert get_json(fake, "/api/v1/services", {"Authorization": "Bearer abc"})[0] == 401
    w = RawWatch(fake, "/api/v1/services?watch=1&timeoutSeconds=1", {"Authorization": "Bearer rotated"})
    assert w.status == 200
    w.close()
    fake.forbid("endpointslices")
    st, _, body = get_json(fake, "/apis/discovery.k8s.io/v1/endpointslices?watch=1",
                           {"Authorization": "Bearer rotated"})
    assert st == 403 and body["reason"] == "Forbidden"
    assert body["details"] == {"group": "discovery.k8s.io", "kind": "endpointslices"}
    assert body["message"] == ('endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:kube-system:'
                               'coredns" cannot watch resource "endpointslices" in API group "discovery.k8s.io" at '
                               'the cluster scope')


@needs_openssl
def test_tls_with_python_client(pki):
    import ssl
    srv = fa.FakeAPIServer(objects=DATA, tls=pki.dir).start()
    try:
        ctx = ssl.create_default_context(cafile=pki.ca_cert)
        c = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=5)
        c.request("GET", "/api/v1/namespaces")
        assert json.loads(c.getresponse().read())["kind"] == "NamespaceList"
        c.close()
        # A client that does not finish its handshake does not block others.
        stuck = socket.create_connection(("127.0.0.1", srv.port))
        c = http.client.HTTPSConnection("localhost", srv.port, context=ctx, timeout=5)
        c.request("GET", "/version")
        assert c.getresponse().status == 200
        c.close()
        stuck.close()
    finally:
        srv.stop()


# ======================================================================================= faults
def test_drop_modes(fake):
    for mode in ("abrupt", "mid_chunk", "mid_line", "reset", "clean", "expired"):
        w = watch(fake, "/api/v1/services", resourceVersion=str(fake.resource_version))
        assert fake.wait_for_watches(1)
        fake.add(fa.service("d-" + mode.replace("_", "-"), "prod", "10.96.9.1"))
        assert w.event()["type"] == "ADDED"
        assert fake.drop_watches(mode) == 1
        if mode == "clean":
            assert w.event() is None
        elif mode == "expired":
            assert w.event()["object"]["code"] == 410 and w.event() is None
        elif mode == "reset":
            with pytest.raises(ConnectionResetError):
                w.chunk()
        elif mode == "mid_line":
            data = w.chunk()                      # a well-framed chunk with half a JSON line
            assert not data.endswith(b"\n")
            with pytest.raises(ValueError):
                json.loads(data)
            with pytest.raises((EOFError, ConnectionResetError)):
                w.chunk()
        else:
            with pytest.raises((EOFError, ConnectionResetError)):
                w.chunk()
        w.close()
        end = time.monotonic() + 5
        while fake.open_watches and time.monotonic() < end:
            time.sleep(0.01)
        assert fake.open_watches == 0


def test_client_disconnect_is_noticed(fake):
    ws = [watch(fake, "/api/v1/services", resourceVersion=str(fake.resource_version)) for _ in range(3)]
    assert fake.wait_for_watches(3)
    for w in ws:
        w.close()
    end = time.monotonic() + 3
    while fake.open_watches and time.monotonic() < end:
        time.sleep(0.02)
    assert fake.open_watches == 0


def test_not_acceptable_without_json(fake):
    st, _, body = get_json(fake, "/api/v1/services", {"Accept": "application/vnd.kubernetes.protobuf"})
    assert st == 406 and body["reason"] == "NotAcceptable"
    assert get_json(fake, "/api/v1/services", {"Accept": "application/vnd.kubernetes.protobuf, */*"})[0] == 200


def test_drop_mid_chunk_is_incomplete_read_for_http_client(fake):
    c = conn(fake)
    c.request("GET", "/api/v1/pods?watch=1&resourceVersion=%d" % fake.resource_version)
    r = c.getresponse()
    assert fake.wait_for_watches(1)
    fake.drop_watches("mid_chunk", resource="pods")
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    c.close()


def test_stall_and_unstall(fake):
    w = watch(fake, "/api/v1/services", resourceVersion=str(fake.resource_version), allowWatchBookmarks="1")
    assert fake.wait_for_watches(1)
    fake.stall()
    time.sleep(0.1)
    fake.add(fa.service("st1", "prod", "10.96.9.2"))
    w.sock.settimeout(0.6)                        # nothing arrives, not even bookmarks
    with pytest.raises(socket.timeout):
        while True:                               # (a bookmark sent just before the stall is fine)
            assert w.event()["type"] == "BOOKMARK"
    assert fake.open_watches == 1                 # the connection is still open
    fake.unstall()
    w.sock.settimeout(5)
    # the stalled read may have consumed part of a line: read on from the raw buffer
    ev = w.event()
    while ev["type"] == "BOOKMARK":
        ev = w.event()
    assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "st1"
    w.close()
    # stall(requests=1): the next API request hangs until unstall.
    fake.stall(requests=1)
    c = conn(fake, timeout=0.5)
    c.request("GET", "/api/v1/services")
    with pytest.raises(socket.timeout):
        c.getresponse()
    fake.unstall()
    c.close()
    assert get_json(fake, "/api/v1/services")[0] == 200


def test_injected_errors_429_500_and_forced_410(fake):
    fake.fail_next("services", n=2, code=429, retry_after=3)
    for _ in range(2):
        st, h, body = get_json(fake, "/api/v1/services")
        assert st == 429 and h["Retry-After"] == "3" and body["reason"] == "TooManyRequests"
        assert body["details"]["retryAfterSeconds"] == 3
    assert get_json(fake, "/api/v1/services")[0] == 200
    assert get_json(fake, "/api/v1/pods")[0] == 200
    fake.fail_next("endpointslices", code=500)
    st, _, body = get_json(fake, "/apis/discovery.k8s.io/v1/endpointslices?watch=1")
    assert st == 500 and body["reason"] == "InternalError"
    fake.fail_next(None, code=503)
    assert get_json(fake, "/api")[0] == 503
    fake.expire_next_watch("services")
    w = watch(fake, "/api/v1/services", resourceVersion=str(fake.resource_version))
    assert w.event()["object"]["reason"] == "Expired" and w.event() is None
    w.close()
    w = watch(fake, "/api/v1/services", resourceVersion=str(fake.resource_version), timeoutSeconds="1")
    assert w.events_until_end() == []
    w.close()


def test_compact_expires_open_lagging_watch(fake):
    """A watcher stalled behind a compaction gets 410 when it resumes, like a real slow watcher."""
    w = watch(fake, "/api/v1/services", resourceVersion=str(fake.resource_version))
    assert fake.wait_for_watches(1)
    fake.stall("services")
    time.sleep(0.15)
    fake.add(fa.service("c1", "prod", "10.96.9.3"))
    fake.compact()
    fake.unstall()
    ev = w.event()
    assert ev["type"] == "ERROR" and ev["object"]["code"] == 410
    assert w.event() is None
    w.close()


# ================================================================================ control & churn
def test_http_control_endpoint(fake):
    st, out = control(fake, "POST", "/objects", fa.service("via-http", "prod", "10.96.10.1"))
    assert st == 200 and out["applied"] == 1
    assert fake.get("svc", "prod", "via-http")["spec"]["clusterIP"] == "10.96.10.1"
    st, out = control(fake, "POST", "/objects", fa.k8s_list([fa.namespace("n-a"), fa.namespace("n-b")]))
    assert out["applied"] == 2
    st, out = control(fake, "DELETE", "/objects/namespaces/n-a")
    assert st == 200 and out["object"]["metadata"]["name"] == "n-a"
    st, out = control(fake, "DELETE", "/objects/services/prod/via-http")
    assert st == 200 and fake.get("svc", "prod", "via-http") is None
    st, out = control(fake, "DELETE", "/objects/services/prod/via-http")
    assert st == 400 and "not found" in out["error"]
    st, state = control(fake, "GET", "/state")
    assert state["resourceVersion"] == fake.resource_version and state["counts"]["namespaces"] == 5
    control(fake, "POST", "/fail?resource=pods&code=429&n=1&retry_after=2")
    assert get_json(fake, "/api/v1/pods")[0] == 429
    control(fake, "POST", "/absent?resource=endpointslices")
    assert get_json(fake, "/apis")[2]["groups"] == []
    control(fake, "POST", "/present?resource=endpointslices")
    control(fake, "POST", "/forbid?resource=pods&verbs=list")
    assert get_json(fake, "/api/v1/pods")[0] == 403
    control(fake, "POST", "/allow")
    control(fake, "POST", "/token?value=t0k")
    assert get_json(fake, "/api/v1/pods")[0] == 401
    control(fake, "POST", "/token")
    assert get_json(fake, "/api/v1/pods")[0] == 200
    control(fake, "POST", "/expire-next-watch?resource=services")
    w = watch(fake, "/api/v1/services", resourceVersion=str(fake.resource_version))
    assert w.event()["object"]["code"] == 410
    w.close()
    w = watch(fake, "/api/v1/services", resourceVersion=str(fake.resource_version))
    assert fake.wait_for_watches(1)
    st, out = control(fake, "POST", "/drop?mode=abrupt")
    assert out["dropped"] == 1
    with pytest.raises((EOFError, ConnectionResetError)):
        w.chunk()
    w.close()
    old = fake.resource_version
    fake.add(fa.namespace("n-c"))
    st, out = control(fake, "POST", "/compact")
    assert out["floor"] == fake.resource_version
    w = watch(fake, "/api/v1/namespaces", resourceVersion=str(old))
    assert w.event()["object"]["code"] == 410
    w.close()
    control(fake, "POST", "/settings?too_large_wait=0.1&bookmark_interval=0.1")
    assert fake.too_large_wait == 0.1 and fake.bookmark_interval == 0.1
    st, reqs = control(fake, "GET", "/requests?prefix=/api/v1/pods")
    assert reqs["requests"] and all(r["path"] == "/api/v1/pods" for r in reqs["requests"])
    assert control(fake, "POST", "/nope")[0] == 404


def test_churn_100_per_second(fake):
    rv = fake.resource_version
    w = watch(fake, "/api/v1/namespaces/churn/services", resourceVersion=str(rv), timeoutSeconds="2")
    c = fake.churn(rate=100, duration=1.0, namespace="churn", keep=5)
    n = c.join(5)
    evs = w.events_until_end()
    w.close()
    assert 90 <= n <= 110
    assert len(evs) == n
    assert {e["type"] for e in evs} == {"ADDED", "MODIFIED", "DELETED"}
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
    assert rvs == sorted(set(rvs)) and rvs[-1] == fake.resource_version
    live = fake.list("services", "churn")
    assert 1 <= len(live) <= 6
    # Via HTTP, a churn until stopped.
    control(fake, "POST", "/churn?rate=200&namespace=churn2&resource=endpointslices")
    time.sleep(0.3)
    st, out = control(fake, "POST", "/churn/stop")
    assert out["changes"] > 20
    assert fake.list("endpointslices", "churn2")


def test_bulk(fake):
    rv = fake.resource_version
    after = fake.bulk([("add", fa.service("b1", "prod", "10.96.11.1")),
                       ("apply", fa.service("b2", "prod", "10.96.11.2")),
                       ("delete", "svc", "prod", "b1")])
    assert after == rv + 3
    with pytest.raises(KeyError):
        fake.add(fa.service("b2", "prod", "10.96.11.2"))
    with pytest.raises(KeyError):
        fake.update(fa.service("zz", "prod", "10.96.11.2"))


def test_label_selector_parser():
    ls = fa.LabelSelector("a in (x, y),b!=z,!c,d")
    assert ls.matches({"a": "x", "d": ""}) and ls.matches({"a": "y", "b": "q", "d": "1"})
    assert not ls.matches({"a": "x", "b": "z", "d": "1"}) and not ls.matches({"a": "x", "c": "1", "d": "1"})
    assert not ls.matches({"a": "w", "d": "1"}) and not ls.matches({"a": "x"})
    assert fa.LabelSelector("").matches({}) and fa.LabelSelector("a notin (x)").matches({})
    for bad in ("a in (x", "a=b,", "=b", "a=b c"):
        with pytest.raises(fa.SelectorError):
            fa.LabelSelector(bad)


# =================================================================================== standalone
@needs_kubectl
@needs_openssl
def test_standalone_process(kenv, pki, tmp_path):
    tok = tmp_path / "token"
    tok.write_text("file-token\n")
    proc = subprocess.Popen([PY, os.path.join(HERE, "fake_apiserver.py"), "--port", "0", "--objects", DATA,
                             "--token-file", str(tok), "--tls-dir", pki.dir],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        m = re.fullmatch(r"listening on (https://127\.0\.0\.1:(\d+))", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        ca = ["--certificate-authority", pki.ca_cert]
        r = kubectl(kenv, m.group(1), "get", "svc", "-A", extra=ca + ["--token", "file-token"])
        assert r.returncode == 0 and len(rows(r.stdout)) == 8, r.stderr
        assert kubectl(kenv, m.group(1), "get", "svc", "-A", extra=ca + ["--token", "x"]).returncode != 0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


@needs_openssl
def test_standalone_tls_dir_generates_pki(tmp_path):
    d = str(tmp_path / "tls")
    proc = subprocess.Popen([PY, os.path.join(HERE, "fake_apiserver.py"), "--port", "0", "--objects", DATA,
                             "--tls-dir", d], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        m = re.fullmatch(r"listening on https://127\.0\.0\.1:(\d+)", line)
        assert m, line
        import ssl
        ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))
        ctx.load_cert_chain(os.path.join(d, "client.crt"), os.path.join(d, "client.key"))
        c = http.client.HTTPSConnection("localhost", int(m.group(1)), context=ctx, timeout=5)
        c.request("GET", "/api/v1/namespaces")
        assert c.getresponse().status == 200
        c.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(d, ignore_errors=True)
