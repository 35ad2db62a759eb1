//! The two places the kernel can run an XDP program: below the other modules, since both
//! the attach calls and the errors name it.

use std::fmt;

/// Where the kernel runs an XDP program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver's receive path, before an skb exists (`XDP_FLAGS_DRV_MODE`).
    Driver,
    /// After the skb is built, for any device (`XDP_FLAGS_SKB_MODE`); slower.
    Generic,
}

impl XdpMode {
    /// The `XDP_FLAGS_*` bit of this mode.
    pub(crate) const fn flags(self) -> u32 {
        match self {
            XdpMode::Generic => 1 << 1,
            XdpMode::Driver => 1 << 2,
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Driver => "driver",
            XdpMode::Generic => "generic",
        })
    }
}
