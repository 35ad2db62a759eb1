#!/bin/bash
# Writes the seeds of fuzz/corpus/args/: command-line values the `args` target parses line by
# line (port devargs, steer expressions, --rewrite actions, core and queue lists), good ones
# and ones at or past every bound. The same bytes on every run: bash fuzz/make_arg_seeds.sh
set -euo pipefail
out="$(dirname "$0")/corpus/args"
mkdir -p "$out"
seed() { printf '%s\n' "${@:2}" > "$out/seed-$1"; }
seed ports-good 'af_xdp:iface=veth0' 'af_xdp:iface=eth1,queues=0-3,mode=copy,steer=udp:4789,ring=4096,frame=4096,hugepages=1' \
  'pcap:rx=in.pcap,tx=out.pcap' 'mem' 'mem:depth=262144,preload=262144,size=1514' 'mem:depth=1,preload=0,size=14'
seed ports-bounds 'mem:depth=0' 'mem:depth=262145' 'mem:depth=4294967295' 'mem:depth=4294967296' 'mem:size=1515' \
  'af_xdp:iface=x,ring=32768' 'af_xdp:iface=x,ring=2147483648' 'af_xdp:iface=x,queues=0-1023' 'af_xdp:iface=x,queues=0-1024' \
  'af_xdp:iface=x,queues=4294967295' 'af_xdp:iface=x,queues=0-4294967295' 'af_xdp:iface=x,frame=0' 'af_xdp:iface=' 'af_xdp'
seed steer 'udp:4789' 'tcp:80|443+udp:53' 'proto:udp|tcp|47|132' 'ethertype:0x88b5' 'ethertype:0x05ff' 'all' 'udp:65536' \
  'proto:256' 'udp:' '+' 'udp:1+all' 'ethertype:65535' 'tcp:0x50'
seed rewrite 'ttl-dec' 'decap' 'encap:vxlan,src=198.18.0.1,dst=198.18.0.2,vni=42' \
  'encap:geneve,src=2001:db8::1,dst=2001:db8::2,vni=16777215,smac=02:00:00:00:00:01,dmac=02:00:00:00:00:02,port=6081,ttl=255,csum=lco' \
  'encap:gre,src=198.18.0.1,dst=198.18.0.2,key=4294967295,csum=zero' 'encap:vxlan,src=1.1.1.1,dst=2.2.2.2,vni=16777216' \
  'encap:gre,src=1.1.1.1,dst=2.2.2.2,key=4294967296' 'encap:vxlan,src=1.1.1.1,dst=2001:db8::1' \
  'encap:vxlan,src=2001:db8::1,dst=2001:db8::2,csum=zero' 'encap:vxlan,src=1.1.1.1,dst=2.2.2.2,ttl=256' 'encap:' 'encap:vxlan,='
seed cores '0' '0-1' '0,1,0' '1-0' '0-18446744073709551615' '18446744073709551616' '' ',' '0-' '4096'
seed queues '3' '0-3' '0-1023' '0-1024' '4294967295' '4294967290-4294967295' '3-1' '-1'
