"""The services and registry logins a migration needs: each side as a service, an ECR token for ECR
sides, the repositories an ECR target must have before a push.

ECR's registry API takes no AWS keys: :func:`registry_login` trades them (or the role) for a 12-hour
token under user ``AWS``. ECR also refuses a push to a repository that does not exist, so
:func:`ecr_repository_ensurer` gives the engine a callback creating each target repository first.
"""

from __future__ import annotations

from collections.abc import Callable

from mlrun_registry_ext.clients import aws
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError


def as_service(value: str | RegistryService, field_name: str) -> RegistryService:
    """A registry URL or a :class:`RegistryService`, as a service; anything else is a ConfigError on
    ``field_name``."""
    if isinstance(value, RegistryService):
        return value
    if not isinstance(value, str):
        raise ConfigError(field_name, f"expected a registry URL or RegistryService, got {type(value).__name__}")
    return RegistryService(url=value)


def ecr_repository_ensurer(service: RegistryService) -> Callable[[str], None] | None:
    """For a target that needs repositories before a push (ECR): a callback that creates a target
    repository (existing is success) from the provider's push preparation; None for providers that
    create repositories on push."""
    rules = service.rules
    if rules.creates_repositories_on_push:
        return None

    def _ensure(repository: str) -> None:
        aws.create_repositories(service, rules.prepare_push([repository], service.host))

    return _ensure


def registry_login(service: RegistryService) -> RegistryService:
    """The service as the registry API needs it: for ECR, its AWS keys (or role) become an ECR token
    under user ``AWS`` (valid 12 h); other providers are used as given."""
    if service.ecr is None:
        return service

    token = aws.get_ecr_token(service)
    return service.replace(username="AWS", password=token.password)
