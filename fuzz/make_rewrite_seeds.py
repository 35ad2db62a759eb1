#!/usr/bin/python3
"""Writes the named seeds of fuzz/corpus/rewrite/ that the shared frame seeds (seed-* copied
from fuzz/corpus/walk/) lack: frames at the edge of the MTU for each tunnel's overhead, TTL
and hop limit 1 and 2, padded frames, and one that is not IP. Run with Debian's python3 (it
has scapy): /usr/bin/python3 fuzz/make_rewrite_seeds.py. The same bytes on every run.
"""

from pathlib import Path

from scapy.compat import raw
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

OUT = Path(__file__).resolve().parent / "corpus" / "rewrite"
MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def v4(size, ttl=64):
    frame = Ether(**MAC) / IP(src="192.0.2.1", dst="198.51.100.2", ttl=ttl, id=1) / UDP(sport=1024, dport=9)
    return raw(frame / (b"\x5a" * (size - len(frame))))


def v6(size, hlim=64):
    frame = Ether(**MAC) / IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=hlim) / UDP(sport=1024, dport=9)
    return raw(frame / (b"\x5a" * (size - len(frame))))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = {}
    # Outer IP packet = 1500 exactly, and one byte more, for each overhead REWRITES uses.
    for name, overhead in [("vxlan4", 50), ("geneve6", 70), ("gre4_key_csum", 46), ("gre6_plain", 58), ("vxlan6", 70)]:
        seeds[f"mtu-edge-{name}-fits"] = v4(1514 - overhead)
        seeds[f"mtu-edge-{name}-over"] = v4(1514 - overhead + 1)
    seeds["mtu-edge-ipv6-1514"] = v6(1514)
    for ttl in (0, 1, 2):
        seeds[f"ttl-{ttl}-ipv4"] = v4(60, ttl=ttl)
        seeds[f"hlim-{ttl}-ipv6"] = v6(80, hlim=ttl)
    seeds["padded-ipv4-1464-plus-40"] = v4(1464) + b"\x00" * 40
    seeds["arp-not-ip"] = raw(Ether(**MAC) / ARP())
    for name, data in seeds.items():
        (OUT / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main()
