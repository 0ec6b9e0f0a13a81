# SPDX-License-Identifier: MIT
"""How clusterdns reaches the API server, as CoreDNS documents it: in-cluster (KUBERNETES_SERVICE_HOST/
PORT plus a service-account directory, here CLUSTERDNS_SERVICEACCOUNT_DIR), `kubeconfig PATH
[CONTEXT]` (certificate-authority(-data), client certificate/key data, token, tokenFile,
insecure-skip-tls-verify, current-context), `endpoint` + `tls CERT KEY CACERT`. TLS is verified
(CA and server name): a wrong CA gets no answers (SERVFAIL) and a log line saying why. A rotated
token file is picked up (also through the kubelet's ..data symlink swap) and no token is ever logged.
"""
import base64
import os
import shutil
import time
import uuid

import pytest
import yaml

from conftest import free_port, run_binary
from kube_helpers import (DATA, STARTUP_S, api_requests, bearer, clean_env, corefile, fa, hold_answer, svc,
                          try_answer, wait_answer)

WEB = (svc("web", "prod"), ("NOERROR", ["10.96.1.10"]))
TLS_REASON = ("certificate", "verif", "ssl", "tls", "x509", "issuer")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not os.access("/usr/bin/openssl", os.X_OK):
        pytest.skip("openssl not installed")
    return fa.make_test_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory):
    if not os.access("/usr/bin/openssl", os.X_OK):
        pytest.skip("openssl not installed")
    return fa.make_test_pki(str(tmp_path_factory.mktemp("pki-other")))


@pytest.fixture
def fakes():
    started = []

    def make(**kw):
        kw.setdefault("objects", DATA)
        kw.setdefault("bookmark_interval", 0.2)
        f = fa.FakeAPIServer(**kw).start()
        started.append(f)
        return f
    yield make
    for f in started:
        f.stop()


def token():
    return "tok-%s" % uuid.uuid4().hex


def b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def read(path):
    with open(path) as f:
        return f.read()


def kubeconfig(clusters, users, contexts, current):
    """A kubeconfig in the layout `kubectl config view --raw` prints."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": c} for n, c in contexts.items()],
        "current-context": current,
    }, default_flow_style=False, sort_keys=False)


def assert_no_secret_in_log(srv, *secrets):
    log = srv.log()
    for s in secrets:
        assert s not in log, "a token appears in the server's log"


def assert_refused_for_tls(srv, fake, what):
    """No answers from the cluster (SERVFAIL, never NXDOMAIN) and a log line saying why."""
    time.sleep(1.5)   # several connection attempts
    hold_answer(srv, WEB[0], ("SERVFAIL", []), 1.0, what=what)
    hold_answer(srv, svc("nope", "prod"), ("SERVFAIL", []), 0.3, what=what)
    log = srv.log().lower()
    assert any(w in log for w in TLS_REASON), "%s: the log must say why the API server is refused:\n%s" % (
        what, srv.log())
    assert not fake.requests(), "%s: requests reached the API despite failed verification: %s" % (
        what, [r["path"] for r in fake.requests()])


# -------------------------------------------------------------------------------------- kubeconfig
def test_kubeconfig_named_context_with_ca_data_and_token(start_server, fakes, pki):
    t = token()
    fake = fakes(tls=pki, token=t)
    dead = free_port()
    kc = kubeconfig(
        clusters={"prod-cluster": {"server": "https://127.0.0.1:%d" % dead,
                                   "certificate-authority-data": b64file(pki.ca_cert)},
                  "test-cluster": {"server": fake.url, "certificate-authority-data": b64file(pki.ca_cert)}},
        users={"admin": {"token": "wrong-" + t}, "coredns": {"token": t}},
        contexts={"prod": {"cluster": "prod-cluster", "user": "admin"},
                  "test": {"cluster": "test-cluster", "user": "coredns", "namespace": "kube-system"}},
        current="prod")
    # The kubeconfig's cluster is preferred over `endpoint` (CoreDNS: endpoint is then ignored).
    srv = start_server(corefile(["kubeconfig @DIR@/kubeconfig.yaml test", "endpoint http://127.0.0.1:%d" % dead]),
                       files={"kubeconfig.yaml": kc}, env=clean_env())
    wait_answer(srv, WEB[0], WEB[1], deadline_s=STARTUP_S, what="context 'test' selected by name")
    reqs = [e for _, _, e in api_requests(fake, "services")]
    assert reqs and all(bearer(e) == t for e in reqs), "the context's token must be sent"
    fake.add(fa.service("kc", "prod", cluster_ip="10.96.5.1"))
    wait_answer(srv, svc("kc", "prod"), ("NOERROR", ["10.96.5.1"]))
    assert_no_secret_in_log(srv, t, "wrong-" + t)


def test_kubeconfig_current_context_with_client_certificate_data(start_server, fakes, pki):
    fake = fakes(tls=pki, token=token())   # only the client certificate can authenticate
    kc = kubeconfig(
        clusters={"c": {"server": fake.url, "certificate-authority-data": b64file(pki.ca_cert)}},
        users={"u": {"client-certificate-data": b64file(pki.client_cert),
                     "client-key-data": b64file(pki.client_key)}},
        contexts={"other": {"cluster": "c", "user": "u", "namespace": "x"}, "main": {"cluster": "c", "user": "u"}},
        current="main")
    srv = start_server(corefile(["kubeconfig @DIR@/kubeconfig.yaml"]), files={"kubeconfig.yaml": kc},
                       env=clean_env())
    wait_answer(srv, WEB[0], WEB[1], deadline_s=STARTUP_S, what="current-context with client certificate")
    assert all(r.get("status") == 200 for r in fake.requests() if r["path"].startswith("/api/v1/services"))


def test_kubeconfig_relative_paths_and_token_file(start_server, fakes, pki):
    """certificate-authority and tokenFile relative to the kubeconfig's own directory (client-go's
    rule); the token file's trailing newline is not part of the token."""
    t = token()
    fake = fakes(tls=pki, token=t)
    kc = kubeconfig(
        clusters={"c": {"server": fake.url, "certificate-authority": "certs/ca.crt"}},
        users={"u": {"tokenFile": "token"}},
        contexts={"main": {"cluster": "c", "user": "u"}},
        current="main")
    srv = start_server(corefile(["kubeconfig @DIR@/kube/config"]),
                       files={"kube/config": kc, "kube/certs/ca.crt": read(pki.ca_cert), "kube/token": t + "\n"},
                       env=clean_env())
    wait_answer(srv, WEB[0], WEB[1], deadline_s=STARTUP_S, what="relative certificate-authority + tokenFile")
    assert all(bearer(e) == t for _, _, e in api_requests(fake, "services"))
    assert_no_secret_in_log(srv, t)


def test_kubeconfig_insecure_skip_tls_verify(start_server, fakes, pki):
    t = token()
    fake = fakes(tls=pki, token=t)
    kc = kubeconfig(clusters={"c": {"server": fake.url, "insecure-skip-tls-verify": True}},
                    users={"u": {"token": t}}, contexts={"main": {"cluster": "c", "user": "u"}}, current="main")
    srv = start_server(corefile(["kubeconfig @DIR@/kubeconfig.yaml"]), files={"kubeconfig.yaml": kc},
                       env=clean_env())
    wait_answer(srv, WEB[0], WEB[1], deadline_s=STARTUP_S, what="insecure-skip-tls-verify: true")


def test_kubeconfig_wrong_ca_data_is_refused(start_server, fakes, pki, other_pki):
    t = token()
    fake = fakes(tls=pki, token=t)
    kc = kubeconfig(clusters={"c": {"server": fake.url, "certificate-authority-data": b64file(other_pki.ca_cert)}},
                    users={"u": {"token": t}}, contexts={"main": {"cluster": "c", "user": "u"}}, current="main")
    srv = start_server(corefile(["kubeconfig @DIR@/kubeconfig.yaml", "startup_timeout 1s"]),
                       files={"kubeconfig.yaml": kc}, env=clean_env())
    assert_refused_for_tls(srv, fake, "kubeconfig CA of another PKI")
    assert_no_secret_in_log(srv, t)


def bad_kubeconfig_cases(tmp_path, pki):
    kc = kubeconfig(clusters={"c": {"server": "https://127.0.0.1:6443",
                                    "certificate-authority-data": b64file(pki.ca_cert)}},
                    users={"u": {"token": "x"}}, contexts={"main": {"cluster": "c", "user": "u"}}, current="main")
    (tmp_path / "kubeconfig.yaml").write_text(kc)
    return (("kubeconfig %s/kubeconfig.yaml nope-ctx" % tmp_path, "nope-ctx"),
            ("kubeconfig %s/missing.yaml" % tmp_path, "missing.yaml"))


def test_kubeconfig_unknown_context_or_missing_file_fails_startup(start_server, tmp_path, pki):
    for opt, needle in bad_kubeconfig_cases(tmp_path, pki):
        srv = start_server(corefile([opt]), env=clean_env(), wait=False)
        try:
            srv.proc.wait(15)
        except Exception:
            pytest.fail("%s: clusterdns kept running:\n%s" % (opt, srv.log()))
        assert srv.proc.returncode != 0
        assert needle in srv.log(), "%s: the error must name %s:\n%s" % (opt, needle, srv.log())


def test_check_catches_unknown_context_or_missing_kubeconfig(tmp_path, pki):
    """`-check` sets the configuration up, so it fails where starting would."""
    for opt, needle in bad_kubeconfig_cases(tmp_path, pki):
        cf = tmp_path / "Corefile"
        cf.write_text(corefile([opt]).replace("@PORT@", str(free_port())))
        r = run_binary(["-conf", str(cf), "-check"], env=clean_env())
        assert r.returncode != 0, "%s: -check must fail:\n%s%s" % (opt, r.stdout, r.stderr)
        assert needle in r.stdout + r.stderr, "%s: the error must name %s:\n%s%s" % (opt, needle, r.stdout, r.stderr)


# -------------------------------------------------------------------------------------- in-cluster
def write_sa_dir(d, tok, ca, layout):
    """A service-account directory: plain files ("rewrite"), or the kubelet's atomic-writer layout
    (token -> ..data/token, ..data -> ..<timestamp>/) that rotation swaps with one rename."""
    os.makedirs(d, exist_ok=True)
    files = {"token": tok, "ca.crt": read(ca), "namespace": "kube-system"}
    if layout == "rewrite":
        for n, c in files.items():
            with open(os.path.join(d, n), "w") as f:
                f.write(c)
        return
    ts = "..%s" % time.strftime("%Y_%m_%d_%H_%M_%S.") + "%09d" % (time.time_ns() % 10**9)
    os.makedirs(os.path.join(d, ts))
    for n, c in files.items():
        with open(os.path.join(d, ts, n), "w") as f:
            f.write(c)
    old = os.path.realpath(os.path.join(d, "..data")) if os.path.islink(os.path.join(d, "..data")) else None
    os.symlink(ts, os.path.join(d, "..data_tmp"))
    os.rename(os.path.join(d, "..data_tmp"), os.path.join(d, "..data"))
    for n in files:
        if not os.path.islink(os.path.join(d, n)):
            os.symlink(os.path.join("..data", n), os.path.join(d, n))
    if old:
        shutil.rmtree(old)


def rotate_token(d, tok, ca, layout):
    if layout == "rewrite":
        with open(os.path.join(d, "token"), "w") as f:   # in place, as a naive writer would
            f.write(tok)
    else:
        write_sa_dir(d, tok, ca, layout)


def in_cluster_env(fake, sa_dir):
    return clean_env(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=fake.port,
                     CLUSTERDNS_SERVICEACCOUNT_DIR=sa_dir)


def test_in_cluster_config_from_env_and_service_account_dir(start_server, fakes, pki, tmp_path):
    t = token()
    fake = fakes(tls=pki, token=t)
    sa = str(tmp_path / "sa")
    write_sa_dir(sa, t, pki.ca_cert, "rewrite")
    srv = start_server(corefile([]), env=in_cluster_env(fake, sa))
    wait_answer(srv, WEB[0], WEB[1], deadline_s=STARTUP_S, what="in-cluster config")
    assert all(bearer(e) == t for _, _, e in api_requests(fake, "services")), "service-account token not sent"
    fake.add(fa.service("ic", "prod", cluster_ip="10.96.5.2"))
    wait_answer(srv, svc("ic", "prod"), ("NOERROR", ["10.96.5.2"]))
    assert_no_secret_in_log(srv, t)


def test_in_cluster_with_a_ca_that_did_not_sign_the_server_is_refused(start_server, fakes, pki, other_pki, tmp_path):
    t = token()
    fake = fakes(tls=pki, token=t)
    sa = str(tmp_path / "sa")
    write_sa_dir(sa, t, other_pki.ca_cert, "rewrite")
    srv = start_server(corefile(["startup_timeout 1s"]), env=in_cluster_env(fake, sa))
    assert_refused_for_tls(srv, fake, "in-cluster ca.crt of another PKI")


def test_no_endpoint_and_no_in_cluster_env_is_a_startup_error(start_server):
    srv = start_server(corefile([]), env=clean_env(), wait=False)
    end = time.monotonic() + 15
    while srv.alive():
        assert time.monotonic() < end, "clusterdns kept running without any way to reach the API:\n" + srv.log()
        time.sleep(0.05)
    assert srv.proc.returncode != 0
    assert "KUBERNETES_SERVICE_HOST" in srv.log(), srv.log()


@pytest.mark.parametrize("layout", ["rewrite", "atomic_writer"])
def test_rotated_token_is_picked_up_and_never_logged(start_server, fakes, pki, tmp_path, layout):
    t1, t2 = token(), token()
    fake = fakes(tls=pki, token=t1)
    sa = str(tmp_path / "sa")
    write_sa_dir(sa, t1, pki.ca_cert, layout)
    srv = start_server(corefile([]), env=in_cluster_env(fake, sa))
    wait_answer(srv, WEB[0], WEB[1], deadline_s=STARTUP_S, what="in-cluster, first token")
    # The kubelet rotates the file; the API server stops accepting the old token; streams reconnect.
    rotate_token(sa, t2, pki.ca_cert, layout)
    fake.set_token(t2)
    mark = len(fake.requests())
    fake.drop_watches("clean")
    fake.add(fa.service("rotated", "prod", cluster_ip="10.96.5.3"))
    wait_answer(srv, svc("rotated", "prod"), ("NOERROR", ["10.96.5.3"]), deadline_s=15.0,
                what="a change after the token rotated (%s)" % layout)
    ok = [e for e in fake.requests()[mark:] if e.get("status") == 200 and e["path"].startswith("/api")]
    assert ok and all(bearer(e) == t2 for e in ok), "accepted requests after rotation must carry the new token"
    hold_answer(srv, WEB[0], WEB[1], 0.3)
    assert_no_secret_in_log(srv, t1, t2)


# ----------------------------------------------------------------------------------- endpoint + tls
def test_tls_wrong_ca_refused_and_right_ca_works(start_server, fakes, pki, other_pki):
    fake = fakes(tls=pki, token=token())  # only the client certificate can authenticate
    bad = start_server(corefile(["endpoint %s" % fake.url, "startup_timeout 1s",
                                 "tls %s %s %s" % (pki.client_cert, pki.client_key, other_pki.ca_cert)]),
                       env=clean_env())
    assert_refused_for_tls(bad, fake, "tls CACERT of another PKI")
    bad.stop()
    good = start_server(corefile(["endpoint %s" % fake.url,
                                  "tls %s %s %s" % (pki.client_cert, pki.client_key, pki.ca_cert)]),
                        env=clean_env())
    wait_answer(good, WEB[0], WEB[1], deadline_s=STARTUP_S, what="tls with the right CA and a client certificate")
    fake.add(fa.service("tls", "prod", cluster_ip="10.96.5.4"))
    wait_answer(good, svc("tls", "prod"), ("NOERROR", ["10.96.5.4"]))


def test_tls_server_name_is_verified(start_server, fakes, pki):
    """The right CA but an address the certificate does not name (SANs: 127.0.0.1, ::1, localhost)."""
    fake = fakes(tls=pki, host="127.0.0.2", token=token())
    srv = start_server(corefile(["endpoint %s" % fake.url, "startup_timeout 1s",
                                 "tls %s %s %s" % (pki.client_cert, pki.client_key, pki.ca_cert)]),
                       env=clean_env())
    assert_refused_for_tls(srv, fake, "certificate not valid for 127.0.0.2")
    assert try_answer(srv, WEB[0])[0] == "SERVFAIL"
