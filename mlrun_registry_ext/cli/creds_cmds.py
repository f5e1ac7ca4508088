"""`secret apply|show|copy|delete` and `ecr policy|ensure-repos|verify|refresh|cronjob`.

The active service comes from resolution (``MLRUN_REGISTRY_EXT_URL``, ``_USERNAME``, ``_PASSWORD``,
``_SECRET_NAME``, ``.env``, the config file, its ``projects`` entry for ``--project``); ``--url`` /
``--username`` / ``--password-stdin`` / ``--secret-name`` override it. Passwords and tokens are never
accepted as arguments (they would land in shell history and ``ps``): ``--password-stdin``, and for an
ECR token obtained elsewhere, ``MLRUN_REGISTRY_EXT_ECR_TOKEN``. Kubernetes and boto3 are imported only
inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

from mlrun_registry_ext.cli._app import add_json_flag, print_json
from mlrun_registry_ext.clients.kube import ensure_namespace_value
from mlrun_registry_ext.core.secrets import SecretText as SecretStr
from mlrun_registry_ext.core.strict_yaml import dump_yaml
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.api import resolve_registry
from mlrun_registry_ext.features.credentials import (
    apply_registry_secret,
    copy_registry_secret,
    delete_registry_secret,
    ecr_policy,
    ecr_refresh_cronjob,
    ensure_ecr_repositories,
    refresh_ecr_pull_secret,
    show_registry_secret,
    verify_ecr_permissions,
)

#: An ECR authorization token from elsewhere (``aws ecr get-authorization-token``): env, never an argument.
ECR_TOKEN_ENV = "MLRUN_REGISTRY_EXT_ECR_TOKEN"
#: Option keys that would carry a secret; they are refused before anything of them is printed.
SECRET_OPTION_KEYS = ("token", "password", "secret", "key")
_OPTION_KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


def register(sub: Any) -> None:
    secret = sub.add_parser("secret", help="registry secrets in Kubernetes: apply, show, copy, delete")
    secret_sub = secret.add_subparsers(dest="secret_command", metavar="ACTION")
    secret_sub.required = True

    apply = secret_sub.add_parser("apply", help="create or update the service's push/pull secret(s)")
    _service_flags(apply, project=True)
    _kube_flags(apply, to=True)
    apply.add_argument("--login-url", default=None,
                       help="login host when it differs from the push path (Nuclio's registry.loginUrl)")
    apply.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="provider option (acr: auth=user|token; gcr/gar: auth=json_key|json_key_base64|"
                            f"access_token; quay: robot=NAME). No secrets here: an ECR token comes from boto3 "
                            f"or ${ECR_TOKEN_ENV}")
    apply.add_argument("--force", action="store_true", help="take over an existing secret not managed here")
    _output_flags(apply, dry_run=True)
    apply.set_defaults(handler=cmd_secret_apply)

    show = secret_sub.add_parser("show", help="the service's secret(s): type, keys, login hosts, users")
    _service_flags(show, project=True)
    _kube_flags(show)
    show.add_argument("-o", "--output", choices=("yaml", "json"), default=None)
    add_json_flag(show)
    show.set_defaults(handler=cmd_secret_show)

    copy = secret_sub.add_parser("copy", help="copy the service's secret(s) to other namespaces")
    _service_flags(copy, project=True)
    _kube_flags(copy, to=True)
    copy.add_argument("--force", action="store_true", help="take over existing secrets not managed here")
    add_json_flag(copy)
    copy.set_defaults(handler=cmd_secret_copy)

    delete = secret_sub.add_parser("delete", help="delete the service's secret(s) (only those managed here)")
    _service_flags(delete, project=True)
    _kube_flags(delete, to=True)
    delete.add_argument("--dry-run", action="store_true", help="say what would be deleted")
    add_json_flag(delete)
    delete.set_defaults(handler=cmd_secret_delete)

    ecr = sub.add_parser("ecr", help="AWS ECR: IAM policy, repositories, permission check, token refresh")
    ecr_sub = ecr.add_subparsers(dest="ecr_command", metavar="ACTION")
    ecr_sub.required = True

    policy = ecr_sub.add_parser("policy", help="print the least-privilege IAM policy document")
    _service_flags(policy)
    policy.add_argument("--prefix", default=None, help="repository prefix (default: the URL path)")
    policy.add_argument("--no-create", action="store_true", help="leave out CreateRepository/DescribeRepositories")
    policy.add_argument("--pull-only", action="store_true", help="pull actions only")
    policy.set_defaults(handler=cmd_ecr_policy)

    repos = ecr_sub.add_parser("ensure-repos",
                               help="create the repositories targets need (and <repo>/cache with cache: true)")
    _service_flags(repos)
    repos.add_argument("--project", default=None)
    repos.add_argument("--function", action="append", default=[], metavar="NAME[:KIND]",
                       help="function (kind default job; nuclio/serving/remote are built by Nuclio)")
    repos.add_argument("--repository", action="append", default=[], help="a repository name to create as is")
    repos.add_argument("--tag", default=None)
    repos.add_argument("--no-cache", action="store_true",
                       help="do not create <repo>/cache (created only for a service with cache: true)")
    mut = repos.add_mutually_exclusive_group()
    mut.add_argument("--immutable", dest="immutable", action="store_true", default=None, help="immutable tags")
    mut.add_argument("--mutable", dest="immutable", action="store_false", help="mutable tags")
    scan = repos.add_mutually_exclusive_group()
    scan.add_argument("--scan-on-push", dest="scan", action="store_true", default=None)
    scan.add_argument("--no-scan-on-push", dest="scan", action="store_false")
    add_json_flag(repos)
    repos.set_defaults(handler=cmd_ecr_ensure_repos)

    verify = ecr_sub.add_parser("verify", help="check the caller's IAM rights against the policy")
    _service_flags(verify)
    verify.add_argument("--prefix", default=None)
    verify.add_argument("--project", default=None,
                        help="also check mlrun-project-secrets-<project> (needs a cluster)")
    verify.add_argument("--function", action="append", default=[], help=argparse.SUPPRESS)
    _kube_flags(verify)
    add_json_flag(verify)
    verify.set_defaults(handler=cmd_ecr_verify)

    refresh = ecr_sub.add_parser("refresh", help="rewrite the ECR pull secret with a fresh 12-hour token")
    _service_flags(refresh)
    _kube_flags(refresh, to=True)
    refresh.add_argument("--project", default=None, help=argparse.SUPPRESS)
    refresh.add_argument("--function", action="append", default=[], help=argparse.SUPPRESS)
    _output_flags(refresh, dry_run=True)
    refresh.set_defaults(handler=cmd_ecr_refresh)

    cron = ecr_sub.add_parser("cronjob", help="print the CronJob (and its RBAC) that runs `ecr refresh`")
    _service_flags(cron)
    _kube_flags(cron, to=True)
    cron.add_argument("--image", required=True, help="an image with mlrun-registry-ext installed")
    cron.add_argument("--schedule", default=None, help="cron schedule, at least every 6 hours (default 0 */4 * * *)")
    cron.add_argument("--role-arn", default=None, help="IRSA role for the job's service account")
    cron.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    cron.set_defaults(handler=cmd_ecr_cronjob)


# --- flags -------------------------------------------------------------------------------------------
def _service_flags(parser: argparse.ArgumentParser, project: bool = False) -> None:
    group = parser.add_argument_group("registry service (overrides env / config)")
    if project:
        group.add_argument("--project", default=None,
                           help="the registry of this MLRun project (the config file's 'projects' map)")
    group.add_argument("--url", default=None, help="registry URL host[:port][/path]")
    group.add_argument("--username", default=None, help="username (for ECR: the AWS access key ID)")
    group.add_argument("--password-stdin", action="store_true",
                       help="read the password (for ECR: the secret access key) from standard input")
    group.add_argument("--secret-name", default=None, help="Kubernetes secret name (a DNS-1123 subdomain)")


def _kube_flags(parser: argparse.ArgumentParser, to: bool = False) -> None:
    parser.add_argument("-n", "--namespace", default=None,
                        help="namespace (default: the kubeconfig context's, or the pod's)")
    if to:
        parser.add_argument("--to", action="append", default=[], metavar="NS",
                            help="also in this namespace (repeat or comma-separate)")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: KUBECONFIG or in-cluster)")


def _output_flags(parser: argparse.ArgumentParser, dry_run: bool) -> None:
    if dry_run:
        parser.add_argument("--dry-run", action="store_true",
                            help="print the manifests, touch no cluster (like kubectl --dry-run=client)")
    parser.add_argument("-o", "--output", choices=("yaml", "json"), default=None,
                        help="manifest format with --dry-run; result format otherwise")
    add_json_flag(parser)  # the same as -o json


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {"url": args.url, "username": args.username, "secret_name": args.secret_name}
    if getattr(args, "password_stdin", False):
        text = sys.stdin.readline().rstrip("\r\n")
        if not text:
            raise ConfigError("password", "--password-stdin read an empty password")
        overrides["password"] = text
    return {k: v for k, v in overrides.items() if v is not None}


def _registry(args: argparse.Namespace) -> Any:
    # a command's --project (secret, ecr ensure-repos/verify) also picks that project's registry
    return resolve_registry(**_overrides(args), project=getattr(args, "project", None)).service


def _to(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for item in getattr(args, "to", []) or []:
        out += [part.strip() for part in item.split(",") if part.strip()]
    return out


def _options(values: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` provider options. Nothing after the key is ever printed, and a key that names a
    secret (``token=``, also mistyped ``token:...``) is refused: command lines end up in shell history,
    ``ps`` and CI logs."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        name = re.split(r"[:=\s]", item.strip(), maxsplit=1)[0]
        if name.lower() in SECRET_OPTION_KEYS:
            raise ConfigError("--option", f"{name.lower()} is a secret and is not taken from the command line; "
                                          f"an ECR token comes from boto3 (the AWS credentials) or {ECR_TOKEN_ENV}")
        if not sep or not _OPTION_KEY_RE.fullmatch(key.strip()):
            raise ConfigError("--option", "expected KEY=VALUE with a key of letters, digits, '_' or '-' "
                                          "(what was given is not shown: it may be a secret)")
        out[key.strip()] = value
    return out


def _ecr_token() -> Any:
    """The ECR token from the environment, as a SecretStr (None: boto3 fetches one)."""
    text = os.environ.get(ECR_TOKEN_ENV, "").strip()
    if not text:
        return None
    return SecretStr(text)


def _dump(objects: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        if len(objects) == 1:
            return json.dumps(objects[0], indent=2) + "\n"
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n"
    return dump_yaml(*objects)


def _print_report(report: Any, args: argparse.Namespace) -> int:
    if getattr(args, "dry_run", False) and hasattr(args, "output"):
        fmt = args.output or ("json" if getattr(args, "json", False) else "yaml")
        sys.stdout.write(_dump(report.manifests, fmt))
        for note in report.notes:
            sys.stderr.write(f"mlrun-registry: note: {note}\n")
        return 0
    if getattr(args, "json", False) or getattr(args, "output", None) == "json":
        print_json(report.as_dict())
    elif getattr(args, "output", None) == "yaml":
        sys.stdout.write(dump_yaml(report.as_dict()))
    else:
        for line in report.lines():
            sys.stdout.write(line + "\n")
    return 0


# --- secret ------------------------------------------------------------------------------------------
def cmd_secret_apply(args: argparse.Namespace) -> int:
    resolved = resolve_registry(**_overrides(args), project=getattr(args, "project", None))
    report = apply_registry_secret(resolved.service, namespace=args.namespace, to=_to(args),
                                   login_url=args.login_url, options=_options(args.option), dry_run=args.dry_run,
                                   force=args.force, kubeconfig=args.kubeconfig, ecr_token=_ecr_token(),
                                   services=resolved.all_services)
    if not report.manifests:
        for note in report.notes:
            sys.stderr.write(f"mlrun-registry: note: {note}\n")
        sys.stdout.write("nothing to apply\n")
        return 0
    return _print_report(report, args)


def cmd_secret_show(args: argparse.Namespace) -> int:
    summaries = show_registry_secret(_registry(args), namespace=args.namespace, kubeconfig=args.kubeconfig)
    if args.output == "json" or args.json:
        print_json(summaries)
    elif args.output == "yaml":
        sys.stdout.write(_dump(summaries, "yaml"))
    else:
        for item in summaries:
            if item.get("exists") is False:
                sys.stdout.write(f"secret/{item['name']} not found in namespace {item['namespace']}\n")
                continue
            managed = "managed" if item["managed"] else "NOT managed by mlrun-registry-ext"
            sys.stdout.write(f"secret/{item['name']} in {item['namespace']}: {item['type']}, {managed}, "
                             f"keys {', '.join(item['keys'])}\n")
            for host, entry in (item.get("auths") or {}).items():
                sys.stdout.write(f"  login {host}: user {entry['username']}, password {entry['password']}\n")
            if item.get("aws_access_key_id"):
                sys.stdout.write(f"  aws_access_key_id {item['aws_access_key_id']}, secret access key "
                                 f"{item.get('aws_secret_access_key')}\n")
    return 0


def cmd_secret_copy(args: argparse.Namespace) -> int:
    report = copy_registry_secret(_registry(args), namespace=args.namespace, to=_to(args), force=args.force,
                                  kubeconfig=args.kubeconfig)
    return _print_report(report, args)


def cmd_secret_delete(args: argparse.Namespace) -> int:
    report = delete_registry_secret(_registry(args), namespace=args.namespace, to=_to(args),
                                    dry_run=args.dry_run, kubeconfig=args.kubeconfig)
    for line in report.lines():
        sys.stdout.write(line + "\n")
    return 0


# --- ecr ---------------------------------------------------------------------------------------------
def cmd_ecr_policy(args: argparse.Namespace) -> int:
    document = ecr_policy(_registry(args), prefix=args.prefix, push=not args.pull_only,
                          create=not (args.no_create or args.pull_only))
    print_json(document)
    return 0


def cmd_ecr_ensure_repos(args: argparse.Namespace) -> int:
    results = ensure_ecr_repositories(_registry(args), project=args.project, functions=args.function or None,
                                      repositories=args.repository, with_cache=False if args.no_cache else None,
                                      immutable=args.immutable, scan_on_push=args.scan, tag=args.tag)
    if args.json:
        print_json([{"repository": r.name, "action": r.action, "arn": r.arn} for r in results])
    else:
        for result in results:
            sys.stdout.write(f"{result.name}: {result.action}\n")
    return 0


def cmd_ecr_verify(args: argparse.Namespace) -> int:
    report = verify_ecr_permissions(_registry(args), prefix=args.prefix, project=args.project,
                                    namespace=args.namespace, kubeconfig=args.kubeconfig)
    if args.json:
        print_json(report.as_dict())
    else:
        sys.stdout.write(f"identity: {report.identity}\nchecked with: {report.method}\n")
        if report.ok:
            sys.stdout.write("all required ECR actions are allowed\n")
        else:
            sys.stdout.write("missing actions:\n")
            for action in report.missing:
                resources = sorted({c.resource for c in report.checks if c.action == action and not c.allowed})
                sys.stdout.write(f"  {action} on {', '.join(resources)}\n")
            sys.stdout.write("print the policy that grants them: mlrun-registry ecr policy\n")
        for note in report.notes:
            sys.stdout.write(f"note: {note}\n")
    return 0 if report.ok else 1


def cmd_ecr_refresh(args: argparse.Namespace) -> int:
    report = refresh_ecr_pull_secret(_registry(args), namespace=args.namespace, to=_to(args),
                                     dry_run=args.dry_run, kubeconfig=args.kubeconfig)
    return _print_report(report, args)


def cmd_ecr_cronjob(args: argparse.Namespace) -> int:
    kwargs: dict[str, Any] = {"schedule": args.schedule} if args.schedule else {}
    manifests = ecr_refresh_cronjob(_registry(args), namespace=ensure_namespace_value(args.namespace),
                                    image=args.image, to=_to(args), role_arn=args.role_arn, **kwargs)
    sys.stdout.write(_dump(manifests, args.output))
    return 0

