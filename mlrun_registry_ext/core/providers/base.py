"""The provider base class: what a registry provider knows, declared in one class per provider.

Design (ZenML's one flavour class per container registry): everything that differs between
registry providers lives on a subclass of :class:`RegistryProvider` in its own module of this
package, and the rest of the package asks the class instead of comparing :class:`Provider` values.
A provider class owns

- **detection**: :meth:`RegistryProvider.matches` (the host patterns from its documentation); the
  package's ``PROVIDERS`` tuple gives the order they are tried in, :class:`GenericProvider` last;
- **naming rules**: :meth:`~RegistryProvider.validate_repository` (repository names on top of the
  reference grammar) and :meth:`~RegistryProvider.check_url_path` (what the registry URL's path must be);
- **login format**: the docker config's ``auths`` key (:meth:`~RegistryProvider.login_key`), the options
  a login accepts (:attr:`~RegistryProvider.login_options`), the username rules
  (:meth:`~RegistryProvider.login_user`) and, for providers whose credentials are cloud keys traded for
  a short-lived token (:attr:`~RegistryProvider.token_login`), the token format
  (:meth:`~RegistryProvider.token_password`);
- **push preparation**: :meth:`~RegistryProvider.prepare_push` gives a pure :class:`PushPreparation`
  (the repositories to create before a push); the features tier executes it through its client;
- **build and platform notes**: :meth:`~RegistryProvider.build_notes`, :meth:`~RegistryProvider.platform_notes`;
- **doctor checks**: :attr:`~RegistryProvider.doctor_checks` declares the provider's own checks as data
  (:class:`DoctorCheck`: name, stage, and either a fixed outcome or the name of a probe).

Why declarations and not callables for the doctor: this tier is pure (no network, no clients;
import-linter enforces it), so a provider cannot call AWS itself. It names a probe (``"ecr"``), and
the doctor (``features/doctor/checks.py``) keeps the one table from probe names to client code
(``PROBES``). A check with a fixed outcome (the on-cluster warning) needs no probe at all.

Adding a provider therefore means adding one class (and listing it in ``PROVIDERS``); only a new
*kind* of probe needs a line in the doctor's table. :class:`Provider` stays a text enum (``StrEnum``): it is the
data (JSON output, ``public_dict``, CLI choices); :func:`~mlrun_registry_ext.core.providers.provider_for`
maps a value to its class instance, which ``RegistryService.rules`` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

from mlrun_registry_ext.core.compat import TextEnum
from mlrun_registry_ext.core.notes import Note
from mlrun_registry_ext.core.reference import MAX_NAME_LENGTH
from mlrun_registry_ext.core.secrets import SecretText
from mlrun_registry_ext.errors import ConfigError


class Provider(TextEnum):
    """The provider as data (JSON, ``public_dict``, CLI output); behaviour is on its class."""

    ON_CLUSTER = "on-cluster"
    ECR = "ecr"
    ACR = "acr"
    GCR = "gcr"
    GAR = "gar"
    GHCR = "ghcr"
    QUAY = "quay"
    DOCKERHUB = "dockerhub"
    GENERIC = "generic"


@dataclass(frozen=True)
class DoctorCheck:
    """A provider's own doctor check, declared as data and run by the doctor.

    ``stage``: ``"network"`` runs after the network chain when the configuration is valid;
    ``"always"`` runs last, whatever the configuration check said. ``probe`` names the doctor's
    code that performs the check (``"ecr"``: the AWS side through ``clients/aws``); without a
    probe the check's outcome is fixed: ``ok`` with ``detail`` at ``severity``.
    """

    name: str
    stage: Literal["network", "always"] = "network"
    probe: str | None = None
    detail: str = ""
    severity: Literal["info", "warning", "error"] = "info"


@dataclass(frozen=True)
class PushPreparation:
    """What must exist on a registry before a push, as a plan (pure): the repositories to create,
    in order. Empty for registries that create repositories on the first push."""

    create_repositories: tuple[str, ...] = ()


class RegistryProvider:
    """Defaults shared by every provider; a subclass overrides what its documentation says.

    See the module docstring for the design: each subclass is the one place for its provider's rules.
    """

    provider: ClassVar[Provider] = Provider.GENERIC
    #: Who authenticates a push when no username/password is given.
    ambient_auth: ClassVar[str | None] = None
    #: Hint shown when credentials are requested, naming what the provider expects.
    credential_hint: ClassVar[str] = "username and password (or token)"
    #: The cluster's own registry: no version gates, an ``onCluster`` registry kind for Nuclio.
    on_cluster: ClassVar[bool] = False
    #: Said whenever a service on this provider is resolved (and by the doctor).
    warning: ClassVar[str | None] = None
    #: Options a docker login accepts (``--option key=value``): name -> what it means.
    login_options: ClassVar[Mapping[str, str]] = {}
    #: The service's username/password are cloud keys, not a docker login: the login is a short-lived
    #: token issued for them (:meth:`token_password`), Kaniko gets the keys as a credentials file, and
    #: a pull secret holding the token needs refreshing.
    token_login: ClassVar[bool] = False
    #: The registry creates a repository on the first push (ECR: no, see :meth:`prepare_push`).
    creates_repositories_on_push: ClassVar[bool] = True
    #: A function's build mounts the service's docker secret (not for ECR: see ``build_notes``).
    build_secret_per_function: ClassVar[bool] = True
    #: Whether a blob mount into the blob's own repository answers 201/202 as distribution does
    #: (ECR: blob mounting is opt-in per registry, so the copy engine HEADs instead).
    mounts_blobs: ClassVar[bool] = True
    #: The provider's own doctor checks (see :class:`DoctorCheck`).
    doctor_checks: ClassVar[tuple[DoctorCheck, ...]] = ()
    #: When set, the doctor's authentication check says this instead of logging in with the
    #: service's username/password (:attr:`token_login` providers: a provider check covers the login).
    doctor_auth_detail: ClassVar[str | None] = None
    #: Where image names without a registry come from (Docker Hub): anonymous pulls there are rate
    #: limited (kaniko#2399, ``TOOMANYREQUESTS``), so a login or a mirror matters.
    default_image_source: ClassVar[bool] = False

    # --- workload identity and the layer cache ----------------------------------------
    #: The Kaniko credential helper (``docker-credential-<name>``, built into Kaniko's image) that logs in
    #: with the pod's workload identity; None: the provider has no workload identity.
    credential_helper: ClassVar[str | None] = None
    #: The service-account annotation that maps it to the cloud identity (``identity``).
    identity_annotation: ClassVar[str | None] = None
    #: Labels the service account (and, for Azure, the pods) need.
    identity_labels: ClassVar[Mapping[str, str]] = {}
    #: What ``identity`` is, for errors.
    identity_hint: ClassVar[str] = ""
    #: How the identity is bound when the service account needs no annotation (no ``identity`` given),
    #: for the doctor's workload-identity check.
    identity_bound_elsewhere: ClassVar[str] = "the identity is bound outside Kubernetes (not checked)"
    #: Why Kaniko's layer cache is off on this provider (None: ``<repo>/cache`` is accepted).
    cache_off_reason: ClassVar[str | None] = None

    def validate_identity(self, identity: str | None, field: str = "identity") -> None:
        """The identity is required and checked by each provider with workload identity."""
        if identity is None:
            raise ConfigError(field, f"auth: workload-identity needs the identity: {self.identity_hint}")

    def service_account_metadata(self, identity: str | None) -> tuple[dict[str, str], dict[str, str]]:
        """(annotations, labels) of the builder's and functions' service account."""
        annotations = {self.identity_annotation: identity} if self.identity_annotation and identity else {}
        return annotations, dict(self.identity_labels)

    def cache_repository(self, repository: str) -> str:
        """Kaniko's cache repository for images pushed to ``repository``: ``<repository>/cache``, the path
        MLRun's and Nuclio's ECR init containers create."""
        return f"{repository}/cache"

    # --- detection -----------------------------------------------------------------------------
    @classmethod
    def matches(cls, host: str, bare: str, namespace_domain: str | None) -> bool:
        """Whether ``host`` (``bare``: its name without port or brackets) is this provider's."""
        return False

    # --- naming rules --------------------------------------------------------------------------
    def validate_repository(self, repository: str, host: str, field: str = "image") -> None:
        """Provider-specific rules on top of the reference grammar (already checked)."""
        if len(host) + 1 + len(repository) > MAX_NAME_LENGTH:
            raise ConfigError(field, f"{host}/{repository} is longer than {MAX_NAME_LENGTH} characters")

    def check_url_path(self, path: str, host: str, field: str = "url") -> None:
        """The provider's rules for the registry URL's path (the repository namespace)."""

    # --- login format --------------------------------------------------------------------------
    def login_key(self, host: str) -> str:
        """The ``auths`` key of a docker config for this registry."""
        return host

    def check_login_options(self, options: Mapping[str, str] | None) -> dict[str, str]:
        """Unknown options are an error naming the ones this provider accepts."""
        checked = dict(options or {})
        for key in checked:
            if key not in self.login_options:
                names = ", ".join(sorted(self.login_options)) or "none"
                raise ConfigError(f"option {key}", f"unknown option for provider {self.provider.value}; "
                                                   f"allowed: {names}")
        return checked

    def login_user(self, username: str, password: SecretText, options: Mapping[str, str], path: str) -> str:
        """The docker login's username for the service's ``username`` (checked options, URL ``path``)."""
        return username

    def token_password(self, token: str | SecretText) -> tuple[str, SecretText]:
        """(username, password) of a docker login from a provider token (:attr:`token_login` only)."""
        raise ConfigError("token", f"{self.provider.value} logins are not made from a token")

    # --- push preparation ----------------------------------------------------------------------
    def prepare_push(self, repositories: Iterable[str], host: str, *, with_cache: bool = False,
                     field: str = "repository") -> PushPreparation:
        """What must be created before pushing to ``repositories`` (names are validated here)."""
        return PushPreparation()

    # --- notes ---------------------------------------------------------------------------------
    def build_notes(self, builder: str, has_credentials: bool, aws_secret_name: str | None) -> tuple[Note, ...]:
        """Notes for a push target built by ``builder`` (``"mlrun"`` or ``"nuclio"``)."""
        return ()

    def platform_notes(self, has_credentials: bool, aws_secret_name: str | None,
                       docker_secret: str) -> tuple[str, ...]:
        """Notes for the server-side settings (``mlrun-registry platform-config``)."""
        return ()
