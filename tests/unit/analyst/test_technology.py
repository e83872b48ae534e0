"""The technology a pool's log line names, which the text of a pool's exhaustion follows."""

from __future__ import annotations

import pytest

from services.analyst._technology import technology_of


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("ERROR cart: RedisConnectionException: could not get a connection, pool exhausted", "Redis"),
        ("redis.clients.jedis.exceptions.JedisExhaustedPoolException: Could not get a resource", "Redis"),
        ("org.postgresql.util.PSQLException: FATAL: sorry, too many clients already", "PostgreSQL"),
        # The pool names no server, its cause does: the server is what the person looks at.
        ("HikariPool-1 - Connection is not available; caused by PSQLException", "PostgreSQL"),
        ("dial tcp 10.0.0.9:3306: connect: connection refused", "MySQL"),
        ("NoHostAvailableException: All host(s) tried for query failed", "Cassandra"),
        ("HikariPool-1 - Connection is not available, request timed out after 30000ms", "database"),
        ("QueuePool limit of size 5 overflow 10 reached, connection timed out", "database"),
        ("db pool exhausted: timed out waiting for a connection", "database"),
    ],
)
def test_the_technology_is_the_one_the_line_names(line: str, named: str) -> None:
    assert technology_of(line) == named


@pytest.mark.parametrize(
    "line",
    [
        "the pool is exhausted",
        # Inside other words, no technology is named.
        "a kafkaesque retry loop; predisposed to time out; mongoose-free",
        "listening on 0.0.0.0:80443",
        # Another store's name ending in DB is not a SQL pool's database.
        "InfluxDBClient: write timed out; RocksDB compaction pending",
    ],
)
def test_a_line_naming_no_technology_names_none(line: str) -> None:
    assert technology_of(line) == ""


@pytest.mark.parametrize(
    ("line", "named"),
    [
        # A name written in mixed case is one word, not the parts a class name splits into.
        ("FATAL: too many connections to PostgreSQL, pool exhausted", "PostgreSQL"),
        ("MySQL server has gone away: connection pool exhausted", "MySQL"),
        ("MariaDB refused the connection: Too many connections", "MySQL"),
        ("RabbitMQ channel pool exhausted", "RabbitMQ"),
        ("ClickHouse connection pool is full", "ClickHouse"),
        ("ZooKeeper session expired; no connection available", "ZooKeeper"),
    ],
)
def test_a_name_written_in_mixed_case_is_read_whole(line: str, named: str) -> None:
    assert technology_of(line) == named
