#!/usr/bin/python3
"""Writes the named seed inputs of the fuzz corpus: one raw Ethernet frame per file, the same
files for every target (fuzz/corpus/<target>/seed-*).

Run with Debian's python3 (it has scapy; a pyenv python3 earlier on PATH does not):

    /usr/bin/python3 fuzz/make_seeds.py

The seeds are every frame of the inspect fixtures (dataplane/tests/fixtures/*.pcap, named
after their case in the *.expected.jsonl files), plus a few frames those captures lack:
shapes the fuzzer would take long to build from nothing (tunnels with padding or trailing
bytes inside, Geneve carrying IP, 6in6, a tunnel in a fragment). The output is the same
bytes on every run; nothing else in the corpus is touched.
"""

import json
from pathlib import Path

from scapy.compat import raw
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6,
    ICMPv6EchoRequest,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import GRE, Dot1AD, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.utils import rdpcap

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "dataplane" / "tests" / "fixtures"
TARGETS = ["walk", "inspect", "csum_fix"]

MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
V4_A, V4_B = "192.0.2.1", "198.51.100.2"
V6_A, V6_B = "2001:db8::1", "2001:db8::2"


def eth(ethertype=None):
    return Ether(src=MAC_A, dst=MAC_B) if ethertype is None else Ether(src=MAC_A, dst=MAC_B, type=ethertype)


def inner_tcp():
    return eth() / IP(src="10.0.0.1", dst="10.0.0.2", id=7) / TCP(sport=1234, dport=80, flags="A", seq=1, ack=1)


def padded(frame, pad):
    """The frame with bytes after its IP packet (Ethernet padding, or junk a sender left)."""
    return raw(frame) + pad


def extra_frames():
    """Frames the fixture captures lack, by name. Checksums are scapy's (correct) unless noted."""
    tcp_payload = b"hello fuzz"
    frames = {}
    # An inner frame padded to Ethernet's 60-byte minimum, as an encapsulator may send it:
    # once with zero padding, once with non-zero bytes (a NIC that leaks buffer contents).
    for name, pad in [("zero", bytes(6)), ("junk", bytes(range(1, 7)))]:
        inner = padded(inner_tcp(), pad)
        frames[f"vxlan_inner_padding_{name}"] = eth() / IP(src=V4_A, dst=V4_B, id=1) / UDP(
            sport=5000, dport=4789
        ) / VXLAN(vni=42) / inner
        frames[f"gre_teb_csum_inner_padding_{name}"] = eth() / IP(src=V4_A, dst=V4_B, id=2) / GRE(
            chksum_present=1, proto=0x6558
        ) / inner
        frames[f"geneve_inner_padding_{name}"] = eth() / IPv6(src=V6_A, dst=V6_B) / UDP(
            sport=5000, dport=6081
        ) / GENEVE(vni=9, proto=0x6558) / inner
    # Geneve carrying IP directly (protocol type 0x0800 / 0x86dd, RFC 8926 §3.4).
    frames["geneve_ipv4_tcp"] = eth() / IP(src=V4_A, dst=V4_B) / UDP(sport=1, dport=6081) / GENEVE(
        vni=1, proto=0x0800
    ) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2) / tcp_payload
    frames["geneve_ipv6_icmpv6"] = eth() / IP(src=V4_A, dst=V4_B) / UDP(sport=1, dport=6081) / GENEVE(
        vni=1, proto=0x86DD
    ) / IPv6(src=V6_A, dst=V6_B) / ICMPv6EchoRequest(id=1, seq=2, data=b"ping")
    # IPv6 in IPv6 (RFC 2473) with a routing header outside and a hop-by-hop header inside.
    frames["ipip_6in6_srh_hbh_udp"] = eth() / IPv6(src=V6_A, dst=V6_B) / IPv6ExtHdrRouting(
        type=0, addresses=["2001:db8::99"], segleft=1
    ) / IPv6(src=V6_A, dst=V6_B) / IPv6ExtHdrHopByHop() / UDP(sport=7, dport=9) / (b"x" * 3)
    # 4in6 over QinQ, inner ICMP.
    frames["qinq_4in6_icmp"] = Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IPv6(
        src=V6_A, dst=V6_B
    ) / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(id=5, seq=6) / b"abcd"
    # VXLAN to an IPv6 endpoint, inner IPv6 UDP with checksum 0 (forbidden unless allowed).
    frames["vxlan_ipv6_inner_ipv6_udp_zero"] = eth() / IPv6(src=V6_A, dst=V6_B) / UDP(
        sport=5000, dport=4789
    ) / VXLAN(vni=3) / eth() / IPv6(src=V6_A, dst=V6_B) / UDP(sport=53, dport=53, chksum=0) / (b"q" * 9)
    # The first fragment of a VXLAN datagram: the tunnel must not be decoded.
    frames["vxlan_in_first_fragment"] = eth() / IP(src=V4_A, dst=V4_B, flags="MF", id=3) / UDP(
        sport=5000, dport=4789, len=200, chksum=0x1234
    ) / VXLAN(vni=5) / inner_tcp()
    # An IPv6 first fragment of TCP, inside GRE.
    frames["gre_ipv6_first_fragment_tcp"] = eth() / IP(src=V4_A, dst=V4_B) / GRE(proto=0x86DD) / IPv6(
        src=V6_A, dst=V6_B
    ) / IPv6ExtHdrFragment(m=1, id=9, nh=6) / TCP(sport=1, dport=2)
    # UDP shorter than its IP payload, with a VXLAN inside it and junk after the datagram.
    frames["vxlan_udp_shorter_than_ip"] = padded(
        eth() / IP(src=V4_A, dst=V4_B) / UDP(sport=5000, dport=4789) / VXLAN(vni=8) / inner_tcp(), b""
    )
    return frames


def write(name, data):
    for target in TARGETS:
        directory = HERE / "corpus" / target
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"seed-{name}").write_bytes(data)


def main():
    count = 0
    for stem in ["csum", "malformed"]:
        names = [json.loads(line)["name"] for line in (FIXTURES / f"{stem}.expected.jsonl").read_text().splitlines()]
        packets = rdpcap(str(FIXTURES / f"{stem}.pcap"))
        assert len(names) == len(packets), f"{stem}: {len(names)} names, {len(packets)} frames"
        for name, packet in zip(names, packets):
            write(f"{stem}-{name}", raw(packet))
            count += 1
    for name, frame in extra_frames().items():
        data = raw(frame)
        if name == "vxlan_udp_shorter_than_ip":
            # Grow the IP total length by 4 and append 4 bytes: the UDP datagram (and the
            # VXLAN payload) now end before the IP payload does.
            total = int.from_bytes(data[16:18], "big") + 4
            data = bytearray(data[:16] + total.to_bytes(2, "big") + data[18:] + b"\xde\xad\xbe\xef")
            data[24:26] = b"\0\0"
            header = data[14:34]
            s = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, 20, 2))
            s = (s & 0xFFFF) + (s >> 16)
            s = (s & 0xFFFF) + (s >> 16)
            data[24:26] = (~s & 0xFFFF).to_bytes(2, "big")
            data = bytes(data)
        write(name, data)
        count += 1
    print(f"{count} seeds in each of {', '.join(TARGETS)}")


if __name__ == "__main__":
    main()
