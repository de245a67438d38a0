//! How much extracting an archive may write: a few kilobytes of gzip can
//! unpack to gigabytes, so every entry's size, the total and the number of
//! entries are bounded before anything is read. The defaults come from the
//! sizes the manifest records (jailpack writes each file's size there);
//! since the manifest is untrusted too, they never exceed
//! [`DEFAULT_CEILING`] unless `--max-size` says so.

use crate::manifest::Manifest;

/// Room beyond the recorded sizes, for a jail's own index written after
/// the sizes were counted and for other tools' metadata.
pub const SLACK_BYTES: u64 = 1 << 20;

/// Entries beyond the recorded ones: directories above the jail root that
/// other tools list, pax global headers.
pub const SLACK_ENTRIES: u64 = 64;

/// The most the defaults allow, whatever the manifest claims.
pub const DEFAULT_CEILING: u64 = 1 << 30;

/// The largest long-name or pax record read (names are at most 4096 bytes
/// on Linux): these are read whole, so they need a bound of their own.
pub const MAX_RECORD: u64 = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The sum of all entries' data.
    pub total: u64,
    /// Any one entry's data.
    pub entry: u64,
    /// The number of entries (extension records included).
    pub entries: u64,
    /// Whether `total` and `entry` come from `--max-size`.
    pub from_flag: bool,
}

impl Bounds {
    /// From the manifest's records, or `max_size` for the byte bounds.
    pub fn new(manifest: &Manifest, max_size: Option<u64>) -> Bounds {
        let entries = manifest
            .entry_count()
            .saturating_add(SLACK_ENTRIES)
            .saturating_add(manifest.jail_root.components().count() as u64);
        if let Some(max) = max_size {
            return Bounds {
                total: max,
                entry: max,
                entries,
                from_flag: true,
            };
        }
        let largest = manifest.files.iter().map(|f| f.size).max().unwrap_or(0);
        Bounds {
            total: manifest
                .total_size()
                .saturating_add(SLACK_BYTES)
                .min(DEFAULT_CEILING),
            entry: largest.clamp(SLACK_BYTES, DEFAULT_CEILING),
            entries,
            from_flag: false,
        }
    }

    /// Where the bound came from and how to raise it, for messages.
    pub fn help(&self) -> String {
        if self.from_flag {
            "that is the --max-size given; pass a larger one if the jail really is that big".into()
        } else {
            format!(
                "the bound comes from the sizes the manifest records (at most {}); an archive jailpack made from the same manifest stays below it: check the archive's origin, or pass --max-size BYTES (K, M, G suffixes) if it really is that big",
                human(DEFAULT_CEILING)
            )
        }
    }
}

/// `--max-size`: bytes, or a number with a K, M or G suffix (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let (digits, shift) = match trimmed.char_indices().last() {
        Some((at, 'K' | 'k')) => (&trimmed[..at], 10),
        Some((at, 'M' | 'm')) => (&trimmed[..at], 20),
        Some((at, 'G' | 'g')) => (&trimmed[..at], 30),
        _ => (trimmed, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| {
            format!(
                "--max-size {text:?}: give a number of bytes, optionally with K, M or G (e.g. 512M)"
            )
        })
}

/// `1.5 GiB`-style sizes for messages.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(sizes: &[u64]) -> Manifest {
        let files: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, size)| {
                serde_json::json!({"path": format!("/f{i}"), "sha256": "", "role": "file",
                    "size": size, "mode": "0644"})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "name": "d", "version": "1", "target": "x86_64-unknown-linux-gnu",
            "os": "linux", "loader": "glibc", "jail_root": "/var/jail/d",
            "exec": "/d", "user": "d", "group": "d", "files": files,
        }))
        .unwrap()
    }

    #[test]
    fn defaults_follow_the_recorded_sizes_under_a_ceiling() {
        let bounds = Bounds::new(&manifest(&[10, 3 << 20]), None);
        assert_eq!(bounds.total, (3 << 20) + 10 + SLACK_BYTES);
        assert_eq!(bounds.entry, 3 << 20);
        assert_eq!(bounds.entries, 3 + SLACK_ENTRIES + 4);
        let claims_a_lot = Bounds::new(&manifest(&[u64::MAX, 5 << 30]), None);
        assert_eq!(claims_a_lot.total, DEFAULT_CEILING);
        assert_eq!(claims_a_lot.entry, DEFAULT_CEILING);
        let flag = Bounds::new(&manifest(&[10]), Some(4 << 30));
        assert_eq!((flag.total, flag.entry), (4 << 30, 4 << 30));
        assert!(flag.help().contains("--max-size"));
    }

    #[test]
    fn sizes_take_k_m_g_suffixes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64K").unwrap(), 64 << 10);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        for bad in ["", "G", "0", "-1", "1.5G", "1T", "99999999999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
