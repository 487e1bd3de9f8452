"""Where webhooks may be sent: public internet addresses only, unless the operator allows a network
(WEBHOOK_ALLOWED_NETWORKS). Anyone who can add a webhook could otherwise make the server POST to
itself, to the database's or Redis' port, to a cloud's metadata service (169.254.169.254) or to other
machines on the private network (server-side request forgery).

The check runs twice: when a webhook is saved (an address or a name like "localhost" in the URL is
refused with a clear message) and at every delivery, on the addresses the name resolves to then. The
connection goes to the address that was checked, so a name that resolves to something else a moment
later (DNS rebinding) cannot slip through.
"""

import ipaddress
import socket
from functools import lru_cache

from django.conf import settings
from django.utils.translation import gettext as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64), checked as that address.
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class BlockedAddress(ValueError):
    """The webhook's host is (or resolves to) an address webhooks may not be sent to."""


@lru_cache(maxsize=16)
def _networks(allowed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(str(network), strict=False) for network in allowed)


def allowed_networks():
    return _networks(tuple(str(network) for network in settings.WEBHOOK_ALLOWED_NETWORKS))


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if any(address in network for network in NAT64):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_allowed(address: IPAddress) -> bool:
    """A public unicast address, or one in WEBHOOK_ALLOWED_NETWORKS."""
    if any(address in network for network in allowed_networks()):
        return True
    address = _embedded_ipv4(address)
    if any(address in network for network in allowed_networks()):
        return True
    return address.is_global and not address.is_multicast


def _refusal(host: str, address: str) -> BlockedAddress:
    return BlockedAddress(
        _(
            "%(host)s is a private or local address (%(address)s): webhooks are only sent to public internet "
            "addresses. The server's operator can allow a network with WEBHOOK_ALLOWED_NETWORKS."
        )
        % {"host": host, "address": address}
    )


def check_host(host: str) -> None:
    """What can be told without asking DNS: an address written in the URL, or a name for this machine."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        if (name in LOCAL_NAMES or name.endswith(".localhost")) and not any(
            ipaddress.ip_address("127.0.0.1") in network for network in allowed_networks()
        ):
            raise _refusal(host, "127.0.0.1") from None
        return
    if not is_allowed(address):
        raise _refusal(host, str(address))


def resolve(host: str, port: int) -> tuple:
    """The first address ``host`` resolves to (a sockaddr for socket.create_connection), after checking every
    address it resolves to: one private address among public ones is refused too."""
    check_host(host)
    found = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    for *_rest, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if not is_allowed(address):
            raise _refusal(host, str(address))
    if not found:
        raise OSError(f"{host} did not resolve to any address")
    return found[0][4]
