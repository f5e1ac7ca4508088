"""Go's ``net/url.Parse``, as far as Nuclio's image naming depends on it.

Nuclio decides whether a function image goes under ``nuclio/`` by parsing the build registry with
Go's ``url.Parse`` and looking at ``Path`` (nuclio/nuclio ``pkg/processor/build/builder.go``
``getImage``, commit 9e837f6): a parse error or an empty ``Path`` means ``nuclio/``. Go reads
``host:5000`` as scheme ``host`` with an opaque ``5000`` (empty path), refuses ``host:5000/team``
("first path segment in URL cannot contain colon"), and reads a bare ``registry.example.com`` as a
path. A regular expression cannot get these right, so this is a line-by-line port of ``Parse``,
``parse``, ``getScheme``, ``parseAuthority``, ``parseHost``, ``validOptionalPort``,
``validUserinfo``, ``unescape`` and ``shouldEscape`` (host, zone, path, user and fragment modes) from
Go's ``src/net/url/url.go`` (unchanged in what matters here from Go 1.19 to 1.21, the version Nuclio's
go.mod names). It was checked against the real Go ``url.Parse`` over the table in
``tests/test_nuclio_naming.py`` and generated strings; no Go code is shipped.
"""

from __future__ import annotations

from dataclasses import dataclass

_HOST, _ZONE, _PATH, _USER, _FRAGMENT = "host", "zone", "path", "user", "fragment"


class GoURLError(ValueError):
    """``url.Parse`` returned an error."""


@dataclass(frozen=True)
class GoURL:
    scheme: str = ""
    opaque: str = ""
    host: str = ""
    path: str = ""


def _alnum(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9"


def _ishex(c: str) -> bool:
    return "0" <= c <= "9" or "a" <= c <= "f" or "A" <= c <= "F"


def _should_escape(c: str, mode: str) -> bool:
    if _alnum(c):
        return False
    if mode in (_HOST, _ZONE) and c in "!$&'()*+,;=:[]<>\"":
        return False
    if c in "-_.~":
        return False
    if c in "$&+,/:;=?@":
        if mode == _PATH:
            return c == "?"
        if mode == _USER:
            return c in "@/?:"
        if mode == _FRAGMENT:
            return False
    return not (mode == _FRAGMENT and c in "!()*")


def _unescape(s: bytes, mode: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(s):
        c = chr(s[i])
        if c == "%":
            if i + 2 >= len(s) or not _ishex(chr(s[i + 1])) or not _ishex(chr(s[i + 2])):
                raise GoURLError(f"invalid URL escape {s[i:i + 3]!r}")
            value = int(s[i + 1:i + 3], 16)
            if mode == _HOST and int(chr(s[i + 1]), 16) < 8 and s[i:i + 3] != b"%25":
                raise GoURLError(f"invalid URL escape {s[i:i + 3]!r}")
            if mode == _ZONE and s[i:i + 3] != b"%25" and value != 0x20 and _should_escape(chr(value), _HOST):
                raise GoURLError(f"invalid URL escape {s[i:i + 3]!r}")
            out.append(value)
            i += 3
            continue
        if mode in (_HOST, _ZONE) and s[i] < 0x80 and _should_escape(c, mode):
            raise GoURLError(f"invalid character {c!r} in host name")
        out.append(s[i])
        i += 1
    return bytes(out)


def _get_scheme(raw: bytes) -> tuple[bytes, bytes]:
    for i, byte in enumerate(raw):
        c = chr(byte)
        if "a" <= c <= "z" or "A" <= c <= "Z":
            continue
        if "0" <= c <= "9" or c in "+-.":
            if i == 0:
                return b"", raw
            continue
        if c == ":":
            if i == 0:
                raise GoURLError("missing protocol scheme")
            return raw[:i], raw[i + 1:]
        return b"", raw
    return b"", raw


def _valid_optional_port(port: bytes) -> bool:
    if not port:
        return True
    if port[:1] != b":":
        return False
    return all(0x30 <= b <= 0x39 for b in port[1:])


def _parse_host(host: bytes) -> bytes:
    if host.startswith(b"["):
        i = host.rfind(b"]")
        if i < 0:
            raise GoURLError("missing ']' in host")
        if not _valid_optional_port(host[i + 1:]):
            raise GoURLError("invalid port after host")
        zone = host[:i].find(b"%25")
        if zone >= 0:
            return _unescape(host[:zone], _HOST) + _unescape(host[zone:i], _ZONE) + _unescape(host[i:], _HOST)
    else:
        i = host.rfind(b":")
        if i != -1 and not _valid_optional_port(host[i:]):
            raise GoURLError("invalid port after host")
    return _unescape(host, _HOST)


def _valid_userinfo(s: bytes) -> bool:
    try:
        text = s.decode("utf-8")
    except UnicodeDecodeError:
        return False  # Go ranges over runes: an invalid byte is U+FFFD, not allowed
    return all(_alnum(c) or c in "-._:~!$&'()*+,;=%@" for c in text)


def _parse_authority(authority: bytes) -> bytes:
    i = authority.rfind(b"@")
    host = _parse_host(authority if i < 0 else authority[i + 1:])
    if i < 0:
        return host
    userinfo = authority[:i]
    if not _valid_userinfo(userinfo):
        raise GoURLError("net/url: invalid userinfo")
    for part in userinfo.split(b":", 1):
        _unescape(part, _USER)
    return host


def parse(raw_url: str) -> GoURL:
    """Go's ``url.Parse(raw_url)``; raises :class:`GoURLError` where Go returns an error."""
    raw = raw_url.encode("utf-8", "surrogateescape")
    u, _, frag = raw.partition(b"#")
    if any(b < 0x20 or b == 0x7F for b in u):
        raise GoURLError("net/url: invalid control character in URL")
    if u == b"*":
        result = GoURL(path="*")
    else:
        scheme, rest = _get_scheme(u)
        scheme = scheme.lower()
        # ForceQuery ("x?") or a query: both leave the path before the '?'
        rest = rest[:-1] if rest.endswith(b"?") and rest.count(b"?") == 1 else rest.partition(b"?")[0]
        if not rest.startswith(b"/"):
            if scheme:
                result = GoURL(scheme=scheme.decode("latin-1"), opaque=rest.decode("utf-8", "replace"))
                rest = b""
                scheme = b"\x00"  # done: opaque URL
            elif b":" in rest.partition(b"/")[0]:
                raise GoURLError("first path segment in URL cannot contain colon")
        if scheme != b"\x00":
            host = b""
            if (scheme or not rest.startswith(b"///")) and rest.startswith(b"//"):
                authority, rest = rest[2:], b""
                slash = authority.find(b"/")
                if slash >= 0:
                    authority, rest = authority[:slash], authority[slash:]
                host = _parse_authority(authority)
            path = _unescape(rest, _PATH)
            result = GoURL(scheme=scheme.decode("latin-1"), host=host.decode("utf-8", "replace"),
                           path=path.decode("utf-8", "replace"))
    if frag:
        _unescape(frag, _FRAGMENT)
    return result


def parsed_path(raw_url: str) -> str | None:
    """``Path`` of Go's ``url.Parse(raw_url)``, or None where Go returns an error."""
    try:
        return parse(raw_url).path
    except GoURLError:
        return None
