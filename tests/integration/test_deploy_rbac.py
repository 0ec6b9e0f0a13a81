# SPDX-License-Identifier: MIT
"""deploy/rbac.yaml grants exactly what the kubernetes plugin watches: list and watch on services,
endpoints, pods, namespaces (core) and endpointslices (discovery.k8s.io), nothing more, bound to
the coredns ServiceAccount in kube-system. Checked twice: by parsing the manifest, and against the
requests the real binary makes to the fake API server with every watched kind enabled."""
import os
import urllib.parse

import pytest
import yaml

from kube_helpers import DATA, STARTUP_S, clean_env, corefile, fa, svc, wait_answer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RBAC = os.path.join(ROOT, "deploy", "rbac.yaml")
EXPECTED = {(g, r, v) for g, rs in (("", ("services", "endpoints", "pods", "namespaces")),
                                    ("discovery.k8s.io", ("endpointslices",)))
            for r in rs for v in ("list", "watch")}


def docs():
    with open(RBAC) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(kind):
    found = [d for d in docs() if d.get("kind") == kind]
    assert len(found) == 1, "expected one %s in deploy/rbac.yaml, found %d" % (kind, len(found))
    return found[0]


def granted(role):
    out = set()
    for rule in role.get("rules") or []:
        extra = set(rule) - {"apiGroups", "resources", "verbs"}
        assert not extra, "rule with %s (resourceNames/nonResourceURLs widen or narrow it): %s" % (extra, rule)
        for field in ("apiGroups", "resources", "verbs"):
            assert rule.get(field), "rule without %s: %s" % (field, rule)
            assert "*" not in rule[field], "wildcard in %s: %s" % (field, rule)
        out |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return out


def test_manifest_holds_the_three_objects_only():
    kinds = sorted(d["kind"] for d in docs())
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "ServiceAccount"], kinds
    for d in docs():
        assert d.get("apiVersion") == ("v1" if d["kind"] == "ServiceAccount" else "rbac.authorization.k8s.io/v1"), d


def test_service_account():
    sa = one("ServiceAccount")
    assert sa["metadata"]["name"] == "coredns" and sa["metadata"]["namespace"] == "kube-system", sa["metadata"]


def test_cluster_role_is_exactly_list_and_watch_on_the_watched_kinds():
    role = one("ClusterRole")
    assert role["metadata"]["name"] == "system:coredns"
    assert "namespace" not in role["metadata"], "a ClusterRole is cluster-scoped"
    got = granted(role)
    assert got == EXPECTED, "missing: %s; more than needed: %s" % (sorted(EXPECTED - got), sorted(got - EXPECTED))


def test_binding_ties_the_role_to_the_service_account():
    crb, role, sa = one("ClusterRoleBinding"), one("ClusterRole"), one("ServiceAccount")
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": role["metadata"]["name"]}, crb["roleRef"]
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                "namespace": sa["metadata"]["namespace"]}], crb["subjects"]


def used_permissions(fake):
    """(group, resource, verb) of every API request in the fake's log (discovery excluded)."""
    out = set()
    for r in fake.requests():
        segs = [s for s in r["path"].split("/") if s]
        if segs[:2] == ["api", "v1"]:
            group, rest = "", segs[2:]
        elif segs[:1] == ["apis"] and len(segs) >= 3:
            group, rest = segs[1], segs[3:]
        else:
            continue   # /version, /api, /apis: discovery, open to every authenticated user
        watch = rest[:1] == ["watch"]
        rest = rest[1:] if watch else rest
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            rest = rest[2:]
        if not rest:
            continue
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(r["path"]).query)
        q.update(r.get("query") or {})
        watch = watch or (q.get("watch") or [""])[-1] in ("1", "true")
        verb = "watch" if watch else ("get" if len(rest) > 1 else "list")
        out.add((group, rest[0], verb))
    return out


@pytest.mark.parametrize("slices", [True, False], ids=["endpointslices", "endpoints-fallback"])
def test_the_binary_needs_no_more_than_the_role(start_server, slices):
    """With pods verified and namespace_labels every kind is watched; every request the binary makes
    is one the ClusterRole grants."""
    fake = fa.FakeAPIServer(objects=DATA, bookmark_interval=0.2).start()
    try:
        if not slices:
            fake.set_absent("endpointslices")
        srv = start_server(corefile(["endpoint %s" % fake.url, "pods verified", "namespace_labels env",
                                     "endpoint_pod_names"]), env=clean_env())
        wait_answer(srv, svc("db", "prod"), ("NOERROR", ["10.244.1.10", "10.244.1.9"]), deadline_s=STARTUP_S)
        fake.wait_for_watches(4, timeout=3.0)
        used = used_permissions(fake)
        assert used <= EXPECTED, "the binary uses permissions the ClusterRole does not grant: %s" % sorted(
            used - EXPECTED)
        kinds = {r for _, r, _ in used}
        want = {"services", "pods", "namespaces", "endpointslices" if slices else "endpoints"}
        assert want <= kinds, "expected %s to be watched, saw %s" % (sorted(want), sorted(used))
    finally:
        fake.stop()


def test_the_deployment_runs_as_the_bound_service_account():
    """deploy/coredns.yaml's Deployment uses the ServiceAccount this role is bound to."""
    path = os.path.join(ROOT, "deploy", "coredns.yaml")
    if not os.path.exists(path):
        pytest.skip("no deploy/coredns.yaml")
    with open(path) as f:
        deps = [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "Deployment"]
    assert deps, "no Deployment in deploy/coredns.yaml"
    sa = one("ServiceAccount")["metadata"]
    for d in deps:
        assert d["metadata"].get("namespace") == sa["namespace"], d["metadata"]
        assert d["spec"]["template"]["spec"].get("serviceAccountName") == sa["name"], \
            "the Deployment must run as %s/%s to get the ClusterRole" % (sa["namespace"], sa["name"])
