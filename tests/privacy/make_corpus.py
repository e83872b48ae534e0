# ruff: noqa: E501 -- the templates are log lines; wrapping them would hide the shape they must have.
"""Writes tests/privacy/corpus/corpus.jsonl: log lines of real formats with planted values and look-alikes.

Run ``.venv/bin/python -m tests.privacy.make_corpus`` after editing the templates below; the output is
committed so the corpus reads the same everywhere. Every value is synthetic: random characters in the
shape of the real thing (seeded, so the file is stable), never a real credential.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus" / "corpus.jsonl"
rng = random.Random(16)

UPPER, LOWER, DIGITS = string.ascii_uppercase, string.ascii_lowercase, string.digits
ALNUM = UPPER + LOWER + DIGITS


def chars(alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def password() -> str:
    words = [
        "Tr0ub4dor",
        "Winter",
        "Kestrel",
        "Harbor",
        "Quasar",
        "Maple",
        "Orbit",
        "Falcon",
        "Cobalt",
        "Nimbus",
    ]
    return f"{rng.choice(words)}{chars(DIGITS, 3)}{rng.choice('!*+-_.~')}{chars(ALNUM, 5)}"


def jwt() -> str:
    header = b64url({"alg": rng.choice(["RS256", "HS256", "ES256"]), "typ": "JWT"})
    user = rng.choice(["u_" + chars(DIGITS, 6), "svc-" + chars(LOWER, 6)])
    payload = b64url({"sub": user, "iat": 1717000000 + rng.randrange(10**6), "scope": "payments:write"})
    return f"{header}.{payload}.{chars(ALNUM + '-_', 43)}"


def pem() -> str:
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    body = "\n".join(chars(ALNUM + "+/", 64) for _ in range(4))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


USERS = [
    "alice.nguyen",
    "bob_okafor",
    "carol.jensen",
    "dmitri.k",
    "erin_walsh",
    "farah.haddad",
    "gus.oyelaran",
    "hana.sato",
    "ivan.petrov",
    "jules.martin",
    "kwame.boateng",
    "lena.fischer",
    "payments_rw",
    "svc_billing",
]
SECRETS: dict[str, Callable[[], str]] = {
    "postgres-password": password,
    "mysql-password": password,
    "redis-password": password,
    "amqp-password": password,
    "aws-access-key": lambda: rng.choice(["AKIA", "ASIA"]) + chars(UPPER + "234567", 16),
    "aws-secret-key": lambda: chars(ALNUM + "/+", 40),
    "github-token": lambda: rng.choice(["ghp_", "gho_", "ghs_"]) + chars(ALNUM, 36),
    "slack-token": lambda: (
        f"xox{rng.choice('bp')}-{chars(DIGITS, 12)}-{chars(DIGITS, 13)}-{chars(ALNUM, 24)}"
    ),
    "stripe-key": lambda: rng.choice(["sk_live_", "rk_live_"]) + chars(ALNUM, 24),
    "openai-key": lambda: f"sk-proj-{chars(ALNUM, 20)}T3BlbkFJ{chars(ALNUM, 20)}",
    "jwt": jwt,
    "private-key": pem,
    "bearer-token": lambda: chars(ALNUM + "-._~", 40),
    "basic-auth": lambda: base64.b64encode(f"{rng.choice(USERS)}:{password()}".encode()).decode(),
    "cookie": lambda: chars(ALNUM, 32),
    "password-field": password,
    "secret-field": lambda: chars(ALNUM, 32),
    "token-field": lambda: chars(LOWER + DIGITS, 40),
}

IDENTIFIERS: dict[str, Callable[[], str]] = {
    "ipv4": lambda: f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    "ipv4-public": lambda: (
        f"{rng.choice([34, 52, 81, 185, 203])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    ),
    "ipv6-full": lambda: ":".join(f"{rng.randrange(0x10000):04x}" for _ in range(8)).replace(
        "0000", "2001", 1
    ),
    "ipv6-compressed": lambda: (
        f"fd00:{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}::{rng.randrange(1, 0xFFF):x}"
    ),
    "ipv6-zone": lambda: f"fe80::{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}%eth{rng.randrange(3)}",
    "ipv6-mapped": lambda: f"::ffff:10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    "hostname": lambda: rng.choice(
        [
            f"pg-{rng.choice(['primary', 'replica'])}-{rng.randrange(9)}.payments.svc.cluster.local",
            f"ip-10-{rng.randrange(256)}-{rng.randrange(256)}-{rng.randrange(256)}.eu-west-1.compute.internal",
            f"{rng.choice(['ledger', 'vault', 'kafka', 'billing'])}-{rng.randrange(1, 30)}.prod.acme-corp.com",
            f"{rng.choice(['build', 'ci', 'db', 'mq'])}{rng.randrange(1, 40):02d}.dc2.acme.corp",
            f"{rng.choice(['orders', 'fraud', 'ledger'])}-db.internal",
            f"nas-{rng.randrange(1, 9)}.office.lan",
        ]
    ),
    "hostname-short": lambda: (
        f"{rng.choice(['pg-ha-primary', 'ledger-db', 'billing-cache', 'mq-east'])}-{rng.randrange(1, 9)}"
    ),
    "email": lambda: (
        f"{rng.choice(USERS).replace('_', '.')}@{rng.choice(['acme-corp.com', 'example.org', 'customer-mail.net', 'gmail.com'])}"
    ),
    "user": lambda: rng.choice(USERS),
}
KINDS = {**{k: "secret" for k in SECRETS}, **{k: "identifier" for k in IDENTIFIERS}}

JAVA = [
    "java.lang.NullPointerException",
    "org.postgresql.util.PSQLException",
    "com.zaxxer.hikari.pool.HikariPool",
    "java.net.SocketTimeoutException",
    "io.netty.channel.ConnectTimeoutException",
    "javax.net.ssl.SSLHandshakeException",
    "org.springframework.dao.DataAccessResourceFailureException",
    "com.fasterxml.jackson.databind.JsonMappingException",
    "io.grpc.StatusRuntimeException",
    "org.apache.kafka.common.errors.TimeoutException",
    "java.io.IOException",
    "redis.clients.jedis.exceptions.JedisConnectionException",
    "com.rabbitmq.client.ShutdownSignalException",
]
LOOKALIKES: dict[str, Callable[[], str]] = {
    "error-code": lambda: rng.choice(
        [
            "ORA-12541",
            "SQLSTATE 08006",
            "E11000",
            "ERR_TLS_CERT_ALTNAME_INVALID",
            "ECONNREFUSED",
            "57P01",
            "0x80004005",
            "ETIMEDOUT",
            "HTTP 503",
            "errno 111",
            "WSAECONNRESET",
            "NOAUTH",
            "ER_ACCESS_DENIED_ERROR",
            "PR_END_OF_FILE_ERROR",
        ]
    ),
    "java-class": lambda: rng.choice(JAVA),
    "version": lambda: rng.choice(
        [
            f"v{rng.randrange(1, 4)}.{rng.randrange(30)}.{rng.randrange(20)}",
            f"{rng.randrange(1, 18)}.{rng.randrange(30)}.{rng.randrange(20)}",
            f"v{rng.randrange(1, 3)}.{rng.randrange(10)}.{rng.randrange(10)}-rc.{rng.randrange(1, 5)}",
            f"go1.{rng.randrange(19, 24)}.{rng.randrange(9)}",
            "1.27.3-gke.100",
            "17.0.9+9",
        ]
    ),
    "uuid": lambda: "-".join(chars("0123456789abcdef", n) for n in (8, 4, 4, 4, 12)),
    "pod-name": lambda: (
        f"{rng.choice(['checkout', 'payments-api', 'ledger-worker', 'fraud-scorer'])}-{chars('bcdfghjklmnpqrstvwxz2456789', 10)}-{chars('bcdfghjklmnpqrstvwxz2456789', 5)}"
    ),
    "commit-sha": lambda: chars("0123456789abcdef", rng.choice([7, 12, 40])),
    "metric-name": lambda: rng.choice(
        [
            "http_server_requests_seconds_count",
            "node_filesystem_avail_bytes",
            "container_memory_working_set_bytes",
            "pg_stat_activity_count",
            "kube_pod_container_status_restarts_total",
            "hikaricp_connections_pending",
        ]
    ),
    "python-module": lambda: rng.choice(
        [
            "sqlalchemy.exc.OperationalError",
            "urllib3.connectionpool",
            "asyncio.exceptions.CancelledError",
            "django.db.utils.OperationalError",
            "botocore.exceptions.ClientError",
            "grpc.aio.AioRpcError",
        ]
    ),
    "k8s-annotation": lambda: rng.choice(
        [
            "nginx.ingress.kubernetes.io/proxy-body-size",
            "app.kubernetes.io/name",
            "cluster-autoscaler.kubernetes.io/safe-to-evict",
            "prometheus.io/scrape",
            "topology.kubernetes.io/zone",
        ]
    ),
    "timestamp": lambda: (
        f"2024-05-14T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z"
    ),
    "file-name": lambda: rng.choice(
        ["app.py", "main.go:214", "server.js:88", "handlers.py", "config.yaml", "PaymentService.java:142"]
    ),
}


class Slots:
    """Fresh values per template; records what was planted and what must survive."""

    def __init__(self) -> None:
        self.planted: list[dict[str, str | list[str]]] = []
        self.keep: list[dict[str, str | bool]] = []
        self.seen: dict[str, str] = {}

    def __getitem__(self, key: str) -> str:
        # The same slot twice in a template is the same value ("{user}" ... "/home/{user}").
        if key not in self.seen:
            self.seen[key] = self._fresh(key)
        return self.seen[key]

    def _fresh(self, key: str) -> str:
        kind = re.split("[#~]", key)[0]
        if kind in LOOKALIKES:
            value = LOOKALIKES[kind]()
            self.keep.append({"kind": kind, "value": value, **({"k8s": True} if kind == "pod-name" else {})})
            return value
        value = {**SECRETS, **IDENTIFIERS}[kind]()
        planted: dict[str, str | list[str]] = {"kind": kind, "class": KINDS[kind], "value": value}
        if "\n" in value:
            # A multi-line value leaks when any of its lines does (the leak check is per line).
            planted["fragments"] = [
                part for part in value.splitlines() if len(part) >= 32 and not part.startswith("-----")
            ]
        self.planted.append(planted)
        # In a JSON log line a newline travels escaped.
        return json.dumps(value)[1:-1] if key.endswith("~json") else value


TEMPLATES: dict[str, list[str]] = {
    "json": [
        '{{"ts":"2024-05-14T09:12:03.512Z","level":"error","msg":"db connect failed","dsn":"postgres://payments:{postgres-password}@{hostname}:5432/payments","request_id":"{uuid}"}}',
        '{{"level":"warn","msg":"login failed","user":"{user}","email":"{email}","client_ip":"{ipv4}","version":"{version}"}}',
        '{{"level":"error","event":"s3 upload failed","aws_access_key_id":"{aws-access-key}","aws_secret_access_key":"{aws-secret-key}","error":"{error-code}"}}',
        '{{"level":"info","msg":"outbound call","headers":{{"Authorization":"Bearer {jwt}","X-Request-Id":"{uuid}"}},"upstream":"{hostname}"}}',
        '{{"level":"error","msg":"charge failed","stripe_key":"{stripe-key}","customer_email":"{email}","trace":"{commit-sha}"}}',
        '{{"level":"debug","msg":"config loaded","password":"{password-field}","db_host":"{ipv6-compressed}","build":"{commit-sha}"}}',
        '{{"level":"error","msg":"webhook rejected","client_secret":"{secret-field}","peer":"[{ipv6-full}]:8443","pod":"{pod-name}"}}',
        '{{"level":"warn","msg":"token refresh","token":"{token-field}","metric":"{metric-name}","user":"{user}"}}',
        '{{"level":"error","msg":"openai call failed","api_key":"{openai-key}","status":429,"model_version":"{version}"}}',
        '{{"level":"error","msg":"amqp connection lost","url":"amqp://orders:{amqp-password}@{hostname}:5672/prod","exception":"{java-class}"}}',
        '{{"level":"error","msg":"private key rejected","key":"{private-key~json}","file":"{file-name}"}}',
        '{{"level":"info","msg":"slack notify","slack_token":"{slack-token}","channel":"#payments","owner":"{email}"}}',
    ],
    "logfmt": [
        'time=2024-05-14T09:12:03Z level=error msg="redis auth failed" addr=redis://:{redis-password}@{hostname}:6379/0 err={error-code}',
        'ts=2024-05-14T09:13:10Z level=warn msg="retrying upstream" peer={ipv4}:8443 request_id={uuid} user={user}',
        "level=error component=uploader aws_access_key_id={aws-access-key} aws_secret_access_key={aws-secret-key} bucket=invoices",
        'level=debug msg="env dump" password={password-field} secret={secret-field} token={token-field} version={version}',
        'level=error msg="github sync failed" token={github-token} repo=acme/payments commit={commit-sha}',
        'level=info msg="sent mail" to={email} relay={hostname} pod={pod-name}',
        'level=warn msg="slow query" db=mysql://report:{mysql-password}@{ipv4}:3306/reports metric={metric-name}',
        'level=error msg="dial failed" remote=[{ipv6-compressed}]:5432 err="connect: connection refused" code={error-code}',
        'level=info msg="link local peer" peer={ipv6-zone} version={version}',
        'level=warn msg="upstream 401" authorization="Bearer {jwt}" upstream={hostname} request_id={uuid}',
        'level=warn msg="mapped client" client={ipv6-mapped} request_id={uuid}',
    ],
    "java": [
        "ERROR [http-nio-8080-exec-7] c.a.p.PaymentService - charge failed for user {user}\n{java-class}: Connection to {hostname}:5432 refused.\n\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:319)\n\tat com.acme.payments.PaymentService.charge({file-name})",
        "WARN  HikariPool-1 - Failed to validate connection org.postgresql.jdbc.PgConnection@5f2b (This connection has been closed.) url=jdbc:postgresql://{hostname}:5432/payments?user=payments&password={postgres-password}\n{java-class}: timeout after 30000ms",
        "ERROR [main] o.s.b.SpringApplication - Application run failed\n{java-class}: Access denied for user '{user}'@'{ipv4}' (using password: YES)\n\tat com.mysql.cj.jdbc.exceptions.SQLError.createSQLException(SQLError.java:130) build {commit-sha}",
        "ERROR c.a.l.LedgerClient - upstream {ipv4}:9092 unavailable; request {uuid}\n{java-class}: Timeout expired while fetching topic metadata\n\tat org.apache.kafka.clients.producer.KafkaProducer.doSend(KafkaProducer.java:1027)",
        "ERROR c.a.a.AuthFilter - rejected Authorization: Basic {basic-auth} from {ipv6-full}\n{java-class}: bad credentials (spring-boot {version})",
        "ERROR c.a.n.Notifier - mail to {email} failed via {hostname}\n{java-class}: 535 5.7.8 Authentication credentials invalid ({error-code})",
    ],
    "nginx": [
        '{ipv4} - - [14/May/2024:09:12:03 +0000] "GET /api/v1/orders?access_token={token-field}&page=2 HTTP/1.1" 401 57 "-" "okhttp/4.12.0" rid={uuid}',
        '{ipv4-public} - {user} [14/May/2024:09:12:04 +0000] "POST /oauth/token?client_secret={secret-field} HTTP/2.0" 400 112 "-" "curl/8.5.0"',
        '{ipv6-compressed} - - [14/May/2024:09:12:05 +0000] "GET /reset?password={password-field}&email={email} HTTP/1.1" 302 0 "-" "Mozilla/5.0" upstream={ipv4}:8080',
        '{ipv4} - - [14/May/2024:09:12:06 +0000] "GET /v2/export?api_key={stripe-key} HTTP/1.1" 403 19 "-" "python-requests/2.31.0" {error-code}',
        '{ipv4} - - [14/May/2024:09:12:08 +0000] "GET /callback?id_token={jwt}&state=xyz HTTP/1.1" 200 0 "-" "Mozilla/5.0" rid={uuid}',
        '{ipv4-public} - - [14/May/2024:09:12:07 +0000] "GET /metrics HTTP/1.1" 200 3112 "-" "Prometheus/{version}" cookie="session={cookie}" req={uuid}',
        'upstream timed out (110: Connection timed out) while reading response header from upstream, client: {ipv4}, server: {hostname}, request: "GET /pay?token={token-field} HTTP/1.1", upstream: "http://{ipv4}:8080/pay"',
    ],
    "k8s-event": [
        "Warning  BackOff  pod/{pod-name}  Back-off restarting failed container api in namespace payments (node {hostname})",
        'Warning  Failed  pod/{pod-name}  Error: secret "db-creds" not found; env DATABASE_URL=postgres://app:{postgres-password}@{hostname}:5432/app',
        'Warning  FailedMount  pod/{pod-name}  MountVolume.SetUp failed for volume "aws-creds": AWS_ACCESS_KEY_ID={aws-access-key} rejected, {error-code}',
        'Normal  Pulled  pod/{pod-name}  Container image "registry.acme.corp/payments/api:{version}" already present on machine {ipv4}',
        'Warning  Unhealthy  pod/{pod-name}  Readiness probe failed: Get "http://[{ipv6-compressed}]:8080/readyz": context deadline exceeded',
        "Warning  Invalid  ingress/checkout  annotation {k8s-annotation} ignored at {timestamp}; backend {hostname}:8080 for {email}",
        "Normal  Scheduled  pod/{pod-name}  Successfully assigned payments/{pod-name#2} to {hostname} ({k8s-annotation}=eu-west-1a)",
        "Warning  OOMKilling  node/{hostname}  Memory cgroup out of memory: Killed process 4121 (java) by user {user}, metric {metric-name}",
    ],
    "python": [
        'Traceback (most recent call last):\n  File "/srv/app/{file-name}", line 88, in charge\n    conn = psycopg2.connect("postgresql://billing:{postgres-password}@{hostname}/billing")\npsycopg2.OperationalError: FATAL:  password authentication failed for user "{user}"',
        'Traceback (most recent call last):\n  File "/srv/worker/tasks.py", line 41, in sync\n    client.chat_postMessage(token="{slack-token}", channel="C0123")\nslack_sdk.errors.SlackApiError: invalid_auth (request {uuid})',
        'Traceback (most recent call last):\n  File "/srv/app/{file-name}", line 12, in <module>\n    r = redis.from_url("rediss://default:{redis-password}@{hostname}:6380/1")\nredis.exceptions.AuthenticationError: invalid username-password pair ({error-code})',
        'Traceback (most recent call last):\n  File "/srv/app/gh.py", line 7, in <module>\n    headers = {{"Authorization": "token {github-token}"}}\nrequests.exceptions.HTTPError: 401 Client Error for url: https://api.github.com/user (version {version})',
        'Traceback (most recent call last):\n  File "/srv/app/llm.py", line 30, in ask\n    openai.api_key = "{openai-key}"\nopenai.AuthenticationError: Error code: 401 - incorrect API key provided; trace {commit-sha}',
        'Traceback (most recent call last):\n  File "/srv/app/db.py", line 51, in query\n    engine.connect()\n{python-module}: (psycopg2.OperationalError) could not connect to server at "{hostname}" ({ipv4}), port 5432 at {timestamp}',
        'Traceback (most recent call last):\n  File "/srv/app/s3.py", line 19, in put\n    s3.put_object(Bucket="invoices")\n{python-module}: An error occurred (InvalidAccessKeyId) for key {aws-access-key} from {ipv6-compressed}',
        'Traceback (most recent call last):\n  File "/srv/app/celery_app.py", line 9, in <module>\n    broker = "amqps://celery:{amqp-password}@{hostname}:5671//"\nkombu.exceptions.OperationalError: [Errno 111] Connection refused ({ipv6-mapped})',
    ],
    "connection": [
        "dial tcp {ipv4}:5432: connect: connection refused",
        "dial tcp [{ipv6-compressed}]:6379: i/o timeout (pod {pod-name})",
        'Get "https://{hostname}/v1/charges": dial tcp: lookup {hostname#2} on {ipv4}:53: no such host',
        "x509: certificate is valid for {hostname}, not {hostname#2} ({error-code})",
        'connection to server at "{hostname}" ({ipv4}), port 5432 failed: FATAL:  password authentication failed for user "{user}"',
        "Cookie: sid={cookie}; csrftoken={cookie#2} sent to {hostname} by {email}",
        "Set-Cookie: session={cookie}; Path=/; HttpOnly; Secure rejected by {ipv6-full}",
        "Authorization: Bearer {bearer-token} rejected by {hostname} ({error-code}) request {uuid}",
        "ssh: handshake failed for user {user} from {ipv4-public} port 51234; key {private-key}",
        "curl: (7) Failed to connect to {ipv6-zone} port 443 after 3 ms: Couldn't connect to server ({version})",
        "redis: AUTH {redis-password} failed on {hostname}:6379 (NOAUTH), metric {metric-name}",
        "http: 401 from {hostname}:8443 for Authorization: Basic {basic-auth} (client {ipv4})",
        "mysql: ERROR 1045 (28000): Access denied for user '{user}'@'{ipv4}' dsn=mysql://{user#2}:{mysql-password}@{hostname}:3306/shop",
        "smtp: 550 5.1.1 <{email}>: recipient address rejected by {ipv4}",
    ],
    "auth": [
        "sshd[4121]: Failed password for {user} from {ipv4-public} port 50522 ssh2",
        "sshd[4122]: Accepted publickey for {user} from {ipv6-compressed} port 22 ssh2 session {uuid}",
        "sudo: {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart payments",
        'slapd[812]: conn=1042 op=2 BIND dn="uid={user},ou=people,dc=acme,dc=corp" method=128 from {ipv4} ({error-code})',
        "Login failed for user 'ACME\\{user}'. Reason: Password did not match that for the login provided. [CLIENT: {ipv4}]",
        'kubectl: error loading config file "/home/{user}/.kube/config": permission denied ({version})',
        'pgbouncer: closing because: host name "{hostname-short}" could not be resolved ({error-code})',
        "libpq: connection failed: host={hostname-short} port=5432 dbname=payments user={user#2} password={password-field} sslmode=require",
    ],
}
ROUNDS = 3


def main() -> None:
    entries = []
    for fmt, templates in TEMPLATES.items():
        for round_ in range(ROUNDS):
            for n, template in enumerate(templates):
                slots = Slots()
                line = template.format_map(slots)
                entries.append(
                    {
                        "id": f"{fmt}-{round_}-{n:02d}",
                        "format": fmt,
                        "line": line,
                        "planted": slots.planted,
                        "keep": slots.keep,
                    }
                )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    planted = sum(len(e["planted"]) for e in entries)
    keep = sum(len(e["keep"]) for e in entries)
    print(f"{len(entries)} lines, {planted} planted values, {keep} look-alikes -> {OUT}")


if __name__ == "__main__":
    main()
