# SPDX-License-Identifier: MIT
"""The command line and Corefile diagnostics: -version, -plugins, -check, bad flags and files,
every Corefile error reported as FILE:LINE: message with exit status 1, and every ```corefile
example of every plugin README accepted by -check."""
import glob
import os
import re

import dns.rcode
import pytest

from conftest import ROOT, ZONES, free_port, k8s_list, k8s_service, run_binary

SUPPORTED = ["kubernetes", "whoami", "bind", "errors", "log", "loadbalance"]
EMPTY_LIST = '{"apiVersion":"v1","kind":"List","items":[]}'


def output(res):
    return (res.stdout or "") + (res.stderr or "")


def check(tmp_path, text, files=None, env=None):
    """Writes Corefile (+ files) into tmp_path and runs -check on it."""
    for name, content in (files or {}).items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    cf = tmp_path / "Corefile"
    cf.write_text(text)
    return str(cf), run_binary(["-conf", str(cf), "-check"], cwd=str(tmp_path), env=env)


def error_line(res, fname, line):
    """The message after `FILE:LINE:` (FILE as given or its base name); fails when absent."""
    out = output(res)
    m = re.search(r"(?:^|[\s/'\"])" + re.escape(os.path.basename(fname)) + r":%d:\s*(.*)" % line, out, re.M)
    assert m, "expected an error prefixed %s:%d: in:\n%s" % (fname, line, out)
    return m.group(1)


def assert_error(res, fname, line, *words):
    assert res.returncode == 1, "exit status %d (want 1), output:\n%s" % (res.returncode, output(res))
    msg = error_line(res, fname, line)
    low = msg.lower()
    for w in words:
        alts = w if isinstance(w, tuple) else (w,)
        assert any(a.lower() in low for a in alts), "message %r should mention %s" % (msg, " or ".join(alts))
    return msg


# ------------------------------------------------------------------ flags
def test_version():
    res = run_binary(["-version"])
    assert res.returncode == 0, output(res)
    assert re.search(r"\d+\.\d+", output(res)), "no version number in %r" % output(res)


def test_plugins_lists_supported_directives():
    res = run_binary(["-plugins"])
    assert res.returncode == 0, output(res)
    words = set(re.findall(r"[a-z0-9_]+", output(res)))
    missing = [p for p in SUPPORTED if p not in words]
    assert not missing, "-plugins does not list %s:\n%s" % (missing, output(res))


def test_check_demo_corefile():
    cf = os.path.join(ZONES, "Corefile")
    assert os.path.exists(cf), "the demo zones/Corefile is missing"
    res = run_binary(["-conf", cf, "-check"], cwd=ROOT)
    assert res.returncode == 0, output(res)


def test_check_does_not_serve(tmp_path):
    """-check exits without serving: it returns promptly even for a valid config."""
    port = free_port()
    cf, res = check(tmp_path, ".:%d {\n    whoami\n}\n" % port)
    assert res.returncode == 0, output(res)


@pytest.mark.parametrize("flag", ["-bogusflag", "--no-such-option", "-confx"])
def test_unknown_flag(flag):
    res = run_binary([flag])
    assert res.returncode != 0
    assert flag.lstrip("-") in output(res), "the error should name %s:\n%s" % (flag, output(res))


def test_missing_corefile(tmp_path):
    path = str(tmp_path / "no-such-Corefile")
    res = run_binary(["-conf", path, "-check"])
    assert res.returncode == 1, output(res)
    assert "no-such-Corefile" in output(res), "the error should name the file:\n%s" % output(res)


def test_missing_default_corefile(tmp_path):
    """Without -conf the default is ./Corefile; an empty directory has none."""
    res = run_binary(["-check"], cwd=str(tmp_path))
    assert res.returncode == 1, output(res)
    assert "Corefile" in output(res)


def test_workers_flag_bad_value(tmp_path):
    cf, _ = check(tmp_path, ".:%d {\n    whoami\n}\n" % free_port())
    res = run_binary(["-conf", cf, "-check", "-workers", "notanumber"])
    assert res.returncode != 0
    assert "workers" in output(res) or "notanumber" in output(res), output(res)


# ------------------------------------------------------------------ Corefile errors
def test_unknown_directive(tmp_path):
    cf, res = check(tmp_path, "# comment\n.:%d {\n    foo bar\n    whoami\n}\n" % free_port())
    msg = assert_error(res, cf, 3, "foo")
    assert "unknown" in msg.lower() or "not a" in msg.lower(), msg


@pytest.mark.parametrize("directive", ["dnssec", "rewrite name foo.example bar.example"])
def test_coredns_directive_not_in_this_build(tmp_path, directive):
    cf, res = check(tmp_path, ".:%d {\n    whoami\n\n    %s\n}\n" % (free_port(), directive))
    name = directive.split()[0]
    assert_error(res, cf, 4, name, "not supported by this build")


def test_missing_close_brace(tmp_path):
    text = ".:%d {\n    whoami\n    errors\n" % free_port()
    cf, res = check(tmp_path, text)
    assert res.returncode == 1, output(res)
    # The opening line or the end of the file: either is a fair place to report it.
    m = re.search(r"Corefile:(\d+):\s*(.*)", output(res))
    assert m and int(m.group(1)) in (1, 3, 4), output(res)
    low = m.group(2).lower()
    assert any(w in low for w in ("{", "}", "brace", "unbalanced", "unmatched", "eof", "end of", "unclosed", "unterminated")), m.group(2)


def test_extra_close_brace(tmp_path):
    cf, res = check(tmp_path, ".:%d {\n    whoami\n}\n}\n" % free_port())
    msg = assert_error(res, cf, 4)
    assert any(w in msg.lower() for w in ("}", "brace", "unbalanced", "unexpected", "unmatched")), msg


def test_nested_block_missing_close(tmp_path):
    text = ".:%d {\n    kubernetes cluster.local {\n        objects x.json\n}\n" % free_port()
    cf, res = check(tmp_path, text, files={"x.json": EMPTY_LIST})
    assert res.returncode == 1, output(res)
    assert re.search(r"Corefile:\d+:", output(res)), output(res)


def test_kubernetes_bad_ttl(tmp_path):
    text = ".:%d {\n    kubernetes cluster.local {\n        objects x.json\n        ttl 4000\n    }\n}\n" % free_port()
    cf, res = check(tmp_path, text, files={"x.json": EMPTY_LIST})
    assert_error(res, cf, 4, ("ttl", "4000"))


def test_kubernetes_bad_pods(tmp_path):
    text = ".:%d {\n    kubernetes cluster.local {\n        objects x.json\n        pods bogus\n    }\n}\n" % free_port()
    cf, res = check(tmp_path, text, files={"x.json": EMPTY_LIST})
    assert_error(res, cf, 4, ("pods", "bogus"))


def test_kubernetes_unknown_option(tmp_path):
    text = ".:%d {\n    kubernetes cluster.local {\n        objects x.json\n        frobnicate yes\n    }\n}\n" % free_port()
    cf, res = check(tmp_path, text, files={"x.json": EMPTY_LIST})
    assert_error(res, cf, 4, "frobnicate")


def test_kubernetes_missing_objects_file(tmp_path):
    text = ".:%d {\n    kubernetes cluster.local {\n        objects nothere.json\n    }\n}\n" % free_port()
    cf, res = check(tmp_path, text)
    assert_error(res, cf, 3, "nothere.json")


def test_serve_missing_objects_file_fails_at_startup(tmp_path):
    """What -check accepts must start; what does not start must be named."""
    text = "cluster.local:%d {\n    kubernetes cluster.local {\n        objects nothere.json\n    }\n}\n" % free_port()
    (tmp_path / "Corefile").write_text(text)
    res = run_binary(["-conf", str(tmp_path / "Corefile")], cwd=str(tmp_path), timeout=10)
    assert res.returncode == 1, output(res)
    assert "nothere.json" in output(res), output(res)


def test_duplicate_zone_port(tmp_path):
    port = free_port()
    text = ".:%d {\n    whoami\n}\n\n.:%d {\n    errors\n    whoami\n}\n" % (port, port)
    cf, res = check(tmp_path, text)
    assert_error(res, cf, 5, (str(port), "already", "duplicate"))


def test_duplicate_zone_port_same_block_keys(tmp_path):
    port = free_port()
    text = "example.org:%d {\n    whoami\n}\nfoo.test:%d example.org:%d {\n    whoami\n}\n" % (port, port, port)
    cf, res = check(tmp_path, text)
    assert_error(res, cf, 4, ("example.org", "already", "duplicate"))


def test_import_missing_file(tmp_path):
    cf, res = check(tmp_path, ".:%d {\n    import nothere.conf\n    whoami\n}\n" % free_port())
    assert_error(res, cf, 2, "nothere.conf")


def test_error_in_imported_file_names_that_file(tmp_path):
    files = {"extra.conf": "whoami\n\nbogusdirective\n"}
    cf, res = check(tmp_path, ".:%d {\n    import extra.conf\n}\n" % free_port(), files=files)
    assert_error(res, str(tmp_path / "extra.conf"), 3, "bogusdirective")


def test_unknown_snippet(tmp_path):
    cf, res = check(tmp_path, ".:%d {\n    import nosnippet\n}\n" % free_port())
    assert_error(res, cf, 2, "nosnippet")


def test_good_corefile_snippets_import_env(tmp_path, start_server):
    port = free_port()
    text = """\
# a snippet, an imported file and environment substitution
(common) {
    errors
    log
}

cluster.local:{$CDNS_TEST_PORT} {
    import common
    import extra/*.conf
    kubernetes cluster.local {
        objects {$CDNS_TEST_OBJECTS}
    }
}
"""
    objs = k8s_list([k8s_service("web", cluster_ip="10.96.0.20")])
    files = {"extra/lb.conf": "loadbalance round_robin\n", "objs/cluster.json": objs}
    env = dict(os.environ, CDNS_TEST_PORT=str(port), CDNS_TEST_OBJECTS="objs/cluster.json")
    cf, res = check(tmp_path, text, files=files, env=env)
    assert res.returncode == 0, output(res)
    # And it serves what it checked.
    srv = start_server(text, files=files, port=port, env=env)
    r = srv.query("web.default.svc.cluster.local.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert [rd.address for rr in r.answer for rd in rr] == ["10.96.0.20"]


def test_bad_line_reported_after_env_and_snippet(tmp_path):
    """Line numbers stay right after snippets and substitutions."""
    text = "(s) {\n    errors\n}\n.:{$CDNS_TEST_PORT} {\n    import s\n    whoami\n    ttlbogus 3\n}\n"
    env = dict(os.environ, CDNS_TEST_PORT=str(free_port()))
    cf, res = check(tmp_path, text, env=env)
    assert_error(res, cf, 7, "ttlbogus")


# ------------------------------------------------------------------ README examples
def readme_examples():
    out = []
    for readme in sorted(glob.glob(os.path.join(ROOT, "src", "plugins", "*", "README.md"))):
        with open(readme) as f:
            text = f.read()
        for i, m in enumerate(re.finditer(r"^(```|~~~)\s*corefile\s*\n(.*?)^\1\s*$", text, re.M | re.S)):
            plugin = os.path.basename(os.path.dirname(readme))
            out.append(pytest.param(readme, m.group(2), id="%s-%d" % (plugin, i + 1)))
    return out


def test_supported_plugins_have_readme_examples():
    plugins = os.path.join(ROOT, "src", "plugins")
    missing = []
    for p in SUPPORTED:
        readme = os.path.join(plugins, p, "README.md")
        if not os.path.exists(readme) or not re.search(r"^(```|~~~)\s*corefile", open(readme).read(), re.M):
            missing.append(p)
    assert not missing, "no README.md with a ```corefile example for: %s" % missing


@pytest.mark.parametrize("readme,example", readme_examples())
def test_readme_example_passes_check(tmp_path, readme, example):
    files = {}
    for i, m in enumerate(re.finditer(r"^\s*objects\s+(\S+)", example, re.M)):
        path = m.group(1)
        if os.path.isabs(path):
            # Point an absolute path (/etc/clusterdns/cluster.json) at a file of the test's own.
            local = "abs-objects-%d.json" % i
            example = example.replace(path, local)
            path = local
        files[path] = EMPTY_LIST
    for m in re.finditer(r"^\s*(import|file|hosts|kubeconfig|tls|root)\s+(\S+)", example, re.M):
        arg = m.group(2)
        if m.group(1) == "import" and re.search(r"^\s*\(%s\)" % re.escape(arg), example, re.M):
            continue  # a snippet defined in the example itself
        if m.group(1) == "hosts" and arg == "{":
            continue
        pytest.skip("example references another file (%s %s)" % (m.group(1), arg))
    if re.search(r"\{\$|\{%", example):
        pytest.skip("example uses environment substitution")
    cf, res = check(tmp_path, example, files=files)
    assert res.returncode == 0, "%s example rejected by -check:\n%s\n---\n%s" % (readme, example, output(res))
