# SPDX-License-Identifier: MIT
"""The real client a pod uses: glibc's resolver (getent) with a pod's resolv.conf (search path,
ndots:5), talking to clusterdns on 127.0.0.1:53 inside a network namespace of our own.

Needs root and `ip netns`; skipped otherwise. Everything created here (the namespace,
/etc/netns/NAME, the server process) is removed at the end; the server is killed by its PID.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import BINARY, k8s_list, k8s_pod, k8s_service, k8s_slice

COREFILE = """\
cluster.local:53 in-addr.arpa:53 {
    bind 127.0.0.1
    errors
    kubernetes cluster.local in-addr.arpa {
        objects cluster.json
    }
}
"""
RESOLV = """\
search default.svc.cluster.local svc.cluster.local cluster.local
options ndots:5
nameserver 127.0.0.1
"""
HEADLESS_READY = ["10.244.5.1", "10.244.5.2", "10.244.5.3", "10.244.5.4"]
HEADLESS_NOT_READY = "10.244.5.99"
STS = [("web-0", "10.244.6.10"), ("web-1", "10.244.6.11")]
MANY = ["10.244.8.%d" % i for i in range(1, 81)]   # 80 A records: over 512 octets, glibc retries over TCP


def objects_json():
    items = [
        k8s_service("kubernetes", cluster_ip="10.96.0.1", ports=(("https", "TCP", 443),)),
        k8s_slice("kubernetes", [("172.18.0.2", None, True)], ports=(("https", "TCP", 6443),)),
        k8s_service("api", ns="shop", cluster_ip="10.96.7.7"),
        k8s_service("peers"),
        k8s_slice("peers", [(ip, None, True) for ip in HEADLESS_READY] + [(HEADLESS_NOT_READY, None, False)]),
        k8s_service("nginx"),
        k8s_slice("nginx", [(ip, host, True) for host, ip in STS]),
        k8s_service("many"),
        k8s_slice("many", [(ip, None, True) for ip in MANY]),
    ]
    items += [k8s_pod(h, ip, hostname=h, subdomain="nginx") for h, ip in STS]
    return k8s_list(items, namespaces=("default", "shop"))


def run(cmd, check=True, timeout=20):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)


@pytest.fixture(scope="module")
def netns(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace and /etc/netns/NAME")
    if not os.path.exists(BINARY):
        pytest.fail("binary %s is missing" % BINARY)
    name = "cdns-test-%d" % os.getpid()
    try:
        r = run(["ip", "netns", "add", name], check=False)
    except FileNotFoundError:
        pytest.skip("`ip` (iproute2) is not installed")
    if r.returncode != 0:
        pytest.skip("`ip netns add` failed (no CAP_SYS_ADMIN or no netns support?): %s" % r.stderr.strip())
    etc = os.path.join("/etc/netns", name)
    proc = None
    logf = None
    try:
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        # A pod has a non-loopback IPv4 address; without one glibc's AI_ADDRCONFIG (getent
        # ahostsv4) decides IPv4 is not configured and sends no query. Both veth ends stay inside.
        has_eth = run(["ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
                      check=False).returncode == 0
        if has_eth:
            run(["ip", "-n", name, "addr", "add", "10.244.99.5/24", "dev", "eth0"])
            run(["ip", "-n", name, "link", "set", "eth0", "up"])
            run(["ip", "-n", name, "link", "set", "eth1", "up"])
        os.makedirs(etc)
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write(RESOLV)
        work = tmp_path_factory.mktemp("netns")
        (work / "Corefile").write_text(COREFILE)
        (work / "cluster.json").write_text(objects_json())
        logpath = str(work / "clusterdns.log")
        logf = open(logpath, "w")
        # `ip netns exec` execs the command, so proc.pid is clusterdns itself.
        proc = subprocess.Popen(["ip", "netns", "exec", name, BINARY, "-conf", str(work / "Corefile")],
                                stdout=logf, stderr=subprocess.STDOUT, cwd=str(work))
        probe = ("import dns.message, dns.query; "
                 "dns.query.udp(dns.message.make_query('dns-version.cluster.local.', 'TXT'), '127.0.0.1', timeout=0.3)")
        end = time.time() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail("clusterdns exited (%s) in the namespace:\n%s" % (proc.returncode, open(logpath).read()))
            if run(["ip", "netns", "exec", name, sys.executable, "-c", probe], check=False).returncode == 0:
                break
            if time.time() > end:
                pytest.fail("clusterdns did not answer on 127.0.0.1:53 in the namespace:\n" + open(logpath).read())
            time.sleep(0.1)
        yield name, proc, logpath, has_eth
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        if logf is not None:
            logf.close()
        run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(etc, ignore_errors=True)


def getent(netns, db, key):
    name = netns[0]
    r = run(["ip", "netns", "exec", name, "getent", db, key], check=False)
    lines = [l.split() for l in r.stdout.splitlines() if l.strip()]
    return r.returncode, lines


def test_resolv_conf_is_the_pods(netns):
    r = run(["ip", "netns", "exec", netns[0], "cat", "/etc/resolv.conf"])
    assert "ndots:5" in r.stdout and "nameserver 127.0.0.1" in r.stdout


def test_service_through_search_path(netns):
    rc, lines = getent(netns, "hosts", "kubernetes.default")
    assert rc == 0, "getent hosts kubernetes.default failed (rc %d); server log:\n%s" % (rc, open(netns[2]).read())
    assert [l[0] for l in lines] == ["10.96.0.1"]
    assert lines[0][1] == "kubernetes.default.svc.cluster.local", lines


def test_short_name_in_own_namespace(netns):
    rc, lines = getent(netns, "hosts", "kubernetes")
    assert rc == 0
    assert [l[0] for l in lines] == ["10.96.0.1"]


def test_other_namespace_and_fqdn(netns):
    rc, lines = getent(netns, "hosts", "api.shop")
    assert rc == 0 and [l[0] for l in lines] == ["10.96.7.7"]
    rc, lines = getent(netns, "ahosts", "api.shop.svc.cluster.local.")
    assert rc == 0 and {l[0] for l in lines} == {"10.96.7.7"}


def test_headless_all_ready_endpoints(netns):
    rc, lines = getent(netns, "ahosts", "peers")
    assert rc == 0, "getent ahosts peers failed; server log:\n" + open(netns[2]).read()
    got = {l[0] for l in lines}
    assert got == set(HEADLESS_READY), "expected the ready endpoints %s, got %s" % (HEADLESS_READY, sorted(got))
    assert HEADLESS_NOT_READY not in got


def test_headless_ahostsv4(netns):
    if not netns[3]:
        pytest.skip("could not give the namespace a non-loopback address (veth)")
    rc, lines = getent(netns, "ahostsv4", "peers.default")
    assert rc == 0
    assert {l[0] for l in lines} == set(HEADLESS_READY)


def test_statefulset_pod_name(netns):
    for host, ip in STS:
        rc, lines = getent(netns, "hosts", "%s.nginx" % host)
        assert rc == 0, "getent hosts %s.nginx failed" % host
        assert [l[0] for l in lines] == [ip]
        assert lines[0][1] == "%s.nginx.default.svc.cluster.local" % host


def test_headless_truncated_answer_retried_over_tcp(netns):
    """80 endpoints do not fit in glibc's 512-octet UDP buffer: TC=1, then glibc retries over TCP."""
    rc, lines = getent(netns, "ahostsv4" if netns[3] else "ahosts", "many")
    assert rc == 0, "getent ahosts many failed; server log:\n" + open(netns[2]).read()
    assert {l[0] for l in lines} == set(MANY), "got %d of %d addresses" % (len({l[0] for l in lines}), len(MANY))


def test_reverse_lookup(netns):
    rc, lines = getent(netns, "hosts", "10.96.0.1")
    assert rc == 0, "PTR lookup of 10.96.0.1 failed"
    assert lines[0][:2] == ["10.96.0.1", "kubernetes.default.svc.cluster.local"], lines


def test_unknown_name_fails_cleanly(netns):
    t0 = time.time()
    rc, lines = getent(netns, "hosts", "nosuchservice")
    assert rc == 2, "getent should report not found (2), got %d: %s" % (rc, lines)
    # NXDOMAIN for each search suffix, then REFUSED for the bare name: no timeouts on the way.
    assert time.time() - t0 < 4.0, "resolution took %.1fs: the server likely dropped a query" % (time.time() - t0)


def test_server_still_running(netns):
    assert netns[1].poll() is None, "clusterdns exited:\n" + open(netns[2]).read()
