"""Why a connection to a registry failed, in words a person can act on; shared by the client and the doctor.

A failed handshake reaches Python as an ``ssl`` error with an OpenSSL verify code, a DNS failure as a
``gaierror`` several causes deep, a proxy's refusal as an ``OSError`` whose text http.client wrote. The
client (:func:`connection_error`, for every request) and the doctor's TLS step (which shakes hands itself,
to report the protocol version and the certificate's end date) must tell the same story about the same
failure, so both read it here: :func:`describe_tls_error` for a handshake, :func:`tunnel_refusal` for a
proxy that would not open a CONNECT tunnel. :func:`is_loopback` says where plain HTTP is harmless (a
token realm on this machine; no warning for an insecure registry on loopback).
"""

from __future__ import annotations

import ipaddress
import ssl

from mlrun_registry_ext.clients.registry.errors import (
    RegistryConnectionError,
    RegistryTimeoutError,
    RegistryTLSError,
)
from mlrun_registry_ext.clients.transport import BodyTooLarge, TransportError, TransportTimeout, causes
from mlrun_registry_ext.core.origin import host_name

__all__ = ["CA_BUNDLE_ENV", "CA_HINT", "connection_error", "describe_tls_error", "is_loopback", "tunnel_refusal"]

CA_BUNDLE_ENV = "MLRUN_REGISTRY_EXT_CA_BUNDLE"
CA_HINT = f"set {CA_BUNDLE_ENV} or the service's ca_bundle"

# OpenSSL X509_V_ERR_* verify codes (openssl/x509_vfy.h), grouped by the fix they need.
#: UNABLE_TO_GET_ISSUER_CERT, DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN,
#: UNABLE_TO_GET_ISSUER_CERT_LOCALLY, UNABLE_TO_VERIFY_LEAF_SIGNATURE: trust the signing CA.
_UNKNOWN_AUTHORITY = {2, 18, 19, 20, 21}
#: HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH: use the name the certificate was issued for.
_HOSTNAME_MISMATCH = {62, 64}
_EXPIRED = 10  # CERT_HAS_EXPIRED
_NOT_YET_VALID = 9  # CERT_NOT_YET_VALID
_TUNNEL_FAILED = "Tunnel connection failed"  # http.client's text when a proxy refuses CONNECT


def describe_tls_error(exc: BaseException, host: str, ca_bundle: str | None) -> tuple[str, str]:
    """``(kind, one-line message)`` for a failed handshake, naming the fix a person can apply."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code in _UNKNOWN_AUTHORITY:
            where = " (the configured CA bundle does not sign it)" if ca_bundle else ""
            return "unknown-authority", f"certificate is signed by an unknown authority{where}: {CA_HINT}"
        if code in _HOSTNAME_MISMATCH:
            return "hostname-mismatch", (
                f"certificate does not match {host_name(host)}: "
                f"{exc.verify_message}; use the name the certificate was issued for"
            )
        if code == _EXPIRED:
            return "expired", f"certificate of {host} has expired; the registry must renew it"
        if code == _NOT_YET_VALID:
            return "not-yet-valid", f"certificate of {host} is not valid yet; check the clocks"
        return "tls", f"certificate of {host} was rejected: {exc.verify_message}"
    reason = getattr(exc, "reason", None) or str(exc)
    if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
        return "not-tls", (
            f"{host} does not speak TLS (plain HTTP?); set insecure: true only if the "
            "registry is meant to be reached without TLS"
        )
    return "tls", f"TLS handshake with {host} failed: {reason}"


def tunnel_refusal(exc: BaseException) -> str | None:
    """What a proxy answered when it would not open a CONNECT tunnel (e.g. ``403 Forbidden``, at most 100
    characters); ``None`` when ``exc`` is not that."""
    text = str(exc)
    if not isinstance(exc, OSError) or not text.startswith(_TUNNEL_FAILED):
        return None
    return text.removeprefix(f"{_TUNNEL_FAILED}: ")[:100]


def connection_error(
    exc: TransportError, host: str, ca_bundle: str | None, timeout: float
) -> RegistryConnectionError:
    """Classify a transport error from its cause chain: DNS, refused, TLS, timeout."""
    if isinstance(exc, TransportTimeout):
        detail = exc.detail if exc.detail != "did not answer in time" else f"did not answer within {timeout:.2g} s"
        return RegistryTimeoutError(f"{host} {detail}", kind="timeout", host=host)
    if isinstance(exc, BodyTooLarge):
        return RegistryConnectionError(f"{host}: {exc}", kind="too-large", host=host)
    if exc.proxy:  # the proxy failed (refused, unknown name, would not open the tunnel): say so
        for cause in causes(exc):
            if isinstance(cause, OSError) and cause.__class__.__name__ == "gaierror":
                return RegistryConnectionError(
                    f"cannot resolve the proxy {exc.proxy}: {cause.strerror}", kind="proxy", host=host
                )
            if isinstance(cause, ConnectionRefusedError):
                return RegistryConnectionError(
                    f"the proxy {exc.proxy} refused the connection (check HTTPS_PROXY/HTTP_PROXY)",
                    kind="proxy", host=host,
                )
            answer = tunnel_refusal(cause)
            if answer is not None:
                return RegistryConnectionError(
                    f"cannot reach {host} through the proxy {exc.proxy}: the proxy would not open a tunnel "
                    f"({answer})", kind="proxy", host=host
                )
        return RegistryConnectionError(f"cannot reach {host} through the proxy {exc.proxy}: {exc}", kind="proxy",
                                       host=host)
    for cause in causes(exc):
        if isinstance(cause, ssl.SSLError):
            kind, message = describe_tls_error(cause, host, ca_bundle)
            return RegistryTLSError(message, kind=kind, host=host)
        if isinstance(cause, OSError) and cause.__class__.__name__ == "gaierror":
            return RegistryConnectionError(
                f"cannot resolve {host_name(host)}: {cause.strerror}", kind="dns", host=host
            )
        if isinstance(cause, ConnectionRefusedError):
            return RegistryConnectionError(
                f"{host} refused the connection (nothing listens on that port)", kind="refused", host=host
            )
    return RegistryConnectionError(
        f"cannot reach {host}: {type(exc).__name__}: {exc}", kind="network", host=host
    )


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``; brackets allowed)."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
