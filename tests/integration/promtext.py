# SPDX-License-Identifier: MIT
"""A strict parser of the Prometheus text exposition format 0.0.4, for the metrics tests.

parse(text) returns {family: {"type": ..., "help": ..., "samples": [(name, labels_dict, value)]}}
and raises ValueError on anything a Prometheus server would reject or that breaks the format's
rules: a sample before its TYPE, a family declared twice or split, bad names, bad escapes,
duplicate series, histogram buckets not cumulative or without +Inf, _count != +Inf bucket.
Also runs `promtool check metrics` when promtool is installed (Debian's prometheus package).
"""
import math
import re
import shutil
import subprocess

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*$")


def _labels(s, lineno):
    out = {}
    i = 0
    while i < len(s):
        eq = s.index("=", i)
        key = s[i:eq]
        if not LABEL.match(key):
            raise ValueError("line %d: bad label name %r" % (lineno, key))
        if s[eq + 1] != '"':
            raise ValueError("line %d: label value not quoted" % lineno)
        j = eq + 2
        val = []
        while s[j] != '"':
            if s[j] == "\\":
                nxt = s[j + 1]
                if nxt not in ('\\', '"', 'n'):
                    raise ValueError("line %d: bad escape \\%s" % (lineno, nxt))
                val.append("\n" if nxt == "n" else nxt)
                j += 2
            else:
                if s[j] == "\n":
                    raise ValueError("line %d: raw newline in label value" % lineno)
                val.append(s[j])
                j += 1
        if key in out:
            raise ValueError("line %d: label %s twice" % (lineno, key))
        out[key] = "".join(val)
        i = j + 1
        if i < len(s):
            if s[i] != ",":
                raise ValueError("line %d: expected ',' in labels" % lineno)
            i += 1
    return out


def _value(v, lineno):
    if v in ("+Inf", "-Inf", "NaN"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(v)
    except ValueError:
        raise ValueError("line %d: bad value %r" % (lineno, v))


def _family_of(name, families):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in families \
                and families[name[: -len(suffix)]]["type"] == "histogram":
            return name[: -len(suffix)]
    return name


def parse(text):
    if not text.endswith("\n"):
        raise ValueError("exposition does not end with a newline")
    families = {}
    current = None
    closed = set()
    seen = set()
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, rest = line[2:6], line[7:]
            name, _, arg = rest.partition(" ")
            if not NAME.match(name):
                raise ValueError("line %d: bad metric name %r" % (lineno, name))
            if name in closed:
                raise ValueError("line %d: family %s appears twice" % (lineno, name))
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if current is not None and current != name:
                closed.add(current)
            current = name
            if kind == "TYPE":
                if fam["type"] is not None or fam["samples"]:
                    raise ValueError("line %d: TYPE after samples or twice" % lineno)
                if arg not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    raise ValueError("line %d: bad type %r" % (lineno, arg))
                fam["type"] = arg
            else:
                if re.search(r"\\[^\\n]", arg):
                    raise ValueError("line %d: bad escape in HELP" % lineno)
                fam["help"] = arg
            continue
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m:
            raise ValueError("line %d: not a sample: %r" % (lineno, line))
        name, labels, value = m.group(1), _labels(m.group(3) or "", lineno), _value(m.group(4), lineno)
        fam = _family_of(name, families)
        if fam != current:
            raise ValueError("line %d: sample of %s outside its family block" % (lineno, name))
        if families[fam]["type"] is None:
            raise ValueError("line %d: sample before TYPE" % lineno)
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise ValueError("line %d: duplicate series %s" % (lineno, key))
        seen.add(key)
        if families[fam]["type"] == "counter" and (value < 0 or math.isnan(value)):
            raise ValueError("line %d: negative counter" % lineno)
        families[fam]["samples"].append((name, labels, value))
    for fname, fam in families.items():
        if fam["type"] == "histogram":
            _check_histogram(fname, fam)
    return families


def _check_histogram(fname, fam):
    series = {}
    for name, labels, value in fam["samples"]:
        base = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(base, {"buckets": [], "sum": None, "count": None})
        if name == fname + "_bucket":
            s["buckets"].append((_value(labels["le"], 0), value))
        elif name == fname + "_sum":
            s["sum"] = value
        elif name == fname + "_count":
            s["count"] = value
        else:
            raise ValueError("%s: stray sample %s" % (fname, name))
    for base, s in series.items():
        b = s["buckets"]
        if not b or b[-1][0] != math.inf:
            raise ValueError("%s%s: no +Inf bucket" % (fname, base))
        if [x[0] for x in b] != sorted(x[0] for x in b):
            raise ValueError("%s%s: buckets out of order" % (fname, base))
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise ValueError("%s%s: buckets not cumulative" % (fname, base))
        if s["count"] is None or s["sum"] is None or s["count"] != b[-1][1]:
            raise ValueError("%s%s: _count missing or != +Inf bucket" % (fname, base))


def value(families, name, **labels):
    """The value of the one sample called name whose labels include labels (None if absent)."""
    fam = families.get(_family_of(name, families)) or families.get(name)
    if fam is None:
        return None
    hits = [v for n, l, v in fam["samples"] if n == name and all(l.get(k) == w for k, w in labels.items())]
    if len(hits) > 1:
        raise ValueError("%s%s matches %d series" % (name, labels, len(hits)))
    return hits[0] if hits else None


def promtool_check(text):
    """Runs promtool check metrics when it is installed; returns its output or None."""
    tool = shutil.which("promtool")
    if tool is None:
        return None
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    # Non-zero is a parse error or a lint problem (naming, units, counters without _total).
    if r.returncode != 0:
        raise ValueError("promtool: %s%s" % (r.stdout, r.stderr))
    return r.stdout + r.stderr
