"""Backing services by their technology: a log line failing on "redis" and an alert about Redis meet.

When a service's logs fail on a dependency without naming its host ("redis: connection pool timeout",
"pq: the database system is shutting down") or by an address only ("10.0.9.9:6379"), the technology
(by name or well-known port) is the only name they give. It links
the service to an alert about that technology at the same time ("technology=redis"); two services
failing on one technology share it as a weak signal that needs a place too (docs/incidents.md).
"""

from __future__ import annotations

import re
from functools import lru_cache

# word -> technology; words as alert names, job names and client libraries write them
TECHNOLOGIES = {
    "postgres": "postgres", "postgresql": "postgres", "pq": "postgres", "psql": "postgres",
    "pgbouncer": "postgres", "pgx": "postgres", "mysql": "mysql", "mariadb": "mysql", "mysqld": "mysql",
    "redis": "redis", "jedis": "redis", "redisson": "redis", "memcached": "memcached", "kafka": "kafka",
    "rabbitmq": "rabbitmq", "amqp": "rabbitmq",
    "nats": "nats", "elasticsearch": "elasticsearch", "opensearch": "elasticsearch", "mongodb": "mongodb",
    "mongo": "mongodb", "cassandra": "cassandra", "etcd": "etcd", "zookeeper": "zookeeper",
    "clickhouse": "clickhouse", "keycloak": "identity", "oidc": "identity", "oauth": "identity",
    "oauth2": "identity", "ldap": "identity", "jwks": "identity", "dex": "identity",
    "apiserver": "kubernetes-api", "etcdserver": "etcd",
}  # fmt: skip
# Well-known ports: "dial tcp 10.0.9.9:6379: connection refused" fails on a Redis without saying so.
PORTS = {
    "5432": "postgres", "6432": "postgres", "3306": "mysql", "6379": "redis", "11211": "memcached",
    "9092": "kafka", "5672": "rabbitmq", "5671": "rabbitmq", "4222": "nats", "9200": "elasticsearch",
    "27017": "mongodb", "9042": "cassandra", "2379": "etcd", "2181": "zookeeper",
}  # fmt: skip
_PORT = re.compile(r"[a-z0-9\]]:(\d{4,5})\b(?![.:]\d)")
_WORD = re.compile(r"[a-z][a-z0-9]*")
# A line fails on its dependency: cannot reach it, or it refuses, blocks or is not there.
_FAILED = re.compile(
    r"\b(?:refused|timeout|timed out|unreachable|unavailable|not available|could not connect|cannot connect|"
    r"failed to connect|unable to connect|connection (?:reset|closed|lost|error|blocked)|blocked|broken pipe|"
    r"shutting down|no route to host|deadline exceeded|not the leader|no leader|loading|"
    r"command not allowed|read only replica|too many (?:clients|connections)|max number of clients|"
    r"\w*(?:timeout|connect|unavailable|disconnect)exception)\b"
)
# The Kubernetes API server's own refusals, as every client (client-go, kubectl, operators) prints them:
# throttled (429), timed out (504), unavailable (503). And client-go's informers failing to list or
# watch a resource ("failed to list *v1.Pod: ... connection refused") fail on the API whatever it says.
_KUBERNETES_API_REFUSED = re.compile(
    r"\bthe server has received too many requests\b|\bthe server was unable to return a response\b|"
    r"\bthe server is currently unable to handle the request\b"
)
_INFORMER = re.compile(r"\bfailed to (?:list|watch) \*v\d\w*\.\w+")


def technologies(words: set[str] | frozenset[str] | tuple[str, ...]) -> set[str]:
    """The technologies these lower-cased words name."""
    return {TECHNOLOGIES[word] for word in words if word in TECHNOLOGIES}


def named_technologies(name: str) -> set[str]:
    """The technologies a host, service or workload name names by its words ("redis-master": redis)."""
    return technologies(tuple(_WORD.findall(name.lower())))


@lru_cache(maxsize=4096)
def failing_technologies(line: str) -> frozenset[str]:
    """The technologies a log line fails on, none when the line reports no failure to reach one."""
    line = line.lower()
    found = technologies(tuple(_WORD.findall(line)))
    found |= {PORTS[port] for port in _PORT.findall(line) if port in PORTS}
    failed = bool(_FAILED.search(line))
    if not failed:
        found.clear()
    if _KUBERNETES_API_REFUSED.search(line) or (failed and _INFORMER.search(line)):
        found.add("kubernetes-api")
    return frozenset(found)
