"""Secrets leave a line, the rest of the line stays: one case per kind, and the look-alikes that must survive.

Every value here is synthetic, in the shape of the real thing.
"""

from __future__ import annotations

import pytest

from services.privacy import Redactor, parse_patterns, redact, redact_labels, redactor_from

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiaWF0IjoxNzE1Njc4OTAwfQ."
    "Xk2dQm9vR1tB7yHq3pLzW0aCfE8sN5uJ6oTgIhVbKcY"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx7Vq3kz9Lr2Wm0pQhT5yN8bC1dF6gJ4sE2uA9oK3iM7nB0c\n"
    "Zq8Rt4Yw1Ue6Io5Pa3Sd2Fg7Hj9Kl0ZxCvBnMq1W2e3R4t5Y6u7I8o9P0aSdFgHjKl==\n-----END RSA PRIVATE KEY-----"
)

CASES = [
    # (line, secret that must go, placeholder expected, text that must stay)
    ("connect postgres://payments:Maple774-OcAa2@pg-1.svc:5432/pay failed", "Maple774-OcAa2",
     "<secret:password>", "postgres://payments:"),
    ("redis://:Orbit934vICoX@cache:6379/0 refused", "Orbit934vICoX", "<secret:password>", "@cache:6379/0"),
    ("s3 put denied key_id=AKIACZU6EOUGFHPAZCHD bucket=invoices", "AKIACZU6EOUGFHPAZCHD",
     "<secret:aws-access-key>", "bucket=invoices"),
    ('{"aws_secret_access_key": "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", "error": "E11000"}',
     "yTgeWBefONSix0Ez776hEHDZ2gxNbO1NkO63SzeQ", "<secret:", '"error": "E11000"'),
    (f"GET /orders Authorization: Bearer {JWT} 401", JWT.split(".")[2], "Bearer <secret:jwt>", " 401"),
    (f"token {JWT} rejected", JWT[:40], "<secret:jwt>", "rejected"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA== from 10.0.0.1", "dXNlcjpwYXNzd29yZA==",
     "Basic <secret:basic-auth>", "from 10.0.0.1"),
    ("Cookie: session=31d4d96e407aad42; theme=dark", "31d4d96e407aad42", "session=<secret:cookie>",
     "Cookie:"),
    ("Set-Cookie: sid=Zk3mQ9pL2x; Path=/; Secure; HttpOnly", "Zk3mQ9pL2x", "sid=<secret:cookie>",
     "Path=/; Secure; HttpOnly"),
    ("level=error password=hunter2 user=bob", "hunter2", "password=<secret:password>", "user=bob"),
    ('{"db_password": "s3cr3t!pw", "user": "bob"}', "s3cr3t!pw", '"db_password": "<secret:password>"',
     '"user": "bob"'),
    ("GET /pay?token=vknrm2lzu05chxw908uz&id=7 200", "vknrm2lzu05chxw908uz", "token=<secret:token>",
     "&id=7 200"),
    ("client_secret=abcDEF123456ghi grant=client_credentials", "abcDEF123456ghi", "<secret:secret>",
     "grant=client_credentials"),
    ("X-Api-Key: 9f8e7d6c5b4a39281706", "9f8e7d6c5b4a39281706", "<secret:api-key>", "X-Api-Key:"),
    ("push with ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c", "ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c",
     "<secret:github-token>", "push with"),
    ("notify xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx failed",
     "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "<secret:slack-token>", "failed"),
    ("charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc ok", "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
     "<secret:stripe-key>", "ok"),
    ("llm key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z rejected", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
     "<secret:openai-key>", "rejected"),
    (f"loaded {PEM} then started", "MIIEpAIBAAKCAQEAx7Vq3kz9Lr2Wm0pQhT5yN8bC1dF6gJ4sE2uA9oK3iM7nB0c",
     "<secret:private-key>", "then started"),
    (PEM.replace("\n", "\\n"), "Zq8Rt4Yw1Ue6Io5Pa3Sd2Fg7Hj9Kl0ZxCvBnMq1W2e3R4t5Y6u7I8o9P0aSdFgHjKl==",
     "<secret:private-key>", ""),
    ("redis: AUTH Tr0ub4dor816.Iq6Yb failed (NOAUTH)", "Tr0ub4dor816.Iq6Yb", "AUTH <secret:password>",
     "failed (NOAUTH)"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "secret", "placeholder", "kept"), CASES)
def test_each_kind_of_secret_is_replaced_by_a_placeholder_naming_it(
    line: str, secret: str, placeholder: str, kept: str
) -> None:
    redacted = redact(line)
    assert secret not in redacted
    assert placeholder in redacted
    assert kept in redacted


LOOK_ALIKES = [
    "ERR_CONN_REFUSED code=E1234 errno=ECONNRESET status=503",
    "at com.example.auth.TokenValidator.validate(TokenValidator.java:42)",
    "Caused by: javax.crypto.BadPaddingException: secret key mismatch",
    "version=1.27.3-rc.2 image=registry.local/payments:v2.14.0",
    "commit=9fceb02d0ae598e95dc970b74767f19372d61af8 sha256:4bf92f3577b34da6a3ce929d0e0e4736",
    "request_id=550e8400-e29b-41d4-a716-446655440000 trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
    "pod=payments-api-7d9f8b6c5d-x2x4k node=ip-10-0-3-7.eu-west-1.compute.internal",
    "max_tokens=1024 token_bucket=5 password_reset_count=3 tokens=512",
    "token=expired auth=failed signature=invalid",
    'password: <*> user="alice" secret=<secret:password>',
    'FATAL: password authentication failed for user "payments"',
    "PWD=/srv/app HOME=/root",
    "Secret default/db-credentials not found; MountVolume.SetUp failed for volume secret-vol",
    "sig=SIGTERM received, draining 12 connections",
    "Bad activity token: android.os.BinderProxy@2bd79ce",
    "authorization: denied; bearer authentication failed for realm=payments",
    "Processed session termination for sessionid: 0x14f05578bd80018",
    "Component SCSI-WWID:01000010:6005-08b4-0001-00c6-0006-3000-003d-0000 is in the unavailable state",
]


@pytest.mark.parametrize("line", LOOK_ALIKES)
def test_look_alikes_survive_untouched(line: str) -> None:
    assert redact(line) == line


def test_redacting_twice_changes_nothing_more() -> None:
    for line, *_ in CASES:
        once = redact(line)
        assert redact(once) == once


def test_label_values_are_judged_with_their_name() -> None:
    labels = {"alertname": "DbDown", "password": "hunter2", "token": "expired", "dsn": "mysql://r:pw99x@db/x"}
    redacted = redact_labels(labels)
    assert redacted == {
        "alertname": "DbDown",
        "password": "<secret:password>",
        "token": "expired",
        "dsn": "mysql://r:<secret:password>@db/x",
    }
    clean = {"alertname": "DbDown", "instance": "db-1:9187", "secret": "db-credentials"}
    assert redact_labels(clean) is clean


def test_site_patterns_add_to_the_built_in_ones() -> None:
    redactor = Redactor([r"acme_[0-9a-f]{16}", r"employee_id=(\d{6})"])
    line = "key acme_0123456789abcdef for employee_id=123456, password=hunter2"
    assert redactor.redact(line) == (
        "key <secret:site> for employee_id=<secret:site>, password=<secret:password>"
    )


def test_redact_patterns_setting_takes_a_json_list_or_one_pattern_per_line() -> None:
    assert parse_patterns('["a{1,3}b", "c,d"]') == ["a{1,3}b", "c,d"]
    assert parse_patterns("a{1,3}b\n  c,d  \n") == ["a{1,3}b", "c,d"]
    assert parse_patterns("  ") == []
    with pytest.raises(ValueError, match="'acme_\\(' is not a regular expression"):
        redactor_from("acme_(")
    with pytest.raises(ValueError, match="JSON list"):
        redactor_from('["unclosed"')
