"""The server's perimeter: who must show a token, which Host names and Origins are served.

- **Auth** is decided once, by :func:`decide_auth`: ``autosel serve --auth/--no-auth``,
  else ``AUTOSEL_AUTH``, else on unless the server binds to a loopback address.
- **Host allow-list** (DNS rebinding): a page of another site that makes its name
  resolve to 127.0.0.1 still sends its own name as ``Host``; only allowed names are
  served (400 otherwise). Default: loopback names when auth is off, any host when it is
  on; ``AUTOSEL_ALLOWED_HOSTS`` adds names (``*``: any).
- **Origin check**: a state-changing request (POST/PUT/PATCH/DELETE) that carries an
  ``Origin`` other than this server's own is refused (403). Browsers always send one on
  such requests; the CLI and workers send none.
- **Framing**: every answer says ``frame-ancestors 'none'`` (no clickjacking).
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autosel.api.errors import error_body

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = (
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
)


def is_loopback(host: str) -> bool:
    """``host`` (a name or address, brackets allowed) is this machine only."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def decide_auth(flag: bool | None, setting: bool | None, host: str) -> tuple[bool, str]:
    """Whether the API requires tokens, and why (printed in the startup banner).

    Precedence: the ``--auth/--no-auth`` flag, then ``AUTOSEL_AUTH``, then the bind
    address (off on loopback, on anywhere else).
    """
    if flag is not None:
        return flag, "--auth" if flag else "--no-auth"
    if setting is not None:
        return setting, f"AUTOSEL_AUTH={'true' if setting else 'false'}"
    if is_loopback(host):
        return False, f"default: bound to loopback address {host}"
    return True, f"default: bound to non-loopback address {host}"


def allowed_hosts(configured: list[str] | None, *, auth: bool) -> frozenset[str] | None:
    """Host names served (lower case, no port), or None for any."""
    if configured is None:
        return None if auth else frozenset(LOOPBACK_NAMES)
    names = {h.strip().lower().strip("[]") for h in configured if h.strip()}
    return None if "*" in names else frozenset(names | set(LOOPBACK_NAMES))


def _hostname(netloc: str) -> str:
    """``example.org:8000`` → ``example.org``; ``[::1]:8000`` → ``::1``."""
    try:
        return (urlsplit(f"//{netloc}").hostname or "").lower()
    except ValueError:
        return ""


def _netloc(origin: str) -> str | None:
    """``http://host:port`` → ``host:port``; None for ``null`` and what is not a URL."""
    try:
        return urlsplit(origin).netloc.lower() or None
    except ValueError:
        return None


class PerimeterMiddleware:
    """Host allow-list, Origin check on state-changing requests, framing headers."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        refused = self._refusal(scope["method"], host, headers.get("origin"))
        if refused is not None:
            status, code, message = refused
            await _send_json(send, status, error_body(code, message))
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)

    def _refusal(self, method: str, host: str, origin: str | None) -> tuple[int, str, str] | None:
        if self.hosts is not None and _hostname(host) not in self.hosts:
            return (
                400,
                "host_not_allowed",
                f"Host {host[:100]!r} is not served here: add it to AUTOSEL_ALLOWED_HOSTS "
                "(comma-separated) to reach the server under that name",
            )
        if method in UNSAFE_METHODS and origin is not None and _netloc(origin) != host.lower():
            return (
                403,
                "cross_origin",
                f"cross-origin {method} refused: Origin {origin[:100]!r} is not this "
                "server; state-changing requests are accepted from the dashboard's own "
                "pages or from clients that send no Origin (CLI, workers, scripts)",
            )
        return None


async def _send_json(send: Send, status: int, body: dict[str, object]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
