"""The address the site counts a client by, for rate limits and the sign-in throttle. No Flask here.

An IPv4 address is one client. An IPv6 home or phone network gets a whole /64 and can pick any address in it, so
counting single IPv6 addresses would limit no one: IPv6 clients are counted by their /64. An IPv4 address written
as IPv6 (`::ffff:192.0.2.1`, from a dual-stack socket) is the IPv4 address.
"""
import ipaddress

IPV6_HOME_PREFIX = 64


def client_key(address):
    """'192.0.2.1' -> '192.0.2.1'; '2001:db8:1:2::5' -> '2001:db8:1:2::/64'; anything unparsable as given."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_HOME_PREFIX}", strict=False))
    return str(ip)
