use std::os::unix::fs::PermissionsExt;

use tar::EntryType::{self, Block, Char, Directory, Fifo, Link, Regular, Symlink};

use super::*;

/// One entry, its name and link written into the header as given (the
/// `tar` builder refuses `..` and absolute names: a hostile archive does not).
struct E {
    name: &'static [u8],
    kind: EntryType,
    data: &'static [u8],
    link: &'static [u8],
    mode: u32,
    device: (u32, u32),
}

fn e(name: &'static str, kind: EntryType) -> E {
    E {
        name: name.as_bytes(),
        kind,
        data: b"",
        link: b"",
        mode: if kind == Directory { 0o755 } else { 0o644 },
        device: (0, 0),
    }
}

impl E {
    fn data(mut self, data: &'static [u8]) -> E {
        self.data = data;
        self
    }
    fn link(mut self, link: &'static str) -> E {
        self.link = link.as_bytes();
        self
    }
    fn mode(mut self, mode: u32) -> E {
        self.mode = mode;
        self
    }
    fn device(mut self, major: u32, minor: u32) -> E {
        self.device = (major, minor);
        self
    }
}

fn write(builder: &mut tar::Builder<impl Write>, entry: &E) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(entry.kind);
    header.set_mode(entry.mode);
    header.set_size(entry.data.len() as u64);
    header.as_old_mut().name[..entry.name.len()].copy_from_slice(entry.name);
    header.as_old_mut().linkname[..entry.link.len()].copy_from_slice(entry.link);
    if matches!(entry.kind, Char | Block) {
        header.set_device_major(entry.device.0).unwrap();
        header.set_device_minor(entry.device.1).unwrap();
    }
    header.set_cksum();
    builder.append(&header, entry.data).unwrap();
}

fn archive_with(
    dir: &Path,
    fill: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<File>>),
) -> PathBuf {
    let path = dir.join("a.tar.gz");
    let file = File::create(&path).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    fill(&mut builder);
    builder.into_inner().unwrap().finish().unwrap();
    path
}

const ROOMY: Bounds = Bounds {
    total: 1 << 20,
    entry: 1 << 20,
    entries: 100,
    from_flag: false,
};

fn components(root: &str) -> Vec<OsString> {
    names::absolute_components(root.as_bytes()).unwrap()
}

/// Extracts `entries` with `root` as the jail root; the scratch folder
/// (kept for inspection) and the result.
fn run(root: &str, entries: &[E], bounds: Bounds) -> (tempfile::TempDir, Result<Extracted>) {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_with(dir.path(), |b| {
        entries.iter().for_each(|entry| write(b, entry))
    });
    let dest = dir.path().join("x");
    std::fs::create_dir(&dest).unwrap();
    let root = components(root);
    let result = extract(&Extraction {
        archive: &archive,
        dest: &dest,
        jail_root: &root,
        owner: None,
        bounds,
    });
    (dir, result)
}

fn refusal(root: &str, entries: &[E]) -> String {
    let (_dir, result) = run(root, entries, ROOMY);
    result.expect_err("extracted").to_string()
}

#[test]
fn nothing_is_written_through_a_symlink_or_outside_the_root() {
    let (dir, result) = run(
        "/j",
        &[
            e("j", Directory),
            e("j/etc", Symlink).link("../../outside"),
            e("j/etc/passwd", Regular).data(b"x"),
        ],
        ROOMY,
    );
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("entry j/etc/passwd") && err.contains("symlink"),
        "{err}"
    );
    assert!(!dir.path().join("outside").exists());

    let err = refusal("/j", &[e("j", Directory), e("k/a", Regular).data(b"x")]);
    assert!(err.contains("outside the jail root"), "{err}");
}

#[test]
fn a_symlinked_jail_root_or_parent_is_refused() {
    // The reproduction: the only entry is `j -> /`.
    let err = refusal("/j", &[e("j", Symlink).link("/")]);
    assert!(
        err.contains("entry j:") && err.contains("the jail root is a symlink"),
        "{err}"
    );
    let err = refusal(
        "/var/j",
        &[e("var", Symlink).link("/"), e("var/j", Directory)],
    );
    assert!(
        err.contains("entry var:") && err.contains("above the jail root"),
        "{err}"
    );
    let err = refusal("/j", &[e("j", Regular).data(b"x")]);
    assert!(err.contains("must be a directory"), "{err}");
    // Directories above the root that other tools list are fine.
    let (_dir, result) = run(
        "/var/j",
        &[
            e("./", Directory),
            e("var/", Directory),
            e("var/j/", Directory),
        ],
        ROOMY,
    );
    result.unwrap();
}

#[test]
fn names_with_dot_dot_absolute_or_control_characters_are_refused() {
    for (name, why) in [
        ("j/../escape", "`..`"),
        ("/etc/cron.d/x", "absolute"),
        ("j/etc/pass\nwd", "control character"),
    ] {
        let err = refusal("/j", &[e("j", Directory), e(name, Regular).data(b"x")]);
        assert!(err.contains(why), "{name:?}: {err}");
        assert!(
            !err.contains('\n') || err.contains("\n  help:"),
            "unescaped: {err}"
        );
    }
}

#[test]
fn hard_links_fifos_block_devices_and_odd_devices_are_refused() {
    let root = || e("j", Directory);
    let dev = || e("j/dev", Directory);
    for (entry, why) in [
        (e("j/shadow", Link).link("/etc/shadow"), "hard link"),
        (e("j/fifo", Fifo), "FIFO"),
        (e("j/dev/sda", Block).device(8, 0), "block device"),
        (e("j/dev/random", Char).device(1, 11), "1:11"),
        (e("j/dev/fuse", Char).device(10, 229), "allow-list"),
        (
            e("j/etc/null", Char).device(1, 3),
            "outside the jail's /dev",
        ),
    ] {
        let err = refusal("/j", &[root(), dev(), entry]);
        assert!(err.contains(why), "{why}: {err}");
    }
}

#[test]
fn setuid_setgid_and_sticky_bits_are_dropped_from_files_only() {
    let (dir, result) = run(
        "/j",
        &[
            e("j", Directory),
            e("j/su", Regular).data(b"#!").mode(0o4755),
            e("j/sg", Regular).data(b"#!").mode(0o2755),
            e("j/st", Regular).data(b"#!").mode(0o1644),
            e("j/tmp", Directory).mode(0o1777),
        ],
        ROOMY,
    );
    result.unwrap();
    let mode = |name: &str| {
        std::fs::symlink_metadata(dir.path().join("x/j").join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!((mode("su"), mode("sg"), mode("st")), (0o755, 0o755, 0o644));
    assert_eq!(mode("tmp"), 0o1777);
}

#[test]
fn an_entry_that_appears_twice_is_refused() {
    let err = refusal(
        "/j",
        &[
            e("j", Directory),
            e("j/a", Regular).data(b"1"),
            e("j/a", Regular).data(b"2"),
        ],
    );
    assert!(err.contains("appears twice"), "{err}");
}

#[test]
fn files_links_devices_and_modes_arrive() {
    let (_dir, result) = run(
        "/var/j",
        &[
            e("var/j", Directory),
            e("var/j/bin", Directory),
            e("var/j/bin/d", Regular).data(b"#!").mode(0o755),
            e("var/j/dev", Directory),
            e("var/j/dev/null", Char).device(1, 3),
            e("var/j/sbin", Symlink).link("bin"),
            // A parent the archive does not list is made.
            e("var/j/usr/lib/x", Regular).data(b"y"),
        ],
        ROOMY,
    );
    let out = result.unwrap();
    assert!(out.root.ends_with("x/var/j"), "{}", out.root.display());
    assert_eq!(std::fs::read(out.root.join("sbin/d")).unwrap(), b"#!");
    assert_eq!(std::fs::read(out.root.join("usr/lib/x")).unwrap(), b"y");
    assert_eq!(
        out.devices,
        [DeviceNode {
            path: out.root.join("dev/null"),
            name: "null"
        }]
    );
}

#[test]
fn dot_slash_prefixes_pax_and_long_names_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("j/{}/f", "d".repeat(150));
    let archive = archive_with(dir.path(), |b| {
        write(b, &e("./j/", Directory));
        // A pax extended header (type `x`) by hand: records of
        // "<length> <key>=<value>\n", the length counting itself.
        let records = b"19 path=j/pax-name\n11 mtime=1\n";
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(records.len() as u64);
        pax.set_mode(0o644);
        b.append_data(&mut pax, "PaxHeader", &records[..]).unwrap();
        write(b, &e("j/ustar-name", Regular).data(b"p"));
        // The builder writes a GNU long-name record for this one.
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        b.append_data(&mut header, &long, &b"l"[..]).unwrap();
    });
    let dest = dir.path().join("x");
    std::fs::create_dir(&dest).unwrap();
    let root = components("/j");
    let out = extract(&Extraction {
        archive: &archive,
        dest: &dest,
        jail_root: &root,
        owner: None,
        bounds: ROOMY,
    })
    .unwrap();
    assert_eq!(std::fs::read(out.root.join("pax-name")).unwrap(), b"p");
    assert_eq!(std::fs::read(dest.join(&long)).unwrap(), b"l");
}

#[test]
fn sizes_and_counts_are_bounded_before_anything_is_read() {
    let small = Bounds {
        total: 12,
        entry: 8,
        entries: 4,
        from_flag: true,
    };
    let (_dir, result) = run(
        "/j",
        &[e("j", Directory), e("j/big", Regular).data(b"123456789")],
        small,
    );
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("entry j/big") && err.contains("allowed for one entry"),
        "{err}"
    );
    assert!(err.contains("--max-size"), "{err}");
    let files = [
        e("j", Directory),
        e("j/a", Regular).data(b"12345678"),
        e("j/b", Regular).data(b"12345678"),
    ];
    let (_dir, result) = run("/j", &files, small);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("entry j/b") && err.contains("in all"), "{err}");
    let many: Vec<E> = std::iter::once(e("j", Directory))
        .chain(["j/1", "j/2", "j/3", "j/4"].map(|n| e(n, Regular)))
        .collect();
    let (_dir, result) = run("/j", &many, small);
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("more than 4 entries")
    );

    // A long-name record is read whole: it has a bound of its own.
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_with(dir.path(), |b| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(EntryType::GNULongName);
        header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        let name = vec![b'a'; 100 << 10];
        header.set_size(name.len() as u64);
        header.set_cksum();
        b.append(&header, &name[..]).unwrap();
        write(b, &e("j", Directory));
    });
    let dest = dir.path().join("x");
    std::fs::create_dir(&dest).unwrap();
    let root = components("/j");
    let err = extract(&Extraction {
        archive: &archive,
        dest: &dest,
        jail_root: &root,
        owner: None,
        bounds: ROOMY,
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("long-name or pax record"), "{err}");
}

#[test]
fn a_copy_never_takes_more_than_the_header_says() {
    let mut buffer = [0u8; 4];
    let mut out = Vec::new();
    let err = copy_bounded(&mut &b"0123456789"[..], &mut out, 6, &mut buffer);
    assert!(matches!(err, Err(Copy::Size(ref m)) if m.contains("more data")));
    assert!(out.len() <= 6);
    let err = copy_bounded(&mut &b"0123"[..], &mut Vec::new(), 6, &mut buffer);
    assert!(matches!(err, Err(Copy::Size(ref m)) if m.contains("ends after 4")));
    let mut out = Vec::new();
    assert!(copy_bounded(&mut &b"012345"[..], &mut out, 6, &mut buffer).is_ok());
    assert_eq!(out, b"012345");
}
