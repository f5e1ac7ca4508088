"""A registry stand-in whose listings misbehave: a catalog or a tag listing that never ends, or whose
``Link`` leads to another origin. A real registry cannot be made to do this, and these are the
listings the client's caps must stop.

Pages are written the way distribution writes its catalog pages (distribution/distribution
``registry/handlers/catalog.go`` at v2.8.2, commit 7c354a4b40feeea21d7eeae4de91c8ff7951e672,
``GetCatalog`` and ``createLinkEntry``): ``n`` names after ``last`` (n above the maximum of 1,000 is
refused as ``PAGINATION_NUMBER_INVALID``), a JSON body ``{"repositories": [...]}`` (tags:
``{"name": ..., "tags": [...]}``, ``registry/handlers/tags.go``), and while there are more entries a
``Link: </v2/_catalog?last=<last>&n=<n>>; rel="next"`` header. An endless listing always has more
entries: every page carries a fresh ``Link`` to the next ``last``.

Everything else (``/v2/``, tags of a finite repository) answers as an open registry does; manifests
are unknown (404 ``MANIFEST_UNKNOWN``). ``served`` counts the names it has written, so a test
asserts how much the client read (its memory) rather than a wall time.
"""

from __future__ import annotations

import threading
from urllib.parse import urlencode

from tests.support.standins import RecordedRequest, Response, _StandIn

#: distribution's default ``catalog.maxentries``.
MAX_ENTRIES = 1000
API_HEADERS = {"Docker-Distribution-Api-Version": "registry/2.0"}


class ListingRegistry(_StandIn):
    """``endless_catalog``: the catalog never ends (names ``repo-0000001``...); else it lists
    ``repositories``. ``endless_tags``: repositories whose tag listing never ends (``t0000001``...);
    other repositories list ``tags[name]``. ``link_origin``: the scheme and authority written into
    every ``Link`` (default: none, a path as distribution writes it)."""

    def __init__(self, *, repositories: list[str] | None = None, endless_catalog: bool = False,
                 endless_tags: frozenset[str] = frozenset(), tags: dict[str, list[str]] | None = None,
                 link_origin: str = "") -> None:
        super().__init__()
        self.repositories = list(repositories or [])
        self.endless_catalog = endless_catalog
        self.endless_tags = endless_tags
        self.tags = dict(tags or {})
        self.link_origin = link_origin
        self.served = 0  # names written into listing pages, all listings together
        self.pages = 0
        self._count = threading.Lock()
        self.route("GET", r"/v2/", self._ping)
        self.route("GET", r"/v2/_catalog", self._catalog)
        self.route("GET", r"/v2/(?P<name>.+)/tags/list", self._tags)
        self.route("GET", r"/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)", self._manifest)
        self.route("HEAD", r"/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)", self._manifest)

    def __enter__(self) -> ListingRegistry:
        self.start()
        return self

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ping(self, request: RecordedRequest) -> Response:
        return 200, {}, API_HEADERS

    def _manifest(self, request: RecordedRequest, name: str, reference: str) -> Response:
        return 404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}, API_HEADERS

    def _page(self, request: RecordedRequest, path: str, key: str, prefix: str,
              extra: dict[str, str]) -> Response:
        n_text = request.param("n") or "100"
        n = int(n_text) if n_text.isdigit() else 100
        if n > MAX_ENTRIES:
            error = {"code": "PAGINATION_NUMBER_INVALID", "message": "invalid number of results requested",
                     "detail": {"n": n}}
            return 400, {"errors": [error]}, API_HEADERS
        last = request.param("last") or ""
        start = int(last.removeprefix(prefix)) if last.startswith(prefix) else 0
        names = [f"{prefix}{i:07d}" for i in range(start + 1, start + 1 + n)]
        with self._count:
            self.served += len(names)
            self.pages += 1
        link = f"<{self.link_origin}{path}?{urlencode({'last': names[-1], 'n': n})}>; rel=\"next\""
        return 200, {**extra, key: names}, {**API_HEADERS, "Link": link}

    def _catalog(self, request: RecordedRequest) -> Response:
        if self.endless_catalog:
            return self._page(request, "/v2/_catalog", "repositories", "repo-", {})
        return 200, {"repositories": self.repositories}, API_HEADERS

    def _tags(self, request: RecordedRequest, name: str) -> Response:
        if name in self.endless_tags:
            return self._page(request, f"/v2/{name}/tags/list", "tags", "t", {"name": name})
        if name not in self.tags:
            return 404, {"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known to registry"}]}, \
                API_HEADERS
        return 200, {"name": name, "tags": self.tags[name]}, API_HEADERS
