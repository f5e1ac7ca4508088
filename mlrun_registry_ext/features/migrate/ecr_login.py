"""The repositories an ECR target must have before a push.

ECR refuses a push to a repository that does not exist, so :func:`ecr_repository_ensurer` gives the
engine a callback creating each target repository first. (ECR's login, the token exchange, is the last
step of the one credential chain: :func:`mlrun_registry_ext.clients.registry.login.login`.)
"""

from __future__ import annotations

from collections.abc import Callable

from mlrun_registry_ext.clients import aws
from mlrun_registry_ext.core.service import RegistryService


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
