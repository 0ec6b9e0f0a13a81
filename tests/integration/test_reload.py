# SPDX-License-Identifier: MIT
"""reload: a changed Corefile (and SIGUSR1) is swapped in without losing a query; a broken one is
reported with FILE:LINE, counted, and the old configuration keeps serving; unchanged kubernetes
state is not reloaded."""
import os
import signal
import time
import urllib.request

import promtext
from conftest import free_port, k8s_list, k8s_service
from test_health_ready import PROBE, QueryLoop

OBJECTS = k8s_list([k8s_service("web", cluster_ip="10.96.1.1")])


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return promtext.parse(r.read().decode())


def corefile(mport, reload="reload 2s 1s", extra_block="", kube_extra=""):
    return """cluster.local:@PORT@ {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    %s
    kubernetes cluster.local {
        objects objects.json%s
    }
}
%s""" % (mport, reload, kube_extra, extra_block)


EXTRA = """example.org:@PORT@ {
    bind 127.0.0.1
    whoami
}
"""


def write(srv, text):
    path = os.path.join(srv.dir, "Corefile")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text.replace("@PORT@", str(srv.port)))
    os.replace(tmp, path)
    return path


def wait_for(pred, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_good_then_bad_corefile_under_load(start_server):
    mport = free_port()
    srv = start_server(corefile(mport), files={"objects.json": OBJECTS}, probe=PROBE, probe_type="A")
    assert srv.query("www.example.org.").rcode() == 5  # not served yet
    loop = QueryLoop(srv)
    loop.start()
    try:
        # A good change: a new server block on the same listener.
        write(srv, corefile(mport, extra_block=EXTRA))
        assert wait_for(lambda: "Reloading complete" in srv.log(), 8), srv.log()
        r = srv.query("www.example.org.")
        assert r.rcode() == 0 and r.additional  # whoami answers now (in ADDITIONAL, as CoreDNS's)
        # A broken change: the old configuration keeps serving.
        path = write(srv, corefile(mport, extra_block=EXTRA) + "bogus.example:@PORT@ {\n    nosuchplugin\n}\n")
        assert wait_for(lambda: "Restart failed" in srv.log(), 8), srv.log()
        time.sleep(0.5)
    finally:
        loop.stop()
    assert loop.failed == 0, "%d queries failed during reloads (%d ok)" % (loop.failed, loop.ok)
    assert loop.ok > 50
    log = srv.log()
    line = [l for l in log.splitlines() if "Restart failed" in l][0]
    assert "%s:%d: unknown directive 'nosuchplugin'" % (path, 14) in line, line
    assert srv.query("www.example.org.").additional
    fams = metrics(mport)
    assert promtext.value(fams, "coredns_reload_failed_total") == 1
    # Counters did not go backwards across the reload.
    assert promtext.value(fams, "coredns_dns_requests_total", zone="cluster.local.", type="A", proto="udp") >= loop.ok
    # The broken file is not retried every interval: still one failure later on.
    time.sleep(3)
    assert promtext.value(metrics(mport), "coredns_reload_failed_total") == 1


def test_sigusr1_reloads(start_server):
    mport = free_port()
    srv = start_server(corefile(mport, reload=""), files={"objects.json": OBJECTS}, probe=PROBE, probe_type="A")
    write(srv, corefile(mport, reload="", extra_block=EXTRA))
    time.sleep(0.3)
    assert srv.query("www.example.org.").rcode() == 5  # no reload plugin: nothing happens by itself
    srv.proc.send_signal(signal.SIGUSR1)
    assert wait_for(lambda: "Reloading complete" in srv.log(), 5), srv.log()
    assert srv.query("www.example.org.").additional
    # A broken Corefile on SIGUSR1: reported and counted, the process keeps running.
    with open(os.path.join(srv.dir, "Corefile"), "a") as f:
        f.write("broken {\n")
    srv.proc.send_signal(signal.SIGUSR1)
    assert wait_for(lambda: "Restart failed" in srv.log(), 5)
    assert srv.alive()
    assert srv.query(PROBE).answer
    assert promtext.value(metrics(mport), "coredns_reload_failed_total") == 1


def test_kubernetes_not_reloaded_when_unchanged(start_server):
    mport = free_port()
    srv = start_server(corefile(mport, reload=""), files={"objects.json": OBJECTS}, probe=PROBE, probe_type="A")
    assert srv.log().count("plugin/kubernetes: loaded") == 1
    write(srv, corefile(mport, reload="", extra_block=EXTRA))
    srv.proc.send_signal(signal.SIGUSR1)
    assert wait_for(lambda: "Reloading complete" in srv.log(), 5)
    time.sleep(0.2)
    assert srv.log().count("plugin/kubernetes: loaded") == 1, srv.log()
    assert srv.query(PROBE).answer
    # The carried-over instance still follows its objects file.
    with open(os.path.join(srv.dir, "objects.json"), "w") as f:
        f.write(k8s_list([k8s_service("web", cluster_ip="10.96.1.1"), k8s_service("api", cluster_ip="10.96.1.2")]))
    assert wait_for(lambda: srv.query("api.default.svc.cluster.local.").answer, 5)
    # A changed kubernetes stanza sets up (and loads) a fresh instance.
    write(srv, corefile(mport, reload="", extra_block=EXTRA, kube_extra="\n        ttl 7"))
    srv.proc.send_signal(signal.SIGUSR1)
    assert wait_for(lambda: srv.log().count("Reloading complete") == 2, 5)
    assert srv.log().count("plugin/kubernetes: loaded") == 3, srv.log()
    assert srv.query(PROBE).answer[0].ttl == 7


def test_listener_change_rebinds(start_server):
    mport = free_port()
    srv = start_server(corefile(mport, reload=""), files={"objects.json": OBJECTS}, probe=PROBE, probe_type="A")
    other = free_port()
    write(srv, corefile(mport, reload="") + EXTRA.replace("@PORT@", str(other)))
    srv.proc.send_signal(signal.SIGUSR1)
    assert wait_for(lambda: "Reloading complete" in srv.log(), 5), srv.log()
    import dns.message
    import dns.query
    r = dns.query.udp(dns.message.make_query("www.example.org.", "A"), "127.0.0.1", port=other, timeout=2)
    assert r.rcode() == 0 and r.additional
    assert srv.query(PROBE).answer
