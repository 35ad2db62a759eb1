//! The names of a frame's layers and of an IP packet's place in its datagram, as every
//! view, the walker and the errors use them.

/// One layer of a frame, as listed in [`Offsets::layers`](crate::Offsets::layers) and named in errors and JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Ethernet II (IEEE 802.3).
    Eth,
    /// An 802.1Q / 802.1ad VLAN tag.
    Vlan,
    /// IPv4 (RFC 791).
    Ipv4,
    /// IPv6 (RFC 8200), extension headers included.
    Ipv6,
    /// UDP (RFC 768).
    Udp,
    /// TCP (RFC 9293).
    Tcp,
    /// ICMP (RFC 792).
    Icmp,
    /// ICMPv6 (RFC 4443).
    Icmpv6,
    /// VXLAN (RFC 7348).
    Vxlan,
    /// GRE (RFC 2784, RFC 2890).
    Gre,
    /// Geneve (RFC 8926).
    Geneve,
    /// ARP or RARP for IPv4 over Ethernet (RFC 826, RFC 903).
    Arp,
    /// An MPLS label stack (RFC 3032).
    Mpls,
    /// A CFM PDU's common header (IEEE 802.1Q §21.4).
    Cfm,
    /// A PPPoE session header and the PPP protocol field (RFC 2516 §5, RFC 1661 §2).
    Pppoe,
    /// Linux cooked capture v1 header (LINKTYPE_LINUX_SLL, 16 bytes).
    LinuxSll,
    /// Linux cooked capture v2 header (LINKTYPE_LINUX_SLL2, 20 bytes).
    LinuxSll2,
}

impl Layer {
    /// The stable lower-case name used in `inspect --json` and in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Eth => "eth",
            Layer::Vlan => "vlan",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Udp => "udp",
            Layer::Tcp => "tcp",
            Layer::Icmp => "icmp",
            Layer::Icmpv6 => "icmpv6",
            Layer::Vxlan => "vxlan",
            Layer::Gre => "gre",
            Layer::Geneve => "geneve",
            Layer::Arp => "arp",
            Layer::Mpls => "mpls",
            Layer::Cfm => "cfm",
            Layer::Pppoe => "pppoe",
            Layer::LinuxSll => "sll",
            Layer::LinuxSll2 => "sll2",
        }
    }
}

impl core::fmt::Display for Layer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an IP packet sits in its datagram (RFC 791 §3.2; RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fragment {
    /// The whole datagram (including IPv6 atomic fragments, RFC 6946 §4).
    #[default]
    NotFragment,
    /// Offset 0 with more fragments: it carries the L4 header but not the whole L4 payload.
    First,
    /// Offset != 0: no L4 header here.
    Later,
}

impl Fragment {
    /// From a fragment offset and the more-fragments flag: a packet with offset 0 and MF clear
    /// is not a fragment (RFC 791 §3.2; RFC 6946 §4 for an IPv6 "atomic fragment").
    #[inline]
    pub const fn from_offset(offset: u16, more_fragments: bool) -> Fragment {
        if offset != 0 {
            Fragment::Later
        } else if more_fragments {
            Fragment::First
        } else {
            Fragment::NotFragment
        }
    }

    /// True for any fragment: its L4 checksum cannot be verified from this packet alone.
    #[inline]
    pub const fn is_fragment(self) -> bool {
        !matches!(self, Fragment::NotFragment)
    }
}
