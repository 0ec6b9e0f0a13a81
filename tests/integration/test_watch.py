# SPDX-License-Identifier: MIT
"""The kubernetes plugin follows a live API server (fake_apiserver.py, speaking the real list/watch
protocol): LIST then WATCH from the list's resourceVersion; every kind's add/modify/delete shows in
answers within CHANGE_S; every way a watch breaks (clean close, half an event, RST, 410, stall,
5xx/429, API down) ends with the server caught up and, meanwhile, the last good answers served;
`namespaces`/`labels`/`namespace_labels` filter (server-side where the API allows); EndpointSlices
fall back to core/v1 Endpoints; a 403 is logged once with the missing rule.

Connection options (in-cluster, kubeconfig, TLS, token rotation) are in test_kubeconfig.py.
"""
import json
import threading
import time

import pytest

from conftest import free_port
from kube_helpers import (DATA, STARTUP_S, ZONES, api_requests, clean_env, corefile, fa, hold_answer,
                          pod_name, rcode_is, svc, try_answer, wait_answer)

WEB = (svc("web", "prod"), ("NOERROR", ["10.96.1.10"]))
# A reconnect after a broken stream may wait for a first backoff step (typically ≤ 1 s plus jitter).
RECONNECT_S = 6.0


@pytest.fixture
def fake():
    f = fa.FakeAPIServer(objects=DATA, bookmark_interval=0.2).start()
    try:
        yield f
    finally:
        f.stop()


def start_kube(start_server, fake, options=(), sync=WEB, zones=ZONES, env=None):
    """clusterdns with `endpoint <fake>` plus options; waits for `sync` (name, want) to answer."""
    srv = start_server(corefile(["endpoint %s" % fake.url] + list(options), zones=zones), env=env or clean_env())
    if sync:
        wait_answer(srv, sync[0], sync[1], deadline_s=STARTUP_S, what="initial sync")
    return srv


class Watcher:
    """Queries one name in a loop on a thread and records every answer that is not `want`."""

    def __init__(self, srv, name, want, rdtype="A"):
        self.srv, self.name, self.want, self.rdtype = srv, name, (want[0], sorted(want[1])), rdtype
        self.bad, self.n = [], 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            got = try_answer(self.srv, self.name, self.rdtype)
            self.n += 1
            if got != self.want:
                self.bad.append((round(time.monotonic(), 3), got))
            time.sleep(0.005)

    def stop_and_check(self, what):
        self._stop.set()
        self._t.join(5)
        assert self.n > 0
        assert not self.bad, "%s: %s %s must stay %s; got %d bad of %d answers: %s\n--- log:\n%s" % (
            what, self.name, self.rdtype, self.want, len(self.bad), self.n, self.bad[:10], self.srv.log()[-4000:])


def statuses(reqs):
    return [e.get("status") for _, _, e in reqs]


# ------------------------------------------------------------------------------------ the protocol
def test_list_then_watch_from_the_lists_resource_version(start_server, fake):
    srv = start_kube(start_server, fake)
    rv = str(fake.resource_version)
    for res in ("services", "endpointslices"):
        reqs = api_requests(fake, res)
        assert reqs, "no %s request at all: %s" % (res, [r["path"] for r in fake.requests()])
        kind, q, _ = reqs[0]
        assert kind == "list", "%s: the first request must be a LIST, got %s %s" % (res, kind, q)
        assert int(q.get("limit", "0")) > 0, "%s: LIST must be paginated (limit=N): %s" % (res, q)
        watches = [q for k, q, _ in reqs if k == "watch"]
        assert watches, "%s: no WATCH after the LIST: %s" % (res, [(k, q) for k, q, _ in reqs])
        w = watches[0]
        assert w.get("resourceVersion") == rv, "%s: WATCH must start at the list's resourceVersion %s: %s" % (
            res, rv, w)
        assert w.get("allowWatchBookmarks") in ("true", "1"), "%s: bookmarks not requested: %s" % (res, w)
    assert fake.wait_for_watches(2, timeout=2.0), fake.watches()
    # What the initial LIST brought is served: a headless service from its EndpointSlice, a PTR.
    wait_answer(srv, svc("db", "prod"), ("NOERROR", ["10.244.1.10", "10.244.1.9"]))
    wait_answer(srv, "10.1.96.10.in-addr.arpa.", ("NOERROR", ["web.prod.svc.cluster.local."]), rdtype="PTR")
    wait_answer(srv, svc("nope", "prod"), ("NXDOMAIN", []))


def test_only_needed_resources_are_watched(start_server, fake):
    """Pods only for `pods verified`/`endpoint_pod_names`; core/v1 Endpoints only without
    EndpointSlices. (Namespaces are always watched, as CoreDNS does: a name in a namespace that does
    not exist is NXDOMAIN, see test_namespace_existence_gates_answers.)"""
    start_kube(start_server, fake)
    fake.wait_for_watches(2, timeout=2.0)
    time.sleep(0.3)
    assert not api_requests(fake, "pods"), "pods requested without pods verified / endpoint_pod_names"
    assert not api_requests(fake, "endpoints"), "core/v1 endpoints requested although EndpointSlices exist"
    for kind, q, _ in api_requests(fake, "namespaces"):
        assert not q.get("labelSelector"), "namespaces %s with a selector but no namespace_labels: %s" % (kind, q)


def test_namespace_existence_gates_answers(start_server, fake):
    """CoreDNS answers only for namespaces that exist (namespaceExposed): a Service whose Namespace
    object is absent is NXDOMAIN; creating the namespace exposes it, deleting hides it again."""
    srv = start_kube(start_server, fake)
    fake.add(fa.service("early", "late-ns", cluster_ip="10.96.6.1"))
    fake.add(fa.service("marker", "prod", cluster_ip="10.96.6.2"))
    wait_answer(srv, svc("marker", "prod"), ("NOERROR", ["10.96.6.2"]))
    wait_answer(srv, svc("early", "late-ns"), ("NXDOMAIN", []), what="namespace does not exist yet")
    fake.add(fa.namespace("late-ns"))
    wait_answer(srv, svc("early", "late-ns"), ("NOERROR", ["10.96.6.1"]), what="Namespace ADDED")
    fake.delete("namespaces", None, "late-ns")
    wait_answer(srv, svc("early", "late-ns"), ("NXDOMAIN", []), what="Namespace DELETED")


def test_paginated_initial_list(start_server, fake):
    n = 2600
    fake.add(fa.namespace("bulk"))
    fake.bulk([("add", fa.service("bulk-%04d" % i, "bulk", cluster_ip="10.97.%d.%d" % (i // 250, i % 250 + 1)))
               for i in range(n)])
    srv = start_kube(start_server, fake, sync=(svc("bulk-%04d" % (n - 1), "bulk"),
                                               ("NOERROR", ["10.97.10.100"])))
    wait_answer(srv, svc("bulk-0000", "bulk"), ("NOERROR", ["10.97.0.1"]))
    wait_answer(srv, svc("bulk-1300", "bulk"), ("NOERROR", ["10.97.5.51"]))
    lists = [q for k, q, _ in api_requests(fake, "services") if k == "list"]
    limit = int(lists[0].get("limit", "0"))
    assert 0 < limit, lists[0]
    if limit < n + 8:
        assert any(q.get("continue") for q in lists), "more than limit=%d services but no continue: %s" % (
            limit, lists)
    wait_answer(srv, WEB[0], WEB[1])


# ---------------------------------------------------------------------------- each kind, live
def test_service_add_modify_delete(start_server, fake):
    srv = start_kube(start_server, fake)
    name = svc("new", "prod")
    wait_answer(srv, name, ("NXDOMAIN", []))
    fake.add(fa.service("new", "prod", cluster_ip="10.96.3.3", ports=(("http", "TCP", 80),)))
    wait_answer(srv, name, ("NOERROR", ["10.96.3.3"]), what="ADDED service")
    wait_answer(srv, "3.3.96.10.in-addr.arpa.", ("NOERROR", ["new.prod.svc.cluster.local."]), rdtype="PTR")
    wait_answer(srv, "_http._tcp." + name, ("NOERROR", ["0 100 80 new.prod.svc.cluster.local."]), rdtype="SRV")

    def port_8080(o):
        o["spec"]["ports"][0]["port"] = 8080
    fake.modify("services", "prod", "new", port_8080)
    wait_answer(srv, "_http._tcp." + name, ("NOERROR", ["0 100 8080 new.prod.svc.cluster.local."]), rdtype="SRV",
                what="MODIFIED service port")

    def to_external(o):
        o["spec"] = {"type": "ExternalName", "externalName": "example.org"}
    fake.modify("services", "prod", "new", to_external)
    wait_answer(srv, name, ("NOERROR", ["example.org."]), rdtype="CNAME", what="MODIFIED to ExternalName")
    wait_answer(srv, "3.3.96.10.in-addr.arpa.", ("NXDOMAIN", []), rdtype="PTR", what="old cluster IP's PTR")

    fake.delete("services", "prod", "new")
    wait_answer(srv, name, ("NXDOMAIN", []), rdtype="CNAME", what="DELETED service")
    wait_answer(srv, name, ("NXDOMAIN", []))
    wait_answer(srv, WEB[0], WEB[1])


def test_endpointslice_add_modify_delete(start_server, fake):
    srv = start_kube(start_server, fake)
    fake.add(fa.service("hl", "prod"))  # headless
    name = svc("hl", "prod")
    fake.add(fa.endpointslice("hl-a", "prod", "hl", [("10.244.7.1", "hl-0", True), ("10.244.7.2", "hl-1", True)]))
    wait_answer(srv, name, ("NOERROR", ["10.244.7.1", "10.244.7.2"]), what="ADDED slice")
    wait_answer(srv, "hl-0." + name, ("NOERROR", ["10.244.7.1"]))

    def change(o):
        o["endpoints"][1]["conditions"] = {"ready": False, "serving": False, "terminating": True}
        o["endpoints"].append({"addresses": ["10.244.7.3"], "conditions": {"ready": True}, "hostname": "hl-2"})
    fake.modify("endpointslices", "prod", "hl-a", change)
    wait_answer(srv, name, ("NOERROR", ["10.244.7.1", "10.244.7.3"]), what="MODIFIED slice (not ready + new)")
    wait_answer(srv, "hl-2." + name, ("NOERROR", ["10.244.7.3"]))
    wait_answer(srv, "hl-1." + name, ("NXDOMAIN", []), what="a not-ready endpoint's name")

    # A second slice of the same service is merged; an address listed in both counts once.
    fake.add(fa.endpointslice("hl-b", "prod", "hl", [("10.244.7.1", None, True), ("10.244.7.4", None, True)]))
    wait_answer(srv, name, ("NOERROR", ["10.244.7.1", "10.244.7.3", "10.244.7.4"]), what="two slices merged")

    fake.delete("endpointslices", "prod", "hl-a")
    wait_answer(srv, name, ("NOERROR", ["10.244.7.1", "10.244.7.4"]), what="DELETED one of two slices")
    wait_answer(srv, "hl-0." + name, ("NXDOMAIN", []))
    fake.delete("endpointslices", "prod", "hl-b")
    wait_answer(srv, name, lambda got: got[0] in ("NOERROR", "NXDOMAIN") and not got[1],
                what="DELETED last slice: no address left")
    # A ClusterIP service's answers do not depend on its endpoints, but its endpoint names do.
    fake.modify("endpointslices", "prod", "web-x7k2p",
                lambda o: o["endpoints"][0].update(hostname="web-a"))
    wait_answer(srv, "web-a." + svc("web", "prod"), ("NOERROR", ["10.244.1.5"]))
    wait_answer(srv, WEB[0], WEB[1])


def test_replacing_a_services_only_slice_never_empties_it(start_server, fake):
    """The intermittent-NXDOMAIN trap: a burst that deletes a slice and adds its replacement is one
    change; the headless service never answers empty or NXDOMAIN in between."""
    srv = start_kube(start_server, fake)
    fake.add(fa.service("rs", "prod"))
    fake.add(fa.endpointslice("rs-0", "prod", "rs", ["10.244.8.1", "10.244.8.2"]))
    want = ["10.244.8.1", "10.244.8.2"]
    wait_answer(srv, svc("rs", "prod"), ("NOERROR", want))
    w = Watcher(srv, svc("rs", "prod"), ("NOERROR", want))
    for i in range(1, 6):
        fake.bulk([("delete", "endpointslices", "prod", "rs-%d" % (i - 1)),
                   ("add", fa.endpointslice("rs-%d" % i, "prod", "rs", ["10.244.8.1", "10.244.8.2"]))])
        time.sleep(0.3)
    w.stop_and_check("slice replaced in one burst")
    fake.bulk([("delete", "endpointslices", "prod", "rs-5"),
               ("add", fa.endpointslice("rs-6", "prod", "rs", ["10.244.8.3"]))])
    wait_answer(srv, svc("rs", "prod"), ("NOERROR", ["10.244.8.3"]))


def test_pod_add_modify_delete_with_pods_verified(start_server, fake):
    srv = start_kube(start_server, fake, options=["pods verified"])
    reqs = api_requests(fake, "pods")
    assert [k for k, _, _ in reqs][:2] == ["list", "watch"], reqs
    wait_answer(srv, pod_name("10.244.1.5", "prod"), ("NOERROR", ["10.244.1.5"]), what="listed pod")
    new, moved = pod_name("10.244.5.5", "prod"), pod_name("10.244.5.6", "prod")
    wait_answer(srv, new, ("NXDOMAIN", []))
    fake.add(fa.pod("p1", "prod", "10.244.5.5"))
    wait_answer(srv, new, ("NOERROR", ["10.244.5.5"]), what="ADDED pod")
    wait_answer(srv, pod_name("10.244.5.5", "staging"), ("NXDOMAIN", []), what="pod IP in another namespace")

    def move(o):
        o["status"]["podIP"] = "10.244.5.6"
        o["status"]["podIPs"] = [{"ip": "10.244.5.6"}]
    fake.modify("pods", "prod", "p1", move)
    wait_answer(srv, moved, ("NOERROR", ["10.244.5.6"]), what="MODIFIED pod IP")
    wait_answer(srv, new, ("NXDOMAIN", []), what="the pod's old IP")
    fake.delete("pods", "prod", "p1")
    wait_answer(srv, moved, ("NXDOMAIN", []), what="DELETED pod")
    wait_answer(srv, WEB[0], WEB[1])


def test_namespace_labels_add_modify_delete(start_server, fake):
    srv = start_kube(start_server, fake, options=["namespace_labels env=prod"])
    ns_reqs = api_requests(fake, "namespaces")
    assert ns_reqs, "namespace_labels set but namespaces never requested"
    for kind, q, _ in ns_reqs:
        assert q.get("labelSelector") == "env=prod", "namespaces %s without the server-side selector: %s" % (
            kind, q)
    staging = svc("web", "staging")
    wait_answer(srv, staging, ("NXDOMAIN", []), what="namespace not matching namespace_labels")
    wait_answer(srv, svc("kubernetes", "default"), ("NXDOMAIN", []))

    fake.modify("namespaces", None, "staging", lambda o: o["metadata"]["labels"].update(env="prod"))
    wait_answer(srv, staging, ("NOERROR", ["10.96.2.10"]), what="namespace MODIFIED into the selector")

    fake.add(fa.service("q1", "qa", cluster_ip="10.96.4.1"))
    wait_answer(srv, svc("q1", "qa"), ("NXDOMAIN", []))
    fake.add(fa.namespace("qa", {"env": "prod"}))
    wait_answer(srv, svc("q1", "qa"), ("NOERROR", ["10.96.4.1"]), what="namespace ADDED")
    fake.modify("namespaces", None, "qa", lambda o: o["metadata"]["labels"].update(env="dev"))
    wait_answer(srv, svc("q1", "qa"), ("NXDOMAIN", []), what="namespace MODIFIED out of the selector")

    fake.delete("namespaces", None, "staging")
    wait_answer(srv, staging, ("NXDOMAIN", []), what="namespace DELETED")
    wait_answer(srv, WEB[0], WEB[1])


# ------------------------------------------------------------------------ every way a watch breaks
@pytest.mark.parametrize("mode", ["clean", "abrupt", "mid_chunk", "mid_line", "reset"])
def test_dropped_stream_then_changes_still_arrive(start_server, fake, mode):
    srv = start_kube(start_server, fake)
    assert fake.wait_for_watches(2, timeout=2.0)
    mark = len(fake.requests())
    w = Watcher(srv, WEB[0], WEB[1])
    assert fake.drop_watches(mode) >= 2
    fake.add(fa.service("after", "prod", cluster_ip="10.96.3.40"))
    fake.delete("services", "prod", "ext")
    fake.modify("endpointslices", "prod", "api-4hd8s",
                lambda o: o["endpoints"].append({"addresses": ["10.244.1.88"], "conditions": {"ready": True},
                                                 "hostname": "api-b"}))
    wait_answer(srv, svc("after", "prod"), ("NOERROR", ["10.96.3.40"]), deadline_s=RECONNECT_S,
                what="ADDED after a %s drop" % mode)
    wait_answer(srv, svc("ext", "prod"), ("NXDOMAIN", []), rdtype="CNAME", what="DELETED after a %s drop" % mode)
    wait_answer(srv, "api-b." + svc("api", "prod"), ("NOERROR", ["10.244.1.88"]), deadline_s=RECONNECT_S,
                what="slice MODIFIED after a %s drop" % mode)
    w.stop_and_check("the last good snapshot serves while the watch reconnects")
    if mode in ("clean", "abrupt"):
        # A stream the server closed resumes from the last resourceVersion or bookmark: no relist.
        for res in ("services", "endpointslices"):
            after = api_requests(fake, res, since=mark)
            assert after and after[0][0] == "watch", "%s: after a %s close expected a WATCH resume, got %s" % (
                res, mode, [(k, q) for k, q, _ in after])
            assert after[0][1].get("resourceVersion") not in (None, "", "0"), after[0][1]
    assert srv.alive()


def test_410_relist_drops_objects_deleted_while_disconnected(start_server, fake):
    srv = start_kube(start_server, fake)
    wait_answer(srv, svc("api", "prod"), ("NOERROR", ["10.96.1.11"]))
    wait_answer(srv, svc("db", "prod"), ("NOERROR", ["10.244.1.10", "10.244.1.9"]))
    assert fake.wait_for_watches(2, timeout=2.0)
    mark = len(fake.requests())
    # New requests hang and open streams fall silent, then the streams are cut: the client cannot
    # see the changes below, and the history it would resume from is compacted away.
    fake.stall(requests=1000)
    fake.drop_watches("abrupt")
    fake.delete("services", "prod", "api")
    fake.delete("endpointslices", "prod", "db-9sd7f")
    fake.add(fa.service("fresh", "prod", cluster_ip="10.96.3.30"))
    fake.compact()
    hold_answer(srv, WEB[0], WEB[1], 0.5, what="last good snapshot while the API hangs")
    hold_answer(srv, svc("api", "prod"), ("NOERROR", ["10.96.1.11"]), 0.2, what="last good snapshot")
    w = Watcher(srv, WEB[0], WEB[1])
    fake.unstall()
    wait_answer(srv, svc("api", "prod"), ("NXDOMAIN", []), deadline_s=RECONNECT_S, what="deleted before the 410")
    wait_answer(srv, svc("fresh", "prod"), ("NOERROR", ["10.96.3.30"]), what="added before the 410")
    wait_answer(srv, svc("db", "prod"), lambda g: not g[1], what="slice deleted before the 410")
    w.stop_and_check("objects untouched by the relist must not flicker")
    relists = [k for k, _, _ in api_requests(fake, "services", since=mark) if k == "list"]
    assert relists, "no services LIST after the 410: %s" % [(k, q) for k, q, _ in api_requests(fake, "services",
                                                                                                since=mark)]
    # And the watch is live again.
    fake.add(fa.service("later", "prod", cluster_ip="10.96.3.31"))
    wait_answer(srv, svc("later", "prod"), ("NOERROR", ["10.96.3.31"]))


def test_410_error_event_mid_stream_relists(start_server, fake):
    srv = start_kube(start_server, fake)
    assert fake.wait_for_watches(2, timeout=2.0)
    fake.stall("services")
    fake.delete("services", "prod", "api")
    fake.compact()
    w = Watcher(srv, WEB[0], WEB[1])
    fake.drop_watches("expired", resource="services")   # ERROR {code: 410} then the 0-chunk
    wait_answer(srv, svc("api", "prod"), ("NXDOMAIN", []), deadline_s=RECONNECT_S, what="relist after ERROR 410")
    w.stop_and_check("objects untouched by the relist must not flicker")
    fake.unstall()
    fake.add(fa.service("later", "prod", cluster_ip="10.96.3.31"))
    wait_answer(srv, svc("later", "prod"), ("NOERROR", ["10.96.3.31"]), deadline_s=RECONNECT_S)


def test_api_down_at_start_then_up(start_server):
    """SERVFAIL (never NXDOMAIN, which clients would cache) until the first sync, also after
    startup_timeout; then answers."""
    port = free_port()
    srv = start_server(corefile(["endpoint http://127.0.0.1:%d" % port, "startup_timeout 1s"]), env=clean_env())
    end = time.monotonic() + 2.5   # well past startup_timeout
    seen = 0
    while time.monotonic() < end:
        for name in (WEB[0], svc("nope", "prod"), svc("x", "no-such-ns")):
            got = try_answer(srv, name)
            if got[0] == "TIMEOUT":
                continue
            seen += 1
            assert got == ("SERVFAIL", []), "%s before the first sync: expected SERVFAIL, got %s\n%s" % (
                name, got, srv.log())
        time.sleep(0.05)
    assert seen > 0, "no answer at all while the API is down (expected SERVFAIL):\n" + srv.log()
    fake = fa.FakeAPIServer(objects=DATA, port=port, bookmark_interval=0.2).start()
    try:
        wait_answer(srv, WEB[0], WEB[1], deadline_s=20.0, what="API came up")
        wait_answer(srv, svc("nope", "prod"), ("NXDOMAIN", []))
    finally:
        fake.stop()


def test_api_gone_keeps_serving_then_restarted_api_relists(start_server):
    port = free_port()
    fake = fa.FakeAPIServer(objects=DATA, port=port, bookmark_interval=0.2).start()
    try:
        srv = start_server(corefile(["endpoint %s" % fake.url]), env=clean_env())
        wait_answer(srv, WEB[0], WEB[1], deadline_s=STARTUP_S)
    finally:
        fake.stop()
    # Connection refused from now on: the synced snapshot keeps serving, NXDOMAIN stays NXDOMAIN.
    hold_answer(srv, WEB[0], WEB[1], 2.0, what="API gone")
    wait_answer(srv, svc("nope", "prod"), ("NXDOMAIN", []))
    # The API comes back from a restore: a higher history floor, so resuming gets 410 and relists.
    objs = json.load(open(DATA))
    objs["items"] = [o for o in objs["items"] if o["metadata"]["name"] != "api"]
    fake2 = fa.FakeAPIServer(objects=objs, port=port, base_rv=50000, bookmark_interval=0.2).start()
    try:
        fake2.add(fa.service("back", "prod", cluster_ip="10.96.3.50"))
        fake2.compact()
        wait_answer(srv, svc("back", "prod"), ("NOERROR", ["10.96.3.50"]), deadline_s=30.0, what="API back")
        wait_answer(srv, svc("api", "prod"), ("NXDOMAIN", []), what="object gone in the restored API")
        wait_answer(srv, WEB[0], WEB[1])
    finally:
        fake2.stop()


def test_stalled_watch_is_detected_and_reconnected(start_server, fake):
    """No bytes (not even the bookmarks asked for) for longer than the stall limit: the client drops
    the stream and reconnects by itself. `watch_stall_timeout` is this server's knob for that limit
    (default 90 s, above the API server's ~1 min bookmark period); a healthy stream that carries
    bookmarks is never cut."""
    srv = start_kube(start_server, fake, options=["watch_stall_timeout 2s"])
    assert fake.wait_for_watches(2, timeout=2.0)
    mark = len(fake.requests())
    t0 = time.monotonic()
    fake.stall("services")
    fake.add(fa.service("during-stall", "prod", cluster_ip="10.96.3.60"))
    hold_answer(srv, WEB[0], WEB[1], 0.5, what="while the stream is stalled")
    end = t0 + 8.0
    while not api_requests(fake, "services", since=mark):
        assert time.monotonic() < end, "stalled services watch not replaced within 8 s (limit 2 s):\n" + \
            srv.log()[-4000:]
        assert srv.alive()
        time.sleep(0.05)
    detect_s = time.monotonic() - t0
    assert detect_s >= 1.5, "the stream was replaced after %.2fs, before the 2 s stall limit" % detect_s
    fake.unstall()
    wait_answer(srv, svc("during-stall", "prod"), ("NOERROR", ["10.96.3.60"]), deadline_s=RECONNECT_S,
                what="change made during the stall (detected after %.1fs)" % detect_s)
    assert not api_requests(fake, "endpointslices", since=mark), \
        "the endpointslices watch carried bookmarks every 0.2 s and must not have been replaced"


@pytest.mark.parametrize("code", [500, 429, 503])
def test_server_errors_back_off_then_recover(start_server, fake, code):
    srv = start_kube(start_server, fake)
    assert fake.wait_for_watches(2, timeout=2.0)
    mark = len(fake.requests())
    fake.fail_next("services", n=4, code=code, retry_after=1)
    fake.drop_watches("clean", resource="services")
    hold_answer(srv, WEB[0], WEB[1], 1.0, what="last good snapshot during %d errors" % code)
    fake.add(fa.service("recovered", "prod", cluster_ip="10.96.3.70"))
    wait_answer(srv, svc("recovered", "prod"), ("NOERROR", ["10.96.3.70"]), deadline_s=40.0,
                what="after 4 × %d" % code)
    reqs = api_requests(fake, "services", since=mark)
    st = statuses(reqs)
    assert st[:4] == [code] * 4 and 200 in st[4:], "expected 4 × %d then a success: %s" % (code, st)
    times = [e["time"] for _, _, e in reqs[:5]]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # The first retry after a healthy stream may be immediate; from then on the waits must grow
    # exponentially (or, for 429/503, honour the server's Retry-After of 1 s every time).
    assert all(g >= 0.1 for g in gaps[1:]), "retries without backoff after %d: gaps %s" % (code, gaps)
    assert gaps[-1] >= 2 * gaps[1] or (code != 500 and min(gaps) >= 0.9), \
        "backoff after %d does not grow: gaps %s" % (code, gaps)


# ------------------------------------------------------------------------------------- filtering
def _scoped_to(q, entry, ns):
    fs = q.get("fieldSelector", "")
    return ("/namespaces/%s/" % ns) in entry["path"] + "/" or \
        any(t in fs for t in ("metadata.namespace=%s" % ns, "metadata.namespace==%s" % ns))


def test_namespaces_option_filters_server_side(start_server, fake):
    srv = start_kube(start_server, fake, options=["namespaces prod"])
    wait_answer(srv, svc("web", "staging"), ("NXDOMAIN", []), what="namespace not listed")
    wait_answer(srv, svc("kubernetes", "default"), ("NXDOMAIN", []))
    wait_answer(srv, "10.2.96.10.in-addr.arpa.", ("NXDOMAIN", []), rdtype="PTR")
    fake.add(fa.service("s2", "staging", cluster_ip="10.96.2.99"))
    fake.add(fa.service("p2", "prod", cluster_ip="10.96.1.99"))
    wait_answer(srv, svc("p2", "prod"), ("NOERROR", ["10.96.1.99"]))
    wait_answer(srv, svc("s2", "staging"), ("NXDOMAIN", []), what="added outside the namespaces")
    for res in ("services", "endpointslices"):
        reqs = api_requests(fake, res)
        assert reqs
        for kind, q, e in reqs:
            assert _scoped_to(q, e, "prod"), "%s %s not scoped to namespace prod: %s %s" % (res, kind, e["path"], q)


def test_namespaces_option_with_two_namespaces(start_server, fake):
    srv = start_kube(start_server, fake, options=["namespaces prod staging"])
    wait_answer(srv, svc("web", "staging"), ("NOERROR", ["10.96.2.10"]))
    wait_answer(srv, svc("kubernetes", "default"), ("NXDOMAIN", []))
    wait_answer(srv, svc("kube-dns", "kube-system"), ("NXDOMAIN", []))
    fake.add(fa.service("d2", "default", cluster_ip="10.96.0.99"))
    fake.add(fa.service("s2", "staging", cluster_ip="10.96.2.99"))
    wait_answer(srv, svc("s2", "staging"), ("NOERROR", ["10.96.2.99"]))
    wait_answer(srv, svc("d2", "default"), ("NXDOMAIN", []))


def _with_service_labels_on_slices():
    """fake_cluster.json with each EndpointSlice carrying its Service's labels, as the EndpointSlice
    controller copies them in a real cluster."""
    objs = json.load(open(DATA))
    labels = {(o["metadata"]["namespace"], o["metadata"]["name"]): o["metadata"].get("labels", {})
              for o in objs["items"] if o["kind"] == "Service"}
    for o in objs["items"]:
        if o["kind"] == "EndpointSlice":
            md = o["metadata"]
            md["labels"].update(labels.get((md["namespace"], md["labels"]["kubernetes.io/service-name"]), {}))
    return objs


def test_labels_option_filters_server_side(start_server):
    fake = fa.FakeAPIServer(objects=_with_service_labels_on_slices(), bookmark_interval=0.2).start()
    try:
        srv = start_kube(start_server, fake, options=["labels tier=frontend"])
        wait_answer(srv, svc("web", "staging"), ("NOERROR", ["10.96.2.10"]))
        wait_answer(srv, svc("api", "prod"), ("NXDOMAIN", []), what="label not matching")
        wait_answer(srv, svc("db", "prod"), ("NXDOMAIN", []))
        wait_answer(srv, svc("kubernetes", "default"), ("NXDOMAIN", []))
        for res in ("services", "endpointslices"):
            reqs = api_requests(fake, res)
            assert reqs
            for kind, q, _ in reqs:
                assert q.get("labelSelector") == "tier=frontend", "%s %s without labelSelector: %s" % (res, kind, q)
        # Objects entering and leaving the selector come as ADDED/DELETED on the filtered watch.
        fake.modify("services", "prod", "api", lambda o: o["metadata"]["labels"].update(tier="frontend"))
        wait_answer(srv, svc("api", "prod"), ("NOERROR", ["10.96.1.11"]), what="labels MODIFIED into the selector")
        fake.modify("services", "prod", "web", lambda o: o["metadata"]["labels"].update(tier="backend"))
        wait_answer(srv, WEB[0], ("NXDOMAIN", []), what="labels MODIFIED out of the selector")
    finally:
        fake.stop()


def test_set_based_labels_selector_reaches_the_server(start_server):
    expr = "app in (web, api),tier!=backend"
    fake = fa.FakeAPIServer(objects=_with_service_labels_on_slices(), bookmark_interval=0.2).start()
    try:
        srv = start_kube(start_server, fake, options=["labels " + expr])
        wait_answer(srv, svc("web", "staging"), ("NOERROR", ["10.96.2.10"]))
        wait_answer(srv, svc("lb", "staging"), ("NOERROR", ["10.96.2.20"]))
        wait_answer(srv, svc("api", "prod"), ("NXDOMAIN", []), what="tier=backend")
        wait_answer(srv, svc("db", "prod"), ("NXDOMAIN", []), what="app=db")
        want = fa.LabelSelector(expr)
        services = fake.list("services")
        for kind, q, _ in api_requests(fake, "services"):
            sel = q.get("labelSelector")
            assert sel, "services %s without labelSelector: %s" % (kind, q)
            got = fa.LabelSelector(sel)
            for o in services:
                lb = o["metadata"].get("labels", {})
                assert got.matches(lb) == want.matches(lb), "selector %r sent for %r differs on %s" % (sel, expr, lb)
    finally:
        fake.stop()


# ------------------------------------------------------------------ EndpointSlice → Endpoints, RBAC
def test_endpoints_fallback_when_the_api_has_no_endpointslices(start_server, fake):
    fake.set_absent("endpointslices")
    srv = start_kube(start_server, fake)
    wait_answer(srv, svc("db", "prod"), ("NOERROR", ["10.244.1.10", "10.244.1.9"]), what="from core/v1 Endpoints")
    reqs = api_requests(fake, "endpoints")
    assert [k for k, _, _ in reqs][:2] == ["list", "watch"], [(k, q) for k, q, _ in reqs]

    def grow(o):
        o["subsets"][0]["addresses"].append({"ip": "10.244.1.11", "hostname": "db-2"})
    fake.modify("endpoints", "prod", "db", grow)
    wait_answer(srv, svc("db", "prod"), ("NOERROR", ["10.244.1.10", "10.244.1.11", "10.244.1.9"]),
                what="Endpoints MODIFIED")
    wait_answer(srv, "db-2." + svc("db", "prod"), ("NOERROR", ["10.244.1.11"]))
    fake.add(fa.service("hl2", "prod"))
    fake.add(fa.endpoints("hl2", "prod", ["10.244.9.1"]))
    wait_answer(srv, svc("hl2", "prod"), ("NOERROR", ["10.244.9.1"]), what="Endpoints ADDED")
    fake.delete("endpoints", "prod", "hl2")
    wait_answer(srv, svc("hl2", "prod"), lambda g: not g[1], what="Endpoints DELETED")
    wait_answer(srv, WEB[0], WEB[1])


def test_forbidden_endpointslices_is_logged_once_with_the_missing_rule(start_server, fake):
    fake.forbid("endpointslices", ("list", "watch"))
    srv = start_server(corefile(["endpoint %s" % fake.url, "startup_timeout 1s"]), env=clean_env())
    end = time.monotonic() + STARTUP_S
    while not [s for s in statuses(api_requests(fake, "endpointslices")) if s == 403]:
        assert time.monotonic() < end, "endpointslices never requested:\n" + srv.log()
        time.sleep(0.05)
    # Not synced: a name that does not exist is SERVFAIL, never a cacheable NXDOMAIN.
    wait_answer(srv, svc("nope", "prod"), ("SERVFAIL", []), what="not synced (endpointslices forbidden)")
    time.sleep(4.0)  # room for retries, each of which must not log again
    attempts = statuses(api_requests(fake, "endpointslices"))
    lines = [ln for ln in srv.log().splitlines()
             if "endpointslices" in ln and ("403" in ln or "forbidden" in ln.lower())]
    assert len(lines) == 1, "the 403 must be logged exactly once (%d attempts), got %d lines:\n%s\n--- log:\n%s" % (
        len(attempts), len(lines), "\n".join(lines), srv.log()[-4000:])
    assert "discovery.k8s.io" in lines[0] and "list" in lines[0], \
        "the log line must name the missing rule (list/watch endpointslices in discovery.k8s.io): " + lines[0]
    hold_answer(srv, svc("nope", "prod"), ("SERVFAIL", []), 0.3)
    # Granting the rule lets the retry sync: then NXDOMAIN is the true answer.
    fake.allow()
    wait_answer(srv, svc("db", "prod"), ("NOERROR", ["10.244.1.10", "10.244.1.9"]), deadline_s=40.0,
                what="after the rule was granted")
    wait_answer(srv, svc("nope", "prod"), ("NXDOMAIN", []))


def test_startup_timeout_serves_what_it_has(start_server, fake):
    """Services synced, EndpointSlices forbidden: after startup_timeout the services are served
    (the issue: 'serves what it has and logs it'), while unknown names stay SERVFAIL."""
    fake.forbid("endpointslices", ("list", "watch"))
    srv = start_server(corefile(["endpoint %s" % fake.url, "startup_timeout 1s"]), env=clean_env())
    wait_answer(srv, WEB[0], WEB[1], deadline_s=STARTUP_S, what="ClusterIP service after startup_timeout")
    wait_answer(srv, svc("nope", "prod"), ("SERVFAIL", []))
    assert rcode_is("SERVFAIL")(try_answer(srv, svc("nope", "prod")))
