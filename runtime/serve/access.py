"""Who may reach the service: it binds to loopback unless a token guards it, and the token is compared in
constant time. The token comes from a file, never the command line (where ``ps`` and shell history show
it)."""

from __future__ import annotations

import hmac
import ipaddress
import socket
from pathlib import Path

from edgedet.runtime.errors import EdgedetError

OPEN_PATHS = frozenset({"/healthz"})  # what answers without a token (a load balancer's liveness probe)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) resolves only to loopback addresses."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise EdgedetError(f"cannot resolve the address '{host}' to bind to: {exc.strerror or exc}") from None
    return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a token: a camera's detections for anyone who finds the port."""
    if token is None and not is_loopback(host):
        raise EdgedetError(f"refusing to serve on '{host}' without a token: anyone who can reach it could use "
                           "it; give a token file, or bind to 127.0.0.1")


def read_token(path: str | Path) -> str:
    """The bearer token in ``path`` (surrounding whitespace dropped); at least 16 characters."""
    path = Path(path)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgedetError(f"cannot read the token file '{path}': {getattr(exc, 'strerror', None) or exc}") from None
    if len(token) < 16 or any(c.isspace() for c in token):
        raise EdgedetError(f"the token in '{path}' must be one word of at least 16 characters (for example the "
                           "output of 'openssl rand -hex 32')")
    return token


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (always, when no token is set)."""
    if token is None:
        return True
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
