"""Where upstream tasks may connect: https to public addresses, unless the operator allow-listed a host.

A tenant names an upstream server's base URL; without this check any tenant could make the server
connect to its own loopback, the private network or a cloud metadata address. Names are resolved
and every address must be public, or the host (name, address or CIDR network) allow-listed in
FAPIAOHUB_UPSTREAM_ALLOW; only allow-listed hosts may use plain http.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUpstreamError(ValueError):
    """A base URL an upstream task may not use; the message says why, without probing anything."""


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _allowed_address(address: Address, allow: tuple[str, ...]) -> bool:
    for entry in allow:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:  # a host name entry
            continue
    return False


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_base_url(url: str, allow: tuple[str, ...], *, resolve: bool = True) -> str:
    """The base URL without a trailing slash, or UnsafeUpstreamError. With ``resolve``, the host's
    addresses are looked up now (a name that does not resolve is refused too)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUpstreamError("upstream.baseUrl格式错误：不是合法的URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeUpstreamError("upstream.baseUrl格式错误：应为https://开头的地址")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUpstreamError("upstream.baseUrl不能包含用户名或密码（凭据请放在appKey/appSecurity）")
    if parts.query or parts.fragment:
        raise UnsafeUpstreamError("upstream.baseUrl不能包含查询参数或片段")
    allow_lower = tuple(entry.lower() for entry in allow)
    literal = _literal(host)
    host_listed = host in allow_lower or (literal is not None and _allowed_address(literal, allow_lower))
    if parts.scheme == "http" and not host_listed:
        raise UnsafeUpstreamError("upstream.baseUrl必须使用https（仅运维在FAPIAOHUB_UPSTREAM_ALLOW中列出的主机可用http）")
    if host in allow_lower:
        return url.rstrip("/")
    if literal is not None:
        addresses = [literal]
    elif resolve:
        try:
            infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise UnsafeUpstreamError(f"upstream.baseUrl的主机{host}无法解析") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    else:
        addresses = []
    for address in addresses:
        if not _public(address) and not _allowed_address(address, allow_lower):
            raise UnsafeUpstreamError(f"upstream.baseUrl的主机{host}指向内网、本机或链路本地地址，已拒绝"
                                 "（运维可在FAPIAOHUB_UPSTREAM_ALLOW中放行）")
    return url.rstrip("/")
