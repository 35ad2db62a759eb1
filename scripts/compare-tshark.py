#!/usr/bin/env python3
"""Compare `dataplane inspect --json` with tshark on every capture of a directory.

    scripts/compare-tshark.py DATAPLANE_BINARY DIR [--quiet]

For every *.pcap / *.pcapng / *.cap file in DIR (not recursive):
  - inspect must read the file (no refusal, exit status 0, no crash) and report as many
    frames as tshark reads;
  - wherever tshark judges a checksum (Good or Bad) of an IPv4 header, UDP, TCP, ICMP, ICMPv6
    or GRE, inspect must give the same verdict in the slot it belongs to.

Placing tshark's verdicts in inspect's slots (outer_l3, outer_l4, tunnel, inner_l3, inner_l4)
follows dataplane/tests/csum_fixtures.rs: `frame.protocols` gives the order of the headers,
the first IP header (v4 or v6) is outer, the second inner; an L4 header belongs to the IP
header before it; dissection stops at ICMP (what follows is a quoted packet). A frame whose
occurrences cannot be placed exactly (more than two IP headers, counts that differ) is skipped
and counted as "unplaceable", never guessed.

Known disagreements are listed in KNOWN below, each with the reason; one that no longer
occurs is reported too, so the list cannot outlive its reason. Exit status 0 when everything
agrees (apart from KNOWN), 1 otherwise, 2 when a tool is missing.
"""

import json
import os
import subprocess
import sys

STATUS_FIELDS = [
    ("ip", "ip.checksum.status"),
    ("udp", "udp.checksum.status"),
    ("tcp", "tcp.checksum.status"),
    ("icmp", "icmp.checksum.status"),
    ("icmpv6", "icmpv6.checksum.status"),
    ("gre", "gre.checksum.status"),
]

# Wireshark's PROTO_CHECKSUM_E_* (epan/proto.h), printed by -T fields as numbers.
TSHARK_STATUS = {"0": "bad", "1": "good", "2": "unverified", "3": "not_present", "4": "illegal"}

# (file, 0-based frame index, slot, tshark's verdict, inspect's verdict): why they differ.
# The IP length field disagrees with the capture (total length beyond the frame or below the
# header; IPv6 payload length beyond the frame; a jumbogram whose Jumbo Payload Length does
# not fit). inspect reports the IP error and judges what the IP header alone allows (the IPv4
# header checksum), but does not judge an L4 checksum whose extent the IP header does not
# give; tshark takes the captured bytes as the L4 segment and judges it anyway.
_LENGTH = "IP length inconsistent with the capture: inspect reports the error and judges no L4 checksum"
KNOWN = {
    ("ipv4_invalid_total_length.pcap", 0, "outer_l4", "good", "absent"): _LENGTH,
    ("ipv6_invalid_length_2.pcap", 0, "outer_l4", "good", "absent"): _LENGTH,
    ("ipv6_jumbogram_invalid_length.pcap", 0, "outer_l4", "good", "absent"): _LENGTH,
    ("kday4.pcap", 9, "outer_l4", "bad", "absent"): _LENGTH,
    ("kday7.pcap", 9, "outer_l4", "bad", "absent"): _LENGTH,
}
# Not compared, by rule rather than by entry: verdicts tshark calls Unverified, Not present or
# Illegal (a UDP checksum of 0 over IPv6, RFC 8200 §8.1: inspect reports "zero" and leaves
# acceptance to policy), and headers inspect never reaches (see reached()).

TSHARK_ARGS = [
    "-n",
    "-o", "ip.check_checksum:TRUE",
    "-o", "udp.check_checksum:TRUE",
    "-o", "tcp.check_checksum:TRUE",
    "-o", "udp.ignore_ipv6_zero_checksum:FALSE",
    # Every frame judged on its own, as inspect does.
    "-o", "ip.defragment:FALSE",
    "-o", "ipv6.defragment:FALSE",
    "-o", "tcp.desegment_tcp_streams:FALSE",
    # inspect decodes VXLAN on 4789 and Geneve on 6081 only (its defaults).
    "-d", "udp.port==4789,vxlan",
    "-d", "udp.port==6081,geneve",
    "-T", "fields",
    "-E", "occurrence=a",
    "-E", "aggregator=,",
    "-E", "separator=/t",
    "-e", "frame.number",
    "-e", "frame.protocols",
] + [arg for _, field in STATUS_FIELDS for arg in ("-e", field)]


def l3_slot(n):
    return {1: "outer_l3", 2: "inner_l3"}.get(n)


def l4_slot(n):
    return {0: "outer_l4", 1: "outer_l4", 2: "inner_l4"}.get(n)


def place(line):
    """tshark's verdicts of one frame as [(slot, field, status)], or None if unplaceable."""
    columns = line.split("\t")
    if len(columns) != 2 + len(STATUS_FIELDS):
        return None
    protocols = columns[1]
    slots = []
    ip_headers = 0
    for protocol in protocols.split(":"):
        if protocol in ("ip", "ipv6"):
            ip_headers += 1
            slot = l3_slot(ip_headers)
        elif protocol in ("udp", "tcp"):
            slot = l4_slot(ip_headers)
        elif protocol in ("icmp", "icmpv6"):
            slot = l4_slot(ip_headers)
            if slot is None:
                return None
            slots.append((protocol, slot))
            break
        elif protocol == "gre":
            slot = "tunnel"
        else:
            continue
        if slot is None:
            return None
        slots.append((protocol, slot))
    verdicts = []
    for (protocol, field), column in zip(STATUS_FIELDS, columns[2:]):
        statuses = [TSHARK_STATUS.get(s, s) for s in column.split(",") if s]
        if not statuses:
            continue
        headers = [slot for p, slot in slots if p == protocol]
        if len(statuses) != len(headers):
            return None
        verdicts.extend((slot, field, status) for slot, status in zip(headers, statuses))
    return verdicts


L4_LAYERS = ("udp", "tcp", "icmp", "icmpv6")


def reached(report, slot):
    """Whether inspect's walk got to the header of `slot` (its layer list names it), so that
    an "absent" there is a verdict and not a header the walker never decodes. A walk that
    stopped with an error counts as reaching: the error is inspect's verdict on that frame."""
    if report.get("error") is not None:
        return True
    layers = report.get("layers", [])
    ips = [i for i, layer in enumerate(layers) if layer in ("ipv4", "ipv6")]
    if slot == "outer_l3":
        return bool(ips)
    if slot == "outer_l4":
        end = ips[1] if len(ips) > 1 else len(layers)
        return any(layer in L4_LAYERS for layer in layers[:end])
    if slot == "tunnel":
        return "gre" in layers
    # Inner headers: the walk decoded an IP header inside the tunnel (a GRE or UDP tunnel
    # whose payload it does not decode, such as ERSPAN over GRE, has none).
    if len(ips) < 2:
        return False
    if slot == "inner_l3":
        return True
    return any(layer in L4_LAYERS for layer in layers[ips[1]:])


def run(command):
    return subprocess.run(command, capture_output=True, text=True, errors="replace")


def compare(dataplane, path, name, problems, used_known, totals):
    tshark = run(["tshark", "-r", path] + TSHARK_ARGS)
    tshark_lines = [line for line in tshark.stdout.splitlines() if line.strip()]
    inspect = run([dataplane, "inspect", path, "--json"])
    if inspect.returncode != 0:
        problems.append(f"{name}: inspect exit status {inspect.returncode}: {inspect.stderr.strip()[-400:]}")
    ours = []
    for line in inspect.stdout.splitlines():
        try:
            ours.append(json.loads(line))
        except ValueError:
            problems.append(f"{name}: inspect printed a non-JSON line: {line[:200]}")
    totals["files"] += 1
    totals["tshark_frames"] += len(tshark_lines)
    totals["inspect_frames"] += len(ours)
    if len(ours) != len(tshark_lines):
        problems.append(f"{name}: tshark reads {len(tshark_lines)} frames, inspect reports {len(ours)}")
    by_index = {o.get("index"): o for o in ours}
    for index, line in enumerate(tshark_lines):
        verdicts = place(line)
        if verdicts is None:
            totals["unplaceable"] += 1
            continue
        mine = by_index.get(index)
        if mine is None:
            continue
        for slot, field, status in verdicts:
            if status not in ("good", "bad"):
                continue  # Unverified, Not present, Illegal: no verdict to compare.
            totals["compared"] += 1
            got = mine.get("csum", {}).get(slot, "(missing)")
            if got == status:
                continue
            if got == "absent" and not reached(mine, slot):
                # inspect never walked to this header: tshark went through a protocol the
                # walker does not decode (PIM register, ERSPAN, MPLS, PPPoE, a vendor header,
                # a tunnel on a non-default port...). Not a verdict that differs; counted and
                # listed by the protocol chain in the summary (see NOT_DECODED).
                chain = line.split("\t")[1]
                totals["not_decoded"][chain] = totals["not_decoded"].get(chain, 0) + 1
                continue
            key = (name, index, slot, status, got)
            if key in KNOWN:
                used_known.add(key)
                continue
            totals["disagreements"] += 1
            problems.append(
                f"{name} frame {index} {slot}: tshark {field} = {status}, inspect says {got}\n"
                f"    inspect: {json.dumps(mine)}\n    tshark: {line}"
            )


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quiet = "--quiet" in sys.argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    dataplane, directory = args
    if run(["tshark", "--version"]).returncode != 0:
        print("compare-tshark: tshark is not runnable (scripts/ci-deps.sh installs it)", file=sys.stderr)
        return 2
    files = sorted(
        f for f in os.listdir(directory) if f.endswith((".pcap", ".pcapng", ".cap")) and not f.startswith(".")
    )
    problems, used_known = [], set()
    totals = dict(
        files=0, tshark_frames=0, inspect_frames=0, compared=0, disagreements=0, unplaceable=0, not_decoded={}
    )
    for name in files:
        compare(dataplane, os.path.join(directory, name), name, problems, used_known, totals)
    for key, why in KNOWN.items():
        if key not in used_known:
            problems.append(f"KNOWN entry {key} ({why}) matched nothing: remove it")
    summary = (
        f"compare-tshark: {totals['files']} files, tshark {totals['tshark_frames']} frames, inspect "
        f"{totals['inspect_frames']}; {totals['compared']} checksums compared, {totals['disagreements']} "
        f"disagreements, {len(used_known)} known; {totals['unplaceable']} frames tshark's fields cannot place"
    )
    not_decoded = totals["not_decoded"]
    if not quiet:
        for chain, count in sorted(not_decoded.items(), key=lambda kv: -kv[1]):
            print(f"not decoded by inspect (tshark judges, inspect never reaches the header): {count} x {chain}")
    summary += f"; {sum(not_decoded.values())} verdicts on headers inspect does not decode"
    if problems:
        print("\n".join(problems if not quiet else problems[:50]))
    print(summary)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
