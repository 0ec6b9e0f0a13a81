# SPDX-License-Identifier: MIT
"""The kubernetes plugin's `objects PATH` file is reloaded when it changes: replaced by an
atomic rename or rewritten in place. An invalid file keeps the old answers and is logged; a
fixed file is picked up again."""
import os
import time

import dns.rcode
import pytest

from conftest import k8s_list, k8s_service, k8s_slice

COREFILE = """\
cluster.local:@PORT@ {
    errors
    kubernetes cluster.local {
        objects data/cluster.json
    }
}
"""
DEADLINE_S = 6.0


def fq(name):
    return "%s.default.svc.cluster.local." % name


def services(**svcs):
    """name=ClusterIP → a List with those services (plus the API service)."""
    items = [k8s_service("kubernetes", cluster_ip="10.96.0.1", ports=(("https", "TCP", 443),))]
    for name, ip in svcs.items():
        items.append(k8s_service(name.replace("_", "-"), cluster_ip=ip))
    return k8s_list(items)


def answer(srv, name):
    """('NOERROR', [ips]) / ('NXDOMAIN', [])."""
    r = srv.query(name, "A", timeout=1.0)
    return dns.rcode.to_text(r.rcode()), sorted(rd.address for rr in r.answer for rd in rr)


def wait_for(srv, name, want, deadline_s=DEADLINE_S):
    end = time.time() + deadline_s
    got = None
    while time.time() < end:
        assert srv.alive(), "server exited:\n" + srv.log()
        got = answer(srv, name)
        if got == want:
            return
        time.sleep(0.1)
    pytest.fail("%s: expected %s within %.0fs, still %s\nlog:\n%s" % (name, want, deadline_s, got, srv.log()))


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def write_in_place(path, text):
    with open(path, "r+") as f:
        f.seek(0)
        f.write(text)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


@pytest.fixture
def srv(start_server):
    return start_server(COREFILE, files={"data/cluster.json": services(alpha="10.96.1.1")})


def objects_path(srv):
    return os.path.join(srv.dir, "data", "cluster.json")


def test_initial_answers(srv):
    assert answer(srv, fq("alpha")) == ("NOERROR", ["10.96.1.1"])
    assert answer(srv, fq("beta")) == ("NXDOMAIN", [])


def test_reload_atomic_rename(srv):
    path = objects_path(srv)
    write_atomic(path, services(alpha="10.96.1.1", beta="10.96.1.2"))
    wait_for(srv, fq("beta"), ("NOERROR", ["10.96.1.2"]))
    assert answer(srv, fq("alpha")) == ("NOERROR", ["10.96.1.1"])
    # Remove alpha, change beta's address, by another rename (the watched inode changed).
    write_atomic(path, services(beta="10.96.1.3"))
    wait_for(srv, fq("alpha"), ("NXDOMAIN", []))
    wait_for(srv, fq("beta"), ("NOERROR", ["10.96.1.3"]))


def test_reload_in_place_write(srv):
    path = objects_path(srv)
    write_in_place(path, services(alpha="10.96.1.1", gamma="10.96.1.4"))
    wait_for(srv, fq("gamma"), ("NOERROR", ["10.96.1.4"]))
    write_in_place(path, services(gamma="10.96.1.4"))
    wait_for(srv, fq("alpha"), ("NXDOMAIN", []))
    assert answer(srv, fq("gamma")) == ("NOERROR", ["10.96.1.4"])


def test_reload_rename_then_in_place(srv):
    """After a rename the server must watch the new file, not the replaced inode."""
    path = objects_path(srv)
    write_atomic(path, services(alpha="10.96.1.1", beta="10.96.1.2"))
    wait_for(srv, fq("beta"), ("NOERROR", ["10.96.1.2"]))
    write_in_place(path, services(alpha="10.96.1.9"))
    wait_for(srv, fq("alpha"), ("NOERROR", ["10.96.1.9"]))
    wait_for(srv, fq("beta"), ("NXDOMAIN", []))


def test_reload_endpoints_change(start_server):
    def objs(ips):
        return k8s_list([k8s_service("hl"), k8s_slice("hl", [(ip, None, True) for ip in ips])])
    srv = start_server(COREFILE, files={"data/cluster.json": objs(["10.244.0.1", "10.244.0.2"])})
    assert answer(srv, fq("hl")) == ("NOERROR", ["10.244.0.1", "10.244.0.2"])
    write_atomic(objects_path(srv), objs(["10.244.0.2", "10.244.0.3", "10.244.0.4"]))
    wait_for(srv, fq("hl"), ("NOERROR", ["10.244.0.2", "10.244.0.3", "10.244.0.4"]))


@pytest.mark.parametrize("bad", [
    '{"apiVersion": "v1", "kind": "List", "items": [',        # cut short
    'this is not json at all\n',
    '',                                                         # empty file
], ids=["truncated", "garbage", "empty"])
def test_invalid_json_keeps_old_answers(srv, bad):
    path = objects_path(srv)
    write_atomic(path, services(alpha="10.96.1.1", beta="10.96.1.2"))
    wait_for(srv, fq("beta"), ("NOERROR", ["10.96.1.2"]))
    log_before = len(srv.log())

    write_atomic(path, bad)
    # Old answers keep being served while the file is invalid, and the log says why.
    end = time.time() + 3.0
    while time.time() < end:
        assert srv.alive(), "server exited on an invalid objects file:\n" + srv.log()
        assert answer(srv, fq("alpha")) == ("NOERROR", ["10.96.1.1"])
        assert answer(srv, fq("beta")) == ("NOERROR", ["10.96.1.2"])
        time.sleep(0.1)
    new_log = srv.log()[log_before:]
    assert "cluster.json" in new_log, "the log should name the invalid file; new log lines:\n%r" % new_log
    low = new_log.lower()
    assert any(w in low for w in ("json", "parse", "invalid", "error", "syntax")), new_log

    # Fixed: the new content is served.
    write_atomic(path, services(beta="10.96.1.5", delta="10.96.1.6"))
    wait_for(srv, fq("delta"), ("NOERROR", ["10.96.1.6"]))
    wait_for(srv, fq("beta"), ("NOERROR", ["10.96.1.5"]))
    wait_for(srv, fq("alpha"), ("NXDOMAIN", []))


def test_invalid_in_place_then_fixed(srv):
    path = objects_path(srv)
    write_in_place(path, '{"kind": "List", "items": [{"kind": "Service", ')
    time.sleep(1.5)
    assert srv.alive()
    assert answer(srv, fq("alpha")) == ("NOERROR", ["10.96.1.1"])
    write_in_place(path, services(alpha="10.96.1.7"))
    wait_for(srv, fq("alpha"), ("NOERROR", ["10.96.1.7"]))


def test_file_deleted_then_recreated(srv):
    path = objects_path(srv)
    os.unlink(path)
    time.sleep(1.5)
    assert srv.alive(), "server exited when its objects file disappeared:\n" + srv.log()
    assert answer(srv, fq("alpha")) == ("NOERROR", ["10.96.1.1"]), "a vanished file must not wipe the zone"
    write_atomic(path, services(epsilon="10.96.1.8"))
    wait_for(srv, fq("epsilon"), ("NOERROR", ["10.96.1.8"]))


def test_rapid_writes_last_one_wins(srv):
    path = objects_path(srv)
    for i in range(1, 21):
        write_atomic(path, services(alpha="10.96.2.%d" % i))
        time.sleep(0.01)
    wait_for(srv, fq("alpha"), ("NOERROR", ["10.96.2.20"]))
    time.sleep(1.0)
    assert answer(srv, fq("alpha")) == ("NOERROR", ["10.96.2.20"])


def test_configmap_style_symlink_swap(start_server, tmp_path):
    """A ConfigMap volume: cluster.json -> ..data/cluster.json, ..data -> ..v1; an update
    writes ..v2 and atomically renames a new ..data symlink over the old one."""
    cm = tmp_path / "cm"   # start_server's working directory is this test's tmp_path
    (cm / "..v1").mkdir(parents=True)
    (cm / "..v1" / "cluster.json").write_text(services(alpha="10.96.3.1"))
    os.symlink("..v1", str(cm / "..data"))
    os.symlink("..data/cluster.json", str(cm / "cluster.json"))
    srv = start_server(COREFILE.replace("data/cluster.json", "cm/cluster.json"))
    assert srv.dir == str(tmp_path)
    assert answer(srv, fq("alpha")) == ("NOERROR", ["10.96.3.1"])
    (cm / "..v2").mkdir()
    (cm / "..v2" / "cluster.json").write_text(services(alpha="10.96.3.2", beta="10.96.3.3"))
    os.symlink("..v2", str(cm / "..data_tmp"))
    os.rename(str(cm / "..data_tmp"), str(cm / "..data"))
    wait_for(srv, fq("beta"), ("NOERROR", ["10.96.3.3"]))
    wait_for(srv, fq("alpha"), ("NOERROR", ["10.96.3.2"]))
