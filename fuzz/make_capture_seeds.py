#!/usr/bin/env python3
"""Writes the seed files of the `capture` fuzz target into fuzz/corpus/capture/ (built here,
not taken from any corpus): small pcap and pcapng files in both byte orders, with the link
types the reader takes, FCS bits, an oversize record and a truncated end."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "capture")

UDP4 = bytes.fromhex(
    "020000000002020000000001080045000021000140004011"
    "0000c6120001c61300010400005b000d0000" ) + b"hello"
ETH = UDP4
IP = UDP4[14:]
SLL = bytes.fromhex("0000000100060200000000010000") + b"\x08\x00" + IP
SLL2 = b"\x08\x00\x00\x00\x00\x00\x00\x02\x00\x01\x00\x06\x02\x00\x00\x00\x00\x01\x00\x00" + IP


def pcap(endian, magic, link, records, snaplen=65535):
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, link)
    for i, (data, incl, orig) in enumerate(records):
        out += struct.pack(endian + "IIII", 1000 + i, 7, incl, orig) + data
    return out


def block(endian, kind, body):
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(endian + "II", kind, length) + body + struct.pack(endian + "I", length)


def pcapng(endian, links, packets):
    out = block(endian, 0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    for link in links:
        options = struct.pack(endian + "HH", 9, 1) + b"\x09\0\0\0" + struct.pack(endian + "HH", 0, 0)
        out += block(endian, 1, struct.pack(endian + "HHI", link, 0, 0) + options)
    for iface, data in packets:
        out += block(endian, 6, struct.pack(endian + "IIIII", iface, 0, 1500, len(data), len(data)) + data)
    out += block(endian, 3, struct.pack(endian + "I", len(ETH)) + ETH)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "pcap-le-ethernet": pcap("<", 0xA1B2C3D4, 1, [(ETH, len(ETH), len(ETH))] * 2),
        "pcap-be-nanos-raw": pcap(">", 0xA1B23C4D, 101, [(IP, len(IP), len(IP))]),
        "pcap-sll": pcap("<", 0xA1B2C3D4, 113, [(SLL, len(SLL), len(SLL))]),
        "pcap-sll2": pcap("<", 0xA1B2C3D4, 276, [(SLL2, len(SLL2), len(SLL2))]),
        "pcap-fcs-bits": pcap("<", 0xA1B2C3D4, 0x24000001, [(ETH + b"FCS!", len(ETH) + 4, len(ETH) + 4)]),
        "pcap-over-snaplen": pcap("<", 0xA1B2C3D4, 1, [(ETH, len(ETH), len(ETH))], snaplen=16),
        "pcap-truncated-last": pcap("<", 0xA1B2C3D4, 1, [(ETH, len(ETH), len(ETH)), (ETH[:9], len(ETH), len(ETH))]),
        "pcapng-le-two-interfaces": pcapng("<", [1, 113], [(0, ETH), (1, SLL)]),
        "pcapng-be-ipv4-ipv6": pcapng(">", [228, 229, 1], [(0, IP), (2, ETH)]),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
