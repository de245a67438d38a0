//! SHA-256 checksums, and `.sha256` files in the `<hex> *<name>` form that
//! both `sha256sum -c` and `shasum -a 256 -c` accept.

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of a file and its size, read in chunks: memory stays flat
/// whatever the file's size.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut file = crate::regular::open_regular(path)?;
    let mut sha256 = Sha256::new();
    let mut buffer = vec![0; 128 << 10];
    let mut size = 0;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha256.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hex(&sha256.finalize()), size))
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 15)] as char);
    }
    text
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
