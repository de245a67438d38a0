//! Opening a file jailpack is told to read, safely: whatever a path names
//! (an ELF file, a settings file, a manifest) may be a FIFO that blocks the
//! open for ever, or a device that never ends. Only regular files are
//! opened, and without blocking; the check is made again on the open file,
//! so a swap between the two looks cannot slip a FIFO in.

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` (links followed) for reading if it is a regular file; any
/// other kind of file is an `InvalidInput` error saying what it is.
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_regular_with_metadata(path).map(|(file, _)| file)
}

/// [`open_regular`], with the open file's metadata.
pub fn open_regular_with_metadata(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    refuse_other_kinds(&std::fs::metadata(path)?)?;
    open_seen_regular(path)
}

/// [`open_regular_with_metadata`] for a path this run has already seen
/// to be a regular file: opened without looking first, and checked again
/// on the open file all the same.
pub fn open_seen_regular(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    open_checked(path, 0)
}

/// [`open_seen_regular`] of a path that must not be a link itself: one
/// that is fails (`ELOOP`), so that one call tells that a regular file is
/// at `path` itself.
pub fn open_regular_not_a_link(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    open_checked(path, libc::O_NOFOLLOW)
}

fn open_checked(path: &Path, flags: libc::c_int) -> io::Result<(File, std::fs::Metadata)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | flags)
        .open(path)?;
    let metadata = file.metadata()?;
    refuse_other_kinds(&metadata)?;
    Ok((file, metadata))
}

fn refuse_other_kinds(metadata: &std::fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for (path, what) in [
            (fifo.as_path(), "a FIFO"),
            (Path::new("/dev/zero"), "a device"),
            (dir.path(), "a directory"),
        ] {
            let err = open_regular(path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(
                err.to_string().starts_with(what),
                "{}: {err}",
                path.display()
            );
        }
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        assert!(open_regular(&dir.path().join("f")).is_ok());
    }
}
