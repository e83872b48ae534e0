"""What the evidence adds to an alert's place: the hosts its logs fail to reach, the node its pod runs on.

Precision first: a host is taken from a log line only when the line reports a failed connection
(refused, timed out, no route, could not connect ...) and the host is written as a host is written
in such a line: with a port (``db-main:5432``), in a URL, quoted after "host" or "server at", or after
"dial tcp"/"lookup"/"connect to" with a dot, dash or digit in it. "could not connect to database"
names no host.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache

import schemas
from services.incidents._kinds import NumbersAlike
from services.incidents._technology import failing_technologies, named_technologies
from services.incidents._topology import host_name

# At most this many hosts per alert: a service that fails to reach everything points at itself.
MAX_LOGGED_HOSTS = 4

# Cheap first look: a line with none of these stems reports no failed connection.
_STEMS = (
    "refused", "timeout", "timed out", "unreachable", "no route", "connect", "reach", "resolve", "establish",
    "reset", "broken pipe", "no such host", "enotfound", "name or service", "name resolution", "x509",
    "certificate", "handshake", "deadline exceeded", "bad gateway", "service unavailable", "gateway timeout",
    "not allowed", "read only", "too many", "max number of clients", "database system is",
    "closed the connection",
)  # fmt: skip
_CONNECTION_FAILED = re.compile(
    r"\b(?:connection refused|refused|econnrefused|i/o timeout|timed out|timeout|etimedout|"
    r"no route to host|ehostunreach|host is unreachable|network is unreachable|unreachable|"
    r"(?:could ?not|couldn't|can ?not|can't|cannot|unable to|failed to) (?:connect|reach|resolve|establish)|"
    r"could not be established|connection reset|econnreset|broken pipe|no such host|enotfound|"
    r"name or service not known|temporary failure in name resolution|connection (?:error|lost|closed)|"
    r"x509|certificate has expired|certificate verify failed|tls handshake (?:error|timeout|failure)|"
    r"context deadline exceeded|bad gateway|service unavailable|gateway timeout|upstream connect error|"
    # the server answers, refusing: out of memory, read-only, full, stopping (Redis, PostgreSQL, MySQL)
    r"oom command not allowed|can't write against a read only replica|max number of clients reached|"
    r"too many (?:clients|connections)|the database system is (?:shutting down|starting up|in recovery mode)|"
    r"server closed the connection unexpectedly)\b"
)
# Failure classes a line shows whatever host it names: a resolver failing, a certificate refused, a full disk.
_SYMPTOMS = (
    ("dns", re.compile(
        r"\b(?:no such host|enotfound|eai_again|nxdomain|name or service not known|server misbehaving|"
        r"temporary failure in name resolution|(?:could ?not|failed to|unable to) resolve)\b|"
        r"\blookup \S+ on \S+:53\b"
    )),
    ("certificate", re.compile(
        r"\bx509\b|certificate (?:has expired|expired|verify failed|is not yet valid)|"
        r"certificate_verify_failed|\bbad certificate\b|\bexpired certificate\b|\bunknown authority\b|"
        r"\btls error\b|\bssl routines\b|"
        # Java's TLS stack: the handshake refused, the chain not validated, the certificate expired
        r"\bsslhandshakeexception\b|\bpkix path (?:building|validation) failed\b|"
        r"\bcertpathvalidatorexception\b|\bcertificateexpiredexception\b|\bsslpeerunverifiedexception\b"
    )),
    ("disk-full", re.compile(r"\bno space left on device\b|\bdisk (?:quota exceeded|full)\b")),
    ("connection-pool", re.compile(
        r"\b(?:connection pool (?:is )?(?:exhausted|timeout|full)|pool exhausted|connection is not available|"
        r"too many (?:clients|connections)|remaining connection slots|"
        r"timeout waiting for (?:a |an idle )?(?:connection|object)|"
        r"(?:cannot|could not|unable to) (?:obtain|acquire|get) (?:a )?(?:jdbc |database |db )?connection|"
        r"queuepool limit)\b"
    )),
    ("rollout", re.compile(
        r"\b(?:errimagepull|imagepullbackoff|back-off pulling image|scalingreplicaset)\b"
    )),
)  # fmt: skip
# Cheap first look, as _STEMS: every match of a class's pattern holds one of its stems (a pattern of
# many top-level branches is tried at every position of a line, the costliest part of a footprint).
_SYMPTOM_STEMS: dict[str, tuple[str, ...]] = {
    "dns": (
        "host", "enotfound", "eai_again", "nxdomain", "not known", "misbehaving", "resolution", "resolve",
        "lookup",
    ),
    "certificate": ("x509", "certificate", "authority", "tls error", "ssl", "pkix", "certpath"),
    "disk-full": ("no space left", "disk"),
    "connection-pool": ("connection", "pool", "too many", "timeout waiting"),
    "rollout": ("image", "scalingreplicaset"),
}  # fmt: skip
# Series whose change means a rollout (the analyst's deployment-regression rule reads the same names).
_ROLLOUT_METRIC = re.compile(
    r"observed_generation|metadata_generation|build_info|app_version|replicaset_created|rollout|container_info"
)
# Java's InetSocketAddress: kafka-1.kafka-headless/10.0.0.1:9092 names the host before the address.
_JAVA_ADDRESS = re.compile(r"(?<![\w.-])([a-z0-9][a-z0-9.-]*[a-z0-9])/\d{1,3}(?:\.\d{1,3}){3}:\d{2,5}\b")
# Hosts are matched loosely here and checked label by label in _plausible (nested quantifiers are slow).
_HOST = r"[a-z0-9][a-z0-9.-]*[a-z0-9]"
# host:port, not inside a longer word or a time of day.
_HOST_PORT = re.compile(rf"(?<![\w.-])({_HOST}):\d{{2,5}}\b(?![.:]\d)")
# on host "db-main", server at "db-main", address: 'db-main'
_NAMED_HOST = re.compile(rf"""\b(?:host|server at|hostname|addr|address)\s*[=:]?\s*["']({_HOST})["']""")
_HOST_KEY = re.compile(rf"\bhost(?:name)?=({_HOST})\b")
# dial tcp db-main.shop.svc, lookup redis-master, connect to kafka-0.kafka
_AFTER_VERB = re.compile(
    rf"\b(?:dial(?:ing)? (?:tcp|udp)|lookup|connect(?:ing)? to|connection to)\s+({_HOST})\b"
)
# Get "https://auth.example.com/token": x509: certificate has expired
_URL = re.compile(
    rf"\b(?:https?|grpcs?|wss?|amqps?|postgres(?:ql)?|mysql|redis|mongodb)://(?:[^@/\s]*@)?({_HOST})"
)
# A client of the Kubernetes API calls https://<address>/api/v1/... or /apis/<group>/...: whatever the
# address, that is the "kubernetes" Service the API server alerts name.
_KUBERNETES_API = re.compile(r"\bhttps://[^/\s\"']+/apis?/")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_LOCAL = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "ip6-localhost"})


def short_name(host: str) -> str:
    """A Kubernetes service's own name from its DNS name ("db-main.shop.svc.cluster.local" -> "db-main")."""
    labels = host.split(".")
    return labels[0] if len(labels) > 2 and "svc" in labels[2:] else host


def _plausible(host: str, loose: bool) -> bool:
    if host in _LOCAL or host.isdigit() or not all(_LABEL.match(label) for label in host.split(".")):
        return False
    if _IPV4.match(host):
        return True
    if not any(char.isalpha() for char in host):
        return False
    return loose or any(char in host for char in ".-") or any(char.isdigit() for char in host)


@lru_cache(maxsize=4096)
def hosts_in_line(line: str) -> tuple[str, ...]:
    """The hosts a connection-failure line names, in order; () for any other line.

    Cached: a storm's alerts carry the same few lines over and over."""
    line = line.lower()
    if not any(stem in line for stem in _STEMS) or not _CONNECTION_FAILED.search(line):
        return ()
    found: list[str] = []
    patterns = (
        (_JAVA_ADDRESS, True),
        (_HOST_PORT, True),
        (_URL, True),
        (_NAMED_HOST, True),
        (_HOST_KEY, True),
        (_AFTER_VERB, False),
    )
    for pattern, loose in patterns:
        for match in pattern.finditer(line):
            host = host_name(match.group(1))
            if _plausible(host, loose) and host not in found:
                found.append(host)
    if _KUBERNETES_API.search(line) and "kubernetes" not in found:
        found.append("kubernetes")
    return tuple(found)


def logged_hosts(evidence: schemas.Evidence) -> list[str]:
    """Hosts the alert's logs failed to reach, most severe templates first, at most MAX_LOGGED_HOSTS."""
    if evidence.logs is None:
        return []
    hosts: list[str] = []
    for template in evidence.logs.templates:
        for host in hosts_in_line(template.sample or template.template):
            if host not in hosts:
                hosts.append(host)
            if len(hosts) >= MAX_LOGGED_HOSTS:
                return hosts
    return hosts


_IP_LIKE = re.compile(r"^[\d.]+$|:")  # an address places nothing: a pod's or a Service's, anywhere


def dialled_technologies(evidence: schemas.Evidence) -> list[tuple[str, str]]:
    """(technology, host) for each host the logs fail to reach that is known to be one: named by a
    technology's word (``redis-master``), or the one host of a line failing on that technology by
    name or well-known port (``Connection refused (db-staging.internal:5432)``). Addresses are left out."""
    if evidence.logs is None:
        return []
    found: dict[tuple[str, str], None] = {}
    for template in evidence.logs.templates:
        line = template.sample or template.template
        hosts = [host for host in hosts_in_line(line) if not _IP_LIKE.search(host)]
        for host in hosts:
            for technology in named_technologies(host):
                found[technology, host] = None
        if len(hosts) == 1:
            for technology in failing_technologies(line):
                found[technology, hosts[0]] = None
    return list(found)


def lines(evidence: schemas.Evidence) -> list[str]:
    """The evidence's log lines (a sample of each template), lower-cased."""
    return (
        [] if evidence.logs is None else [(t.sample or t.template).lower() for t in evidence.logs.templates]
    )


def log_symptoms(evidence: schemas.Evidence) -> list[str]:
    """The failure classes the alert's evidence shows ("dns", "certificate", "disk-full", "rollout" ...)."""
    if evidence.logs is None and not evidence.metrics:
        return []
    seen = {name for line in lines(evidence) for name in _line_symptoms(line)}
    found = [name for name, _ in _SYMPTOMS if name in seen]
    if "rollout" not in found and any(_rolled_out(metric) for metric in evidence.metrics):
        found.append("rollout")
    return found


def text_symptoms(text: str, more: str | None = None) -> tuple[str, ...]:
    """The failure classes a text (an alert's summary) shows, as in a log line; with ``more`` (its
    description), those of both as one text, a line each.

    Read with their lone numbers written as 0 (``_SYMPTOM_NUMBERS``), which they show alike: a storm's
    alerts say the same few things, and their summaries differ by their subject's number. Each text is
    rewritten on its own: a number never spans two lines, so that is the joined text's rewrite, and the
    summary's is the one the alert's kind read already (``NumbersAlike``)."""
    said = _SYMPTOM_NUMBERS.zeroed(text)
    return _text_symptoms(f"{said}\n{_SYMPTOM_NUMBERS.zeroed(more)}" if more is not None else said)


@lru_cache(maxsize=4096)
def _text_symptoms(text: str) -> tuple[str, ...]:
    found = set(_line_symptoms(text.lower())) if text.strip() else set()
    return tuple(name for name, _ in _SYMPTOMS if name in found and name != "rollout")


# What lets a pattern tell numbers apart other than by the numbers it is written with: a digit class,
# any character class, a counted repeat, one character of any kind not repeated freely (it counts a
# number's digits: "a..b"), a digit in an alternation or made optional.
_TELLS_NUMBERS = re.compile(r"\\d|\[|\{|(?:\\[wS]|(?<!\\)\.)(?![+*])|\d[|)?*+]|[|(]\d")


def _numbers_read_alike(patterns: Iterable[re.Pattern[str]]) -> NumbersAlike:
    """The numbers of a text that no pattern can tell apart: standing alone (``lone_numbers``) and
    none the patterns are written with (the DNS port of "lookup x on y:53"). None at all when a
    pattern could tell numbers apart otherwise (``_TELLS_NUMBERS``); that it cannot is proved for the
    patterns as written by tests/unit/incidents/test_footprint.py, over texts made of their phrases."""
    sources = [pattern.pattern for pattern in patterns]
    if any(_TELLS_NUMBERS.search(source) for source in sources):
        return NumbersAlike(frozenset({"0"}))  # writes no number
    return NumbersAlike(frozenset(number for source in sources for number in re.findall(r"\d+", source)))


_SYMPTOM_NUMBERS = _numbers_read_alike(pattern for _, pattern in _SYMPTOMS)


@lru_cache(maxsize=4096)
def _line_symptoms(line: str) -> tuple[str, ...]:
    found: list[str] = []
    for name, pattern in _SYMPTOMS:
        for stem in _SYMPTOM_STEMS[name]:
            if stem in line:
                if pattern.search(line):
                    found.append(name)
                break
    return tuple(found)


def _rolled_out(metric: schemas.MetricEvidence) -> bool:
    """A version or generation series that changed in the window: something was rolled out."""
    if not _ROLLOUT_METRIC.search(f"{metric.name} {metric.query}"):
        return False
    return any(series.max != series.min or series.change_abs for series in metric.series)


def logged_technologies(evidence: schemas.Evidence) -> list[str]:
    """The technologies (redis, postgres ...) the alert's log lines fail to reach."""
    if evidence.logs is None:
        return []
    return sorted({found for line in lines(evidence) for found in failing_technologies(line)})


# What varies between two copies of one error line: quoted values, placeholders, anything with a digit.
_VARYING = re.compile(r"""<[^>\s]*>|"[^"]*"|'[^']*'|\S*\d\S*""")
# A line worth comparing says something: a few words, not "error" or "failed: <*>".
_MIN_WORDS = 4
# How a line is logged, not what it says: the one error printed by a Go panic ("panic: x"), a logger's
# level ("ERROR x", "level=error msg=x") or a bare return ("x") is one error line.
_LEVEL_WORDS = frozenset(
    {"panic", "fatal", "error", "err", "warn", "warning", "info", "debug", "trace", "critical", "crit",
     "severe", "emerg", "alert", "notice", "level", "msg", "message", "caused", "by", "uncaught", "exception"}
)  # fmt: skip


# A Kubernetes event as shippers write it (Alloy's kubernetes_events, event-exporter, the enricher's own
# source): ``type=Warning reason=BackOff ... msg="..."``, in logfmt or JSON.
_EVENT_TYPE = re.compile(r"""\btype["']?\s*[=:]\s*["']?(?:warning|normal)\b""")
_EVENT_REASON = re.compile(r"""\breason["']?\s*[=:]\s*["']?[a-z]""")


def error_lines(evidence: schemas.Evidence) -> list[str]:
    """A short digest of each error line of the evidence, its values masked: two services printing one
    new error line (the same panic after one release) share it. Only what a program printed counts:
    not a Kubernetes event (every crash-looping pod has the kubelet's "Back-off restarting failed
    container", its values masked: a symptom, which the alert says already), nor a line ending in a
    colon, which announces what follows (Python's "Traceback (most recent call last):")."""
    if evidence.logs is None:
        return []
    return sorted(
        {
            digest
            for template in evidence.logs.templates
            if template.severity == "error"
            for digest in [_line_digest(template.template)]
            if digest
        }
    )


@lru_cache(maxsize=4096)
def _line_digest(line: str) -> str:
    low = line.lower()
    if low.rstrip().endswith(":") or (_EVENT_TYPE.search(low) and _EVENT_REASON.search(low)):
        return ""
    masked = _VARYING.sub(" ", low)
    words = re.findall(r"[a-z]{2,}", masked)
    start = 0
    while start < len(words) and words[start] in _LEVEL_WORDS:
        start += 1
    words = words[start:]
    if len(words) < _MIN_WORDS:
        return ""
    return hashlib.sha256(" ".join(words).encode()).hexdigest()[:12]
