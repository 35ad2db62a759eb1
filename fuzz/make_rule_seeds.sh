#!/usr/bin/env bash
# Writes the named seed inputs of the rule parsers' fuzz corpus (fuzz/corpus/rules_text/seed-*
# and fuzz/corpus/classbench/seed-*): text files, the same bytes on every run.
#
#   bash fuzz/make_rule_seeds.sh
#
# rules_text: hand-written rule files covering every key, value form, action, pasted tc lines,
# prio inheritance, comments, IPv6, and lines with errors (so the fuzzer starts from both
# sides of every check). classbench: small generated filter sets and traces of each style
# (rules::gen through the classify_files example), IPv6 filters, and broken lines.
set -euo pipefail
cd "$(dirname "$0")/.."
text=fuzz/corpus/rules_text
bench=fuzz/corpus/classbench
mkdir -p "$text" "$bench"

seed() { # seed DIR NAME, text on stdin
    cat >"$1/seed-$2"
}

seed "$text" every-key <<'EOF'
# every key once
src_mac 02:00:00:00:00:01 action drop
dst_mac 02:00:00:00:ab:CD/ff:ff:ff:00:00:00 action pass
dst_mac 02:00:00:00:ab:cd/24 action drop
vlan_id 4095 vlan_prio 7 action fwd 1
protocol 802.1q vlan_id 0x10 action reflect
ip_proto tcp src_port 80 dst_port 0x50/0xfff0 action drop
ip_proto udp dst_port 1024-65535 action pass
ip_proto sctp dst_port 9 action drop
ip_proto icmp ip_tos 0x10/0xfc ip_ttl 1 action ttl-dec
ip_proto tcp tcp_flags 0x02/0x12 action drop
ip_flags frag/nofirstfrag action drop
ip_flags nofrag action pass
src_ip 10.1.2.3/8 dst_ip 10.1.2.3/255.255.0.0 action drop
dst_ip 2001:db8::1/32 action drop
enc_key_id 42 enc_src_ip 192.0.2.1 enc_dst_ip 198.51.100.0/24 enc_dst_port 4789 action decap
enc_dst_ip 2001:db8::/32 action drop
EOF

seed "$text" prio-and-order <<'EOF'
prio 5 ip_proto udp dst_port 53 action drop
ip_proto udp action pass          # inherits prio 5
prio 1 protocol ip src_ip 198.18.0.0/15 action fwd 0
pref 2 protocol ipv6 ip_proto udp src_ip 2001:db8::/32 action fwd 1
protocol all action drop
EOF

seed "$text" pasted-tc-lines <<'EOF'
tc filter add dev eth0 ingress prio 1 protocol ip flower ip_proto udp dst_port 4789 action drop
tc filter add dev veth0 ingress pref 2 protocol ip flower src_ip 10.0.0.0/8 skip_sw action pass
tc filter add dev eth1 egress protocol ipv6 flower dst_ip 2001:db8::/64 action drop
EOF

seed "$text" readme-example <<'EOF'
prio 1 protocol ip ip_proto tcp dst_ip 10.0.0.0/8 dst_port 1024-65535 action drop
protocol ipv6 ip_proto udp src_ip 2001:db8::/32 action fwd 1
enc_key_id 42 ip_proto udp dst_port 53 action drop       # VXLAN VNI 42: plain keys match the inner headers
tc filter add dev eth0 ingress prio 9 protocol ip flower ip_proto udp dst_port 4789 action drop
EOF

seed "$text" encap <<'EOF'
ip_proto udp dst_port 9 action encap vxlan,src=192.0.2.1,dst=192.0.2.2,vni=7,csum=lco
ip_proto udp dst_port 10 action encap gre,src=2001:db8::1,dst=2001:db8::2,ttl=9
EOF

seed "$text" errors <<'EOF'
ip_proto tcp dst_prot 80 action drop
frobnicate 1 action drop
ip_proto udp
src_ip 1.2.3.4 src_ip 1.2.3.5 action drop
src_ip action drop
action dorp
action fwd
dst_ip 10.0.0.0/33 action drop
ip_proto tcp dst_port 90-80 action drop
dst_ip 10.0.0.0/255.0.255.0 action drop
ip_flags frag/frag action drop
vlan_id 5000 action drop
protocol arp action drop
EOF

# Generated ClassBench-style sets and traces (rules::gen), 16 rules and 16 packets each.
cargo build --release -q -p rules --example classify_files
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for style in acl fw ipc; do
    target/release/examples/classify_files write --style "$style" --rules 16 --seed 1 --packets 16 --out "$tmp" >/dev/null
    cp "$tmp/$style-16.rules" "$bench/seed-$style-16-filters"
    cp "$tmp/$style-16.trace" "$bench/seed-$style-16-trace"
done

seed "$bench" forms <<'EOF'
@0.0.0.0/0	10.0.0.0/8	0 : 65535	1024 : 65535	0x06/0xFF
@192.168.1.0/24 0.0.0.0/0 53:53 0:65535 0x11/0xFF
@1.2.3.4/32	5.6.7.8/32	80 : 80	443 : 443	0x00/0x00	0x0000/0x0000
EOF

seed "$bench" ipv6 <<'EOF'
@2001:db8::/32	2001:db8:1::/48	0 : 65535	53 : 53	0x11/0xFF
@::/0	::/0	0 : 65535	0 : 65535	0x00/0x00
EOF

seed "$bench" errors <<'EOF'
@10.0.0.0/33	0.0.0.0/0	0 : 65535	0 : 65535	0x06/0xFF
@10.0.0.0/8	0.0.0.0/0	9 : 1	0 : 65535	0x06/0xFF
10.0.0.0/8	0.0.0.0/0	0 : 65535	0 : 65535	0x06/0xFF
@10.0.0.0/8	0.0.0.0/0	0 : 65535
3232235777	167772161	1024	80	6	extra
EOF
echo "seeds written to $text and $bench"
