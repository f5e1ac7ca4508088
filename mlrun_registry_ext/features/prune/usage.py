"""What functions use: every MLRun function record and every Nuclio function, read completely or not at all.

Prune pages through the MLRun API itself instead of the mlrun client, whose pager is lenient where
prune cannot be: ``HTTPRunDB.paginated_api_call`` treats a 404 on a page token (an expired token) as
the last page, and ``process_paginated_responses`` reads a body without ``funcs`` as no functions
(mlrun/mlrun ``mlrun/db/httpdb.py``, client 1.12.1, as installed). Here every answer is checked:

- ``GET {dbpath}/api/v1/projects?format=name_only`` -> ``{"projects": [name, ...]}`` (client
  ``HTTPRunDB.list_projects``; server ``endpoints/projects.py`` ``list_projects``,
  mlrun/mlrun@bfdb533c1de6a7bc2e0e55355b81fca0fa6a6d0f);
- ``GET {dbpath}/api/v1/projects/{project}/functions?format=full&page=1&page-size=N``, then ``?page-token=T`` until the
  token is null -> ``{"funcs": [record, ...], "pagination": {"page", "page-size", "page-token"}}`` (server
  ``services/api/utils/pagination.py`` ``Paginator``, mlrun/mlrun@36431a8f2e0e88832a6cac2161a1576168226c09:
  a page that carries a token is full, at least ``page-size`` records; the last page's token is null;
  an unknown token is ``MLRunPaginationEndOfResultsError``, which the API answers 404). ``format=full`` as
  the 1.12.1 client asks (images are in the full record). A server that does not paginate (1.5.x, whose
  route has no ``format`` either and ignores both) answers every record without ``pagination``: that is
  one complete page.
- ``GET {dashboard}/api/functions`` without ``X-Nuclio-Project-Name`` (every project) -> ``{name: config}``
  (nuclio/nuclio ``docs/reference/api/README.md``, nuclio/nuclio@8ec17cdcf50db07762c59ff5f281bd464d6d1e43).

A non-2xx answer, a body that is not JSON, a record that is not an object or whose image fields are not
strings, a failed next page, or a page shorter than its token claims: :class:`UsageUnreadable` naming
what could not be read, and prune deletes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote as urlquote

from mlrun_registry_ext.clients.platform_probe import mlrun_dbpath, mlrun_headers, platform_transport
from mlrun_registry_ext.core.prune_plan import (
    ImageUse,
    image_use,
    mlrun_function_images,
    nuclio_function_images,
)
from mlrun_registry_ext.errors import ConfigError, RegistryExtError

NOTHING_DELETED = "nothing was deleted"
#: Records asked for per page (the server may answer up to twice as many, see ``Paginator``).
PAGE_SIZE = 200
#: Bounds on one listing: pages, records, bytes per page, and the whole read (seconds).
MAX_PAGES = 10_000
MAX_RECORDS = 1_000_000
MAX_PAGE_BYTES = 64 << 20
LISTING_DEADLINE = 600.0


class UsageUnreadable(RegistryExtError):
    """What functions use could not be read completely; prune deleted nothing (exit 1)."""


def _refuse(what: str) -> UsageUnreadable:
    return UsageUnreadable(f"{what}; {NOTHING_DELETED}: without it, which images functions use is unknown")


# --- page checks (pure: body in, records out or an error) -----------------------------------------

def _string_or_none(record: Mapping[str, Any], path: str) -> bool:
    node: Any = record
    for part in path.split("."):
        if node is None:
            return True
        if not isinstance(node, Mapping):
            return False
        node = node.get(part)
    return node is None or isinstance(node, str)


#: The fields prune reads from an MLRun function record, each a string when present.
MLRUN_FIELDS = ("metadata.name", "metadata.project", "metadata.tag", "spec.image", "spec.build.image",
                "spec.build.base_image", "status.container_image")
#: The same for a Nuclio function.
NUCLIO_FIELDS = ("metadata.name", "spec.image", "spec.runRegistry", "spec.build.image", "spec.build.baseImage",
                 "status.containerImage")


def check_record(record: Any, fields: tuple[str, ...], where: str) -> Mapping[str, Any]:
    """A function record, or an error when it is not an object or a field prune reads has another type."""
    if not isinstance(record, Mapping):
        raise _refuse(f"{where} holds a function record that is not an object ({type(record).__name__})")
    for section in ("metadata", "spec", "status"):
        value = record.get(section)
        if value is not None and not isinstance(value, Mapping):
            raise _refuse(f"{where} holds a function record whose {section} is not an object")
    spec = record.get("spec") or {}
    build = spec.get("build")
    if build is not None and not isinstance(build, Mapping):
        raise _refuse(f"{where} holds a function record whose spec.build is not an object")
    for path in fields:
        if not _string_or_none(record, path):
            raise _refuse(f"{where} holds a function record whose {path} is not a string")
    return record


def check_projects_page(body: Any, where: str) -> list[str]:
    """``{"projects": [name, ...]}``: the names, or an error."""
    if not isinstance(body, Mapping) or not isinstance(body.get("projects"), list):
        raise _refuse(f"{where} answered without a 'projects' list")
    names = body["projects"]
    if not all(isinstance(n, str) and n for n in names):
        raise _refuse(f"{where} listed a project name that is not a string")
    return list(names)


def check_functions_page(body: Any, where: str, page_size: int) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of functions: its records and the next page's token (None: the last page), or an error."""
    if not isinstance(body, Mapping) or not isinstance(body.get("funcs"), list):
        raise _refuse(f"{where} answered without a 'funcs' list")
    records = [check_record(r, MLRUN_FIELDS, where) for r in body["funcs"]]
    pagination = body.get("pagination")
    if pagination is None:
        return records, None
    if not isinstance(pagination, Mapping):
        raise _refuse(f"{where} answered with a 'pagination' that is not an object")
    token = pagination.get("page-token")
    if token is None:
        return records, None
    if not isinstance(token, str) or not token:
        raise _refuse(f"{where} answered with a page token that is not a string")
    claimed = pagination.get("page-size")
    size = claimed if isinstance(claimed, int) and not isinstance(claimed, bool) and claimed > 0 else page_size
    if len(records) < size:
        raise _refuse(f"{where} answered {len(records)} records on a page of {size} that claims more follow")
    return records, token


def check_nuclio_listing(body: Any, where: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(body, Mapping):
        raise _refuse(f"{where} answered without a function map")
    return {str(name): check_record(record, NUCLIO_FIELDS, f"{where} ({name})") for name, record in body.items()}


# --- reading --------------------------------------------------------------------------------------

def _get_json(transport: Any, url: str, headers: dict[str, str], where: str, deadline: Any) -> Any:
    from mlrun_registry_ext.clients.transport import BodyTooLarge, TransportError

    try:
        response = transport.request("GET", url, headers=headers, deadline=deadline, max_body=MAX_PAGE_BYTES)
    except BodyTooLarge:
        raise _refuse(f"{where} answered more than {MAX_PAGE_BYTES >> 20} MiB") from None
    except (TransportError, ValueError, OSError) as exc:
        raise _refuse(f"{where} did not answer ({type(exc).__name__})") from None
    if not 200 <= response.status_code < 300:
        raise _refuse(f"{where} answered HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise _refuse(f"{where} did not answer JSON") from None


def mlrun_projects_and_functions(dbpath: str, timeout: float = 10.0,
                                 page_size: int = PAGE_SIZE) -> tuple[list[str], list[Mapping[str, Any]]]:
    """Every project's name and every function record of every project, or :class:`UsageUnreadable`."""
    from mlrun_registry_ext.clients.transport import Deadline

    deadline = Deadline(max(timeout, LISTING_DEADLINE))
    headers = mlrun_headers()
    records: list[Mapping[str, Any]] = []
    pages = 0
    with platform_transport(timeout) as transport:
        where = f"the MLRun API at {dbpath} (GET /api/v1/projects)"
        projects = check_projects_page(
            _get_json(transport, f"{dbpath}/api/v1/projects?format=name_only", headers, where, deadline), where)
        for project in projects:
            base = f"{dbpath}/api/v1/projects/{urlquote(project, safe='')}/functions"
            url = f"{base}?format=full&page=1&page-size={page_size}"
            page = 1
            while True:
                where = f"the MLRun API at {dbpath} (functions of project {project}, page {page})"
                body = _get_json(transport, url, headers, where, deadline)
                found, token = check_functions_page(body, where, page_size)
                records += found
                pages += 1
                if pages > MAX_PAGES or len(records) > MAX_RECORDS:
                    raise _refuse(f"the MLRun API at {dbpath} listed more than {MAX_PAGES} pages or "
                                  f"{MAX_RECORDS} function records")
                if token is None:
                    break
                page += 1
                url = f"{base}?page-token={urlquote(token, safe='')}"
    return projects, records


def mlrun_uses(dbpath: str | None, location: Any, timeout: float = 10.0) -> tuple[list[str], list[ImageUse]]:
    """Every project's name and every image a function record names, across every project."""
    if not dbpath:
        raise ConfigError("MLRUN_DBPATH", "prune needs the MLRun API to know which images functions use; "
                                          "set MLRUN_DBPATH to its URL")
    projects, records = mlrun_projects_and_functions(dbpath, timeout)
    uses: list[ImageUse] = []
    for record in records:
        meta = record.get("metadata") or {}
        label = f"MLRun function {meta.get('project') or '?'}/{meta.get('name') or '?'}"
        if meta.get("tag"):
            label += f":{meta['tag']}"
        for image in mlrun_function_images(record):
            use = image_use(image, label, location)
            if use is not None:
                uses.append(use)
    return projects, uses


def nuclio_uses(dashboard: str, location: Any, timeout: float = 10.0) -> list[ImageUse]:
    """Every image a Nuclio function of any project names; an unreadable listing deletes nothing."""
    from mlrun_registry_ext.clients.transport import Deadline

    where = f"the Nuclio dashboard at {dashboard} (GET /api/functions)"
    with platform_transport(timeout) as transport:
        body = _get_json(transport, f"{dashboard}/api/functions", {"Accept": "application/json"}, where,
                         Deadline(max(timeout, LISTING_DEADLINE)))
    uses = []
    for name, function in check_nuclio_listing(body, where).items():
        for image in nuclio_function_images(function):
            use = image_use(image, f"Nuclio function {name}", location)
            if use is not None:
                uses.append(use)
    return uses


__all__ = ["NOTHING_DELETED", "UsageUnreadable", "check_functions_page", "check_nuclio_listing",
           "check_projects_page", "check_record", "mlrun_dbpath", "mlrun_projects_and_functions", "mlrun_uses",
           "nuclio_uses"]
