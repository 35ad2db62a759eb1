//! Rates for people to read.

/// Formats a rate as `1.23 Mpps` / `456.7 kpps` / `12 pps`.
pub fn format_pps(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2} Mpps", pps / 1e6)
    } else if pps >= 1e3 {
        format!("{:.1} kpps", pps / 1e3)
    } else {
        format!("{pps:.0} pps")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_well() {
        assert_eq!(format_pps(1_234_000.0), "1.23 Mpps");
        assert_eq!(format_pps(45_600.0), "45.6 kpps");
        assert_eq!(format_pps(12.0), "12 pps");
    }
}
