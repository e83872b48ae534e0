"""What counts as an identifier: IPs, hostnames, e-mails, user names and Kubernetes object names.

Pure functions over text. Each pattern starts with a look-behind that excludes the characters its
first repetition consumes, so a match is only tried where a token begins: the work stays linear
even in a million-character token. Ambiguous candidates (a dotted name, a run of hex and colons)
are matched broadly and judged in Python, where the rule can be read.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

# Last labels that make a dotted name a host: common public TLDs and the suffixes of internal
# names. Not file extensions (py, go, rs, sh, pl, js, java ...): app.py stays app.py.
HOST_SUFFIXES = frozenset(
    {"com", "net", "org", "io", "dev", "cloud", "app", "ai", "co", "me", "info", "biz", "edu", "gov"}
    | {"mil", "int", "eu", "uk", "de", "fr", "nl", "ch", "at", "se", "no", "dk", "fi", "es", "it"}
    | {"be", "ie", "pt", "cz", "jp", "cn", "kr", "in", "au", "nz", "ca", "us", "br", "mx", "ru", "ua"}
    | {"za", "sg", "hk", "tw", "internal", "local", "localdomain", "lan", "corp", "intra", "intranet"}
    | {"home", "svc", "cluster", "consul", "test", "example", "invalid"}
)
# Public names that identify nobody: annotation and label prefixes (app.kubernetes.io/name) and
# the registries and APIs every cluster talks to. A subdomain of one (acme.s3.amazonaws.com) is no
# longer anonymous, so only these exact names, and the subdomains of the annotation prefixes, pass.
PUBLIC_HOSTS = frozenset(
    {"kubernetes.io", "k8s.io", "x-k8s.io", "docker.io", "registry-1.docker.io", "gcr.io", "ghcr.io"}
    | {"quay.io", "registry.k8s.io", "github.com", "api.github.com", "prometheus.io", "grafana.com"}
    | {"amazonaws.com", "googleapis.com", "nvidia.com", "amd.com", "intel.com"}
)
# Annotation prefixes and storage drivers (ebs.csi.aws.com, pd.csi.storage.gke.io).
_PUBLIC_SUFFIXES = (
    ".kubernetes.io",
    ".k8s.io",
    ".x-k8s.io",
    ".csi.aws.com",
    ".csi.storage.gke.io",
    ".csi.azure.com",
)
# First labels of reversed-domain code names (java.lang.Error, com.zaxxer.hikari.pool.HikariPool).
CODE_ROOTS = frozenset(
    {"com", "org", "net", "io", "java", "javax", "jakarta", "kotlin", "scala", "android", "sun"}
    | {"jdk", "groovy"}
)
# Words seen before ":<digits>" that are fields, not hosts (line:42, status:503).
NOT_HOSTS = frozenset(
    {"line", "port", "code", "status", "retry", "retries", "attempt", "attempts", "timeout", "count"}
    | {"size", "pid", "uid", "gid", "errno", "exit", "took", "duration", "len", "length", "offset"}
    | {"limit", "page", "step", "version", "id", "level", "http", "https", "tcp", "udp", "localhost"}
    | {"error", "warn", "info", "debug", "trace", "rc", "ttl", "max", "min", "rows", "bytes", "items"}
    | {"batch", "queue", "workers", "threads", "conns", "connections", "active", "idle", "pending"}
    | {"total", "used", "free", "avail", "capacity", "elapsed", "latency", "ms", "sec", "seconds"}
    | {"memory", "mem", "cpu", "cpus", "vcores", "disk", "heap"}
)
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")

# Not after ":" or "/": in scheme://user:password@host the part before "@" is userinfo.
# The domain ends in letters: session-gateway@3.4.1 is a package and its version.
EMAIL = re.compile(
    r"(?:(?<=mailto:)|(?<![\w.+:/-]))[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
    r"\.[A-Za-z]{2,63}(?![\w-])"
)
# Userinfo of a URL or DSN: postgres://payments:<secret>@db, amqp://orders@mq.
URL_USER = re.compile(r"(?<=://)([A-Za-z_][\w.-]{0,63})(?=(?::[^@/\s]{0,256})?@)")
# Hex, colons and an optional dotted quad: every IPv6 form, judged by the ipaddress module.
IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})"
    r"(?:%[\w.-]{1,32})?(?![\w:])"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
# A dotted or dashed token, with the port that may follow; judged by is_host().
HOST_TOKEN = re.compile(r"(?<![\w.-])([A-Za-z0-9][\w.-]{0,252})(:\d{2,5}(?![\w.:]))?")
# A user name, with the Windows domain it may carry (ACME\\jsmith).
_NAME = r"([A-Za-z_][\w.-]{0,63}(?:\\[A-Za-z_][\w.-]{0,63})?)"
# Accounts every system has, and words where a name would be: they identify no one.
NOT_USERS = frozenset(
    {"root", "nobody", "daemon", "sshd", "www-data", "user", "guest", "admin", "administrator"}
    | {"system", "anonymous", "unknown", "invalid", "null", "none"}
)
_KEY = r"(?:user(?:_?name)?|login|account|uid)"
# Each with a word it cannot match without, checked first (lower case): most lines skip them all.
USER = [
    ("user", re.compile(rf"(?i:\b(?:for|by|invalid|as|of) user) +(?:\"|'|\\\")?{_NAME}")),
    ("user", re.compile(rf"(?i:\buser) +(?:\"|'|\\\"){_NAME}")),
    # user=bob, "login": "bob", uid=jdoe,ou=people; not "cannot validate user: user-service responded".
    ("", re.compile(rf"(?i:\b{_KEY})[\"']?(?:\s*[=:]\s*(?:\"|'|\\\")|[=:]){_NAME}")),
    # sshd: "Failed password for mwilson from", "Accepted publickey for deploy from".
    (
        " for ",
        re.compile(rf"\b(?:password|publickey|keyboard-interactive/pam|hostbased) for {_NAME}(?= from )"),
    ),
    # sudo: "sudo: jdoe : TTY=pts/0 ; ..."; home directories name their owner.
    ("sudo:", re.compile(rf"\bsudo: +{_NAME}(?= : )")),
    ("/", re.compile(rf"/(?:home|Users)/{_NAME}")),
]
# A host named by its key where its shape does not say so: host=pg-ha-primary, host name "db".
HOST_KEY = re.compile(
    # "host:" only when the name follows at once: "no route to host: no further information" is prose.
    r"(?i:\bhost(?:[ _]?name)?)(?:=|:(?=\S)|:?\s+(?=[\"']))[\"']?([A-Za-z][A-Za-z0-9-]{0,62})(?![\w.])"
)
# nginx/Apache access logs: "client - remote_user [14/May/2024:...".
ACCESS_LOG_USER = re.compile(rf"(?<= - ){_NAME}(?= \[\d{{2}}/[A-Z][a-z]{{2}}/\d{{4}}:)")
# Kubernetes: a kind keyword before the name, or the shape of a Deployment's pod name.
K8S_KEYWORD = re.compile(
    r"\b(pod|namespace|deployment|statefulset|daemonset|replicaset|cronjob)"
    r"(?:/|=|:\s?|\s(?=[\"']))[\"']?([a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)"
)
_HASH = "[bcdfghjklmnpqrstvwxz2456789]"
POD_SHAPE = re.compile(
    rf"(?<![\w.-])[a-z0-9](?:[a-z0-9-]{{0,200}}[a-z0-9])?-{_HASH}{{6,10}}-{_HASH}{{5}}(?![\w.-])"
)
K8S_LABELS = {
    "pod": "pod",
    "namespace": "namespace",
    "deployment": "k8s",
    "statefulset": "k8s",
    "daemonset": "k8s",
    "replicaset": "k8s",
    "cronjob": "k8s",
    "job_name": "k8s",
    "persistentvolumeclaim": "k8s",
}
# Label values that are hosts whatever their shape (instance="db-1:9100", node="gke-pool-1-x").
HOST_LABELS = frozenset({"instance", "host", "hostname", "node", "nodename", "fqdn", "server"})


def label_kind(key: str, k8s_names: bool) -> str | None:
    """The placeholder kind of a label's value, from the label's name; None: judge the text."""
    name = key.lower()
    for prefix in ("exported_", "kubernetes_", "k8s_"):
        name = name.removeprefix(prefix)
    if name.endswith("_name") and name != "job_name":
        name = name.removesuffix("_name")
    if name in HOST_LABELS:
        return "host"
    return K8S_LABELS.get(name) if k8s_names else None


def is_ipv6(candidate: str) -> bool:
    try:
        address = ipaddress.IPv6Address(candidate.split("%", 1)[0])
    except ValueError:
        return False
    # "[::]:8443" listens on every address: it names no one.
    return not address.is_unspecified


def is_host(token: str, port: str | None) -> bool:
    """A dotted name ending in a host suffix, or a single lower-case name before a port."""
    token = token.rstrip(".-")
    labels = token.split(".")
    if len(labels) == 1:
        # "redis-master:6379", "loki:3100"; not "grain:32" nor "line:42".
        name = labels[0]
        if not port or not _LABEL.fullmatch(name) or not name.islower() or not name[0].isalpha():
            return False
        named = any(c.isdigit() or c == "-" for c in name) or len(port) >= 4
        return named and name not in NOT_HOSTS
    last = labels[-1]
    if last.lower() not in HOST_SUFFIXES or not (last.islower() or last.isupper()):
        return False
    if len(labels) >= 3 and labels[0] in CODE_ROOTS:
        return False
    # Kind.group (Issuer.cert-manager.io) and Class.method: a capitalised word first, lower case after.
    if labels[0][:1].isupper() and not labels[0].isupper() and token[len(labels[0]) :].islower():
        return False
    if token.lower() in PUBLIC_HOSTS or token.lower().endswith(_PUBLIC_SUFFIXES):
        return False
    return all(_LABEL.fullmatch(label) for label in labels)


Replace = Callable[[str, str], str]


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def scrub_identifiers(text: str, replace: Replace, name: Replace, k8s_names: bool) -> str:
    """Every identifier in ``text`` through ``replace(kind, value)``; the rest of the text untouched.

    Names known only by their context (user=bob, pod/checkout-...) go through ``name`` instead,
    so the caller can replace them where they occur without that context too.
    """
    # Each pass only where its anchor character occurs: most log lines skip most passes.
    if "://" in text:
        text = URL_USER.sub(lambda m: name("user", m.group(1)), text)
    if "@" in text:
        text = EMAIL.sub(lambda m: replace("email", m.group(0)), text)
    if ":" in text:
        text = IPV6.sub(lambda m: replace("ip", m.group(0)) if is_ipv6(m.group(0)) else m.group(0), text)
    if "." in text:
        text = IPV4.sub(lambda m: replace("ip", m.group(0)), text)
    if "." in text or ":" in text:
        text = HOST_TOKEN.sub(lambda m: _host(m, replace), text)
    lower = text.lower()
    for anchor, pattern in USER:
        if anchor in lower:
            text = pattern.sub(lambda m: _group(m, 1, "user", name), text)
    if "host" in lower:
        text = HOST_KEY.sub(lambda m: _group(m, 1, "host", name), text)
    if " - " in text:
        text = ACCESS_LOG_USER.sub(lambda m: _group(m, 1, "user", name), text)
    if k8s_names:
        text = K8S_KEYWORD.sub(lambda m: _group(m, 2, _k8s_kind(m.group(1)), name), text)
        if "-" in text:
            text = POD_SHAPE.sub(lambda m: name("pod", m.group(0)), text)
    return text


def _host(match: re.Match[str], replace: Replace) -> str:
    token, port = match.group(1), match.group(2)
    stripped = token.rstrip(".-")
    if not is_host(stripped, port):
        return match.group(0)
    return replace("host", stripped) + token[len(stripped) :] + (port or "")


def _group(match: re.Match[str], group: int, kind: str, replace: Replace) -> str:
    """``match`` with only ``group`` replaced; a trailing dot or dash is punctuation, not name."""
    value = match.group(group).rstrip(".-")
    if not value or value.startswith("<") or value.lower() in NOT_USERS | NOT_HOSTS:
        return match.group(0)
    start, end = match.start(group) - match.start(), match.start(group) - match.start() + len(value)
    whole = match.group(0)
    return whole[:start] + replace(kind, value) + whole[end:]


def _k8s_kind(keyword: str) -> str:
    return keyword if keyword in ("pod", "namespace") else "k8s"
