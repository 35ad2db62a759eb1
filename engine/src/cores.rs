//! CPU lists as taskset and DPDK's `-l` write them: `1`, `0-3`, `0,2-3`.

use crate::error::SetupError;

/// The cores of `text`, in the order given, each once; every one must be available to this
/// process ([`available_cores`]).
pub fn parse_core_list(text: &str) -> Result<Vec<usize>, SetupError> {
    let bad = || SetupError::BadCoreList { text: text.to_string() };
    let online = available_cores();
    let mut cores = Vec::new();
    for part in text.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?),
            None => {
                let core: usize = part.trim().parse().map_err(|_| bad())?;
                (core, core)
            }
        };
        if first > last {
            return Err(bad());
        }
        // A range past the last online core is refused before it is expanded: `0-18446744073709551615`
        // would otherwise be a loop over every usize.
        if let Some(highest) = online.iter().max().filter(|&&highest| last > highest) {
            return Err(SetupError::CoreUnavailable { core: last, available: online.clone(), highest: Some(*highest) });
        }
        for core in first..=last {
            if !cores.contains(&core) {
                cores.push(core);
            }
        }
    }
    if let Some(core) = cores.iter().find(|c| !online.contains(c)) {
        return Err(SetupError::CoreUnavailable { core: *core, available: online, highest: None });
    }
    Ok(cores)
}

/// Cores this process may run on.
pub fn available_cores() -> Vec<usize> {
    core_affinity::get_core_ids().map(|ids| ids.into_iter().map(|c| c.id).collect()).unwrap_or_else(|| vec![0])
}

/// The default worker core: the last one, leaving core 0 to the system and the generator.
pub fn default_core() -> usize {
    available_cores().into_iter().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        assert_eq!(parse_core_list("0").unwrap(), vec![0]);
        if available_cores().len() >= 2 {
            assert_eq!(parse_core_list("0-1").unwrap(), vec![0, 1]);
            assert_eq!(parse_core_list("1,0,1").unwrap(), vec![1, 0]);
        }
    }

    #[test]
    fn bad_lists_say_so() {
        for text in ["", "a", "3-1", "1-", "0,,1"] {
            assert!(parse_core_list(text).unwrap_err().to_string().contains("core list"), "{text}");
        }
        assert!(parse_core_list("4096").unwrap_err().to_string().contains("not available"));
        // Refused before the range is expanded (this would loop over every usize).
        assert!(parse_core_list("0-18446744073709551615")
            .unwrap_err()
            .to_string()
            .contains("core 18446744073709551615 is not available"));
        assert!(parse_core_list("0-18446744073709551616").unwrap_err().to_string().contains("core list"));
    }
}
