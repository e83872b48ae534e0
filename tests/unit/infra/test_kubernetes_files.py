"""infra/kubernetes `files:` and `secretKeys`: each file mounted into only the stages that read it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra.kubernetes import ValuesError, load_values, problems, render
from infra.kubernetes.__main__ import main
from infra.kubernetes._files import FILE_SETTINGS
from infra.kubernetes._stages import stages
from services.analyst._catalogue import load_catalogue
from services.enricher._packs import load_packs
from services.incidents._topology import load_topology
from services.notifier._routes import load_routes

KUBERNETES = "1.33"
Manifest = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]
ROUTES = (REPO / "infra" / "notifier" / "routes.example.yaml").read_text()
# The example routes file's ${NAME}s that are not the notifier's own secret settings.
ROUTES_KEYS = ["SLACK_ONCALL_WEBHOOK_URL", "SLACK_TEAM_WEBHOOK_URL", "TEAMS_DB_WEBHOOK_URL"]
PACK = """\
packs:
  - name: queue-depth
    when: {labels: [queue]}
    queries:
      - name: queue_depth
        expr: sum(rabbitmq_queue_messages{queue="${queue}"})
"""
TOPOLOGY = "services:\n  checkout:\n    depends_on: [db-main]\n    hosts: [checkout-1.prod]\n"
FILES: dict[str, Any] = {
    "ROUTES_FILE": ROUTES,
    "INCIDENT_TOPOLOGY_FILE": TOPOLOGY,
    "RULES_DIR": {
        "90-ours.yaml": (REPO / "tests" / "fixtures" / "analyst" / "override-rules.yaml").read_text()
    },
    "ENRICHMENT_PACKS_DIR": {"queues.yml": PACK},
}
# Who reads what, written out rather than derived, so a renderer mounting a file anywhere else fails.
READERS = {
    "ROUTES_FILE": {"notifier"},
    "INCIDENT_TOPOLOGY_FILE": {"analyst"},
    "RULES_DIR": {"analyst"},
    "ENRICHMENT_PACKS_DIR": {"enricher"},
}


def _values_file(tmp_path: Path, data: dict[str, Any], name: str = "values.yaml") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _with_files(
    tmp_path: Path, files: dict[str, Any] = FILES, keys: list[str] = ROUTES_KEYS
) -> list[Manifest]:
    data = {"files": files, "stages": {"notifier": {"secretKeys": keys}}}
    return render(load_values([_values_file(tmp_path, data)]))


def _find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    (found,) = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def _pod(manifests: list[Manifest], stage: str) -> Manifest:
    pod: Manifest = _find(manifests, "Deployment", f"aiops-{stage}")["spec"]["template"]["spec"]
    return pod


def test_every_file_setting_is_one_a_stage_reads() -> None:
    read = {stage.name: stage.plain_env for stage in stages().values()}
    assert set(FILE_SETTINGS) == set(READERS)
    for setting, readers in READERS.items():
        assert {name for name, env in read.items() if setting in env} == readers


@pytest.mark.parametrize("setting", sorted(READERS))
def test_a_file_is_a_config_map_mounted_read_only_into_only_the_stages_reading_it(
    tmp_path: Path, setting: str
) -> None:
    manifests = _with_files(tmp_path)
    file = FILE_SETTINGS[setting]
    config = _find(manifests, "ConfigMap", f"aiops-{file.volume}")
    given = FILES[setting]
    assert config["data"] == (given if isinstance(given, dict) else {file.file_name: given})
    for stage in stages():
        pod = _pod(manifests, stage)
        (container,) = pod["containers"]
        volumes = [v for v in pod["volumes"] if v.get("configMap", {}).get("name") == f"aiops-{file.volume}"]
        mounts = [m for m in container["volumeMounts"] if m["name"] == file.volume]
        env = _find(manifests, "ConfigMap", f"aiops-{stage}")["data"]
        if stage in READERS[setting]:
            assert volumes == [{"name": file.volume, "configMap": {"name": f"aiops-{file.volume}"}}]
            assert mounts == [{"name": file.volume, "mountPath": file.folder, "readOnly": True}]
            assert env[setting] == file.path
            assert env[setting].startswith(mounts[0]["mountPath"])
        else:
            assert (volumes, mounts) == ([], [])
            assert setting not in env
        # The pod stays as restricted as without files.
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsUser"] == 10001


def test_with_every_file_the_set_satisfies_the_schemas_and_every_rule(tmp_path: Path) -> None:
    manifests = _with_files(tmp_path)
    for manifest in manifests:
        if manifest["apiVersion"] != "keda.sh/v1alpha1":
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
    assert problems(manifests) == []
    assert not [m for m in manifests if m["kind"] == "Secret"]


def test_the_mounted_files_are_what_the_services_load(tmp_path: Path) -> None:
    """Lay each mount out on disk as the kubelet would, then read it through the setting with the
    services' own loaders: the paths, the file names and the contents all have to agree."""
    manifests = _with_files(tmp_path / "values")
    root = tmp_path / "pod"

    def placed(stage: str, setting: str) -> Path:
        pod = _pod(manifests, stage)
        for mount in pod["containers"][0]["volumeMounts"]:
            volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
            if "configMap" in volume:
                folder = root / stage / mount["mountPath"].lstrip("/")
                folder.mkdir(parents=True, exist_ok=True)
                data = _find(manifests, "ConfigMap", volume["configMap"]["name"])["data"]
                for name, text in data.items():
                    (folder / name).write_text(text)
        path: str = _find(manifests, "ConfigMap", f"aiops-{stage}")["data"][setting]
        return root / stage / path.lstrip("/")

    environ = {name: "https://hooks.example.org/x" for name in ROUTES_KEYS}
    environ |= {"PAGERDUTY_ROUTING_KEY": "r" * 32, "WEBHOOK_SECRET": "s"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        router = load_routes(str(placed("notifier", "ROUTES_FILE")))
    assert router.routes
    rules = load_catalogue(str(placed("analyst", "RULES_DIR")))
    assert "reconciliation-late" in {rule.id for rule in rules.rules}
    topology = load_topology(placed("analyst", "INCIDENT_TOPOLOGY_FILE"))
    assert topology is not None
    assert topology.depends_on == {"checkout": ("db-main",)}
    assert "queue-depth" in {pack.name for pack in load_packs(placed("enricher", "ENRICHMENT_PACKS_DIR"))}


def test_changed_contents_roll_only_the_stages_reading_them(tmp_path: Path) -> None:
    def annotations(manifests: list[Manifest], stage: str) -> dict[str, str]:
        found: dict[str, str] = _find(manifests, "Deployment", f"aiops-{stage}")["spec"]["template"][
            "metadata"
        ]["annotations"]
        return found

    before = _with_files(tmp_path / "a")
    after = _with_files(tmp_path / "b", {**FILES, "ROUTES_FILE": ROUTES.replace("send_resolved: false", "")})
    assert (
        annotations(before, "notifier")["checksum/files"] != annotations(after, "notifier")["checksum/files"]
    )
    # The path is the same, so the settings' own checksum cannot be what rolls the pods.
    assert (
        annotations(before, "notifier")["checksum/config"]
        == annotations(after, "notifier")["checksum/config"]
    )
    for stage in ("analyst", "enricher", "ingest"):
        assert annotations(before, stage) == annotations(after, stage)
    assert "checksum/files" not in annotations(render(load_values()), "notifier")


def test_secret_keys_reach_only_their_stage_by_reference(tmp_path: Path) -> None:
    manifests = _with_files(tmp_path)
    for stage in stages():
        env = _pod(manifests, stage)["containers"][0]["env"]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env}
        for key in ROUTES_KEYS:
            if stage == "notifier":
                assert refs[key] == {"name": "aiops", "key": key, "optional": True}
            else:
                assert key not in refs
        assert not set(ROUTES_KEYS) & set(_find(manifests, "ConfigMap", f"aiops-{stage}")["data"])


def test_check_passes_the_set_with_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _values_file(tmp_path, {"files": FILES, "stages": {"notifier": {"secretKeys": ROUTES_KEYS}}})
    assert main(["check", "--values", str(path)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("manifests, 0 problems")


JIRA = (
    "destinations:\n"
    "  tickets: {type: jira, url: 'https://x.atlassian.net', email: a@b.c, token: '%s', project: OPS}\n"
    "default: {to: [tickets]}\n"
)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"files": {"ROUTES": "x: 1"}},
            "files.ROUTES is not a file the stages read; one of ENRICHMENT_PACKS_DIR",
        ),
        ({"files": {"RULES_DIR": "rules: []"}}, "files.RULES_DIR names a folder: give a mapping"),
        ({"files": {"ROUTES_FILE": {"a.yaml": "x"}}}, "files.ROUTES_FILE names one file: give its contents"),
        (
            {"files": {"RULES_DIR": {"notes.txt": "x"}}},
            "files.RULES_DIR.notes.txt: the stages read only .yaml and .yml files there",
        ),
        (
            {"files": {"RULES_DIR": {"my rules.yaml": "rules: []"}}},
            "files.RULES_DIR.my rules.yaml: a file name here is letters, digits, '-', '_' and '.', not"
            " starting with '..' (a ConfigMap key)",
        ),
        (
            {"files": {"RULES_DIR": {"..x.yaml": "rules: []"}}},
            "files.RULES_DIR...x.yaml: a file name here is letters",
        ),
        (
            {"files": {"INCIDENT_TOPOLOGY_FILE": "services: [unclosed"}},
            "files.INCIDENT_TOPOLOGY_FILE is not valid YAML",
        ),
        (
            {"files": {"ROUTES_FILE": JIRA % "${JIRA_API_TOKEN}"}},
            "files.ROUTES_FILE: destination 'tickets' reads ${JIRA_API_TOKEN}, which notifier does not get;"
            " name it in stages.notifier.secretKeys",
        ),
        (
            {
                "files": {"ROUTES_FILE": JIRA % "atlassian-token-1"},
                "stages": {"notifier": {"secretKeys": []}},
            },
            "files.ROUTES_FILE: destination 'tickets' writes out its token; write ${NAME}",
        ),
        # A Slack or Teams webhook's URL is its credential, as SLACK_WEBHOOK_URL is a secret setting.
        (
            {
                "files": {
                    "ROUTES_FILE": "destinations:\n  chat: {type: slack, url: 'https://hooks.slack.com/services/T1/B2/c3'}\n"
                }
            },
            "files.ROUTES_FILE: destination 'chat' writes out its url; write ${NAME}",
        ),
        # A generic webhook's URL may be written out, but not with a password in it.
        (
            {
                "files": {
                    "ROUTES_FILE": "destinations:\n  hook: {type: webhook, url: 'https://ops:s3cret@hooks.example/x'}\n"
                }
            },
            "files.ROUTES_FILE: destination 'hook' writes a password in its url; write the whole URL as",
        ),
        (
            {
                "files": {"ROUTES_FILE": JIRA % "${X}"},
                "stages": {"notifier": {"env": {"ROUTES_FILE": "/r.yaml"}}},
            },
            "stages.notifier.env.ROUTES_FILE: the renderer points it at files.ROUTES_FILE; leave it unset",
        ),
        # A secret in plain env is refused, whether a known setting, named a Secret key or only named so.
        (
            {"stages": {"notifier": {"env": {"JIRA_API_TOKEN": "t"}}}},
            "stages.notifier.env.JIRA_API_TOKEN is a secret",
        ),
        (
            {"stages": {"notifier": {"env": {"JIRA_PAT": "t"}, "secretKeys": ["JIRA_PAT"]}}},
            "stages.notifier.env.JIRA_PAT is a secret; put it in Secret 'aiops'",
        ),
        ({"env": {"OPSGENIE_API_KEY": "k"}}, "env.OPSGENIE_API_KEY is a secret"),
        (
            {"stages": {"notifier": {"secretKeys": ["JIRA-TOKEN"]}}},
            "secretKeys: JIRA-TOKEN is no variable name",
        ),
        (
            {"stages": {"notifier": {"secretKeys": ["LOG_LEVEL"]}}},
            "secretKeys: LOG_LEVEL is a plain setting of notifier",
        ),
        (
            {"stages": {"notifier": {"secretKeys": ["SLACK_BOT_TOKEN"]}}},
            "SLACK_BOT_TOKEN is read from the Secret already",
        ),
        (
            {"stages": {"notifier": {"secretKeys": ["A_TOKEN", "A_TOKEN"]}}},
            "A_TOKEN is read from the Secret already",
        ),
    ],
)
def test_bad_files_and_secret_keys_are_refused_with_the_key_named(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValuesError, match=re.escape(message)):
        load_values([_values_file(tmp_path, values)])


def test_a_routes_file_whose_names_are_secret_keys_is_taken(tmp_path: Path) -> None:
    values = {
        "files": {"ROUTES_FILE": JIRA % "${JIRA_API_TOKEN}"},
        "stages": {"notifier": {"secretKeys": ["JIRA_API_TOKEN"]}},
    }
    manifests = render(load_values([_values_file(tmp_path, values)]))
    refs = {e["name"] for e in _pod(manifests, "notifier")["containers"][0]["env"]}
    assert "JIRA_API_TOKEN" in refs
    assert problems(manifests) == []
