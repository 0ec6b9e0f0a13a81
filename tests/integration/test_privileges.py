# SPDX-License-Identifier: MIT
"""Least privilege (issue 7, point 6), checked on the running process rather than on the code.

Started as root, clusterdns binds, then becomes `-user` (default nobody) with CAP_NET_BIND_SERVICE
only on its main thread and nothing on the others, no_new_privs set, the bounding set emptied but
for that one capability; a later reload can still bind a port below 1024. It opens no file for
writing (strace of a busy run with reloads). The service-account token never shows in its log
(debug level, API errors included), its /metrics or its -check output. Run the way deploy/ runs
it (the manifest's uid, capabilities and a read-only root filesystem) it serves port 53.

Needs root (skipped otherwise); servers get their files in a 0755 directory nobody can read.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid

import dns.message
import dns.query
import dns.rcode
import pytest
import yaml

import fake_apiserver as fa
from conftest import BINARY, ROOT, free_port
from kube_helpers import DATA, clean_env, corefile, svc, wait_answer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the test starts clusterdns as root")

CAP_NET_BIND_SERVICE = 1 << 10


@pytest.fixture
def pubdir():
    """A directory every user can read (pytest's tmp_path is root's 0700)."""
    d = tempfile.mkdtemp(prefix="cdns-priv-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Proc:
    def __init__(self, argv, cwd, env=None):
        self.log_path = os.path.join(cwd, "server-%s.log" % uuid.uuid4().hex[:6])
        with open(self.log_path, "w") as logf:
            self.p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, cwd=cwd, env=env)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


@pytest.fixture
def procs():
    started = []

    def start(argv, cwd, env=None):
        pr = Proc(argv, cwd, env)
        started.append(pr)
        return pr
    yield start
    for pr in started:
        pr.stop()


def write(d, name, text, mode=0o644):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def ask(addr, port, name="whoami.example.", rdtype="A", timeout=1.0):
    return dns.query.udp(dns.message.make_query(name, rdtype), addr, port=port, timeout=timeout)


def wait_serving(pr, addr, port, deadline_s=15.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert pr.p.poll() is None, "clusterdns exited (%s):\n%s" % (pr.p.returncode, pr.log())
        try:
            return ask(addr, port, timeout=0.3)
        except Exception:
            time.sleep(0.05)
    raise AssertionError("clusterdns did not answer on %s:%d:\n%s" % (addr, port, pr.log()))


def status(pid, task=None):
    path = "/proc/%d/status" % pid if task is None else "/proc/%d/task/%s/status" % (pid, task)
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def threads(pid):
    return sorted(os.listdir("/proc/%d/task" % pid), key=int)


def privileged_port(addr):
    """A port below 1024 free on addr for UDP and TCP (binding it needs CAP_NET_BIND_SERVICE)."""
    for port in list(range(853, 1000, 7)) + [53]:
        ok = True
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((addr, port))
                except OSError:
                    ok = False
        if ok:
            return port
    pytest.skip("no free privileged port on %s" % addr)


WHOAMI = ".:%d {\n    bind %s\n    whoami\n}\n"


def assert_dropped_to(pid, uid, gid, others=0):
    """others: the most capabilities a thread other than main may hold (threads started after the
    drop inherit the main thread's one)."""
    main = status(pid)
    assert main["Uid"].split() == [str(uid)] * 4 and main["Gid"].split() == [str(gid)] * 4, main
    assert main["Groups"] == "", "supplementary groups kept: %r" % main["Groups"]
    assert int(main["CapEff"], 16) == CAP_NET_BIND_SERVICE and int(main["CapPrm"], 16) == CAP_NET_BIND_SERVICE, main
    assert int(main["CapInh"], 16) == 0 and int(main["CapAmb"], 16) == 0
    assert int(main["CapBnd"], 16) == CAP_NET_BIND_SERVICE, "bounding set %s" % main["CapBnd"]
    assert main["NoNewPrivs"] == "1"
    tids = threads(pid)
    assert len(tids) > 1, "expected worker threads"
    for t in tids[1:]:
        st = status(pid, t)
        assert st["Uid"].split() == [str(uid)] * 4, (t, st["Uid"])
        assert int(st["CapEff"], 16) & ~others == 0 and int(st["CapPrm"], 16) & ~others == 0, \
            "thread %s (%s) kept capabilities %s" % (t, st.get("Name"), st["CapPrm"])


def test_root_becomes_user_and_a_reload_still_binds_a_low_port(procs, pubdir):
    port = free_port()
    cf = write(pubdir, "Corefile", WHOAMI % (port, "127.0.0.1"))
    env = {k: v for k, v in os.environ.items() if k != "CLUSTERDNS_USER"}
    pr = procs([BINARY, "-conf", cf, "-user", "nobody", "-workers", "2"], pubdir, env)
    r = wait_serving(pr, "127.0.0.1", port)
    assert r.rcode() == dns.rcode.NOERROR
    assert_dropped_to(pr.p.pid, 65534, 65534)
    # Root is gone: a reload that moves the listener below 1024 binds with the one capability kept.
    low = privileged_port("127.0.0.2")
    write(pubdir, "Corefile", WHOAMI % (low, "127.0.0.2"))
    pr.p.send_signal(signal.SIGUSR1)
    r = wait_serving(pr, "127.0.0.2", low)
    assert r.rcode() == dns.rcode.NOERROR
    assert "Reloading complete" in pr.log(), pr.log()
    assert_dropped_to(pr.p.pid, 65534, 65534, others=CAP_NET_BIND_SERVICE)   # new workers: nothing more
    assert pr.stop() == 0, pr.log()


def test_default_is_nobody(procs, pubdir):
    port = free_port()
    cf = write(pubdir, "Corefile", WHOAMI % (port, "127.0.0.1"))
    env = {k: v for k, v in os.environ.items() if k != "CLUSTERDNS_USER"}
    pr = procs([BINARY, "-conf", cf], pubdir, env)
    wait_serving(pr, "127.0.0.1", port)
    assert_dropped_to(pr.p.pid, 65534, 65534)


def test_numeric_user_and_environment_default(procs, pubdir):
    port = free_port()
    cf = write(pubdir, "Corefile", WHOAMI % (port, "127.0.0.1"))
    env = dict(os.environ, CLUSTERDNS_USER="4242")
    pr = procs([BINARY, "-conf", cf], pubdir, env)
    wait_serving(pr, "127.0.0.1", port)
    assert_dropped_to(pr.p.pid, 4242, 4242)


def test_user_root_keeps_root(procs, pubdir):
    port = free_port()
    cf = write(pubdir, "Corefile", WHOAMI % (port, "127.0.0.1"))
    pr = procs([BINARY, "-conf", cf, "-user", "root"], pubdir)
    wait_serving(pr, "127.0.0.1", port)
    assert status(pr.p.pid)["Uid"].split() == ["0"] * 4


def test_unknown_user_is_a_startup_error(procs, pubdir):
    port = free_port()
    cf = write(pubdir, "Corefile", WHOAMI % (port, "127.0.0.1"))
    pr = procs([BINARY, "-conf", cf, "-user", "no-such-user-here"], pubdir)
    assert pr.p.wait(15) == 1
    assert "no-such-user-here: no such user" in pr.log(), pr.log()
    r = subprocess.run([BINARY, "-conf", cf, "-user", ""], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "-user" in r.stderr


# ------------------------------------------------------------------ no writes
WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND")
WRITE_CALLS = ("creat", "mkdir", "mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link",
               "linkat", "symlink", "symlinkat", "truncate", "chmod", "fchmodat", "chown", "fchownat", "mknod",
               "mknodat")


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_opens_no_file_for_writing(procs, pubdir):
    """Every file clusterdns opens, over a run with the kubernetes, file, hosts, cache, log,
    errors, reload and prometheus plugins, SIGUSR1 and a changed Corefile: read-only opens only."""
    port, mport = free_port(), free_port()
    with open(DATA) as f:
        write(pubdir, "cluster.json", f.read())
    write(pubdir, "hosts", "10.1.2.3 h.example\n")
    write(pubdir, "db.example", "$ORIGIN example.\n@ 3600 IN SOA ns hm 1 7200 3600 1209600 3600\n"
          "@ 3600 IN NS ns\nns 3600 IN A 10.0.0.53\nwww 3600 IN A 10.0.0.80\n")
    text = """\
cluster.local:%(p)d {
    bind 127.0.0.1
    errors
    log
    cache 30
    prometheus 127.0.0.1:%(m)d
    reload 2s
    kubernetes cluster.local {
        objects %(d)s/cluster.json
    }
}
example:%(p)d {
    bind 127.0.0.1
    hosts %(d)s/hosts {
        fallthrough
    }
    file %(d)s/db.example
}
""" % {"p": port, "m": mport, "d": pubdir}
    cf = write(pubdir, "Corefile", text)
    trace = os.path.join(pubdir, "strace.out")
    env = {k: v for k, v in os.environ.items() if k != "CLUSTERDNS_USER"}
    # Under make asan: LeakSanitizer cannot run under ptrace (leaks are checked by the other
    # tests), and the sanitizers' own report files (log_path) are not clusterdns writing.
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        opts = [o for o in env.get(var, "").split(":") if o and not o.startswith("log_path=")]
        env[var] = ":".join(opts + (["detect_leaks=0"] if var == "ASAN_OPTIONS" else []))
    pr = procs(["strace", "-f", "-qq", "-o", trace, "-e", "trace=open,openat,openat2," + ",".join(WRITE_CALLS),
                BINARY, "-conf", cf, "-user", "nobody"], pubdir, env)
    end = time.monotonic() + 30
    while True:
        assert pr.p.poll() is None, pr.log()
        try:
            if ask("127.0.0.1", port, "kubernetes.default.svc.cluster.local.", timeout=0.5).rcode() == 0:
                break
        except Exception:
            pass
        assert time.monotonic() < end, pr.log()
        time.sleep(0.1)
    for name in ("kubernetes.default.svc.cluster.local.", "www.example.", "h.example.", "nope.example."):
        ask("127.0.0.1", port, name)
    urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5).read()
    with open("/proc/%d/task/%d/children" % (pr.p.pid, pr.p.pid)) as f:
        child = int(f.read().split()[0])   # clusterdns, traced by strace (pr.p)
    os.kill(child, signal.SIGUSR1)
    time.sleep(1)
    write(pubdir, "Corefile", text.replace("cache 30", "cache 40"))
    time.sleep(3)
    ask("127.0.0.1", port, "kubernetes.default.svc.cluster.local.")
    urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5).read()
    os.kill(child, signal.SIGTERM)
    assert pr.p.wait(15) == 0, pr.log()
    assert pr.log().count("Reloading complete") == 2, "both reloads (SIGUSR1, reload plugin) must succeed " \
        "after dropping root:\n" + pr.log()
    with open(trace) as f:
        lines = f.read().splitlines()
    opens = [ln for ln in lines if re.search(r"\bopen(at2?)?\(", ln)]
    assert len(opens) > 5, "strace saw too little:\n" + "\n".join(lines[:50])
    assert any("cluster.json" in ln for ln in opens)
    # Allowed: /dev/null, and pthread_setname_np naming a thread through /proc/self/task/N/comm.
    bad = [ln for ln in opens if WRITE_FLAGS.search(ln) and "/dev/null" not in ln
           and not re.search(r'"/proc/self/task/\d+/comm"', ln)]
    bad += [ln for ln in lines if re.search(r"\b(%s)\(" % "|".join(WRITE_CALLS), ln)]
    assert not bad, "clusterdns opened or changed files:\n" + "\n".join(bad[:20])


# ------------------------------------------------------------------ the token stays secret
def test_service_account_token_never_logged_scraped_or_reported(start_server, tmp_path):
    if not os.access("/usr/bin/openssl", os.X_OK):
        pytest.skip("openssl not installed")
    pki = fa.make_test_pki(str(tmp_path / "pki"))
    tok = "sekrit-%s" % uuid.uuid4().hex
    fake = fa.FakeAPIServer(objects=DATA, tls=pki, token=tok, bookmark_interval=0.2).start()
    try:
        sa = tmp_path / "sa"
        sa.mkdir()
        (sa / "token").write_text(tok)
        with open(pki.ca_cert) as f:
            (sa / "ca.crt").write_text(f.read())
        (sa / "namespace").write_text("kube-system")
        mport = free_port()
        env = clean_env(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=fake.port,
                        CLUSTERDNS_SERVICEACCOUNT_DIR=str(sa), CDNS_LOG_LEVEL="debug")
        cf = corefile(["startup_timeout 2s"], plugins=("errors", "log", "prometheus 127.0.0.1:%d" % mport))
        srv = start_server(cf, env=env)
        wait_answer(srv, svc("web", "prod"), ("NOERROR", ["10.96.1.10"]), deadline_s=10, what="in-cluster")
        # Error paths: 500s, dropped watches, then a rotated token the API server refuses (401s),
        # then a token file that cannot be read.
        fake.fail_next(n=3, code=500)
        fake.drop_watches(mode="reset")
        time.sleep(1.5)
        fake.set_token("another-" + tok[::-1])
        fake.drop_watches(mode="abrupt")
        time.sleep(2.5)
        (sa / "token").write_text(tok + "-rotated")
        time.sleep(2.0)
        os.chmod(sa / "token", 0)
        os.rename(sa / "token", sa / "token.gone")
        fake.drop_watches(mode="abrupt")
        time.sleep(2.0)
        metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5).read().decode()
        srv.stop()
        log = srv.log()
        assert "401" in log or "nauthorized" in log, "the refused token was not even reported:\n" + log[-3000:]
        for secret in (tok, tok[:16], tok + "-rotated"):
            assert secret not in log, "the token appears in the log"
            assert secret not in metrics, "the token appears in /metrics"
        r = subprocess.run([BINARY, "-conf", os.path.join(srv.dir, "Corefile"), "-check"], capture_output=True,
                           text=True, env=env, timeout=20)
        assert tok not in r.stdout + r.stderr
    finally:
        fake.stop()


# ------------------------------------------------------------------ as deploy/ runs it
def manifest_security():
    with open(os.path.join(ROOT, "deploy", "coredns.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    dep = [d for d in docs if d.get("kind") == "Deployment"][0]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    return pod["securityContext"], c["securityContext"]


@pytest.mark.skipif(shutil.which("setpriv") is None or shutil.which("unshare") is None,
                    reason="setpriv/unshare not installed")
def test_runs_as_the_manifest_says(procs, pubdir):
    """The Deployment's securityContext applied for real: its uid/gid, only the capabilities it
    adds, no_new_privs (allowPrivilegeEscalation: false), a read-only root filesystem. Port 53
    still binds and answers; the process holds nothing more."""
    podsc, sc = manifest_security()
    assert podsc["runAsNonRoot"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"]
    uid, gid = podsc["runAsUser"], podsc.get("runAsGroup", podsc["runAsUser"])
    caps = ",".join("+" + c.lower() for c in sc["capabilities"]["add"])
    assert caps == "+net_bind_service"
    addr = "127.0.0.%d" % (100 + os.getpid() % 100)
    port = privileged_port(addr)
    cf = write(pubdir, "Corefile", WHOAMI % (port, addr))
    script = ("mount --make-rprivate / && (mount -o remount,bind,ro / 2>/dev/null || "
              "(mount --bind / / && mount -o remount,bind,ro /)) && "
              "! touch /.cdns-rw-probe 2>/dev/null && exec setpriv --reuid %d --regid %d --clear-groups "
              "--inh-caps=-all,%s --ambient-caps=-all,%s --bounding-set=-all,%s --no-new-privs %s -conf %s"
              % (uid, gid, caps, caps, caps, BINARY, cf))
    pr = procs(["unshare", "--mount", "sh", "-c", script], pubdir)
    r = wait_serving(pr, addr, port)
    assert r.rcode() == dns.rcode.NOERROR
    st = status(pr.p.pid)
    assert st["Uid"].split()[1] == str(uid)
    assert int(st["CapEff"], 16) == CAP_NET_BIND_SERVICE and st["NoNewPrivs"] == "1"
    assert pr.stop() == 0, pr.log()


def test_rbac_is_list_and_watch_only():
    with open(os.path.join(ROOT, "deploy", "rbac.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    roles = [d for d in docs if d.get("kind") in ("ClusterRole", "Role")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= {"list", "watch"}, rule
            assert "secrets" not in rule.get("resources", []), rule
