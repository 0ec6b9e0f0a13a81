# SPDX-License-Identifier: MIT
"""Helpers shared by the tests that run clusterdns against the fake API server (test_watch.py,
test_kubeconfig.py, test_deploy_rbac.py).

They build a Corefile whose kubernetes stanza talks to an API server, poll DNS answers until they
match (a change must show within a bounded time, never "eventually"), and check the fake's
request log. Nothing here sleeps for a fixed time to pass a test: every wait polls a condition.
"""
import os
import sys
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_apiserver as fa  # noqa: E402

DATA = os.path.join(HERE, "data", "fake_cluster.json")
ZONES = "cluster.local in-addr.arpa ip6.arpa"
# A change on the API server must show in answers within this bound: the 100 ms plus the
# 100 ms debounce, with room for a loaded 2-core machine running the fake in Python.
CHANGE_S = 2.0
# From process start to the first answers from a reachable API server.
STARTUP_S = 10.0
# Environment variables that would switch the server to in-cluster configuration.
IN_CLUSTER_VARS = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_SERVICE_PORT_HTTPS",
                   "CLUSTERDNS_SERVICEACCOUNT_DIR", "KUBECONFIG")


def svc(name, ns):
    return "%s.%s.svc.cluster.local." % (name, ns)


def pod_name(ip, ns):
    return "%s.%s.pod.cluster.local." % (ip.replace(".", "-"), ns)


def clean_env(**extra):
    """The test's environment without any in-cluster/kubeconfig variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in IN_CLUSTER_VARS}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def corefile(options, zones=ZONES, plugins=("errors",)):
    """A Corefile serving `zones` on 127.0.0.1:@PORT@ with a kubernetes stanza of `options` (lines)."""
    blocks = " ".join("%s:@PORT@" % z for z in zones.split())
    body = "".join("        %s\n" % o for o in options)
    pre = "".join("    %s\n" % p for p in plugins)
    return "%s {\n    bind 127.0.0.1\n%s    kubernetes %s {\n%s    }\n}\n" % (blocks, pre, zones, body)


def answer(srv, name, rdtype="A", timeout=1.0):
    """(rcode text, sorted rdata texts of the answer section) for one UDP query."""
    r = srv.query(name, rdtype, timeout=timeout)
    return dns.rcode.to_text(r.rcode()), sorted(rd.to_text() for rr in r.answer for rd in rr)


def try_answer(srv, name, rdtype="A", timeout=0.5):
    """answer(), or ("TIMEOUT", []) when the server does not reply."""
    try:
        return answer(srv, name, rdtype, timeout=timeout)
    except dns.exception.Timeout:
        return "TIMEOUT", []


def wait_answer(srv, name, want, rdtype="A", deadline_s=CHANGE_S, what=""):
    """Polls until answer(name) == want; returns the seconds it took. Fails with the last answer and
    the server's log. want: ("NOERROR", [rdata...]) or ("NXDOMAIN", []) or a predicate."""
    start = time.monotonic()
    end = start + deadline_s
    got = None
    while True:
        assert srv.alive(), "clusterdns exited (%s):\n%s" % (srv.proc.returncode, srv.log())
        got = try_answer(srv, name, rdtype)
        ok = want(got) if callable(want) else got == (want[0], sorted(want[1]))
        if ok:
            return time.monotonic() - start
        if time.monotonic() >= end:
            break
        time.sleep(0.02)
    raise AssertionError("%s%s %s: expected %s within %.1fs, got %s\n--- clusterdns log:\n%s" % (
        what + ": " if what else "", name, rdtype, want if not callable(want) else want.__doc__, deadline_s,
        got, srv.log()[-6000:]))


def hold_answer(srv, name, want, duration_s, rdtype="A", what=""):
    """Asserts that answer(name) == want on every query for duration_s (no flicker)."""
    end = time.monotonic() + duration_s
    n = 0
    while time.monotonic() < end:
        got = try_answer(srv, name, rdtype)
        assert got == (want[0], sorted(want[1])), "%s%s %s: expected %s throughout, got %s after %d good " \
            "answers\n--- clusterdns log:\n%s" % (what + ": " if what else "", name, rdtype, want, got, n,
                                                   srv.log()[-6000:])
        n += 1
        time.sleep(0.01)
    return n


def rcode_is(*codes):
    def pred(got):
        return got[0] in codes
    pred.__doc__ = "rcode in %s" % (codes,)
    return pred


def api_requests(fake, resource, since=0):
    """The fake's log entries for one resource's collection (any namespace), from index `since`:
    [(kind 'list'|'watch', query dict of single values, entry)]."""
    res = fa.resource_for(resource)
    out = []
    for r in fake.requests()[since:]:
        segs = [s for s in r["path"].split("/") if s]
        if res.name not in segs:
            continue
        if res.group and "/apis/%s/" % res.group not in r["path"] + "/":
            continue
        if not res.group and not r["path"].startswith("/api/"):
            continue
        q = {k: (v[0] if isinstance(v, list) and v else v) for k, v in (r.get("query") or {}).items()}
        is_watch = q.get("watch") in ("1", "true", "True") or "watch" in segs[:3]
        out.append(("watch" if is_watch else "list", q, r))
    return out


def bearer(entry):
    h = {k.lower(): v for k, v in entry["headers"].items()}
    a = h.get("authorization", "")
    return a[7:] if a.startswith("Bearer ") else None
