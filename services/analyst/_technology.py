"""The technology a log line names, so that text about it follows the evidence, not a rule's default.

A pool exhausted in "Redis connection failed: Connection pool exhausted" is Redis's: steps that ask
PostgreSQL's `pg_stat_activity` who holds connections would send the reader to the wrong system. The
vocabulary is the correlation's (``services.incidents._technology``: what a word or a well-known port
names), read here on whole words, exception class names split at their capitals
("RedisConnectionException", "PSQLException"), and said as a person writes each name.
"""

from __future__ import annotations

import re

from services.incidents._technology import PORTS, technologies

# Each technology of the vocabulary whose connections a client pools, as a person writes its name.
SPOKEN = {
    "postgres": "PostgreSQL", "mysql": "MySQL", "redis": "Redis", "memcached": "Memcached",
    "kafka": "Kafka", "rabbitmq": "RabbitMQ", "nats": "NATS", "elasticsearch": "Elasticsearch",
    "mongodb": "MongoDB", "cassandra": "Cassandra", "etcd": "etcd", "zookeeper": "ZooKeeper",
    "clickhouse": "ClickHouse",
}  # fmt: skip
# A SQL pool or driver that names no server (HikariCP, SQLAlchemy's QueuePool, JDBC): "database".
SQL_POOL_WORDS = frozenset(
    {"hikari", "hikaricp", "jdbc", "queuepool", "sqlalchemy", "sqlstate", "database", "db"}
)
# Servers' own refusals that name no technology but are one's words alone.
_OWN_WORDS = (
    ("postgres", re.compile(r"\bremaining connection slots are reserved\b|\btoo many clients already\b")),
    ("cassandra", re.compile(r"\ball host\(s\) tried for\b")),
)
# Words, and the words inside a class name: "PSQLException" is PSQL and Exception.
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_PORT = re.compile(r"[A-Za-z0-9\]]:(\d{4,5})\b(?![.:]\d)")


def technology_of(line: str) -> str:
    """The first server technology the line names, as a person writes it; "database" for a SQL pool
    that names none; "" when it names neither."""
    # Each word whole, then its parts: "PostgreSQL" and "RabbitMQ" are names, not Postgre and SQL.
    words = [
        (token.lower(), [part.lower() for part in _PART.findall(token)]) for token in _TOKEN.findall(line)
    ]
    for whole, parts in words:
        for word in (whole, *parts):
            if (named := technologies((word,))) and (spoken := SPOKEN.get(next(iter(named)), "")):
                return spoken
    lowered = line.lower()
    for technology, words_of_its_own in _OWN_WORDS:
        if words_of_its_own.search(lowered):
            return SPOKEN[technology]
    for port in _PORT.findall(line):
        if PORTS.get(port) in SPOKEN:
            return SPOKEN[PORTS[port]]
    # A pool's word whole ("QueuePool") or a part of one ("HikariPool-1"); but "DB" inside a name is
    # another store's ("InfluxDB", "RocksDB"), alone the database.
    named_by_pool = {whole for whole, _ in words} | {
        part for _, parts in words for part in parts if part != "db"
    }
    return "database" if SQL_POOL_WORDS.intersection(named_by_pool) else ""
