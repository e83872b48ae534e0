"""The technology a log line names, so that text about it follows the evidence, not a rule's default.

A pool exhausted in "Redis connection failed: Connection pool exhausted" is Redis's: steps that ask
PostgreSQL's `pg_stat_activity` who holds connections would send the reader to the wrong system.
"""

from __future__ import annotations

import re

# Names as they appear in client errors and exception classes ("RedisConnectionException",
# "org.postgresql.util.PSQLException", "pymongo.errors"), most specific first. A SQL pool or driver
# that names no server (HikariCP, SQLAlchemy's QueuePool, JDBC) says "database".
_NAMED = (
    ("Redis", r"redis|jedis|lettuce"),
    (
        "PostgreSQL",
        r"postgres|psql|pgbouncer|pg_|remaining connection slots are reserved|too many clients already",
    ),
    ("MySQL", r"mysql|mariadb"),
    ("MongoDB", r"mongo"),
    ("Kafka", r"kafka"),
    ("RabbitMQ", r"rabbitmq|amqp"),
    ("Elasticsearch", r"elasticsearch|opensearch"),
    ("Cassandra", r"cassandra|all host\(s\) tried for"),
    ("Memcached", r"memcache"),
    ("etcd", r"etcd"),
    ("database", r"hikari|jdbc|queuepool|sqlalchemy|sqlstate|database|\bdb\b"),
)
_TECHNOLOGY = re.compile(
    "|".join(f"(?<![a-z])(?P<t{i}>{p})" for i, (_, p) in enumerate(_NAMED)), re.IGNORECASE
)


def technology_of(line: str) -> str:
    """The first technology the line names, as a person writes it; "" when it names none."""
    found = _TECHNOLOGY.search(line)
    if found is None or found.lastgroup is None:
        return ""
    return _NAMED[int(found.lastgroup[1:])][0]
