//! Symbol versions, checked as the loader checks them before it runs
//! anything: each DT_VERNEED entry of an object names a library (by
//! soname) and the versions it needs from it (`GLIBC_2.34`, `FBSD_1.7`);
//! the object that answers that soname in the process must define each in
//! its DT_VERDEF, matched by hash and name. A weak need (`VER_FLG_WEAK`)
//! that is missing only warns; a library without version definitions at
//! all satisfies every need (glibc warns, FreeBSD's rtld says nothing).
//! glibc's ld.so and FreeBSD's rtld check; musl and OpenBSD's ld.so do not.
//! The tables are read by `elf` (its dynamic section).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Serialize, Serializer};

use crate::error::MissingVersion;

/// The version names an object needs, per library, as a closure lists
/// them (and its JSON shows them, by library name): the object's own
/// DT_VERNEED, shared by every file of every closure that holds it rather
/// than copied into a map for each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByLibrary(Arc<[VersionNeed]>);

impl ByLibrary {
    pub fn new(needs: &Arc<[VersionNeed]>) -> Self {
        ByLibrary(Arc::clone(needs))
    }

    /// The DT_VERNEED entries themselves.
    pub fn needs(&self) -> &Arc<[VersionNeed]> {
        &self.0
    }

    /// Whether the object needs no symbol versions (then its JSON says nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The versions needed from `library`.
    pub fn get(&self, library: &str) -> Option<Vec<&str>> {
        self.to_map().remove(library)
    }

    /// Library by library, in name order; of two entries for one library
    /// (which no linker writes) the last counts.
    pub fn to_map(&self) -> BTreeMap<&str, Vec<&str>> {
        let listed = self.0.iter().map(|need| {
            let names = need.versions.iter().map(|v| v.name.as_str()).collect();
            (need.library.as_str(), names)
        });
        listed.collect()
    }
}

impl Serialize for ByLibrary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
    }
}

/// The versions one object needs from one library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNeed {
    /// The library, as DT_NEEDED names it (`libc.so.6`).
    pub library: String,
    pub versions: Vec<Version>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub name: String,
    /// The ELF hash of the name, as the file records it.
    pub hash: u32,
    pub weak: bool,
}

/// Up to this many versions wanted from one library, each is looked for
/// along its definitions; more, and the definitions are indexed first, so
/// that hostile tables of 65,536 entries each cost a pass, not a product.
const SCAN: usize = 16;

/// The versions of `wanted` that `defined` (a library's definitions; empty
/// when it has none) lacks, each with the newest version of the same
/// family the library defines. A weak need never lacks, and neither does
/// anything from a library without definitions.
pub fn missing<'w>(
    wanted: &'w [Version],
    defined: &[Version],
) -> Vec<(&'w Version, Option<String>)> {
    if defined.is_empty() {
        return Vec::new();
    }
    let strong = wanted.iter().filter(|w| !w.weak);
    let lacking: Vec<&Version> = if wanted.len() <= SCAN {
        strong
            .filter(|w| !defined.iter().any(|d| d.hash == w.hash && d.name == w.name))
            .collect()
    } else {
        let index: FxHashSet<(u32, &str)> =
            defined.iter().map(|d| (d.hash, d.name.as_str())).collect();
        strong
            .filter(|w| !index.contains(&(w.hash, w.name.as_str())))
            .collect()
    };
    if lacking.is_empty() {
        return Vec::new();
    }
    let mut newest: FxHashMap<&str, &str> = FxHashMap::default();
    for d in defined {
        let known = newest.entry(family(&d.name)).or_insert(&d.name);
        if compare(&d.name, known).is_gt() {
            *known = &d.name;
        }
    }
    (lacking.into_iter())
        .map(|w| (w, newest.get(family(&w.name)).map(|n| n.to_string())))
        .collect()
}

/// `GLIBC` of `GLIBC_2.34`, `FBSD` of `FBSD_1.7`.
fn family(name: &str) -> &str {
    name.rsplit_once('_').map_or(name, |(family, _)| family)
}

/// Orders `GLIBC_2.9` before `GLIBC_2.34`: number by number.
pub fn compare(a: &str, b: &str) -> Ordering {
    numbers(a).cmp(numbers(b)).then_with(|| a.cmp(b))
}

/// 2, 34 of `GLIBC_2.34`, without collecting them.
fn numbers(name: &str) -> impl Iterator<Item = u64> + '_ {
    let version = name.rsplit_once('_').map_or("", |(_, v)| v);
    version.split('.').map(|n| n.parse().unwrap_or(0))
}

/// The likely cause of each library's missing versions, one line per
/// library, judged by the newest version missing from it.
pub fn causes(missing: &[MissingVersion], root: &str) -> Vec<String> {
    let mut newest: Vec<&MissingVersion> = Vec::new();
    for m in missing {
        match newest.iter_mut().find(|n| n.library_file == m.library_file) {
            Some(n) if compare(&m.version, &n.version).is_gt() => *n = m,
            Some(_) => {}
            None => newest.push(m),
        }
    }
    newest.into_iter().map(|m| cause(m, root)).collect()
}

/// The likely cause, for the error's help line.
pub fn cause(missing: &MissingVersion, root: &str) -> String {
    let newer = |newest: &str| compare(&missing.version, newest).is_gt();
    match (&missing.newest, family(&missing.version)) {
        (Some(newest), _) if !newer(newest) => format!(
            "{} from {root} defines {newest} but not {}: the object was linked against another build of that library",
            missing.library, missing.version
        ),
        (Some(newest), "GLIBC") => format!(
            "built against glibc >= {}; {root} has glibc {}: build on (or for) the older glibc, or make the jail from a newer sysroot",
            version_number(&missing.version),
            version_number(newest)
        ),
        (Some(newest), _) => format!(
            "built against a newer {} than {root} holds (it defines up to {newest}): rebuild against the library the target has, or make the jail from a newer sysroot",
            missing.library
        ),
        (None, _) => format!(
            "{} from {root} defines no {} versions at all: it is another library than the one the program was linked with",
            missing.library,
            family(&missing.version)
        ),
    }
}

fn version_number(name: &str) -> &str {
    name.rsplit_once('_').map_or(name, |(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, hash: u32) -> Version {
        Version {
            name: name.into(),
            hash,
            weak: false,
        }
    }

    /// `missing` for one version: `Ok` when the library has it.
    fn check(wanted: &Version, defined: &[Version]) -> Result<(), Option<String>> {
        match missing(std::slice::from_ref(wanted), defined).pop() {
            None => Ok(()),
            Some((_, newest)) => Err(newest),
        }
    }

    #[test]
    fn hash_and_name_must_both_match() {
        let defined = [v("GLIBC_2.4", 1), v("GLIBC_2.34", 2), v("GLIBC_2.9", 3)];
        assert_eq!(check(&v("GLIBC_2.4", 1), &defined), Ok(()));
        // ld.so compares the hash first, then the name: a renamed need
        // whose hash is another version's is still missing.
        assert_eq!(
            check(&v("GLIBC_2.9", 1), &defined),
            Err(Some("GLIBC_2.34".into()))
        );
        let weak = Version {
            weak: true,
            ..v("GLIBC_2.99", 9)
        };
        assert_eq!(check(&weak, &defined), Ok(()));
        assert_eq!(check(&v("GLIBC_2.99", 9), &[]), Ok(()), "no verdef at all");
        assert_eq!(
            check(&v("VER_2", 5), &[v("VER_1", 4)]),
            Err(Some("VER_1".into()))
        );
        assert_eq!(check(&v("OTHER_2", 5), &[v("VER_1", 4)]), Err(None));
    }

    #[test]
    fn many_needs_against_many_definitions_take_one_pass_each() {
        // Hostile tables: 60,000 needs of versions in 60,000 families, none
        // defined, against 60,000 definitions. Checked need by need along
        // the definitions, with the newest of each family looked for each
        // time, this took minutes.
        let defined: Vec<Version> = (0..60_000)
            .map(|n| v(&format!("F{n}_2.{}", n % 7), n))
            .collect();
        let mut wanted: Vec<Version> = (0..60_000)
            .map(|n| v(&format!("F{n}_3"), 100_000 + n))
            .collect();
        wanted.push(v("F5_2.5", 5));
        let started = std::time::Instant::now();
        let lacking = missing(&wanted, &defined);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(lacking.len(), 60_000, "all but the one defined");
        assert_eq!(lacking[7].0.name, "F7_3");
        assert_eq!(lacking[7].1.as_deref(), Some("F7_2.0"));
        let many = missing(&wanted[..20], &defined);
        let few: Vec<_> = (wanted[..20].iter())
            .flat_map(|w| missing(std::slice::from_ref(w), &defined))
            .collect();
        assert_eq!(many, few, "indexed or scanned, the same answer");
    }

    #[test]
    fn the_likely_cause_names_both_glibc_releases() {
        let missing = MissingVersion {
            object: "/usr/local/sbin/d".into(),
            library: "libc.so.6".into(),
            library_file: "/lib/x86_64-linux-gnu/libc.so.6".into(),
            version: "GLIBC_2.38".into(),
            newest: Some("GLIBC_2.36".into()),
        };
        assert_eq!(
            cause(&missing, "/srv/bookworm"),
            "built against glibc >= 2.38; /srv/bookworm has glibc 2.36: build on (or for) the older glibc, or make the jail from a newer sysroot"
        );
    }

    #[test]
    fn versions_order_number_by_number() {
        assert_eq!(compare("GLIBC_2.9", "GLIBC_2.34"), Ordering::Less);
        assert_eq!(compare("GLIBC_2.2.5", "GLIBC_2.3"), Ordering::Less);
        assert_eq!(compare("FBSD_1.10", "FBSD_1.7"), Ordering::Greater);
    }
}
