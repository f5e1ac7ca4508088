"""Bad input through the CLI and the Python API: generated (hypothesis, derandomized) and curated.

For every input: no traceback; a configuration error is exit 2 and one line naming a field; every
image printed with exit 0 is a reference Docker reads the same way, checked by the strict checker
below (written from the distribution grammar in the reference notes, independent of the package's
parser); the canary secret appears in no output. The CLI runs in-process for speed (``main(argv)``
with captured streams), a handful through real processes.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlrun_registry_ext as registry
from mlrun_registry_ext.cli import main
from mlrun_registry_ext.errors import ConfigError, RegistryExtError
from tests.support.env import CANARY, run_cli

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

# --- a strict, independent OCI / docker reference checker -------------------------------------------------
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::{_TAG})?(?:@{_DIGEST})?",
    re.ASCII,
)


def strict_reference(image: str, *, domain_required: bool = True) -> bool:
    """True when ``image`` is a reference Docker parses to the same registry it names."""
    match = _REFERENCE.fullmatch(image)
    if match is None or len(match["name"]) > 255:
        return False
    domain = match["domain"]
    if domain is None:
        return not domain_required
    # docker: the first component is a registry only with '.', ':' or 'localhost'; otherwise Docker Hub
    return "." in domain or ":" in domain or domain == "localhost"


def check_image(image: str, registry_url: str) -> None:
    if registry_url == ".":
        assert image.startswith(".") and strict_reference(image[1:], domain_required=False), image
    elif image.startswith("(the dashboard's"):
        assert strict_reference(image.split("/", 1)[1], domain_required=False), image
    else:
        assert strict_reference(image), image
        assert image.startswith(registry_url + "/"), (image, registry_url)


def test_the_strict_checker_itself() -> None:
    good = ["ghcr.io/acme/x:1", "localhost:5000/a/b", "[::1]:5000/a@sha256:" + "a" * 64, "a.b/c__d/e-f---g:v1.0"]
    bad = ["registry/acme/x", "ghcr.io/Acme/x", "ghcr.io/acme/x:\n", "ghcr.io/acme/x:1\n", "ghcr.io//x",
           "ghcr.io/acme/x:-1", "ghcr.io/a_/x", "[.]:5000/x", "ghcr.io/" + "a" * 250]
    assert all(strict_reference(ref) for ref in good)
    assert not any(strict_reference(ref) for ref in bad)


# --- running ---------------------------------------------------------------------------------------------
class _Capture(logging.Handler):
    def __init__(self, stream: io.StringIO) -> None:
        super().__init__(logging.WARNING)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(record.getMessage() + "\n")


@contextlib.contextmanager
def environment(env: dict[str, str], cwd: Path | None = None) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        if cwd is not None:
            mp.chdir(cwd)
        yield


def run(argv: list[str], env: dict[str, str] | None = None, stdin: str | None = None,
        cwd: Path | None = None) -> tuple[int, str, str]:
    """``mlrun-registry ARGV`` in-process: (code, stdout, stderr incl. log records)."""
    out, err = io.StringIO(), io.StringIO()
    handler = _Capture(err)
    logger = logging.getLogger("mlrun_registry_ext")
    logger.addHandler(handler)
    old_stdin = sys.stdin
    from mlrun_registry_ext.features import api

    api._warned.clear()
    try:
        sys.stdin = io.StringIO((stdin or "") + "\n")
        with environment(env or {}, cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdin = old_stdin
        logger.removeHandler(handler)
    return code, out.getvalue(), err.getvalue()


def assert_sane(code: int, out: str, err: str, *, allowed: tuple[int, ...] = (0, 2)) -> None:
    text = out + err
    assert "Traceback" not in text, text
    assert CANARY not in text, text
    assert code in allowed, (code, text)
    if code != 0:
        errors = [line for line in err.splitlines() if line.startswith("mlrun-registry: error: ")]
        usage = [line for line in err.splitlines() if line.startswith("mlrun-registry") and "error:" in line]
        assert len(errors) == 1 or (code == 2 and usage), err
        assert "unexpected" not in err, err
        assert len(err.splitlines()[-1]) < 600


def assert_target(code: int, out: str, err: str) -> None:
    assert_sane(code, out, err, allowed=(0, 2, 3))
    if code == 0:
        data = json.loads(out)
        check_image(data["image"], data["registry"] if data["builder"] == "mlrun" else
                    data["nuclio"].get("spec.build.registry", "."))


# --- generated inputs (hypothesis) ----------------------------------------------------------------------------
def examples(count: int) -> settings:
    """Fixed, reproducible examples for CI: derandomized, no example database."""
    return settings(max_examples=count, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])

_nasty = st.sampled_from(["\n", "\r", "\t", " ", "\x00", "\x1b[31m", "@", ":", "/", "//", "#", "?", "%2F", "..",
                          "[", "]", "\u00e9", "\u0130", "\u202e", "A", "-", "_", "__", ".", "localhost", "docker.io",
                          "registry", "5000", ":0", ":65536", "https://", "http://", "ftp://", "~", "*", "&", "{"])
_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_name_like = st.one_of(_label, st.lists(st.one_of(_label, _nasty), min_size=1, max_size=6).map("".join),
                       st.text(max_size=40))
_host = st.one_of(
    st.builds(lambda a, b: f"{a}.{b}", _label, st.sampled_from(["io", "example.com", "local"])),
    st.builds(lambda a, p: f"{a}:{p}", _label, st.integers(0, 70000)),
    st.sampled_from(["localhost", "localhost:5000", "[::1]:5000", "[.]:5000", "registry", "docker-registry",
                     "127.0.0.1:5000", "GHCR.IO", "ghcr.io", "docker.io", f"{ECR}"]),
    _name_like,
)
_url = st.builds(lambda scheme, host, path: f"{scheme}{host}{'/' + path if path else ''}",
                 st.sampled_from(["", "https://", "http://", "HTTPS://", "ftp://", f"https://u:{CANARY}@"]),
                 _host, st.one_of(st.just(""), _label, _name_like))


@examples(220)
@given(url=_url, project=_name_like, function=_name_like, tag=st.one_of(st.none(), _name_like),
       kind=st.sampled_from(["job", "serving", "nuclio", "spark", "bogus"]), prefix=st.one_of(st.none(), _name_like))
def test_cli_target_with_generated_urls_and_names(url: str, project: str, function: str, tag: str | None,
                                                  kind: str, prefix: str | None) -> None:
    env = {"MLRUN_REGISTRY_EXT_URL": url, "MLRUN_REGISTRY_EXT_USERNAME": "ci", "MLRUN_REGISTRY_EXT_PASSWORD": CANARY}
    if prefix is not None:
        env["MLRUN_REGISTRY_EXT_IMAGE_PREFIX"] = prefix
    if "\x00" in "".join(env.values()):
        return  # the OS refuses NUL in the environment; arguments below still carry it
    argv = ["target", project, function, "--kind", kind, "--json"] + (["--tag", tag] if tag is not None else [])
    if any("\x00" in arg for arg in argv):
        return
    assert_target(*run(argv, env))


_any_value = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.binary(max_size=8),
                       _name_like, st.lists(_label, max_size=2), st.dictionaries(_label, _label, max_size=2))


@examples(150)
@given(url=st.one_of(_url, _any_value), project=_any_value, function=_any_value, tag=_any_value,
       username=_any_value, secret_name=_any_value, insecure=_any_value)
def test_python_api_with_generated_values(url: Any, project: Any, function: Any, tag: Any, username: Any,
                                          secret_name: Any, insecure: Any) -> None:
    try:
        active = registry.resolve(url=url, username=username, password=CANARY, secret_name=secret_name,
                                  insecure=insecure, probe=False)
        target = active.target(project, function, tag=tag)
    except ConfigError as exc:
        text = f"{exc}{exc!r}"
        assert CANARY not in text and "\n" not in str(exc) and len(str(exc)) < 600
        assert exc.exit_code == 2
        return
    except RegistryExtError as exc:  # a version gate
        assert CANARY not in str(exc)
        return
    check_image(target.image, target.registry)
    assert CANARY not in repr(active) and CANARY not in repr(target) and CANARY not in str(active.to_dict())


_yaml_scalar = st.one_of(st.none(), st.booleans(), st.integers(), _label, _name_like, _url)
_yaml_value = st.recursive(_yaml_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(_label, inner, max_size=3)),
                           max_leaves=8)
_service = st.fixed_dictionaries({"url": st.one_of(_url, _yaml_value)}, optional={
    "username": _yaml_scalar, "password": st.just(CANARY), "image_prefix": _yaml_scalar, "insecure": _yaml_value,
    "secret_name": _yaml_scalar, "role": st.sampled_from(["user", "system", "admin"]), "resources": _yaml_value,
    "ca_bundle": _yaml_scalar, "bogus": _yaml_scalar})
_config = st.one_of(
    st.fixed_dictionaries({"services": st.dictionaries(st.one_of(_label, _name_like), _service, max_size=3)},
                          optional={"active": _yaml_scalar}),
    _yaml_value,
)


@examples(110)
@given(config=_config, raw=st.one_of(st.none(), st.text(max_size=60), st.binary(max_size=30)))
def test_cli_show_with_generated_config_files(config: Any, raw: str | bytes | None, tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("cfg") / "r.yaml"
    if raw is None:
        path.write_text(yaml.safe_dump(config))
    elif isinstance(raw, bytes):
        path.write_bytes(raw)
    else:
        path.write_text(raw, encoding="utf-8", errors="surrogatepass") if "\ud800" not in raw else None
        if not path.exists():
            return
    code, out, err = run(["show", "--json"], {"MLRUN_REGISTRY_EXT_CONFIG": str(path)})
    assert_sane(code, out, err)
    if code == 0:
        data = json.loads(out)
        assert data["active"]["password"] in (None, "set")


@examples(60)
@given(password=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                        max_size=20),
       user=st.text(alphabet="abcxyz:/#?%", max_size=6),
       command=st.sampled_from([["show"], ["target", "p", "f"], ["secret", "show", "--url", "URL"],
                                ["migrate", "--from", "URL", "--to", "ghcr.io/a", "--dry-run"],
                                ["migrate", "--from", "ghcr.io/a", "--to", "URL", "--dry-run"]]))
def test_credentials_in_urls_are_never_printed(password: str, user: str, command: list[str]) -> None:
    url = f"https://{user}:{CANARY}{password}@ghcr.io/acme"
    argv = [url if arg == "URL" else arg for arg in command]
    code, out, err = run(argv, {"MLRUN_REGISTRY_EXT_URL": url})
    assert_sane(code, out, err, allowed=(2,))
    assert "credentials in the URL" in err


# --- curated inputs ---------------------------------------------------------------------------------------------
MB = "a" * (1024 * 1024)
CURATED: list[tuple[str, list[str], dict[str, str], int]] = [
    # (id, argv, env, exit code)
    ("downgrade-igz", ["show", "--json"], {"IGZ_NAMESPACE_DOMAIN": "t.example.com",
                                           "MLRUN_REGISTRY_EXT_URL": "https://ghcr.io/acme"}, 0),
    ("https-and-insecure", ["show"], {"MLRUN_REGISTRY_EXT_URL": "https://ghcr.io/a",
                                      "MLRUN_REGISTRY_EXT_INSECURE": "true"}, 2),
    ("http-explicit", ["target", "p", "f", "--json"], {"MLRUN_REGISTRY_EXT_URL": "http://localhost:5000/a"}, 0),
    ("userinfo-slash", ["show"], {"MLRUN_REGISTRY_EXT_URL": f"https://ci:{CANARY}/x@ghcr.io/acme"}, 2),
    ("userinfo-hash", ["show"], {"MLRUN_REGISTRY_EXT_URL": f"https://ci:{CANARY}#x@ghcr.io/acme"}, 2),
    ("userinfo-query", ["show"], {"MLRUN_REGISTRY_EXT_URL": f"https://ci:{CANARY}?x@ghcr.io/acme"}, 2),
    ("userinfo-colon", ["show"], {"MLRUN_REGISTRY_EXT_URL": f"ci:{CANARY}:x@ghcr.io/acme"}, 2),
    ("userinfo-target", ["target", "p", "f"], {"MLRUN_REGISTRY_EXT_URL": f"https://ci:{CANARY}@ghcr.io/a"}, 2),
    ("userinfo-migrate-from", ["migrate", "--from", f"http://u:{CANARY}@localhost:5000", "--to", "ghcr.io/a"], {}, 2),
    ("userinfo-migrate-to", ["migrate", "--from", "http://localhost:5000", "--to", f"u:{CANARY}/@ghcr.io/a"], {}, 2),
    ("userinfo-secret-url", ["secret", "show", "--url", f"https://u:{CANARY}@ghcr.io/a"], {}, 2),
    ("userinfo-doctor", ["doctor", "--timeout", "1"], {"MLRUN_REGISTRY_EXT_URL": f"https://u:{CANARY}@ghcr.io/a"}, 2),
    # MLRun takes a login from MLRUN_DBPATH (Basic auth): accepted, never shown; port 9 refuses at once
    ("userinfo-dbpath", ["show", "--json"], {"MLRUN_DBPATH": f"http://u:{CANARY}@127.0.0.1:9"}, 0),
    ("option-token", ["secret", "apply", "--url", f"{ECR}/t", "-n", "m", "--dry-run", "--option",
                      f"token={CANARY}"], {}, 2),
    ("option-token-colon", ["secret", "apply", "--url", f"{ECR}/t", "-n", "m", "--dry-run", "--option",
                            f"token:{CANARY}"], {}, 2),
    ("option-bare", ["secret", "apply", "--url", "ghcr.io/a", "-n", "m", "--dry-run", "--option", CANARY], {}, 2),
    ("single-label", ["target", "p", "f"], {"MLRUN_REGISTRY_EXT_URL": "registry/acme"}, 2),
    ("single-label-dash", ["target", "p", "f"], {"MLRUN_REGISTRY_EXT_URL": "docker-registry"}, 2),
    ("single-label-https", ["show"], {"MLRUN_REGISTRY_EXT_URL": "https://registry/acme"}, 2),
    ("bracket-dot", ["target", "p", "f"], {"MLRUN_REGISTRY_EXT_URL": "[.]:5000/x"}, 2),
    ("bracket-empty", ["show"], {"MLRUN_REGISTRY_EXT_URL": "[]:5000"}, 2),
    ("ipv6-ok", ["target", "p", "f", "--json"], {"MLRUN_REGISTRY_EXT_URL": "[::1]:5000/x"}, 0),
    ("localhost-ok", ["target", "p", "f", "--json"], {"MLRUN_REGISTRY_EXT_URL": "localhost/x"}, 0),
    ("port-zero", ["show"], {"MLRUN_REGISTRY_EXT_URL": "reg.example.com:0/x"}, 2),
    ("port-huge", ["show"], {"MLRUN_REGISTRY_EXT_URL": "reg.example.com:99999/x"}, 2),
    ("upper-path", ["show"], {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/Acme"}, 2),
    ("query", ["show"], {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme?x=1"}, 2),
    ("ftp", ["show"], {"MLRUN_REGISTRY_EXT_URL": "ftp://ghcr.io/acme"}, 2),
    ("space-url", ["show"], {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/ac me"}, 2),
    ("newline-url", ["show"], {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme\nx"}, 2),
    ("megabyte-url", ["show"], {"MLRUN_REGISTRY_EXT_URL": f"ghcr.io/{MB}"}, 2),
    ("megabyte-host", ["show"], {"MLRUN_REGISTRY_EXT_URL": f"{MB}.example.com"}, 2),
    ("megabyte-prefix", ["show"], {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/a", "MLRUN_REGISTRY_EXT_IMAGE_PREFIX": MB}, 2),
    ("tag-newline", ["target", "p", "f", "--tag", "v1\n"], {}, 2),
    ("tag-dash", ["target", "p", "f", "--tag", "-v1"], {}, 2),
    ("tag-long", ["target", "p", "f", "--tag", "v" * 129], {}, 2),
    ("project-newline", ["target", "p\n", "f"], {}, 2),
    ("project-upper", ["target", "P", "f"], {}, 2),
    ("function-newline", ["target", "p", "f\n"], {}, 2),
    ("function-control", ["target", "p", "f\x1b[2J"], {}, 2),
    ("function-empty", ["target", "p", ""], {}, 2),
    ("kind-bogus", ["target", "p", "f", "--kind", "bogus"], {}, 2),
    ("secret-name-newline", ["secret", "show", "--url", "ghcr.io/a", "--secret-name", "s\n", "-n", "m"], {}, 2),
    ("namespace-newline", ["secret", "show", "--url", "ghcr.io/a", "--secret-name", "s", "-n", "m\n"], {}, 2),
    ("env-secret-name-newline", ["show"], {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/a",
                                           "MLRUN_REGISTRY_EXT_SECRET_NAME": "s\n"}, 2),
    ("insecure-perhaps", ["show"], {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/a", "MLRUN_REGISTRY_EXT_INSECURE": "perhaps"},
     2),
    ("password-only", ["show"], {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/a", "MLRUN_REGISTRY_EXT_PASSWORD": CANARY}, 2),
    ("active-without-config", ["show"], {"MLRUN_REGISTRY_EXT_ACTIVE": "x"}, 2),
    ("config-missing", ["show"], {"MLRUN_REGISTRY_EXT_CONFIG": "/nonexistent/r.yaml"}, 2),
    ("config-nouser", ["show"], {"MLRUN_REGISTRY_EXT_CONFIG": "~nouser-i10/r.yaml"}, 2),
    ("config-dev-zero", ["show"], {"MLRUN_REGISTRY_EXT_CONFIG": "/dev/zero"}, 2),
    ("config-dev-urandom", ["show"], {"MLRUN_REGISTRY_EXT_CONFIG": "/dev/urandom"}, 2),
    ("config-dir", ["show"], {"MLRUN_REGISTRY_EXT_CONFIG": "/"}, 2),
    ("dashboard-space", ["show"], {"NUCLIO_DASHBOARD_URL": "http://a b"}, 2),
    ("dashboard-bad-port", ["show"], {"NUCLIO_DASHBOARD_URL": "http://dash:99999"}, 2),
    ("dbpath-control", ["show"], {"MLRUN_DBPATH": "http://mlrun\x1b-api:8080"}, 2),
    ("doctor-timeout", ["doctor", "--timeout", "nan"], {}, 2),
    ("jobs", ["migrate", "--from", "http://localhost:5000", "--to", "ghcr.io/a", "--jobs", "0"], {}, 2),
    ("no-command", [], {}, 2),
]

CONFIG_FILES: list[tuple[str, bytes]] = [
    ("alias-bomb", b"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"),
    ("duplicate-service", b"services:\n  a: {url: a.example.com}\n  a: {url: b.example.com}\n"),
    ("duplicate-field", b"services:\n  a: {url: a.example.com, url: b.example.com}\n"),
    ("non-utf8", b"services:\n  a: {url: \xff.example.com}\n"),
    ("deep", b"[" * 3000 + b"]" * 3000),
    ("big-int", b"services: {a: {url: a.example.com, resources: {limits: {cpu: " + b"9" * 5000 + b"}}}}\n"),
    ("tab", b"services:\n\ta: {url: a.example.com}\n"),
    ("list-key", b"services: {? [a]: {url: a.example.com}}\n"),
    ("int-field", b"services: {a: {url: a.example.com, 7: x}}\n"),
    ("url-int", b"services: {a: {url: 7}}\n"),
    ("url-userinfo", b"services: {a: {url: 'https://u:" + CANARY.encode() + b"@a.example.com'}}\n"),
    ("password-int", b"services: {a: {url: a.example.com, username: u, password: 123}}\n"),
    ("unknown-field", b"services: {a: {url: a.example.com, colour: red}}\n"),
    ("service-name-upper", b"services: {A: {url: a.example.com}}\n"),
    ("active-missing", b"active: z\nservices: {a: {url: a.example.com}}\n"),
    ("services-string", b"services: nope\n"),
    ("scalar", b"just text\n"),
    ("python-tag", b"!!python/object/apply:os.system ['true']\n"),
    ("https-insecure", b"services: {a: {url: 'https://a.example.com', insecure: true}}\n"),
    ("system-with-creds", b"services: {a: {url: a.example.com, role: system, username: u, password: p}}\n"),
]


@pytest.mark.parametrize(("argv", "env", "expected"), [c[1:] for c in CURATED], ids=[c[0] for c in CURATED])
def test_curated_cli_inputs(argv: list[str], env: dict[str, str], expected: int) -> None:
    code, out, err = run(argv, env)
    assert code == expected, (out, err)
    assert_sane(code, out, err, allowed=(expected,))
    if code == 0 and argv[:1] == ["target"]:
        assert_target(code, out, err)
    if code == 0 and argv[:1] == ["show"]:
        assert json.loads(out)["active"]["insecure"] is False


@pytest.mark.parametrize(("text",), [c[1:] for c in CONFIG_FILES], ids=[c[0] for c in CONFIG_FILES])
def test_curated_config_files(text: bytes, tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(text)
    code, out, err = run(["show", "--json"], {"MLRUN_REGISTRY_EXT_CONFIG": str(path)})
    assert code == 2, (out, err)
    assert_sane(code, out, err, allowed=(2,))


@pytest.mark.parametrize(("text",), [(b"MLRUN_REGISTRY_EXT_URL=\xff\n",),
                                     (b"MLRUN_REGISTRY_EXT_URL=a.example.com\nMLRUN_REGISTRY_EXT_URL=b.example.com\n",),
                                     (b"MLRUN_REGISTRY_EXT_URL=https://u:" + CANARY.encode() + b"@a.example.com\n",),
                                     (b"x" * (1024 * 1024 + 1),)],
                         ids=["non-utf8", "duplicate", "userinfo", "oversize"])
def test_curated_dotenv_files(text: bytes, tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(text)
    code, out, err = run(["show"], cwd=tmp_path)
    assert_sane(code, out, err, allowed=(2,))


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"project": 7}, "project"), ({"project": None}, "project"), ({"function": b"x"}, "function"),
    ({"function": ["x"]}, "function"), ({"tag": 1.5}, "tag"), ({"tag": "v\n"}, "tag"), ({"kind": 3}, "kind"),
])
def test_curated_python_api_arguments(kwargs: dict[str, Any], field: str) -> None:
    active = registry.resolve(url="ghcr.io/acme", probe=False)
    with pytest.raises(ConfigError) as info:
        active.target(**{"project": "p", "function": "f", **kwargs})
    assert info.value.field == field


def test_a_handful_through_real_processes(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    cases = [
        (["show"], {"MLRUN_REGISTRY_EXT_URL": f"https://ci:{CANARY}/x@ghcr.io/acme"}, 2),
        (["show"], {"MLRUN_REGISTRY_EXT_CONFIG": str(fifo)}, 2),
        (["target", "p", "f", "--tag", "v1\n"], {}, 2),
        (["secret", "apply", "--url", f"{ECR}/t", "-n", "m", "--dry-run", "--option", f"token:{CANARY}"], {}, 2),
        (["target", "p", "f", "--json"], {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme",
                                          "MLRUN_REGISTRY_EXT_PASSWORD": CANARY,
                                          "MLRUN_REGISTRY_EXT_USERNAME": "ci"}, 0),
    ]
    for argv, env, expected in cases:
        result = run_cli(*argv, env=env, timeout=30)
        assert result.code == expected, result.output
        assert_sane(result.code, result.stdout, result.stderr, allowed=(expected,))
        if expected == 0:
            assert_target(result.code, result.stdout, result.stderr)
