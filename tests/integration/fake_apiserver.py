#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A fake Kubernetes API server for tests (Python 3 stdlib only; TLS material via the openssl CLI).

It speaks the real wire protocol for list/watch of core/v1 services, endpoints, pods, namespaces and
discovery.k8s.io/v1 endpointslices, well enough that kubectl cannot tell the difference.

Served (GET; other methods get 405):
  /version /api /api/v1 /apis /apis/discovery.k8s.io[/v1]   discovery (legacy JSON, also when the client
        asks for aggregated discovery: Content-Type stays application/json, clients fall back)
  /api/v1[/namespaces/NS]/RESOURCE[/NAME], /apis/discovery.k8s.io/v1[/namespaces/NS]/endpointslices[/NAME],
  and the legacy /api/v1/watch/... forms.  Anything else (/openapi/v2, /openapi/v3, ...) → 404 Status.
  LIST: items sorted by "namespace/name" like etcd, without per-item kind/apiVersion (as typed lists),
        metadata.resourceVersion = the global RV; limit/continue (opaque token holding the snapshot RV:
        pages are a consistent snapshot; a token older than the history → 410 Expired with a fresh
        token), remainingItemCount when unfiltered; labelSelector (=, ==, !=, in, notin, exists, !exists)
        and fieldSelector (metadata.name, metadata.namespace, a few per-kind fields; unknown → 400);
        resourceVersionMatch=Exact&resourceVersion=N serves the snapshot at N.  Plain JSON is answered
        to Table requests (kubectl falls back to NAME/AGE columns).
  WATCH (?watch=1|true): 200, Transfer-Encoding: chunked, one {"type","object"} JSON line per chunk.
        No RV / RV "0" → ADDED for the current state first; RV=N → replay of history events > N, then
        live; N older than the history → ERROR event with a 410 Expired Status, then the 0-chunk.
        allowWatchBookmarks → BOOKMARK every bookmark_interval s (object: kind, apiVersion,
        metadata.resourceVersion/creationTimestamp:null); sendInitialEvents=true → the state then an
        "k8s.io/initial-events-end" BOOKMARK; timeoutSeconds → the 0-chunk.  Selectors filter like the
        watch cache: an object leaving the selector comes as DELETED, entering as ADDED.
  Auth: bearer token (value or file re-read per request) or, with TLS and a client CA, a client
        certificate (user = CN); 401/403 Status objects shaped like the real ones.
  Note: kubectl/client-go sends credentials only over TLS; with http:// a --token is never sent.

Python API (FakeAPIServer; every method is thread-safe):
  FakeAPIServer(objects=PATH|dict|list, token=VALUE|PATH, tls=PKI|DIR|{cert,key,client_ca}, port=0,
                history=10000, bookmark_interval=1.0, default_watch_timeout=1800, user=..., base_rv=1000)
  .start() → self, .url, .port, .stop(), context manager
  mutations (each bumps the global RV and appends an event): .load(objs), .add(obj), .update(obj),
      .apply(obj), .delete(resource, ns, name), .modify(resource, ns, name, fn), .bulk(ops),
      .churn(rate=100, duration=None, resource="services", namespace="default", keep=10) → Churn (.stop())
  reads: .get(resource, ns, name), .list(resource, ns=None), .resource_version, .open_watches,
      .watches(), .wait_for_watches(n, timeout, resource), .requests(path_prefix), .clear_log()
  faults: .drop_watches(mode="abrupt"|"clean"|"mid_chunk"|"mid_line"|"reset"|"expired", resource=None),
      .stall(resource=None, requests=0) / .unstall(), .fail_next(resource=None, n=1, code=500|429|503|504,
      retry_after=1), .expire_next_watch(resource=None, n=1), .compact(rv=None),
      .set_absent(resource, absent=True), .forbid(resource, verbs) / .allow(resource=None),
      .set_token(token), .reset_faults(); attributes bookmark_interval, too_large_wait
  helpers: make_test_pki(dir) → PKI (ca/server/client .crt/.key), service(), endpointslice(), endpoints(),
      pod(), namespace(), k8s_list()
  `resource` arguments accept the plural, a short name or the Kind ("services", "svc", "Service").

HTTP control endpoint (no auth; JSON replies carry the current "resourceVersion"):
  GET  /_fake/state                       RV, history floor, counts, open watches
  GET  /_fake/requests[?prefix=P&since=I] request log;  DELETE /_fake/requests clears it
  GET  /_fake/objects?resource=R[&namespace=NS]
  POST /_fake/objects  (body: object or List; ?create=1 → add only)  /_fake/load?path=FILE
  DELETE /_fake/objects/RESOURCE[/NS]/NAME   POST /_fake/delete {resource|kind, namespace, name}
  POST /_fake/drop?mode=M[&resource=R]    /_fake/stall[?resource=R&requests=N]   /_fake/unstall
  POST /_fake/fail?resource=R&n=N&code=C&retry_after=S      /_fake/expire-next-watch?resource=R&n=N
  POST /_fake/compact[?rv=N]   /_fake/absent?resource=R   /_fake/present?resource=R
  POST /_fake/forbid?resource=R&verbs=list,watch   /_fake/allow[?resource=R]   /_fake/token[?value=T]
  POST /_fake/churn?rate=100&seconds=S&resource=R&namespace=NS   /_fake/churn/stop
  POST /_fake/settings?bookmark_interval=S&too_large_wait=S&default_watch_timeout=S   /_fake/reset-faults

Standalone:
    /usr/bin/python3 fake_apiserver.py --port 0 --objects FILE [--token T | --token-file F] [--tls-dir DIR]
prints "listening on http(s)://127.0.0.1:PORT" and serves until SIGTERM/SIGINT.  --tls-dir uses
DIR/server.crt+key (generating a test CA, server and client certs there when missing); DIR/ca.crt also
verifies client certificates.
"""
import argparse
import base64
import bisect
import copy
import datetime
import http.server
import json
import os
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

__all__ = ["FakeAPIServer", "make_test_pki", "PKI", "RESOURCES", "LabelSelector", "FieldSelector",
           "SelectorError", "service", "endpoints", "endpointslice", "pod", "namespace", "k8s_list"]

SERVER_VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean", "buildDate": "2025-04-22T16:02:27Z", "goVersion": "go1.23.6",
    "compiler": "gc", "platform": "linux/amd64",
}
DEFAULT_USER = "system:serviceaccount:kube-system:coredns"
ANONYMOUS = "system:anonymous"
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


# ------------------------------------------------------------------------------------ resources
class Resource:
    def __init__(self, name, kind, group, version, namespaced, short=(), singular=None, categories=()):
        self.name = name                    # plural, as in the URL: "services"
        self.kind = kind                    # "Service"
        self.group = group                  # "" for core
        self.version = version
        self.namespaced = namespaced
        self.short = list(short)
        self.singular = singular or kind.lower()
        self.categories = list(categories)

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self):
        """'services' or 'endpointslices.discovery.k8s.io' as in Forbidden messages."""
        return "%s.%s" % (self.name, self.group) if self.group else self.name

    def discovery_entry(self):
        e = {"name": self.name, "singularName": self.singular, "namespaced": self.namespaced,
             "kind": self.kind, "verbs": list(VERBS if self.name != "namespaces" else
                                               ["create", "delete", "get", "list", "patch", "update", "watch"])}
        if self.short:
            e["shortNames"] = list(self.short)
        if self.categories:
            e["categories"] = list(self.categories)
        e["storageVersionHash"] = base64.b64encode(self.name.encode()).decode()[:11]
        return e


RESOURCES = {r.name: r for r in [
    Resource("namespaces", "Namespace", "", "v1", False, ["ns"]),
    Resource("services", "Service", "", "v1", True, ["svc"], categories=["all"]),
    Resource("endpoints", "Endpoints", "", "v1", True, ["ep"], singular="endpoints"),
    Resource("pods", "Pod", "", "v1", True, ["po"], categories=["all"]),
    Resource("endpointslices", "EndpointSlice", "discovery.k8s.io", "v1", True),
]}
BY_KIND = {r.kind: r for r in RESOURCES.values()}
GROUPS = {"discovery.k8s.io": "v1"}


def resource_for(x):
    """A Resource from a plural name, a short name, a Kind, or an object dict."""
    if isinstance(x, Resource):
        return x
    if isinstance(x, dict):
        x = x.get("kind", "")
    if x in RESOURCES:
        return RESOURCES[x]
    if x in BY_KIND:
        return BY_KIND[x]
    for r in RESOURCES.values():
        if x in r.short or x == r.singular or x == r.qualified:
            return r
    raise KeyError("unknown resource or kind %r" % (x,))


# ------------------------------------------------------------------------------ status objects
def status(code, reason, message, details=None):
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
          "reason": reason, "code": code}
    if details is not None:
        st["details"] = details
    return st


def status_expired(message):
    return status(410, "Expired", message)


def status_not_found_path():
    return status(404, "NotFound", "the server could not find the requested resource", {})


def forbidden_message(user, verb, res, ns):
    scope = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
    return '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s' % (
        res.qualified, user, verb, res.name, res.group, scope)


CONTINUE_TOO_OLD = ("The provided continue parameter is too old to display a consistent list result. You can start "
                    "a new list without the continue parameter, or use the continue token in this response to "
                    "retrieve the remainder of the results. Continuing with the provided token results in an "
                    "inconsistent list - objects that were created, modified, or deleted between the time the "
                    "first chunk was returned and now may show up in the list.")


# ----------------------------------------------------------------------------------- selectors
class SelectorError(ValueError):
    pass


_LABEL_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_LABEL_VAL = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


class LabelSelector:
    """Kubernetes label selector syntax: k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k; ',' is AND."""

    def __init__(self, text):
        self.text = text or ""
        self.reqs = []  # (key, op, values)
        for part in self._split(self.text):
            self.reqs.append(self._parse(part))

    @staticmethod
    def _split(text):
        parts, depth, cur = [], 0, ""
        for ch in text:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if depth != 0:
            raise SelectorError("unbalanced parentheses in %r" % text)
        parts.append(cur)
        parts = [p.strip() for p in parts]
        if parts == [""]:
            return []
        if any(not p for p in parts):
            raise SelectorError("found ',', expected: identifier")
        return parts

    @staticmethod
    def _check_key(k):
        if not re.fullmatch(_LABEL_KEY, k):
            raise SelectorError("invalid label key %r" % k)
        return k

    @staticmethod
    def _check_val(v):
        if not re.fullmatch(_LABEL_VAL, v) or len(v) > 63:
            raise SelectorError("invalid label value: %r" % v)
        return v

    def _parse(self, part):
        m = re.fullmatch(r"(\S+?)\s+(in|notin)\s*\((.*)\)", part)
        if m:
            vals = {self._check_val(v.strip()) for v in m.group(3).split(",")}
            return (self._check_key(m.group(1)), m.group(2), vals)
        m = re.fullmatch(r"([^=!\s]+)\s*(==|!=|=)\s*(.*)", part)
        if m:
            op = {"==": "=", "=": "=", "!=": "!="}[m.group(2)]
            return (self._check_key(m.group(1)), op, {self._check_val(m.group(3).strip())})
        if part.startswith("!"):
            return (self._check_key(part[1:].strip()), "!exists", set())
        return (self._check_key(part), "exists", set())

    def empty(self):
        return not self.reqs

    def matches(self, labels):
        labels = labels or {}
        for key, op, vals in self.reqs:
            has = key in labels
            v = labels.get(key)
            if op == "=" and not (has and v in vals):
                return False
            if op == "!=" and has and v in vals:
                return False
            if op == "in" and not (has and v in vals):
                return False
            if op == "notin" and has and v in vals:
                return False
            if op == "exists" and not has:
                return False
            if op == "!exists" and has:
                return False
        return True


FIELDS = {
    "*": {"metadata.name": lambda o: o["metadata"].get("name", ""),
          "metadata.namespace": lambda o: o["metadata"].get("namespace", "")},
    "pods": {"spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
             "spec.restartPolicy": lambda o: o.get("spec", {}).get("restartPolicy", ""),
             "spec.schedulerName": lambda o: o.get("spec", {}).get("schedulerName", ""),
             "spec.serviceAccountName": lambda o: o.get("spec", {}).get("serviceAccountName", ""),
             "spec.hostNetwork": lambda o: str(bool(o.get("spec", {}).get("hostNetwork", False))).lower(),
             "status.phase": lambda o: o.get("status", {}).get("phase", ""),
             "status.podIP": lambda o: o.get("status", {}).get("podIP", ""),
             "status.nominatedNodeName": lambda o: o.get("status", {}).get("nominatedNodeName", "")},
    "namespaces": {"status.phase": lambda o: o.get("status", {}).get("phase", "")},
    "services": {"spec.clusterIP": lambda o: o.get("spec", {}).get("clusterIP", ""),
                 "spec.type": lambda o: o.get("spec", {}).get("type", "")},
    "endpointslices": {"addressType": lambda o: o.get("addressType", "")},
}


class FieldSelector:
    """field=value, field==value, field!=value, ','-separated (AND), on the fields the real server supports."""

    def __init__(self, text, resource):
        self.text = text or ""
        self.reqs = []
        allowed = dict(FIELDS["*"], **FIELDS.get(resource.name, {}))
        for part in [p.strip() for p in self.text.split(",")] if self.text.strip() else []:
            m = re.fullmatch(r"([^=!]+?)\s*(==|!=|=)\s*(.*)", part)
            if not m:
                raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (self.text, part))
            field = m.group(1).strip()
            if field not in allowed:
                raise SelectorError("field label not supported: %s" % field)
            self.reqs.append((allowed[field], m.group(2) != "!=", m.group(3)))

    def empty(self):
        return not self.reqs

    def matches(self, obj):
        for get, eq, val in self.reqs:
            if (get(obj) == val) != eq:
                return False
        return True


# ------------------------------------------------------------------------------ object helpers
def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def obj_key(res, obj):
    md = obj.get("metadata") or {}
    return (md.get("namespace", "") if res.namespaced else "", md.get("name", ""))


def k8s_list(items):
    """A v1 List as `kubectl get -o json` prints it."""
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": list(items)}


def namespace(name, labels=None):
    lb = {"kubernetes.io/metadata.name": name}
    lb.update(labels or {})
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": lb},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def service(name, ns="default", cluster_ip=None, ports=(("http", "TCP", 80),), labels=None, type_="ClusterIP",
            external_name=None, selector=None):
    """A Service; headless when cluster_ip is None ("None"), ExternalName when external_name is given."""
    if external_name:
        spec = {"type": "ExternalName", "externalName": external_name}
    else:
        ip = cluster_ip or "None"
        spec = {"type": type_, "clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                "ports": [dict({"protocol": p, "port": n, "targetPort": n}, **({"name": nm} if nm else {}))
                          for (nm, p, n) in ports]}
        if selector:
            spec["selector"] = dict(selector)
    md = {"name": name, "namespace": ns}
    if labels:
        md["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": spec,
            "status": {"loadBalancer": {}}}


def endpointslice(name, ns, service_name, addresses, ports=(("http", "TCP", 80),), address_type="IPv4"):
    """addresses: list of IPs, or of (ip, hostname|None, ready) tuples."""
    eps = []
    for a in addresses:
        ip, host, ready = (a, None, True) if isinstance(a, str) else a
        e = {"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": False}}
        if host:
            e["hostname"] = host
        eps.append(e)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": address_type,
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service_name,
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "endpoints": eps, "ports": [{"name": nm, "protocol": p, "port": n} for (nm, p, n) in ports]}


def endpoints(name, ns, addresses, ports=(("http", "TCP", 80),)):
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns},
            "subsets": [{"addresses": [{"ip": ip} for ip in addresses],
                         "ports": [{"name": nm, "protocol": p, "port": n} for (nm, p, n) in ports]}]}


def pod(name, ns, ip, labels=None, node="node-1", phase="Running", hostname=None, subdomain=None):
    spec = {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}], "nodeName": node,
            "restartPolicy": "Always", "schedulerName": "default-scheduler", "serviceAccountName": "default"}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    md = {"name": name, "namespace": ns}
    if labels:
        md["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec,
            "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "192.168.0.10"}}


# --------------------------------------------------------------------------------------- store
class Event:
    __slots__ = ("rv", "res", "type", "obj", "prev")

    def __init__(self, rv, res, type_, obj, prev):
        self.rv, self.res, self.type, self.obj, self.prev = rv, res, type_, obj, prev


class Store:
    """Objects by resource, a global resourceVersion, and a bounded history of events.

    Every event with rv > self.floor is in self.events (sorted by rv); anything older is "expired".
    All methods are called with the owning server's condition lock held.
    """

    def __init__(self, base_rv=1000, history=10000):
        self.rv = base_rv
        self.floor = base_rv
        self.max_history = history
        self.objects = {name: {} for name in RESOURCES}
        self.events = []
        self.event_rvs = []

    def _append(self, res, type_, obj, prev):
        self.events.append(Event(self.rv, res, type_, obj, prev))
        self.event_rvs.append(self.rv)
        if len(self.events) > self.max_history:
            cut = len(self.events) - self.max_history
            self.floor = self.events[cut - 1].rv
            del self.events[:cut]
            del self.event_rvs[:cut]

    def put(self, obj, create_only=False, update_only=False):
        res = resource_for(obj)
        obj = copy.deepcopy(obj)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        md = obj.setdefault("metadata", {})
        if not md.get("name"):
            raise ValueError("object without metadata.name")
        if res.namespaced:
            md.setdefault("namespace", "default")
        else:
            md.pop("namespace", None)
        key = obj_key(res, obj)
        table = self.objects[res.name]
        prev = table.get(key)
        if prev is not None and create_only:
            raise KeyError('%s "%s" already exists' % (res.qualified, key[1]))
        if prev is None and update_only:
            raise KeyError('%s "%s" not found' % (res.qualified, key[1]))
        if prev is not None:
            md.setdefault("uid", prev["metadata"].get("uid"))
            md.setdefault("creationTimestamp", prev["metadata"].get("creationTimestamp"))
        md.setdefault("uid", str(uuid.uuid4()))
        md.setdefault("creationTimestamp", now_rfc3339())
        self.rv += 1
        md["resourceVersion"] = str(self.rv)
        table[key] = obj
        self._append(res, "MODIFIED" if prev is not None else "ADDED", obj, prev)
        return obj

    def delete(self, res, ns, name):
        res = resource_for(res)
        key = (ns or "" if res.namespaced else "", name)
        if res.namespaced and not key[0]:
            key = ("default", name)
        table = self.objects[res.name]
        prev = table.pop(key, None)
        if prev is None:
            raise KeyError('%s "%s" not found' % (res.qualified, name))
        self.rv += 1
        gone = copy.deepcopy(prev)
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self._append(res, "DELETED", gone, prev)
        return gone

    def compact(self, rv=None):
        """Forget events with rv <= `rv` (default: all), so older resourceVersions are expired."""
        rv = self.rv if rv is None else min(int(rv), self.rv)
        if rv <= self.floor:
            return self.floor
        i = bisect.bisect_right(self.event_rvs, rv)
        del self.events[:i]
        del self.event_rvs[:i]
        self.floor = rv
        return rv

    def events_after(self, rv):
        i = bisect.bisect_right(self.event_rvs, rv)
        return self.events[i:]

    def snapshot(self, res, rv=None):
        """{key: obj} of `res` as it was at `rv` (None: now). KeyError if rv is older than the history."""
        table = dict(self.objects[res.name])
        if rv is None or rv >= self.rv:
            return table
        if rv < self.floor:
            raise KeyError("expired")
        for ev in reversed(self.events_after(rv)):
            if ev.res is not res:
                continue
            key = obj_key(res, ev.obj)
            if ev.type == "ADDED":
                table.pop(key, None)
            else:
                table[key] = ev.prev
        return table


# ------------------------------------------------------------------------------------------ TLS
class PKI:
    """Paths of a test PKI made by make_test_pki()."""

    def __init__(self, d):
        self.dir = d
        for n in ("ca", "server", "client"):
            setattr(self, n + "_cert", os.path.join(d, n + ".crt"))
            setattr(self, n + "_key", os.path.join(d, n + ".key"))

    def __repr__(self):
        return "PKI(%r)" % self.dir


def make_test_pki(d, client_cn=DEFAULT_USER, client_org="system:serviceaccounts", days=2):
    """Generates a CA, a server cert for 127.0.0.1/localhost/::1 and a client cert (CN=client_cn) in
    directory d with the openssl CLI (ECDSA P-256: fast). Returns a PKI. Existing files are reused."""
    os.makedirs(d, exist_ok=True)
    p = PKI(d)
    if all(os.path.exists(x) for x in (p.ca_cert, p.server_cert, p.server_key, p.client_cert, p.client_key)):
        return p
    openssl = "/usr/bin/openssl"
    if not os.path.exists(openssl):
        raise RuntimeError("openssl CLI not installed (apt-get install openssl)")

    def run(*args):
        r = subprocess.run([openssl] + list(args), capture_output=True, text=True, cwd=d)
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr))

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *key, "-keyout", p.ca_key, "-out", p.ca_cert, "-days", str(days),
        "-subj", "/CN=fake-apiserver-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
    exts = {
        "server": "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                  "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,"
                  "DNS:kubernetes.default.svc\n",
        "client": "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                  "extendedKeyUsage=clientAuth\n",
    }
    subj = {"server": "/CN=kube-apiserver", "client": "/O=%s/CN=%s" % (client_org, client_cn)}
    for n in ("server", "client"):
        csr, ext = os.path.join(d, n + ".csr"), os.path.join(d, n + ".ext")
        with open(ext, "w") as f:
            f.write(exts[n])
        run("req", "-new", *key, "-keyout", os.path.join(d, n + ".key"), "-out", csr, "-subj", subj[n])
        run("x509", "-req", "-in", csr, "-CA", p.ca_cert, "-CAkey", p.ca_key, "-CAcreateserial",
            "-out", os.path.join(d, n + ".crt"), "-days", str(days), "-extfile", ext)
    for n in ("ca.key", "server.key", "client.key"):
        os.chmod(os.path.join(d, n), 0o600)
    return p


def _tls_context(tls):
    """tls: a PKI, a directory (server.crt/server.key [+ ca.crt for client certs]) or a dict
    {cert, key, client_ca}."""
    if isinstance(tls, PKI):
        cert, key, client_ca = tls.server_cert, tls.server_key, tls.ca_cert
    elif isinstance(tls, str):
        cert, key = os.path.join(tls, "server.crt"), os.path.join(tls, "server.key")
        client_ca = os.path.join(tls, "ca.crt") if os.path.exists(os.path.join(tls, "ca.crt")) else None
    else:
        cert, key, client_ca = tls["cert"], tls["key"], tls.get("client_ca")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    if client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(client_ca)
    return ctx


# ------------------------------------------------------------------------------------- faults
class _Drop(Exception):
    def __init__(self, mode):
        self.mode = mode


class Churn:
    """A background thread making `rate` changes per second (create, modify, delete in turn)."""

    def __init__(self, server, rate, duration, resource, ns, keep):
        self.server, self.rate, self.duration = server, float(rate), duration
        self.res = resource_for(resource)
        self.ns, self.keep = ns, keep
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-apiserver-churn", daemon=True)
        self._thread.start()

    def _make(self, i):
        name = "churn-%d" % i
        ip = "10.%d.%d.%d" % (200 + (i >> 16) % 50, (i >> 8) % 256, i % 256)
        if self.res.name == "services":
            return service(name, self.ns, cluster_ip=ip, labels={"churn": "true"})
        if self.res.name == "endpointslices":
            return endpointslice(name, self.ns, name, [ip])
        if self.res.name == "endpoints":
            return endpoints(name, self.ns, [ip])
        if self.res.name == "pods":
            return pod(name, self.ns, ip, labels={"churn": "true"})
        return namespace(name, labels={"churn": "true"})

    def _run(self):
        start = time.monotonic()
        live, nxt, i = [], 0, 0
        while not self._stop.is_set():
            elapsed = time.monotonic() - start
            if self.duration is not None and elapsed >= self.duration:
                break
            target = int(elapsed * self.rate) + 1
            while self.count < target and not self._stop.is_set():
                op = i % 3
                i += 1
                if op == 0 or not live:
                    obj = self._make(nxt)
                    nxt += 1
                    self.server.apply(obj)
                    live.append(obj["metadata"]["name"])
                elif op == 1:
                    name = live[-1]
                    self.server.modify(self.res, self.ns, name,
                                       lambda o: o["metadata"].setdefault("annotations", {}).update(
                                           {"churn/seq": str(self.count)}))
                else:
                    if len(live) > self.keep:
                        self.server.delete(self.res, self.ns, live.pop(0))
                    else:
                        name = live[0]
                        self.server.modify(self.res, self.ns, name,
                                           lambda o: o["metadata"].setdefault("labels", {}).update(
                                               {"churn/seq": str(self.count)}))
                self.count += 1
            self._stop.wait(0.005)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self.count

    def join(self, timeout=None):
        self._thread.join(timeout)
        return self.count


# ------------------------------------------------------------------------------------- server
class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, fake):
        self.fake = fake
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.fake._ssl_ctx is not None:
            sock = self.fake._ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.fake._lock:
            self.fake._conns.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self.fake._lock:
            self.fake._conns.discard(request)
            rst = request in self.fake._rst
            self.fake._rst.discard(request)
        if rst:  # SO_LINGER 0 is set: close() sends a RST (a shutdown() first would send a FIN)
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ssl.SSLError, _Drop)):
            return  # client went away, TLS handshake refused, injected drop
        super().handle_error(request, client_address)


class FakeAPIServer:
    """A fake kube-apiserver. See the module docstring.

    objects: a path to a List JSON file, a List/object dict, or a list of objects.
    token: the bearer token required (a value, or a path to a file re-read on every request);
        None: no token needed. With TLS and a client CA, a valid client certificate also authenticates.
    tls: None (plain HTTP), a PKI, a directory with server.crt/server.key[/ca.crt], or a dict.
    """

    def __init__(self, objects=None, token=None, tls=None, host="127.0.0.1", port=0, history=10000,
                 bookmark_interval=1.0, default_watch_timeout=1800, user=DEFAULT_USER, base_rv=1000,
                 quiet=True):
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.store = Store(base_rv=base_rv, history=history)
        self.token = token
        self.user = user
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self.quiet = quiet
        # A watch from a future resourceVersion: None (default, as current servers) opens the stream and
        # delivers events after that RV; a number waits that long (3 s in older servers) for the store to
        # catch up, then sends an ERROR event with a 504 "Too large resource version" Status.
        self.too_large_wait = None
        self._ssl_ctx = _tls_context(tls) if tls else None
        self._httpd = None
        self._thread = None
        self._stopping = False
        self._conns = set()
        self._rst = set()
        # faults
        self._drop_gen = 0
        self._drops = []           # (gen, mode, resource-name or None)
        self._stalled = set()      # resource names, or "*" for all watches
        self._stall_requests = 0   # next N API requests hang (no response) until unstall
        self._fail = {}            # resource name or "*" -> [n, code, retry_after]
        self._expire_next = {}     # resource name or "*" -> n
        self._absent = set()
        self._forbidden = {}       # resource name -> set of verbs
        self._watches = 0
        self._watch_list = []
        self.log = []              # request log: dicts
        self._churns = []
        if objects is not None:
            self.load(objects)

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        self._httpd = _HTTPServer((self.host, self.port), _Handler, self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-apiserver", daemon=True)
        self._thread.start()
        return self

    @property
    def scheme(self):
        return "https" if self._ssl_ctx else "http"

    @property
    def url(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    def stop(self):
        for c in self._churns:
            c.stop()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            with self._lock:
                conns = list(self._conns)
                self._conns.clear()
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    c.close()
                except OSError:
                    pass
            self._thread.join(5)
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------- mutations
    def _mutate(self, fn):
        with self._cond:
            r = fn()
            self._cond.notify_all()
            return r

    def load(self, objects):
        """Loads a List JSON file/dict (or an object, or a list of objects): each item is applied
        (created or updated). Kinds the fake does not serve are skipped. Returns the number applied."""
        if isinstance(objects, str):
            with open(objects) as f:
                objects = json.load(f)
        if isinstance(objects, dict):
            objects = objects["items"] if objects.get("kind", "").endswith("List") and "items" in objects \
                else [objects]
        n = 0
        with self._cond:
            for o in objects:
                try:
                    resource_for(o)
                except KeyError:
                    continue
                o = copy.deepcopy(o)
                o.get("metadata", {}).pop("resourceVersion", None)
                self.store.put(o)
                n += 1
            self._cond.notify_all()
        return n

    def add(self, obj):
        """Creates obj (KeyError if it exists): ADDED. Returns the stored copy (with its resourceVersion)."""
        return copy.deepcopy(self._mutate(lambda: self.store.put(obj, create_only=True)))

    def update(self, obj):
        """Replaces an existing obj (KeyError if absent): MODIFIED."""
        return copy.deepcopy(self._mutate(lambda: self.store.put(obj, update_only=True)))

    def apply(self, obj):
        """Creates or replaces obj: ADDED or MODIFIED."""
        return copy.deepcopy(self._mutate(lambda: self.store.put(obj)))

    def delete(self, resource, ns, name):
        """Deletes: DELETED (the object carries the deletion's resourceVersion). resource: plural, short
        name or Kind; ns is ignored for cluster-scoped kinds."""
        return copy.deepcopy(self._mutate(lambda: self.store.delete(resource, ns, name)))

    def modify(self, resource, ns, name, fn):
        """Applies fn(obj) (in place, or returning a new obj) to a copy of the stored object: MODIFIED."""
        res = resource_for(resource)

        def do():
            key = (ns or "default", name) if res.namespaced else ("", name)
            cur = self.store.objects[res.name].get(key)
            if cur is None:
                raise KeyError('%s "%s" not found' % (res.qualified, name))
            o = copy.deepcopy(cur)
            o = fn(o) or o
            return self.store.put(o)
        return copy.deepcopy(self._mutate(do))

    def get(self, resource, ns, name):
        res = resource_for(resource)
        with self._lock:
            o = self.store.objects[res.name].get((ns or "default", name) if res.namespaced else ("", name))
            return copy.deepcopy(o)

    def list(self, resource, ns=None):
        res = resource_for(resource)
        with self._lock:
            return [copy.deepcopy(o) for k, o in sorted(self.store.objects[res.name].items())
                    if ns is None or k[0] == ns]

    def bulk(self, ops):
        """Applies many mutations under one lock: ops are ("apply"|"add"|"update", obj) or
        ("delete", resource, ns, name). Returns the global resourceVersion after them."""
        def do():
            for op in ops:
                if op[0] == "delete":
                    self.store.delete(op[1], op[2], op[3])
                else:
                    self.store.put(op[1], create_only=op[0] == "add", update_only=op[0] == "update")
            return self.store.rv
        return self._mutate(do)

    def churn(self, rate=100, duration=None, resource="services", namespace="default", keep=10):
        """Starts a background churn: `rate` changes/s (create, modify, delete) of `resource` objects
        named churn-N in `namespace` for `duration` seconds (None: until .stop()). Returns a Churn."""
        c = Churn(self, rate, duration, resource, namespace, keep)
        self._churns.append(c)
        return c

    @property
    def resource_version(self):
        with self._lock:
            return self.store.rv

    # ---------------------------------------------------------------- faults
    def drop_watches(self, mode="abrupt", resource=None):
        """Ends every open watch stream (of `resource`, or all). mode:
        "clean" (terminating 0-chunk, like a timeout), "abrupt" (close at a chunk boundary, no 0-chunk),
        "mid_chunk" (a chunk header then half its bytes, then close), "mid_line" (a complete chunk
        holding half a JSON line, then close), "reset" (TCP RST), "expired" (an ERROR 410 event, then
        the 0-chunk). Returns the number of open watches at the time."""
        if mode not in ("clean", "abrupt", "mid_chunk", "mid_line", "reset", "expired"):
            raise ValueError("unknown drop mode %r" % mode)
        with self._cond:
            self._drop_gen += 1
            self._drops.append((self._drop_gen, mode, resource_for(resource).name if resource else None))
            self._cond.notify_all()
            return self._watches

    def stall(self, resource=None, requests=0):
        """Open and new watch streams (of `resource`, or all) stop sending bytes, keeping the connection
        open, until unstall() or drop_watches(). requests=N: the next N API requests also hang without
        an answer until unstall()."""
        with self._cond:
            self._stalled.add(resource_for(resource).name if resource else "*")
            self._stall_requests += int(requests)

    def unstall(self):
        with self._cond:
            self._stalled.clear()
            self._stall_requests = 0
            self._cond.notify_all()

    def fail_next(self, resource=None, n=1, code=500, retry_after=1):
        """The next n API requests for `resource` (None: any API request, discovery included) get `code`:
        500 (InternalError), 429 (TooManyRequests + Retry-After), 503, 504..."""
        with self._lock:
            self._fail[resource_for(resource).name if resource else "*"] = [int(n), int(code), retry_after]

    def expire_next_watch(self, resource=None, n=1):
        """The next n watches (of `resource`, or any) get 200 + an ERROR 410 Expired event, then close."""
        with self._lock:
            k = resource_for(resource).name if resource else "*"
            self._expire_next[k] = self._expire_next.get(k, 0) + int(n)

    def compact(self, rv=None):
        """Forgets history up to rv (default: all of it): watches from older RVs get 410, as do continue
        tokens taken before. Open watches that have not yet delivered a forgotten event get 410 too."""
        with self._cond:
            r = self.store.compact(rv)
            self._cond.notify_all()
            return r

    def set_absent(self, resource, absent=True):
        """Hides (or shows again) a resource kind: gone from discovery, 404 on its URLs; a group with no
        resource left (discovery.k8s.io) disappears from /apis."""
        with self._cond:
            name = resource_for(resource).name
            (self._absent.add if absent else self._absent.discard)(name)
            self._cond.notify_all()

    def forbid(self, resource, verbs=("get", "list", "watch")):
        """403 Forbidden (RBAC-shaped message) for these verbs on `resource`."""
        with self._lock:
            self._forbidden[resource_for(resource).name] = set(verbs)

    def allow(self, resource=None):
        with self._lock:
            if resource is None:
                self._forbidden.clear()
            else:
                self._forbidden.pop(resource_for(resource).name, None)

    def set_token(self, token):
        """A value, a path to a file (re-read on every request), or None (no auth)."""
        with self._lock:
            self.token = token

    def reset_faults(self):
        with self._cond:
            self._stalled.clear()
            self._stall_requests = 0
            self._fail.clear()
            self._expire_next.clear()
            self._absent.clear()
            self._forbidden.clear()
            self._cond.notify_all()

    # ---------------------------------------------------------------- observation
    @property
    def open_watches(self):
        with self._lock:
            return self._watches

    def watches(self):
        """[{resource, namespace, resourceVersion, query}] of the open watch streams."""
        with self._lock:
            return [dict(w) for w in self._watch_list]

    def wait_for_watches(self, n=1, timeout=10.0, resource=None):
        """Waits until at least n watch streams (of `resource`) are open; True if so."""
        name = resource_for(resource).name if resource else None
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                k = sum(1 for w in self._watch_list if name is None or w["resource"] == name)
                if k >= n:
                    return True
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))

    def requests(self, path_prefix=None):
        """The request log: [{method, path, query (dict of lists), headers (dict), status, user}]."""
        with self._lock:
            return [dict(r) for r in self.log if path_prefix is None or r["path"].startswith(path_prefix)]

    def clear_log(self):
        with self._lock:
            self.log.clear()

    # ---------------------------------------------------------------- internals used by the handler
    def _current_token(self):
        t = self.token
        if t is None:
            return None
        if os.path.sep in t and os.path.exists(t):
            with open(t) as f:
                return f.read().strip()
        return t

    def _available(self, res):
        return res.name not in self._absent

    def _groups(self):
        """{group: [resources]} of present resources (core is "")."""
        out = {}
        for r in RESOURCES.values():
            if self._available(r):
                out.setdefault(r.group, []).append(r)
        return out


# ------------------------------------------------------------------------------------ handler
def _qbool(v):
    return v is not None and v.lower() in ("1", "true", "t", "yes")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    sys_version = ""
    timeout = 300

    # -------------------------------------------------------------- plumbing
    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()

    @property
    def fake(self):
        return self.server.fake

    def log_message(self, fmt, *args):
        if not self.fake.quiet:
            sys.stderr.write("fake-apiserver: %s\n" % (fmt % args))

    def _log(self, code):
        rec = getattr(self, "_rec", None)
        if rec is not None and "status" not in rec:
            rec["status"] = code

    def send_json(self, code, body, extra_headers=None):
        data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
        self._log(code)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_status(self, st, extra_headers=None):
        self.send_json(st["code"], st, extra_headers)

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_GET(self):
        self._dispatch()

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _dispatch(self):
        u = urllib.parse.urlsplit(self.path)
        path = u.path.rstrip("/") or "/"
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.q = {k: v[-1] for k, v in q.items()}
        if path.startswith("/_fake"):
            body = self._body()
            try:
                return self._control(path[len("/_fake"):] or "/", body)
            except (KeyError, ValueError) as e:
                return self.send_json(400, {"error": str(e)})
        self._body()  # drain
        self._rec = {"method": self.command, "path": path, "query": q, "headers": dict(self.headers.items()),
                     "time": time.time()}
        with self.fake._lock:
            self.fake.log.append(self._rec)
            if len(self.fake.log) > 50000:
                del self.fake.log[:10000]
        self._api(path)

    # -------------------------------------------------------------- auth, faults
    def _authenticate(self):
        """Returns the user name, or None after answering 401."""
        fake = self.fake
        if isinstance(self.request, ssl.SSLSocket):
            cert = self.request.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            return v
        with fake._lock:
            want = fake._current_token()
            user = fake.user
        auth = self.headers.get("Authorization", "")
        if want is None:
            return user if auth else ANONYMOUS
        if auth.startswith("Bearer ") and auth[7:].strip() == want and want:
            return user
        self.send_status(status(401, "Unauthorized", "Unauthorized"))
        return None

    def _injected_failure(self, res_name):
        fake = self.fake
        with fake._lock:
            for k in (res_name, "*"):
                f = fake._fail.get(k)
                if f and f[0] > 0:
                    f[0] -= 1
                    if f[0] == 0:
                        del fake._fail[k]
                    code, retry = f[1], f[2]
                    break
            else:
                return False
        if code == 429:
            st = status(429, "TooManyRequests", "Too many requests, please try again later.",
                        {"causes": [{"message": "Too many requests"}], "retryAfterSeconds": int(retry)})
            self.send_status(st, {"Retry-After": retry})
        elif code == 500:
            self.send_status(status(500, "InternalError",
                                    "Internal error occurred: injected failure (fake-apiserver)",
                                    {"causes": [{"message": "injected failure (fake-apiserver)"}]}))
        elif code == 503:
            self.send_status(status(503, "ServiceUnavailable", "the server is currently unable to handle the "
                                    "request"), {"Retry-After": retry})
        elif code == 504:
            self.send_status(status(504, "Timeout", "Timeout: request did not complete within the allotted "
                                    "timeout"))
        else:
            self.send_status(status(code, "InternalError", "injected failure %d" % code))
        return True

    # -------------------------------------------------------------- the API
    def _api(self, path):
        fake = self.fake
        # Requests held by stall(requests=N).
        with fake._cond:
            if fake._stall_requests > 0:
                fake._stall_requests -= 1
                while fake._stalled and not fake._stopping:
                    fake._cond.wait(0.1)
                if fake._stopping:
                    self.close_connection = True
                    return
        user = self._authenticate()
        if user is None:
            return
        self.user = user
        if path in ("/version", "/api", "/apis", "/api/v1") or path.startswith("/apis/") and path.count("/") in (2, 3):
            if self._injected_failure("*"):
                return
            if self.command not in ("GET", "HEAD"):
                return self.send_status(status(405, "MethodNotAllowed", "the server does not allow this method "
                                               "on the requested resource"))
            return self._discovery(path)
        if path == "/healthz" or path == "/readyz" or path == "/livez":
            body = b"ok"
            self._log(200)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        segs = [s for s in path.split("/") if s]
        if len(segs) >= 3 and segs[0] == "api" and segs[1] == "v1":
            group, rest = "", segs[2:]
        elif len(segs) >= 4 and segs[0] == "apis" and GROUPS.get(segs[1]) == segs[2]:
            group, rest = segs[1], segs[3:]
        else:
            return self.send_status(status_not_found_path())
        legacy_watch = False
        if rest and rest[0] == "watch":
            legacy_watch, rest = True, rest[1:]
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = urllib.parse.unquote(rest[1]), rest[2:]
        if not rest or len(rest) > 2:
            return self.send_status(status_not_found_path())
        res = RESOURCES.get(rest[0])
        name = urllib.parse.unquote(rest[1]) if len(rest) == 2 else None
        if res is None or res.group != group or not fake._available(res) or (ns is not None and not res.namespaced):
            return self.send_status(status_not_found_path())
        if self.command not in ("GET", "HEAD"):
            return self.send_status(status(405, "MethodNotAllowed",
                                           "the server does not allow this method on the requested resource",
                                           {"group": res.group, "kind": res.name} if res.group else
                                           {"kind": res.name}))
        accept = self.headers.get("Accept", "")
        if accept and not any(t.split(";")[0].strip() in ("application/json", "*/*", "application/*")
                              for t in accept.split(",")):
            return self.send_status(status(406, "NotAcceptable", "only the following media types are accepted: "
                                           "application/json, application/yaml, "
                                           "application/vnd.kubernetes.protobuf (fake: JSON only)"))
        watch = legacy_watch or _qbool(self.q.get("watch"))
        verb = "watch" if watch else ("get" if name else "list")
        if self._injected_failure(res.name):
            return
        with fake._lock:
            denied = verb in fake._forbidden.get(res.name, ())
        if denied:
            details = {"kind": res.name}
            if res.group:
                details = {"group": res.group, "kind": res.name}
            if name:
                details["name"] = name
            return self.send_status(status(403, "Forbidden", forbidden_message(user, verb, res, ns), details))
        if name and not watch:
            return self._get(res, ns, name)
        try:
            lsel = LabelSelector(self.q.get("labelSelector", ""))
            fsel = FieldSelector(self.q.get("fieldSelector", ""), res)
        except SelectorError as e:
            return self.send_status(status(400, "BadRequest", "Unable to find %s that match label selector "
                                           "\"%s\", field selector \"%s\": %s" % (
                                               json.dumps({"group": res.group, "version": res.version,
                                                           "resource": res.name}),
                                               self.q.get("labelSelector", ""),
                                               self.q.get("fieldSelector", ""), e)))
        if name:  # legacy /watch/.../NAME
            fsel.reqs.append((FIELDS["*"]["metadata.name"], True, name))

        def match(o):
            md = o.get("metadata", {})
            return (ns is None or md.get("namespace") == ns) and lsel.matches(md.get("labels")) and fsel.matches(o)
        if watch:
            return self._watch(res, ns, match)
        return self._list(res, ns, match, filtered=not (lsel.empty() and fsel.empty()))

    def _discovery(self, path):
        fake = self.fake
        with fake._lock:
            groups = fake._groups()
        if path == "/version":
            return self.send_json(200, SERVER_VERSION)
        if path == "/api":
            host, port = self.server.server_address[:2]
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "%s:%d" % (host, port)}]})
        if path == "/apis":
            gl = []
            for g in sorted(k for k in groups if k):
                gv = {"groupVersion": "%s/%s" % (g, GROUPS[g]), "version": GROUPS[g]}
                gl.append({"name": g, "versions": [gv], "preferredVersion": gv})
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": gl})
        if path == "/api/v1":
            rs = groups.get("", [])
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "v1",
                                        "resources": [r.discovery_entry() for r in rs]})
        segs = path.split("/")  # ["", "apis", group, version]
        g = segs[2]
        if len(segs) == 3:
            if g in groups and g:
                gv = {"groupVersion": "%s/%s" % (g, GROUPS[g]), "version": GROUPS[g]}
                return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [gv],
                                            "preferredVersion": gv})
            return self.send_status(status_not_found_path())
        v = segs[3]
        if g in groups and GROUPS.get(g) == v:
            return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (g, v),
                                        "resources": [r.discovery_entry() for r in groups[g]]})
        return self.send_status(status_not_found_path())

    def _get(self, res, ns, name):
        fake = self.fake
        with fake._lock:
            o = fake.store.objects[res.name].get((ns or "", name) if res.namespaced else ("", name))
            o = copy.deepcopy(o)
        if o is None:
            details = {"name": name, "kind": res.name}
            if res.group:
                details["group"] = res.group
            return self.send_status(status(404, "NotFound", '%s "%s" not found' % (res.qualified, name), details))
        return self.send_json(200, o)

    # -------------------------------------------------------------- LIST
    @staticmethod
    def _encode_continue(rv, start):
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_continue(tok):
        try:
            raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
            d = json.loads(raw)
            if d.get("v") != "meta.k8s.io/v1" or not isinstance(d.get("rv"), int) \
                    or not isinstance(d.get("start"), str):
                raise ValueError("bad token")
            return d["rv"], d["start"]
        except Exception:
            raise ValueError("continue key is not valid: incorrect encoded start resourceVersion (version "
                             "meta.k8s.io/v1)")

    def _list(self, res, ns, match, filtered):
        fake = self.fake
        q = self.q
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            return self.send_status(status(400, "BadRequest", "invalid limit %r" % q.get("limit")))
        cont = q.get("continue") or ""
        rv_param = q.get("resourceVersion") or ""
        rv_match = q.get("resourceVersionMatch") or ""
        start = ""
        with fake._lock:
            store = fake.store
            at = None
            if cont:
                try:
                    at, start = self._decode_continue(cont)
                except ValueError as e:
                    return self.send_status(status(400, "BadRequest", str(e)))
                if at < store.floor:
                    st = status_expired(CONTINUE_TOO_OLD)
                    st["metadata"] = {"continue": self._encode_continue(store.rv, start)}
                    return self.send_status(st)
            elif rv_param and rv_param != "0" and rv_match == "Exact":
                try:
                    at = int(rv_param)
                except ValueError:
                    return self.send_status(status(400, "BadRequest", "invalid resource version"))
                if at < store.floor:
                    return self.send_status(status_expired("The resourceVersion for the provided list is too old."))
                if at > store.rv:
                    return self.send_status(status(
                        504, "Timeout", "Too large resource version: %d, current: %d" % (at, store.rv),
                        {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                         "retryAfterSeconds": 1}))
            list_rv = store.rv if at is None else at
            table = store.snapshot(res, at)
        # etcd order: by key string "namespace/name" (cluster-scoped: "/name").
        keys = sorted((k for k in table if not start or "%s/%s" % k > start), key=lambda k: "%s/%s" % k)
        items, nxt, remaining = [], None, None
        scanned = 0
        for i, k in enumerate(keys):
            o = table[k]
            scanned = i + 1
            if not match(o):
                continue
            items.append(o)
            if limit and len(items) >= limit:
                if scanned < len(keys):
                    nxt = "%s/%s" % k
                break
        if nxt is not None:
            # Like etcd: a further page exists only if something remains; the count is known without selectors.
            rest = [table[k] for k in keys[scanned:] if match(table[k])]
            if not rest:
                nxt = None
            elif not filtered:
                remaining = len(rest)
        out_items = []
        for o in items:
            o = copy.deepcopy(o)
            o.pop("kind", None)       # typed lists carry no kind/apiVersion per item
            o.pop("apiVersion", None)
            out_items.append(o)
        md = {"resourceVersion": str(list_rv)}
        if nxt is not None:
            md["continue"] = self._encode_continue(list_rv, nxt)
            if remaining is not None:
                md["remainingItemCount"] = remaining
        self.send_json(200, {"kind": res.kind + "List", "apiVersion": res.api_version, "metadata": md,
                             "items": out_items})

    # -------------------------------------------------------------- WATCH
    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _event_line(self, type_, obj):
        return (json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n").encode()

    def _bookmark(self, res, rv, annotations=None):
        md = {"resourceVersion": str(rv), "creationTimestamp": None}
        if annotations:
            md["annotations"] = annotations
        return {"kind": res.kind, "apiVersion": res.api_version, "metadata": md}

    def _end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _hard_close(self, rst=False):
        self.close_connection = True
        sock = self.request
        try:
            if rst:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                with self.fake._lock:
                    self.fake._rst.add(sock)
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _client_gone(self):
        """True when the watch client has closed its end (it sends nothing while watching)."""
        sock = self.request
        try:
            r, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not r:
            return False
        if isinstance(sock, ssl.SSLSocket):
            return True  # close_notify or FIN
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, socket.timeout):
            return False
        except OSError:
            return True

    def _perform_drop(self, mode, res, rv):
        if mode == "clean":
            self._end_chunked()
            return
        if mode == "expired":
            self._chunk(self._event_line("ERROR", status_expired("too old resource version: %d (%d)" %
                                                                 (rv, self.fake.store.floor + 1))))
            self._end_chunked()
            return
        line = self._event_line("BOOKMARK", self._bookmark(res, rv))
        if mode == "mid_chunk":
            self.wfile.write(b"%x\r\n%s" % (len(line), line[:len(line) // 2]))
        elif mode == "mid_line":
            self._chunk(line[:len(line) // 2])
        self.wfile.flush()
        self._hard_close(rst=(mode == "reset"))

    def _watch(self, res, ns, match):
        fake = self.fake
        q = self.q
        rv_param = q.get("resourceVersion") or ""
        bookmarks = _qbool(q.get("allowWatchBookmarks"))
        initial = _qbool(q.get("sendInitialEvents"))
        try:
            timeout = int(q["timeoutSeconds"]) if q.get("timeoutSeconds") else fake.default_watch_timeout
            start_rv = int(rv_param) if rv_param not in ("", "0") else None
        except ValueError:
            return self.send_status(status(400, "BadRequest", "invalid resourceVersion or timeoutSeconds"))
        with fake._cond:
            too_large = False
            if fake.too_large_wait is not None:
                end = time.monotonic() + fake.too_large_wait
                while start_rv is not None and start_rv > fake.store.rv and time.monotonic() < end \
                        and not fake._stopping:
                    fake._cond.wait(0.05)
                if start_rv is not None and start_rv > fake.store.rv:
                    cur = fake.store.rv
                    too_large = True
            expire = False
            for k in (res.name, "*"):
                if fake._expire_next.get(k, 0) > 0:
                    fake._expire_next[k] -= 1
                    expire = True
                    break
            store = fake.store
            if start_rv is not None and start_rv < store.floor:
                expire = True
            floor = store.floor
            now_rv = store.rv
            if start_rv is None or initial:
                snap = sorted(store.objects[res.name].items())
                init_objs = [copy.deepcopy(o) for _, o in snap if match(o)]
                cursor = now_rv
            else:
                init_objs = []
                cursor = start_rv
        self._log(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        if too_large:
            self._chunk(self._event_line("ERROR", status(
                504, "Timeout", "Timeout: Too large resource version: %d, current: %d" % (start_rv, cur),
                {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                 "retryAfterSeconds": 1})))
            self._end_chunked()
            return
        if expire:
            rv_shown = start_rv if start_rv is not None else now_rv
            self._chunk(self._event_line("ERROR", status_expired("too old resource version: %d (%d)" %
                                                                 (rv_shown, floor + 1))))
            self._end_chunked()
            return
        winfo = {"resource": res.name, "namespace": ns, "resourceVersion": rv_param, "query": dict(q),
                 "user": getattr(self, "user", None)}
        with fake._cond:
            fake._watches += 1
            fake._watch_list.append(winfo)
            my_gen = fake._drop_gen
            fake._cond.notify_all()
        try:
            self._watch_loop(res, match, bookmarks, initial, timeout, cursor, init_objs, my_gen)
        except (OSError, ssl.SSLError):
            self.close_connection = True
        finally:
            with fake._cond:
                fake._watches -= 1
                fake._watch_list.remove(winfo)
                fake._cond.notify_all()

    def _watch_loop(self, res, match, bookmarks, initial, timeout, cursor, init_objs, my_gen):
        fake = self.fake
        deadline = time.monotonic() + timeout
        pending = [self._event_line("ADDED", o) for o in init_objs]
        if initial and bookmarks:
            pending.append(self._event_line("BOOKMARK", self._bookmark(res, cursor,
                                                                         {"k8s.io/initial-events-end": "true"})))
        next_bm = time.monotonic() + fake.bookmark_interval
        next_gone_check = 0
        while True:
            drop = None
            expired = False
            with fake._cond:
                while True:
                    if fake._stopping:
                        self.close_connection = True
                        return
                    for gen, mode, rname in fake._drops:
                        if gen > my_gen and (rname is None or rname == res.name):
                            drop = mode
                            break
                    my_gen = fake._drop_gen
                    if drop:
                        break
                    if time.monotonic() >= next_gone_check:
                        next_gone_check = time.monotonic() + 0.2
                        if self._client_gone():
                            self.close_connection = True
                            return
                    if "*" in fake._stalled or res.name in fake._stalled:
                        fake._cond.wait(0.1)
                        continue
                    if cursor < fake.store.floor:
                        expired = True
                        break
                    evs = fake.store.events_after(cursor)
                    if evs:
                        for ev in evs:
                            cursor = ev.rv
                            if ev.res is not res:
                                continue
                            line = self._convert(ev, match)
                            if line:
                                pending.append(line)
                    now = time.monotonic()
                    if pending or now >= deadline:
                        break
                    if bookmarks and now >= next_bm:
                        pending.append(self._event_line("BOOKMARK", self._bookmark(res, fake.store.rv)))
                        cursor = max(cursor, fake.store.rv)
                        next_bm = now + fake.bookmark_interval
                        break
                    wake = min(deadline, next_bm) if bookmarks else deadline
                    fake._cond.wait(max(0.001, min(wake - now, 0.2)))
                rv_now = fake.store.rv
            for line in pending:
                self._chunk(line)
            pending = []
            self.wfile.flush()
            if drop:
                return self._perform_drop(drop, res, rv_now)
            if expired:
                self._chunk(self._event_line("ERROR", status_expired("too old resource version: %d (%d)" %
                                                                     (cursor, fake.store.floor + 1))))
                return self._end_chunked()
            if time.monotonic() >= deadline:
                return self._end_chunked()

    def _convert(self, ev, match):
        """The watch cache's filtering: an object leaving the selector is DELETED, entering is ADDED."""
        cur = match(ev.obj)
        if ev.type == "ADDED":
            return self._event_line("ADDED", ev.obj) if cur else None
        old = match(ev.prev)
        if ev.type == "DELETED":
            return self._event_line("DELETED", ev.obj) if old else None
        if cur and old:
            return self._event_line("MODIFIED", ev.obj)
        if cur:
            return self._event_line("ADDED", ev.obj)
        if old:
            return self._event_line("DELETED", ev.obj)
        return None

    # -------------------------------------------------------------- /_fake control endpoint
    def _control(self, path, body):
        fake = self.fake
        q = self.q
        m = self.command
        data = json.loads(body) if body.strip() else None
        res = q.get("resource") or None

        def ok(**kw):
            kw.setdefault("resourceVersion", fake.resource_version)
            return self.send_json(200, kw)
        if path == "/state" and m == "GET":
            with fake._lock:
                counts = {k: len(v) for k, v in fake.store.objects.items()}
                return self.send_json(200, {"resourceVersion": fake.store.rv, "floor": fake.store.floor,
                                            "events": len(fake.store.events), "openWatches": fake._watches,
                                            "watches": [dict(w) for w in fake._watch_list], "counts": counts,
                                            "absent": sorted(fake._absent), "stalled": sorted(fake._stalled)})
        if path == "/requests" and m == "GET":
            since = int(q.get("since") or 0)
            return self.send_json(200, {"requests": fake.requests(q.get("prefix"))[since:]})
        if path == "/requests" and m == "DELETE":
            fake.clear_log()
            return ok()
        if path == "/objects" and m == "GET":
            return self.send_json(200, k8s_list(fake.list(res or "services", q.get("namespace"))))
        if path in ("/objects", "/load") and m in ("POST", "PUT"):
            if q.get("path"):
                return ok(applied=fake.load(q["path"]))
            if data is None:
                raise ValueError("a JSON object or List is needed")
            if m == "POST" and path == "/objects" and _qbool(q.get("create")):
                out = fake.add(data)
                return ok(object=out)
            return ok(applied=fake.load(data))
        if path.startswith("/objects/") and m == "DELETE":
            parts = path.split("/")[2:]
            if len(parts) == 2:
                out = fake.delete(parts[0], None, parts[1])
            elif len(parts) == 3:
                out = fake.delete(parts[0], parts[1], parts[2])
            else:
                raise ValueError("DELETE /_fake/objects/RESOURCE[/NS]/NAME")
            return ok(object=out)
        if m not in ("POST", "PUT"):
            return self.send_json(405, {"error": "use POST"})
        if path == "/delete":
            out = fake.delete(data.get("resource") or data.get("kind"), data.get("namespace"), data["name"])
            return ok(object=out)
        if path == "/drop":
            return ok(dropped=fake.drop_watches(q.get("mode") or "abrupt", res))
        if path == "/stall":
            fake.stall(res, int(q.get("requests") or 0))
            return ok()
        if path == "/unstall":
            fake.unstall()
            return ok()
        if path == "/fail":
            fake.fail_next(res, int(q.get("n") or 1), int(q.get("code") or 500), int(q.get("retry_after") or 1))
            return ok()
        if path == "/expire-next-watch":
            fake.expire_next_watch(res, int(q.get("n") or 1))
            return ok()
        if path == "/compact":
            return ok(floor=fake.compact(int(q["rv"]) if q.get("rv") else None))
        if path == "/absent":
            fake.set_absent(res, True)
            return ok()
        if path == "/present":
            fake.set_absent(res, False)
            return ok()
        if path == "/forbid":
            fake.forbid(res, (q.get("verbs") or "get,list,watch").split(","))
            return ok()
        if path == "/allow":
            fake.allow(res)
            return ok()
        if path == "/token":
            v = q.get("value")
            if v is None and data is not None:
                v = data.get("token")
            fake.set_token(v if v else None)
            return ok()
        if path == "/churn":
            dur = float(q["seconds"]) if q.get("seconds") else None
            c = fake.churn(float(q.get("rate") or 100), dur, res or "services", q.get("namespace") or "default",
                           int(q.get("keep") or 10))
            return ok(churn=len(fake._churns) - 1, started=c is not None)
        if path == "/churn/stop":
            n = sum(c.stop() for c in fake._churns)
            return ok(changes=n)
        if path == "/settings":
            for k in ("bookmark_interval", "too_large_wait", "default_watch_timeout"):
                if k in q:
                    setattr(fake, k, float(q[k]) if q[k] not in ("", "none", "None") else None)
            return ok()
        if path == "/reset-faults":
            fake.reset_faults()
            return ok()
        return self.send_json(404, {"error": "unknown control endpoint %s" % path})


# ----------------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description="A fake Kubernetes API server for tests.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--objects", help="a List JSON file (kubectl get -A -o json) to load")
    ap.add_argument("--token", help="the bearer token required (a value, or a path to a file re-read per request)")
    ap.add_argument("--token-file", help="a file holding the bearer token, re-read on every request")
    ap.add_argument("--tls-dir", help="serve HTTPS with DIR/server.crt, DIR/server.key (generated with a test CA "
                                      "when missing); DIR/ca.crt also verifies client certificates")
    ap.add_argument("--history", type=int, default=10000, help="watch events kept (older RVs get 410)")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    a = ap.parse_args(argv)
    tls = None
    if a.tls_dir:
        if not os.path.exists(os.path.join(a.tls_dir, "server.crt")):
            make_test_pki(a.tls_dir)
        tls = a.tls_dir
    srv = FakeAPIServer(objects=a.objects, token=a.token_file or a.token, tls=tls, host=a.host, port=a.port,
                        history=a.history, bookmark_interval=a.bookmark_interval, quiet=not a.verbose)
    srv.start()
    print("listening on %s" % srv.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
