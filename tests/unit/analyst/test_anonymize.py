"""The anonymiser before the LLM: every IP form, hosts not code names, e-mails, users, Kubernetes names."""

from __future__ import annotations

import json

import pytest

from services.analyst import AnalystSettings, Anonymizer
from services.analyst._anonymize import anonymizer_for


def _scrubbed(text: str, k8s_names: bool = False) -> tuple[str, Anonymizer]:
    anonymizer = Anonymizer(k8s_names=k8s_names)
    scrubbed = anonymizer.scrub(text)
    assert anonymizer.restore(scrubbed) == text, "restoring the placeholders gives the text back"
    return scrubbed, anonymizer


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("upstream 10.0.5.12:8443 refused", "10.0.5.12"),
        ("peer 203.0.113.9 reset", "203.0.113.9"),
        ("dial tcp [fd00:1234:5678::42]:6379: i/o timeout", "fd00:1234:5678::42"),
        ("bound to 2001:0db8:85a3:0000:0000:8a2e:0370:7334 ok", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
        ("link local fe80::1%eth0 down", "fe80::1%eth0"),
        ("proxy [2001:db8::1]:8443 closed", "2001:db8::1"),
        ("client ::ffff:10.1.2.3 mapped", "::ffff:10.1.2.3"),
        ("health check from ::1 failed", "::1"),
    ],
)
def test_every_ip_form_is_replaced_and_its_port_kept(text: str, address: str) -> None:
    scrubbed, _ = _scrubbed(text)
    assert address not in scrubbed
    assert "<ip-1>" in scrubbed
    for port in ("8443", "6379"):
        if f"{address}]:{port}" in text or f"{address}:{port}" in text:
            assert f":{port}" in scrubbed, "the port says which service; it identifies no one"


@pytest.mark.parametrize(
    "text",
    [
        "at 2024-05-14T09:12:03.512Z and [14/May/2024:09:12:03 +0000]",
        "std::vector<int> and Foo::bar()",
        "mac 00:1a:2b:3c:4d:5e on eth0",
        "oid 1.3.6.1.4.1.2021 and release v1.2.3.4",
        "accept tcp [::]:8443: accept4: too many open files",
    ],
)
def test_times_code_and_versions_are_not_ips(text: str) -> None:
    scrubbed, _ = _scrubbed(text)
    assert scrubbed == text


@pytest.mark.parametrize(
    "host",
    [
        "pg-primary-0.payments.svc.cluster.local",
        "ip-10-0-3-17.eu-west-1.compute.internal",
        "ledger-4.prod.acme-corp.com",
        "db07.dc2.acme.corp",
        "nas-2.office.lan",
        "orders-db.internal",
    ],
)
def test_hostnames_with_host_suffixes_are_replaced(host: str) -> None:
    scrubbed, _ = _scrubbed(f"connection to {host}:5432 refused; retrying {host}")
    assert host not in scrubbed
    assert scrubbed.count("<host-1>") == 2


def test_a_single_name_is_a_host_when_its_key_says_so() -> None:
    scrubbed, _ = _scrubbed(
        'host=pg-ha-primary port=5432; could not translate host name "ledger-db" to address'
    )
    assert "pg-ha-primary" not in scrubbed
    assert "ledger-db" not in scrubbed


def test_a_name_before_a_port_is_a_host_but_a_field_is_not() -> None:
    scrubbed, _ = _scrubbed("GET http://loki:3100/ready from redis-master:6379; line:42 grain:32 took:150ms")
    assert "loki" not in scrubbed
    assert "redis-master" not in scrubbed
    assert "line:42 grain:32 took:150ms" in scrubbed


@pytest.mark.parametrize(
    "code",
    [
        "java.lang.NullPointerException",
        "org.postgresql.util.PSQLException",
        "com.zaxxer.hikari.pool.HikariPool",
        "io.netty.channel.ConnectTimeoutException",
        "sqlalchemy.exc.OperationalError",
        "app.py",
        "PaymentService.java:142",
        "main.go:214",
        "v1.2.3",
        "1.27.3-gke.100",
        "app.kubernetes.io/name",
        "Issuer.cert-manager.io",
        "ebs.csi.aws.com",
        "session-gateway@3.4.1",
    ],
)
def test_code_names_files_versions_and_public_names_survive(code: str) -> None:
    scrubbed, _ = _scrubbed(f"failed: {code} (see {code})")
    assert scrubbed == f"failed: {code} (see {code})"


def test_emails_and_url_users_are_replaced_and_the_password_left_to_redaction() -> None:
    text = "mail ops@acme.com about postgres://payments:<secret:password>@pg.svc.cluster.local:5432/db"
    scrubbed, _ = _scrubbed(text)
    assert "ops@acme.com" not in scrubbed
    assert "payments:" not in scrubbed
    assert "<secret:password>@<host-1>:5432" in scrubbed
    assert "<email-1>" in scrubbed
    assert "<user-1>" in scrubbed


@pytest.mark.parametrize(
    ("text", "user"),
    [
        ("level=warn user=alice.nguyen msg=denied", "alice.nguyen"),
        ('{"user":"bob_okafor","ok":false}', "bob_okafor"),
        ("login failed for user 'carol'", "carol"),
        ('password authentication failed for user "payments_rw"', "payments_rw"),
        ("Access denied for user 'svc_billing'@'10.2.3.4'", "svc_billing"),
        ('34.2.3.4 - jules.martin [14/May/2024:09:12:04 +0000] "POST /pay HTTP/1.1" 200', "jules.martin"),
        ('user "dmitri" locked', "dmitri"),
        ("sshd[41]: Failed password for mwilson from 10.2.3.4 port 22 ssh2", "mwilson"),
        ("sshd[42]: Accepted publickey for deploy from 10.2.3.4 port 22 ssh2", "deploy"),
        ("sudo: jdoe : TTY=pts/0 ; PWD=/srv ; USER=root ; COMMAND=/bin/ls", "jdoe"),
        ('BIND dn="uid=hsato,ou=people,dc=acme,dc=corp" method=128', "hsato"),
        ("Login failed for user 'ACME\\jsmith'. Reason: Password did not match.", "jsmith"),
        ('error loading config file "/home/kboateng/.kube/config"', "kboateng"),
        ("login=lfischer result=denied", "lfischer"),
    ],
)
def test_user_patterns_are_replaced(text: str, user: str) -> None:
    scrubbed, _ = _scrubbed(text)
    assert user not in scrubbed
    assert "<user-1>" in scrubbed


def test_prose_and_system_accounts_are_not_names() -> None:
    text = (
        "Cannot validate user: user-service responded 503; session opened for user root; user agent curl; "
        "No route to host: no further information"
    )
    scrubbed, _ = _scrubbed(text)
    assert scrubbed == text


def test_a_learnt_name_is_replaced_where_it_has_no_context() -> None:
    scrubbed, _ = _scrubbed("user=erin_walsh logged in; erin_walsh then failed twice")
    assert "erin_walsh" not in scrubbed
    assert scrubbed.count("<user-1>") == 2


def test_placeholders_are_stable_within_one_analysis_and_fresh_in_the_next() -> None:
    first = Anonymizer()
    assert first.scrub("10.0.0.7 then 10.0.0.8") == "<ip-1> then <ip-2>"
    assert first.scrub("again 10.0.0.8") == "again <ip-2>"
    assert Anonymizer().scrub("10.0.0.8") == "<ip-1>"


def test_kubernetes_names_are_kept_unless_asked_for() -> None:
    text = "Back-off restarting pod/checkout-7d9f8b6c5d-x2k4q in namespace=payments"
    assert _scrubbed(text)[0] == text
    scrubbed, _ = _scrubbed(text, k8s_names=True)
    assert "checkout-7d9f8b6c5d-x2k4q" not in scrubbed
    assert "payments" not in scrubbed
    assert "pod/<pod-1>" in scrubbed
    assert "namespace=<namespace-1>" in scrubbed


def test_the_prompt_json_is_scrubbed_by_its_decoded_strings_and_label_names() -> None:
    prompt = {
        "alert": {
            "labels": {"instance": "billing-1:9100", "pod": "ledger-6c9d8f7b4-k2m9x", "job": "node"},
            "annotations": {"summary": "https://status.acme.io is down"},
        },
        "logs": {
            "templates": [{"sample": 'upstream "orders-db.internal"\nbilling-1 lost ledger-6c9d8f7b4-k2m9x'}]
        },
    }
    anonymizer = Anonymizer(k8s_names=True)
    scrubbed = anonymizer.scrub_json(json.dumps(prompt))
    decoded = json.loads(scrubbed)
    assert decoded["alert"]["labels"] == {"instance": "<host-1>:9100", "pod": "<pod-1>", "job": "node"}
    assert decoded["alert"]["annotations"]["summary"] == "https://<host-2> is down"
    sample = decoded["logs"]["templates"][0]["sample"]
    assert sample == 'upstream "<host-3>"\n<host-1> lost <pod-1>'
    assert json.loads(anonymizer.restore(scrubbed)) == prompt


def test_text_that_is_not_json_is_scrubbed_as_text() -> None:
    assert Anonymizer().scrub_json("from 10.0.0.1 {not json") == "from <ip-1> {not json"


def test_the_settings_choose_the_anonymiser() -> None:
    assert anonymizer_for(AnalystSettings()) is None
    settings = AnalystSettings(
        llm_anonymize=True, llm_anonymize_k8s_names=True, llm_anonymize_patterns=["cust-\\d+"]
    )
    anonymizer = anonymizer_for(settings)
    assert anonymizer is not None
    assert anonymizer.scrub("cust-4411 on pod/api-5f6d7c8b9-abcde") == "<redacted-1> on pod/<pod-1>"
