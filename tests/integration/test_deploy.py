# SPDX-License-Identifier: MIT
"""deploy/ validated offline: every document of every manifest is checked field by field against
the Kubernetes API types of Debian's python3-kubernetes (unknown fields fail, as a server-side
dry run with strict field validation would), then deserialized into its model; the Deployment's
probes and ports must agree with the Corefile in the ConfigMap, the Service with the Pods, and
the Corefile must pass `clusterdns -check` (skipped while this build lacks one of its plugins)."""
import glob
import os
import re
import subprocess

import pytest
import yaml

from conftest import BINARY, run_binary

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
client = pytest.importorskip("kubernetes.client", reason="python3-kubernetes is not installed (make deps)")

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object, "datetime": str,
              "date": str}


def manifests():
    out = []
    for path in sorted(glob.glob(os.path.join(DEPLOY, "*.yaml"))):
        with open(path) as f:
            for i, doc in enumerate(yaml.safe_load_all(f)):
                if doc:
                    out.append((os.path.basename(path), i, doc))
    return out


DOCS = manifests()


def model_name(doc):
    version = doc["apiVersion"].split("/")[-1]
    return version[0].upper() + version[1:] + doc["kind"]


def walk(value, typ, path, errors):
    """Checks value against the python client's type string typ (model name, list[...], dict(...))."""
    m = re.match(r"^list\[(.*)\]$", typ)
    if m:
        if not isinstance(value, list):
            errors.append("%s: expected a list, got %r" % (path, value))
            return
        for i, v in enumerate(value):
            walk(v, m.group(1), "%s[%d]" % (path, i), errors)
        return
    m = re.match(r"^dict\(([^,]*), (.*)\)$", typ)
    if m:
        if not isinstance(value, dict):
            errors.append("%s: expected a map, got %r" % (path, value))
            return
        for k, v in value.items():
            walk(v, m.group(2), "%s.%s" % (path, k), errors)
        return
    if typ in PRIMITIVES:
        if not isinstance(value, PRIMITIVES[typ]) or (typ == "int" and isinstance(value, bool)):
            errors.append("%s: expected %s, got %r" % (path, typ, value))
        return
    cls = getattr(client, typ)
    if not isinstance(value, dict):
        errors.append("%s: expected a %s object, got %r" % (path, typ, value))
        return
    by_json = {v: k for k, v in cls.attribute_map.items()}
    for k, v in value.items():
        if k not in by_json:
            errors.append("%s: unknown field %r in %s" % (path, k, typ))
            continue
        walk(v, cls.openapi_types[by_json[k]], "%s.%s" % (path, k), errors)


@pytest.mark.parametrize("name,i,doc", DOCS, ids=["%s-%d-%s" % (n, i, d.get("kind")) for n, i, d in DOCS])
def test_document_matches_api_types(name, i, doc):
    typ = model_name(doc)
    assert hasattr(client, typ), "%s #%d: no API type %s" % (name, i, typ)
    errors = []
    walk(doc, typ, doc["kind"], errors)
    assert not errors, "%s #%d:\n  %s" % (name, i, "\n  ".join(errors))
    # The models check required fields and enums when they are built.
    api = client.ApiClient()
    obj = api._ApiClient__deserialize(doc, typ)
    assert obj.metadata.name and obj.kind == doc["kind"]


def test_deserializer_rejects_unknown_fields():
    """The walk itself must fail on a misspelled field (so the test above can fail)."""
    errors = []
    walk({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"clusterIp": "1.2.3.4"}},
         "V1Service", "Service", errors)
    assert errors and "clusterIp" in errors[0]


def find(kind, name, file=None):
    got = [d for n, _, d in DOCS if d["kind"] == kind and d["metadata"]["name"] == name and (file is None or n == file)]
    assert len(got) == 1, "expected one %s %s, found %d" % (kind, name, len(got))
    return got[0]


def corefile_facts(text):
    """Ports the Corefile serves on: DNS (first block key), health, ready and prometheus."""
    facts = {"dns": 53, "health": None, "ready": None, "metrics": None}
    key = re.search(r"^\s*\S*?:(\d+)\s*(\S.*)?\{", text, re.M)
    if key:
        facts["dns"] = int(key.group(1))
    for directive, default in (("health", 8080), ("ready", 8181), ("prometheus", 9153)):
        m = re.search(r"^\s*%s(?:[ \t]+(\S+))?" % directive, text, re.M)
        if m:
            arg = m.group(1)
            port = default
            if arg and arg != "{" and ":" in arg:
                port = int(arg.rsplit(":", 1)[1])
            facts["metrics" if directive == "prometheus" else directive] = port
    return facts


def test_kube_system_set_is_complete():
    for kind, name in (("ServiceAccount", "coredns"), ("ClusterRole", "system:coredns"),
                       ("ClusterRoleBinding", "system:coredns"), ("ConfigMap", "coredns"), ("Deployment", "coredns"),
                       ("Service", "kube-dns"), ("PodDisruptionBudget", "coredns")):
        d = find(kind, name)
        if kind not in ("ClusterRole", "ClusterRoleBinding"):
            assert d["metadata"]["namespace"] == "kube-system"
    for rule in find("ClusterRole", "system:coredns")["rules"]:
        assert set(rule["verbs"]) <= {"list", "watch"}, rule


def test_deployment_agrees_with_corefile_and_service():
    cm = find("ConfigMap", "coredns")
    facts = corefile_facts(cm["data"]["Corefile"])
    assert facts == {"dns": 53, "health": 8080, "ready": 8181, "metrics": 9153}
    dep = find("Deployment", "coredns")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 2
    assert pod["priorityClassName"] == "system-cluster-critical" and pod["dnsPolicy"] == "Default"
    assert pod["affinity"]["podAntiAffinity"]
    assert pod["serviceAccountName"] == find("ServiceAccount", "coredns")["metadata"]["name"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (c,) = pod["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/health" and c["livenessProbe"]["httpGet"]["port"] == facts["health"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready" and c["readinessProbe"]["httpGet"]["port"] == facts["ready"]
    ports = {(p["containerPort"], p["protocol"]) for p in c["ports"]}
    assert ports == {(facts["dns"], "UDP"), (facts["dns"], "TCP"), (facts["metrics"], "TCP")}
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    # -conf points at the ConfigMap's key through the volume.
    assert c["args"] == ["-conf", "/etc/coredns/Corefile"]
    (mount,) = c["volumeMounts"]
    vol = [v for v in pod["volumes"] if v["name"] == mount["name"]][0]
    assert mount["mountPath"] == "/etc/coredns" and vol["configMap"]["name"] == "coredns"
    assert {"key": "Corefile", "path": "Corefile"} in vol["configMap"]["items"]

    svc = find("Service", "kube-dns")
    assert svc["spec"]["clusterIP"] == "10.96.0.10" and svc["metadata"]["labels"]["k8s-app"] == "kube-dns"
    assert svc["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    sports = {(p["port"], p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]}
    assert sports == {(53, "UDP", facts["dns"]), (53, "TCP", facts["dns"]), (9153, "TCP", facts["metrics"])}
    assert svc["metadata"]["annotations"]["prometheus.io/port"] == str(facts["metrics"])
    pdb = find("PodDisruptionBudget", "coredns")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_nodelocal_agrees_with_its_corefile():
    ds = find("DaemonSet", "node-local-dns")
    pod = ds["spec"]["template"]["spec"]
    facts = corefile_facts(find("ConfigMap", "node-local-dns")["data"]["Corefile"])
    (c,) = pod["containers"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "Default"
    assert c["livenessProbe"]["httpGet"]["port"] == facts["health"] == 8080
    assert {(p["containerPort"], p["protocol"]) for p in c["ports"]} == {(53, "UDP"), (53, "TCP"), (facts["metrics"], "TCP")}
    assert pod["volumes"][0]["configMap"]["name"] == "node-local-dns"


def test_dockerfile():
    text = open(os.path.join(DEPLOY, "Dockerfile")).read()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert stages == ["debian:12", "debian:12-slim"]
    runtime = text[text.rindex("FROM "):]
    for lib in ("libuv1", "libcurl4", "libcjson1", "libldns3", "liburcu8", "libyaml-0-2", "libmicrohttpd12"):
        assert lib in runtime
    assert "-dev" not in runtime and "build-essential" not in runtime
    assert re.search(r"^USER 65532", runtime, re.M) and 'ENTRYPOINT ["/clusterdns"]' in runtime
    # Every shared library the binary needs directly comes from one of those packages.
    out = subprocess.run(["ldd", BINARY], capture_output=True, text=True).stdout
    direct = subprocess.run(["readelf", "-d", BINARY], capture_output=True, text=True).stdout
    needed = re.findall(r"Shared library: \[(\S+)\]", direct)
    assert needed and out
    known = {"libuv.so.1", "libcurl.so.4", "libcjson.so.1", "libldns.so.3", "liburcu-qsbr.so.8", "libyaml-0.so.2",
             "libmicrohttpd.so.12", "liburcu-common.so.8", "liburcu.so.8", "libc.so.6", "libm.so.6", "libpthread.so.0"}
    sanitizers = {n for n in needed if re.match(r"^lib(asan|ubsan|tsan|stdc\+\+|gcc_s)\.", n)}  # make asan builds
    assert set(needed) - sanitizers <= known, set(needed) - sanitizers - known


def plugins_supported():
    res = run_binary(["-plugins"])
    return set(re.findall(r"^\s+dns\.(\S+)$", res.stdout, re.M))


def corefile_directives(text):
    skip = {"pods", "fallthrough", "ttl", "lameduck", "max_concurrent"}
    return {m.group(1) for m in re.finditer(r"^\s*([a-z_]+)(?=\s|$)", text, re.M)} - skip


KUBEADM_COREFILE = find("ConfigMap", "coredns")["data"]["Corefile"]
MISSING = corefile_directives(KUBEADM_COREFILE) - plugins_supported()


@pytest.mark.skipif(bool(MISSING), reason="this build lacks plugins of the kubeadm Corefile: %s" % sorted(MISSING))
def test_configmap_corefile_passes_check(tmp_path):
    cf = tmp_path / "Corefile"
    cf.write_text(KUBEADM_COREFILE)
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("t")
    (sa / "ca.crt").write_text("")
    (sa / "namespace").write_text("kube-system")
    env = dict(os.environ, KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT="6443",
               CLUSTERDNS_SERVICEACCOUNT_DIR=str(sa))
    res = run_binary(["-conf", str(cf), "-check"], env=env)
    assert res.returncode == 0, res.stdout + res.stderr


NODELOCAL_COREFILE = find("ConfigMap", "node-local-dns")["data"]["Corefile"]
MISSING_NL = corefile_directives(NODELOCAL_COREFILE) - plugins_supported()


@pytest.mark.skipif(bool(MISSING_NL), reason="this build lacks plugins of the node-local Corefile: %s" % sorted(MISSING_NL))
def test_nodelocal_corefile_passes_check(tmp_path):
    cf = tmp_path / "Corefile"
    # bind needs an address of this machine: 169.254.20.10 exists only on the nodes.
    cf.write_text(NODELOCAL_COREFILE.replace("169.254.20.10", "127.0.0.1"))
    env = dict(os.environ, KUBE_DNS_UPSTREAM_SERVICE_HOST="127.0.0.1")
    res = run_binary(["-conf", str(cf), "-check"], env=env)
    assert res.returncode == 0, res.stdout + res.stderr
