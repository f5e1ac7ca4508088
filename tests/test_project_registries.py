"""Per-project registries: the config file's ``projects`` map sends each project to its service.

What a user notices: ``show --project``, ``target``, ``secret apply --project``, ``configure_project`` and
``setup`` put a project's images (and its secret) on the registry its entry names; an exact name beats a
pattern, a longer pattern beats a shorter one, a tie between services is refused; ``MLRUN_REGISTRY_EXT_URL``
or an explicit argument still wins (with a warning), and every value says where it came from.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlrun_registry_ext as registry
from mlrun_registry_ext import ConfigError
from mlrun_registry_ext.core.projects import match_project, parse_project_map
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.features import credentials as creds
from mlrun_registry_ext.features.api import resolve, resolve_registry
from tests.support.env import CANARY, run_cli
from tests.support.kube import KubeStandIn
from tests.support.standins import MLRunAPIStandIn
from tests.test_credentials import run_cli as run_cli_inline

pytestmark = pytest.mark.timeout(120)  # the mlrun tests pay `import mlrun`

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team"
CONFIG = f"""
active: ghcr
services:
  ghcr: {{url: ghcr.io/acme, username: ci-builder, password: {CANARY}, image_prefix: ml-}}
  team: {{url: registry.example.com/team, username: bob, password: {CANARY}, secret_name: team-reg}}
  ecr-team: {{url: {ECR}}}
projects:
  fraud: team
  "fraud-*": ecr-team
  "ml-*": ghcr
"""


#: A pattern's tokens as fnmatch reads them: ``*``, ``?``, a closed bracket set (``[!]...]`` and
#: ``[]...]`` hold a literal ``]``), or one literal character (an unclosed ``[`` among them).
_TOKEN = re.compile(r"\*|\?|\[!?\]?[^\]]*\]|.", re.S)


def _specificity(pattern: str) -> tuple[int, int, int]:
    """The test's own oracle for the documented order (literal characters, then single-character
    wildcards, then fewer ``*``), by a regex tokenizer rather than the product's character scan."""
    tokens = _TOKEN.findall(pattern)
    stars = tokens.count("*")
    singles = sum(1 for t in tokens if t == "?" or (len(t) > 1 and t.startswith("[")))
    return len(tokens) - stars - singles, singles, -stars


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "registries.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(path))
    return path


def label(path: Path, key: str, service: str) -> str:
    return f"config {path} projects[{key!r}] -> services.{service}"


# --- which entry wins ----------------------------------------------------------------------------------------
def test_exact_project_name_beats_the_pattern_that_also_matches(config_file: Path) -> None:
    resolved = resolve_registry(project="fraud")
    assert resolved.service.url == "registry.example.com/team"
    assert resolved.sources["url"] == label(config_file, "fraud", "team")
    assert resolved.sources["name"] == label(config_file, "fraud", "team")
    assert resolved.project_entry is not None and resolved.project_entry.key == "fraud"


def test_a_pattern_sends_matching_projects_to_its_service_and_says_so(config_file: Path) -> None:
    resolved = resolve_registry(project="fraud-eu")
    assert resolved.service.name == "ecr-team" and resolved.service.url == ECR
    assert resolved.sources["url"] == f"config {config_file} projects['fraud-*'] -> services.ecr-team"
    assert resolved.to_dict()["project_entry"] == {"key": "fraud-*", "service": "ecr-team"}


def test_a_project_no_entry_matches_gets_the_files_active_service(config_file: Path) -> None:
    resolved = resolve_registry(project="churn")
    assert resolved.service.name == "ghcr"
    assert resolved.sources["url"] == f"config {config_file} services.ghcr"
    assert resolved.project_entry is None


def test_without_a_project_the_active_service_is_unchanged(config_file: Path) -> None:
    assert resolve_registry().service.name == "ghcr"


def test_the_longer_pattern_wins_over_the_shorter_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("active: a\nservices:\n  a: {url: a.example.com}\n  b: {url: b.example.com}\n"
                    "  c: {url: c.example.com}\nprojects:\n  'ml-*': a\n  'ml-fraud-*': b\n  '*': c\n")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(path))
    assert resolve_registry(project="ml-fraud-eu").service.name == "b"
    assert resolve_registry(project="ml-churn").service.name == "a"
    assert resolve_registry(project="other").service.name == "c"


def test_equally_specific_patterns_naming_different_services_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("active: a\nservices:\n  a: {url: a.example.com}\n  b: {url: b.example.com}\n"
                    "projects:\n  'ml-*': a\n  '*-eu': b\n")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(path))
    with pytest.raises(ConfigError) as info:
        resolve_registry(project="ml-eu")
    message = str(info.value)
    assert "projects" in message and "'*-eu'" in message and "'ml-*'" in message and "exact entry" in message
    # the projects only one pattern matches are not affected
    assert resolve_registry(project="ml-us").service.name == "a"
    assert resolve_registry(project="fr-eu").service.name == "b"
    # a service named in the environment does not need the map, so its ambiguity does not stop it
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_ACTIVE", "b")
    assert resolve_registry(project="ml-eu").service.name == "b"


def test_equally_specific_patterns_naming_the_same_service_agree(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("services:\n  a: {url: a.example.com}\n  b: {url: b.example.com}\n"
                    "active: b\nprojects:\n  'ml-*': a\n  '*-eu': a\n")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(path))
    resolved = resolve_registry(project="ml-eu")
    assert resolved.service.name == "a"
    assert resolved.project_entry is not None and resolved.project_entry.key == "*-eu"  # first in sorted order


def test_a_file_with_only_a_project_map_needs_a_project_or_an_active_service(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("services:\n  a: {url: a.example.com}\n  b: {url: b.example.com}\nprojects: {fraud: b}\n")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(path))
    assert resolve_registry(project="fraud").service.name == "b"
    with pytest.raises(ConfigError, match="--project"):
        resolve_registry()
    with pytest.raises(ConfigError, match="no 'projects' entry matches project 'churn'"):
        resolve_registry(project="churn")


# --- precedence ------------------------------------------------------------------------------------------------
def test_env_url_set_in_ci_wins_over_the_project_map_with_a_warning(
        config_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "ci.example.com/builds")
    with caplog.at_level(logging.WARNING):
        resolved = resolve_registry(project="fraud-eu")
    assert resolved.service.url == "ci.example.com/builds"
    assert resolved.sources["url"] == "env MLRUN_REGISTRY_EXT_URL"
    warning = [w for w in resolved.warnings if w.startswith("project fraud-eu:")]
    assert warning == [f"project fraud-eu: the url comes from env MLRUN_REGISTRY_EXT_URL, not "
                       f"{label(config_file, 'fraud-*', 'ecr-team')} (explicit settings, the environment and "
                       ".env win over the project map)"]
    assert warning[0] in caplog.text


def test_env_active_service_wins_over_the_project_map(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_ACTIVE", "ghcr")
    resolved = resolve_registry(project="fraud")
    assert resolved.service.name == "ghcr"
    assert resolved.project_entry is None
    assert any("named by env MLRUN_REGISTRY_EXT_ACTIVE" in w for w in resolved.warnings)


def test_dotenv_wins_over_the_project_map(config_file: Path, tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("MLRUN_REGISTRY_EXT_URL=dotenv.example.com\n")
    resolved = resolve_registry(project="fraud", dotenv=dotenv)
    assert resolved.service.url == "dotenv.example.com"
    assert resolved.sources["url"].startswith(".env ")
    # credentials of the project's service never follow a different registry
    assert resolved.service.username is None and resolved.service.password is None


def test_env_fields_merge_over_the_projects_service(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_IMAGE_PREFIX", "env-")
    resolved = resolve_registry(project="fraud")
    assert resolved.service.url == "registry.example.com/team"
    assert resolved.service.image_prefix == "env-"
    assert resolved.sources["image_prefix"] == "env MLRUN_REGISTRY_EXT_IMAGE_PREFIX"
    assert resolved.sources["username"] == label(config_file, "fraud", "team")
    assert not resolved.warnings  # the map still decided the registry


def test_explicit_url_and_service_win_over_the_project_map(config_file: Path) -> None:
    assert resolve_registry(project="fraud", url="arg.example.com").service.url == "arg.example.com"
    mine = RegistryService(url="mine.example.com", name="mine")
    resolved = resolve_registry(project="fraud", service=mine)
    assert resolved.service.url == "mine.example.com" and resolved.project_entry is None
    assert not resolved.warnings


# --- the Python API ---------------------------------------------------------------------------------------------
def test_resolve_for_a_project_and_its_targets(config_file: Path) -> None:
    active = resolve(project="fraud-eu", probe=False)
    assert active.service.name == "ecr-team"
    assert "for project fraud-eu" in repr(active) and "for project <b>fraud-eu</b>" in active._repr_html_()
    target = registry.target("fraud-eu", "trainer")
    assert target.image == f"{ECR}/func-fraud-eu-trainer:latest"
    assert target.source == label(config_file, "fraud-*", "ecr-team")


def test_one_resolved_registry_follows_the_map_for_each_project_it_targets(config_file: Path) -> None:
    active = resolve(probe=False)
    assert active.service.name == "ghcr"
    assert active.target("fraud", "trainer").image == "registry.example.com/team/func-fraud-trainer:latest"
    assert active.target("fraud-eu", "trainer").registry == ECR
    assert active.target("ml-churn", "trainer").image == "ghcr.io/acme/ml-func-ml-churn-trainer:latest"
    assert active.project_image("fraud").image.startswith("registry.example.com/team/")
    assert active.for_project("fraud") is active.for_project("fraud")  # resolved once per project


def test_a_registry_resolved_with_explicit_choices_keeps_them_for_every_project(config_file: Path) -> None:
    pinned = resolve(active="ghcr", probe=False)
    assert pinned.target("fraud", "trainer").registry == "ghcr.io/acme"
    by_url = resolve(url="pinned.example.com", probe=False)
    assert by_url.target("fraud-eu", "trainer").registry == "pinned.example.com"
    service = RegistryService(url="svc.example.com", name="svc")
    assert registry.target("fraud", "trainer", registry=service).registry == "svc.example.com"


def test_an_invalid_project_name_is_a_one_line_config_error(config_file: Path) -> None:
    for bad in ("Fraud", "fraud\n", "-x", "a" * 64):
        with pytest.raises(ConfigError, match="project") as info:
            resolve_registry(project=bad)
        assert "\n" not in str(info.value)


def test_credentials_python_api_follows_the_map(config_file: Path) -> None:
    manifests, _ = creds.registry_secret_manifests(project="fraud", namespace="mlrun")
    assert [m["metadata"]["name"] for m in manifests] == ["team-reg"]
    report = creds.apply_registry_secret(project="fraud", namespace="mlrun", dry_run=True)
    assert [r.name for r in report.results] == ["team-reg"]
    active = resolve(probe=False)
    manifests, _ = creds.registry_secret_manifests(active, project="fraud", namespace="mlrun")
    assert [m["metadata"]["name"] for m in manifests] == ["team-reg"]
    assert CANARY not in repr(report)


# --- the config file ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("projects", "words"),
    [
        ("{fraud: ecr-teem}", "projects['fraud']: 'ecr-teem' is not a configured service; allowed: a, b"),
        ("{'ml-*': 3}", "projects['ml-*']: '3' is not a configured service"),
        ("[fraud]", "projects: expected a mapping"),
        ("{Fraud: a}", "projects['Fraud']: not a project name or pattern"),
        ("{'ml *': a}", "projects['ml *']: not a project name or pattern"),
        ("{fraud-: a}", "projects['fraud-']"),
        ("{1: a}", "projects['1']"),  # not a string: YAML read it as a number
        ("{fraud: a, fraud: b}", "duplicate key 'fraud'"),
        ("{fraud: &x a, ml: *x}", "aliases"),
        ("{fraud: {service: a}}", "projects['fraud']"),
    ],
)
def test_bad_project_maps_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, projects: str,
                                       words: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"active: a\nservices:\n  a: {{url: a.example.com}}\n  b: {{url: b.example.com}}\n"
                    f"projects: {projects}\n")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(path))
    with pytest.raises(ConfigError) as info:
        resolve_registry()
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_an_empty_project_map_is_no_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("services:\n  a: {url: a.example.com}\nprojects:\n")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(path))
    assert resolve_registry(project="fraud").service.name == "a"


# --- properties of the matcher ------------------------------------------------------------------------------------
SERVICES = {name: RegistryService(url=f"{name}.example.com", name=name) for name in ("s1", "s2", "s3")}
name_part = st.from_regex(r"\A[a-z0-9]{1,4}\Z")
project_names = st.builds(lambda parts: "-".join(parts), st.lists(name_part, min_size=1, max_size=3))
pattern_piece = st.sampled_from(["*", "?", "[a-m]", "[!a]", "-", "ml", "a", "fr", "eu", "0"])
patterns = st.builds("".join, st.lists(pattern_piece, min_size=1, max_size=5))
project_maps = st.dictionaries(st.one_of(patterns, project_names), st.sampled_from(sorted(SERVICES)), max_size=8)


def _outcome(projects: dict[str, str], project: str) -> object:
    try:
        return match_project(projects, project)
    except ConfigError as exc:
        return ("refused", str(exc))


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200, deadline=None)
@given(project_maps, project_names, st.randoms(use_true_random=False))
def test_the_entry_chosen_does_not_depend_on_the_order_of_the_file(projects: dict[str, str], project: str,
                                                                    rnd: random.Random) -> None:
    items = list(projects.items())
    rnd.shuffle(items)
    assert _outcome(projects, project) == _outcome(dict(items), project)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300, deadline=None)
@given(project_maps, project_names)
def test_the_chosen_entry_matches_and_nothing_that_matches_is_more_specific(projects: dict[str, str],
                                                                             project: str) -> None:
    try:
        match = match_project(projects, project)
    except ConfigError:
        matching = [k for k in projects if k != project and fnmatch.fnmatchcase(project, k)]
        best = max(_specificity(k) for k in matching)
        assert project not in projects
        assert len({projects[k] for k in matching if _specificity(k) == best}) > 1
        return
    matching = [k for k in projects if fnmatch.fnmatchcase(project, k)]
    if match is None:
        assert not matching
        return
    assert fnmatch.fnmatchcase(project, match.key) and match.service == projects[match.key]
    if project in projects:
        assert match.key == project  # an exact name always wins
    else:
        assert all(_specificity(k) <= _specificity(match.key) for k in matching)


@given(project_names, st.integers(0, 20), st.integers(0, 20))
def test_a_longer_prefix_pattern_wins(project: str, short: int, extra: int) -> None:
    short_prefix = project[:min(short, len(project))]
    long_prefix = project[:min(len(short_prefix) + 1 + extra, len(project))]
    if long_prefix == short_prefix:
        return
    projects = {short_prefix + "*": "s1", long_prefix + "*": "s2"}
    match = match_project(projects, project)
    assert match is not None and match.service == "s2"


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(st.text(max_size=12), st.integers(), st.none()),
                       st.one_of(st.text(max_size=8), st.sampled_from(sorted(SERVICES)), st.integers(), st.none()),
                       max_size=5))
def test_any_project_map_parses_or_is_refused_naming_projects(raw: dict[object, object]) -> None:
    try:
        parsed = parse_project_map(raw, SERVICES, "config file c.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("config file c.yaml: projects") and "\n" not in str(exc)
        return
    assert parsed == raw and set(parsed.values()) <= set(SERVICES)


# --- the CLI ----------------------------------------------------------------------------------------------------
def test_show_project_names_the_entry_and_every_source(config_file: Path) -> None:
    result = run_cli("show", "--project", "fraud-eu", "--json", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config_file)})
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["project"] == "fraud-eu"
    assert data["project_entry"] == {"key": "fraud-*", "service": "ecr-team"}
    assert data["active"]["url"] == ECR
    assert data["active"]["sources"]["url"] == label(config_file, "fraud-*", "ecr-team")
    assert data["projects"] == {"fraud": "team", "fraud-*": "ecr-team", "ml-*": "ghcr"}
    readable = run_cli("show", "--project", "fraud", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config_file),
                                                           "COLUMNS": "200"})
    assert readable.code == 0
    assert "Active registry for project fraud: team" in readable.stdout
    assert "projects['fraud'] -> services.team" in readable.stdout
    assert "fraud (matches fraud)" in readable.stdout and "ml-*" in readable.stdout
    assert CANARY not in result.output + readable.output


def test_target_cli_follows_the_map_and_env_still_wins(config_file: Path) -> None:
    env = {"MLRUN_REGISTRY_EXT_CONFIG": str(config_file)}
    mapped = run_cli("target", "fraud-eu", "trainer", "--json", env=env)
    assert mapped.code == 0, mapped.stderr
    assert json.loads(mapped.stdout)["image"] == f"{ECR}/func-fraud-eu-trainer:latest"
    overridden = run_cli("target", "fraud-eu", "trainer", "--json",
                         env={**env, "MLRUN_REGISTRY_EXT_URL": "ci.example.com"})
    assert json.loads(overridden.stdout)["image"] == "ci.example.com/mlrun/func-fraud-eu-trainer:latest"
    assert "project fraud-eu: the url comes from env MLRUN_REGISTRY_EXT_URL" in overridden.stderr


def test_platform_config_is_server_wide_and_ignores_the_map(config_file: Path) -> None:
    result = run_cli("platform-config", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config_file)})
    assert result.code == 0, result.stderr
    assert "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY=ghcr.io/acme" in result.stdout


def test_a_bad_project_map_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("services:\n  a: {url: a.example.com}\nprojects: {fraud: nope}\n")
    result = run_cli("target", "fraud", "trainer", env={"MLRUN_REGISTRY_EXT_CONFIG": str(path)})
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "projects['fraud']: 'nope' is not a configured service" in result.stderr


def test_secret_apply_for_a_project_writes_its_services_secret(
        config_file: Path, kube_apiserver: KubeStandIn, kubeconfig: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_cli_inline(capsys, monkeypatch, ["secret", "apply", "--project", "fraud", "-n", "mlrun"])
    assert code == 0, err
    assert out.splitlines() == ["secret/team-reg created in namespace mlrun"]
    auths = json.loads(kube_apiserver.secret_data("mlrun", "team-reg", ".dockerconfigjson"))["auths"]
    assert list(auths) == ["registry.example.com"] and auths["registry.example.com"]["username"] == "bob"
    code, out, err = run_cli_inline(capsys, monkeypatch, ["secret", "show", "--project", "fraud", "-n", "mlrun"])
    assert code == 0 and "login registry.example.com: user bob, password set" in out
    # without --project: the file's active service and its own secret
    code, out, err = run_cli_inline(capsys, monkeypatch, ["secret", "apply", "-n", "mlrun", "--dry-run"])
    assert code == 0 and "team-reg" not in out and "ghcr.io" in out
    assert CANARY not in out + err


# --- the real mlrun client ---------------------------------------------------------------------------------------
@pytest.fixture
def handler_file(tmp_path: Path) -> Path:
    path = tmp_path / "trainer.py"
    path.write_text("def handler(context, event=None):\n    return 'ok'\n")
    return path


def test_configure_project_builds_on_the_projects_registry(config_file: Path, mlrun_api: MLRunAPIStandIn,
                                                           tmp_path: Path, handler_file: Path) -> None:
    import mlrun

    project = mlrun.get_or_create_project("fraud", context=str(tmp_path))
    mlrun_api.clear()
    project.set_function(str(handler_file), name="trainer", kind="job", image="mlrun/mlrun", requirements=["pandas"])
    targets = registry.configure_project(project)
    assert targets["trainer"].source == label(config_file, "fraud", "team")
    assert project.spec.build.image.startswith("registry.example.com/team/func-fraud-")
    project.build_function("trainer")
    spec = mlrun_api.last_body("POST", "/api/v1/build/function")["function"]["spec"]
    assert spec["build"]["image"] == "registry.example.com/team/func-fraud-trainer:latest"
    assert spec["build"]["secret"] == "team-reg" and spec["image_pull_secret"] == "team-reg"
    for request in mlrun_api.requests:
        assert CANARY.encode() not in request.raw_body


def test_configure_function_follows_its_projects_entry(config_file: Path, mlrun_api: MLRunAPIStandIn,
                                                       handler_file: Path) -> None:
    import mlrun

    fn = mlrun.code_to_function("scorer", filename=str(handler_file), kind="job", project="fraud-eu")
    assert registry.configure_function(fn).image == f"{ECR}/func-fraud-eu-scorer:latest"
    assert fn.spec.build.image == f"{ECR}/func-fraud-eu-scorer:latest"


def test_project_setup_hook_follows_the_project_map(config_file: Path, mlrun_api: MLRunAPIStandIn, tmp_path: Path,
                                                    handler_file: Path) -> None:
    import mlrun

    (tmp_path / "project_setup.py").write_text(
        "import mlrun_registry_ext\n\n"
        "def setup(project):\n"
        f"    project.set_function({str(handler_file)!r}, name='trainer', kind='job', image='mlrun/mlrun',\n"
        "                         requirements=['pandas'])\n"
        "    return mlrun_registry_ext.setup(project)\n"
    )
    project = mlrun.new_project("fraud-eu", context=str(tmp_path))
    assert project.get_function("trainer").spec.build.image == f"{ECR}/func-fraud-eu-trainer:latest"
    assert project.spec.build.image.startswith(f"{ECR}/")  # the project image too
    project.build_function("trainer")
    spec = mlrun_api.last_body("POST", "/api/v1/build/function")["function"]["spec"]
    assert spec["build"]["image"] == f"{ECR}/func-fraud-eu-trainer:latest"
