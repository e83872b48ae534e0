"""infra/Dockerfile: what compose relies on, checked without a Docker engine."""

from __future__ import annotations

import re
from pathlib import Path

import yaml


def _instructions(repo: Path) -> list[str]:
    text = (repo / "infra" / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_image_is_multi_stage_and_ships_only_the_install(repo: Path) -> None:
    stages = [line for line in _instructions(repo) if line.startswith("FROM ")]
    assert len(stages) >= 2
    assert any(line.startswith("COPY --from=build ") for line in _instructions(repo))


def test_image_runs_as_a_non_root_user_with_a_health_check(repo: Path) -> None:
    lines = _instructions(repo)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "no USER instruction"
    assert users[-1].split(":")[0] not in {"0", "root"}
    assert any(line.startswith("HEALTHCHECK ") for line in lines)


def test_every_file_the_dockerfile_copies_exists_in_the_build_context(repo: Path) -> None:
    sources = []
    for line in _instructions(repo):
        if line.startswith("COPY ") and "--from=" not in line:
            sources += line.split()[1:-1]
    missing = [s for s in sources if not (repo / s).exists()]
    assert missing == []
    ignore = (repo / "infra" / "Dockerfile.dockerignore").read_text()
    for source in sources:
        assert re.search(rf"^!{re.escape(source.rstrip('/'))}/?$", ignore, re.M), (
            f"{source} excluded from context"
        )


def test_the_image_user_owns_the_folder_of_each_named_volume_it_writes(repo: Path) -> None:
    """A new named volume copies the image folder's owner; a folder absent from the image is root's."""
    lines = _instructions(repo)
    last_stage = max(index for index, line in enumerate(lines) if line.startswith("FROM "))
    lines = lines[last_stage:]
    user = [line.split()[1] for line in lines if line.startswith("USER ")][-1]
    runs = " && ".join(line.removeprefix("RUN ") for line in lines if line.startswith("RUN "))
    commands = [command.split() for command in runs.split("&&")]
    services = yaml.safe_load((repo / "compose.yaml").read_text())["services"]
    folders = {
        mount.split(":")[1]
        for service in services.values()
        if service.get("build", {}).get("dockerfile") == "infra/Dockerfile"
        for mount in service.get("volumes", [])
        if not mount.startswith((".", "/"))
    }
    assert folders, "no named volume mounted in a pipeline container"
    for folder in folders:
        assert ["mkdir", "-p", folder] in commands, f"{folder} is not created in the image"
        assert ["chown", user, folder] in commands, f"{folder} is not owned by {user}"


def test_the_built_in_query_packs_are_where_the_installed_enricher_looks(repo: Path) -> None:
    """pip installs the services package into site-packages, whose name has the Python version in it
    (a --build-arg PYTHON_VERSION=3.12.4 is a valid base image); the packs' folder is found beside it."""
    from services.enricher._packs import BUILTIN_DIR

    beside = BUILTIN_DIR.relative_to(Path(__file__).resolve().parents[3]).as_posix()  # infra/enrichment
    lines = _instructions(repo)
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    build = lines[stages[0] : stages[1]]
    assert any(line.startswith("COPY ") and line.split()[1] == beside for line in build), (
        f"{beside} not copied into the build stage"
    )
    purelib = "sysconfig.get_paths()['purelib']"
    placed = [line for line in build if line.startswith("RUN ") and purelib in line]
    assert placed, "the packs are not placed by the installed Python's own site-packages path"
    assert f"copytree('{beside}', {purelib} + '/{beside}')" in placed[0]
    assert not [line for line in lines if "site-packages" in line], "a path naming one Python version"
    assert not [line for line in lines if line.startswith("ENV ENRICHMENT_PACKS_DIR")], (
        "a folder of the user's own is named by the user; the built-ins need none"
    )
