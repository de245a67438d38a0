//! SHA-256 checksums, and `.sha256` files in the `<hex> *<name>` form that
//! both `sha256sum -c` and `shasum -a 256 -c` accept.

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The contents of `<name>.sha256`, for a file in the same directory.
pub fn sha256_line(hex: &str, file_name: &str) -> String {
    format!("{hex} *{file_name}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha256sum_accepts_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.tar.gz"), b"abc").unwrap();
        std::fs::write(
            dir.path().join("a.tar.gz.sha256"),
            sha256_line(&sha256_hex(b"abc"), "a.tar.gz"),
        )
        .unwrap();
        let status = std::process::Command::new("sha256sum")
            .args(["-c", "a.tar.gz.sha256"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        std::fs::write(dir.path().join("a.tar.gz"), b"abd").unwrap();
        let status = std::process::Command::new("sha256sum")
            .args(["-c", "a.tar.gz.sha256"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!status.status.success(), "a changed file passed the check");
    }
}
