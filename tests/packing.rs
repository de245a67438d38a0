//! Packing streams and runs on every core: the same bytes whatever the
//! number of threads, an archive every reader accepts, bounded memory, and
//! nothing at the final path when the run is killed half-way.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jailpack::closure::elf::Class;
use jailpack::closure::target::{Loader, Os, Target};
use jailpack::emit::Compression;
use jailpack::emit::compress::Settings;
use jailpack::plan::Plan;
use serde_json::json;

use crate::hardening::{linux, package, plan_with};
use crate::support::{scratch, xtask_binary};

/// Bytes that compress about as well as code: a few kinds of runs mixed
/// by a xorshift generator, so no two blocks are alike.
fn code_like(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        match state % 4 {
            0 => out.extend_from_slice(&state.to_le_bytes()),
            1 => out.extend_from_slice(b"\x48\x89\xe5\x48\x83\xec\x10"),
            2 => out.extend_from_slice(format!("sym_{}", state % 977).as_bytes()),
            _ => out.push((state >> 8) as u8),
        }
    }
    out.truncate(len);
    out
}

/// A plan with files that span many compression blocks.
fn plan_of_big_files(name: &str) -> (PathBuf, Plan) {
    let dir = package(name);
    std::fs::write(dir.join("big.bin"), code_like(3 << 20, 7)).unwrap();
    std::fs::write(dir.join("small.conf"), b"small\n").unwrap();
    std::fs::write(dir.join("odd.bin"), code_like(300_001, 11)).unwrap();
    let plan = plan_with(
        &dir,
        json!({ "files": [
            { "source": "big.bin", "dest": "/usr/share/d/big.bin" },
            { "source": "small.conf", "dest": "/etc/d.conf" },
            { "source": "odd.bin", "dest": "/usr/share/d/odd.bin" },
        ] }),
        linux(),
        None,
        Vec::new(),
    )
    .unwrap();
    (dir, plan)
}

fn emit(plan: &Plan, out: &Path, compression: Compression, threads: usize) -> PathBuf {
    let settings = Settings {
        compression,
        level: None,
        threads: Some(threads),
    };
    jailpack::emit::emit_with(plan, out, &settings, &mut |_| {}).unwrap();
    out.join(format!(
        "d-0.1.0-x86_64-unknown-linux-gnu.{}",
        compression.extension()
    ))
}

#[test]
fn one_and_two_threads_give_the_same_bytes() {
    let (dir, plan) = plan_of_big_files("threads");
    for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let outputs: Vec<Vec<u8>> = [1, 2, 3]
            .iter()
            .map(|&threads| {
                let out = dir.join(format!("out-{}-{threads}", compression.as_str()));
                std::fs::read(emit(&plan, &out, compression, threads)).unwrap()
            })
            .collect();
        assert!(
            outputs.windows(2).all(|w| w[0] == w[1]),
            "{}: the bytes depend on the number of threads",
            compression.as_str()
        );
    }
}

/// `path → contents` of every regular file an extraction left under `dir`.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn gnu_tar_python_the_tar_crate_and_bsdtar_read_a_multi_block_archive() {
    let (dir, plan) = plan_of_big_files("readers");
    let archive = emit(&plan, &dir.join("out"), Compression::Gzip, 2);
    let jail = "var/jail/d";
    let expected: Vec<(PathBuf, Vec<u8>)> = [
        ("etc/d.conf", "small.conf"),
        ("usr/local/sbin/d", "exe"),
        ("usr/share/d/big.bin", "big.bin"),
        ("usr/share/d/odd.bin", "odd.bin"),
    ]
    .iter()
    .map(|(dest, source)| {
        (
            Path::new(jail).join(dest),
            std::fs::read(dir.join(source)).unwrap(),
        )
    })
    .collect();
    let check = |reader: &str, dest: &Path| {
        let got: Vec<_> = files_under(dest)
            .into_iter()
            .filter(|(p, _)| !p.ends_with(".jailpack.json"))
            .collect();
        let names: Vec<_> = got.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(got.len(), expected.len(), "{reader}: {names:?}");
        assert!(got == expected, "{reader} extracted other contents");
    };

    let gnu = dir.join("gnu");
    std::fs::create_dir(&gnu).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&gnu)
        .args(["--exclude=dev", "--no-same-owner"]));
    check("GNU tar", &gnu);

    let python = dir.join("python");
    run(Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, tarfile\n\
             with tarfile.open(sys.argv[1]) as t:\n\
             \x20   t.extractall(sys.argv[2], members=[m for m in t if not m.ischr()], filter='data')",
        )
        .arg(&archive)
        .arg(&python));
    check("Python tarfile", &python);

    let crate_dest = dir.join("tar-crate");
    std::fs::create_dir(&crate_dest).unwrap();
    let file = std::fs::File::open(&archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let path = crate_dest.join(entry.path().unwrap());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }
    check("the tar crate", &crate_dest);

    if Command::new("bsdtar").arg("--version").output().is_ok() {
        let bsd = dir.join("bsdtar");
        std::fs::create_dir(&bsd).unwrap();
        run(Command::new("bsdtar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&bsd)
            .args(["--exclude", "*/dev/*"]));
        check("bsdtar", &bsd);
    } else {
        eprintln!("bsdtar is not installed (libarchive-tools): not checked");
    }

    // gzip -t checks the combined CRC-32 and length in the trailer.
    run(Command::new("gzip").arg("-t").arg(&archive));
}

#[test]
fn zstd_archives_are_read_by_tar_zstd() {
    let (dir, plan) = plan_of_big_files("zstd");
    let archive = emit(&plan, &dir.join("out"), Compression::Zstd, 2);
    let dest = dir.join("x");
    std::fs::create_dir(&dest).unwrap();
    run(Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&dest)
        .args(["--exclude=dev", "--no-same-owner"]));
    assert_eq!(
        std::fs::read(dest.join("var/jail/d/usr/share/d/big.bin")).unwrap(),
        std::fs::read(dir.join("big.bin")).unwrap()
    );
    // The install notes extract it the same way.
    let notes = std::fs::read_to_string(dir.join("out/systemd/INSTALL")).unwrap();
    assert!(
        notes.contains("tar --zstd -xpf d-0.1.0-x86_64-unknown-linux-gnu.tar.zst -C /"),
        "{notes}"
    );
}

#[test]
fn zstd_is_refused_for_openbsd_whose_tar_reads_only_gzip() {
    let dir = package("openbsd-zstd");
    let openbsd = Target {
        os: Os::OpenBsd,
        loader: Loader::OpenBsd,
        class: Class::Elf64,
        little_endian: true,
        machine: 62,
    };
    let plan = plan_with(&dir, json!({}), openbsd, None, Vec::new()).unwrap();
    let out = dir.join("out");
    let settings = Settings {
        compression: Compression::Zstd,
        ..Settings::default()
    };
    let err = jailpack::emit::emit_with(&plan, &out, &settings, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("OpenBSD's tar reads only gzip"), "{err}");
    assert!(!out.exists(), "a refused run made {}", out.display());
}

/// An ELF executable of about `size` bytes: /bin/true with code after it.
fn big_executable(dir: &Path, size: usize) -> PathBuf {
    let path = dir.join("bigd");
    let mut file = std::fs::File::create(&path).unwrap();
    let head = std::fs::read("/bin/true").unwrap();
    file.write_all(&head).unwrap();
    let mut written = head.len();
    let mut seed = 1;
    while written < size {
        let chunk = code_like((4 << 20).min(size - written), seed);
        file.write_all(&chunk).unwrap();
        written += chunk.len();
        seed += 1;
    }
    drop(file);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("jail.toml"), "user = \"bigd\"\n").unwrap();
    path
}

fn pack_command(dir: &Path, executable: &Path, out: &Path) -> Command {
    let mut command = Command::new(xtask_binary());
    command
        .args(["jail", "--binary"])
        .arg(executable)
        .arg("--settings")
        .arg(dir.join("jail.toml"))
        .args(["--version", "1", "--out-dir"])
        .arg(out)
        .env_remove("SOURCE_DATE_EPOCH");
    command
}

#[test]
fn peak_memory_stays_flat_for_a_large_executable() {
    let dir = scratch("peak-memory");
    let executable = big_executable(&dir, 96 << 20);
    for compression in ["gzip", "zstd"] {
        let out = dir.join(compression);
        let mut command = Command::new("/usr/bin/time");
        command.args(["-f", "%M", "-o"]).arg(dir.join("rss"));
        let inner = pack_command(&dir, &executable, &out);
        command
            .arg(inner.get_program())
            .args(inner.get_args())
            .args(["--compression", compression]);
        run(&mut command);
        let kib: u64 = std::fs::read_to_string(dir.join("rss"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            kib <= 32 << 10,
            "{compression}: peak RSS {kib} KiB for a 96 MiB executable (bound: 32 MiB)"
        );
    }
}

#[test]
fn a_sigkill_mid_pack_leaves_nothing_at_the_final_path() {
    let dir = scratch("sigkill");
    let executable = big_executable(&dir, 96 << 20);
    let out = dir.join("out");
    let mut child = pack_command(&dir, &executable, &out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the archive's temporary file has some of the archive.
    let started = Instant::now();
    let mut writing = false;
    while started.elapsed() < Duration::from_secs(60) && !writing {
        writing = std::fs::read_dir(&out).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with(".jailpack-")
                    && e.metadata().is_ok_and(|m| m.len() > 1 << 20)
            })
        });
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(writing, "the archive was never seen half-written");
    child.kill().unwrap();
    child.wait().unwrap();
    let names = || -> Vec<String> {
        std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let (temps, left): (Vec<String>, Vec<String>) = names()
        .into_iter()
        .partition(|n| n.starts_with(".jailpack-"));
    assert!(left.is_empty(), "artifacts at final paths: {left:?}");
    assert!(
        !temps.is_empty(),
        "the killed run's temporary file is gone already"
    );
    // The next run into the same folder removes what the killed one left
    // (its process is gone), and writes the artifacts.
    run(&mut pack_command(&dir, &executable, &out));
    let after = names();
    assert!(
        after.iter().all(|n| !n.starts_with(".jailpack-")),
        "left behind: {after:?}"
    );
    assert!(after.iter().any(|n| n.ends_with(".tar.gz")), "{after:?}");
}

#[test]
fn the_benchmark_script_parses() {
    // benches/bench.sh runs for minutes (README quotes its table): CI only
    // checks that bash can read it.
    run(Command::new("bash")
        .arg("-n")
        .arg(Path::new(crate::support::REPO).join("benches/bench.sh")));
}
