//! Reading what strace wrote: `strace -ff -o PREFIX` gives one file per
//! process, `PREFIX.<pid>`, one system call a line, so no line of one
//! process is ever split by another's. Only what the program does counts:
//! in each process, the lines after it entered the jail (a successful
//! `chroot`) or exec'ed the program (`--probe`), and every line of the
//! processes it started after that.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use crate::error::{Error, Result};

/// One system call on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub pid: u32,
    pub syscall: String,
    /// As the program saw it: absolute, inside the jail.
    pub path: String,
    /// `Ok(return value)` or `Err(errno name)`, e.g. `Err("ENOENT")`.
    pub result: std::result::Result<i64, String>,
    /// For a call that makes a file system name (`mkdir`, `open` with
    /// `O_CREAT`, `bind` of a unix socket, `rename`, `link`, `symlink`):
    /// the absolute name it would make.
    pub creates: Option<String>,
    /// An `open` for writing (`O_WRONLY` or `O_RDWR`) of a name it does
    /// not create: a file the daemon rewrites, or locks.
    pub writes: bool,
    /// When, in microseconds since the epoch (strace `-ttt`); `None` for
    /// a line without a time.
    pub at: Option<u64>,
}

/// The syscall name of the event [`read`] adds when a process exits; its
/// result is the exit status, its path empty.
pub const EXIT: &str = "+++exit";

/// Where the program's own activity starts in a process's trace.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// At the first `execve` after a successful `chroot(...)`: chroot(8)'s
    /// own work in between (user lookups) is not the program's.
    Chroot,
    /// At a successful `execve` of this path.
    Exec(&'a str),
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    syscall: String,
    args: Vec<String>,
    result: std::result::Result<i64, String>,
    at: Option<u64>,
}

/// Reads every `<prefix>.<pid>` file and returns the program's events.
pub fn read(prefix: &Path, start: Start) -> Result<Vec<Event>> {
    let dir = prefix.parent().unwrap_or(Path::new("."));
    let stem = prefix
        .file_name()
        .map(|n| format!("{}.", n.to_string_lossy()))
        .unwrap_or_default();
    let mut calls: BTreeMap<u32, Vec<Call>> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut budget = MAX_TRACE_BYTES;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(&stem).and_then(|p| p.parse().ok()) else {
            continue;
        };
        let lines = read_bounded(&entry.path(), &mut budget).map_err(|source| Error::Read {
            path: entry.path(),
            source,
        })?;
        calls.insert(pid, lines.iter().filter_map(|l| parse_line(l)).collect());
    }
    // Which processes are the program's, and from which line on.
    let mut from: BTreeMap<u32, usize> = BTreeMap::new();
    for (pid, lines) in &calls {
        let first = match start {
            Start::Chroot => lines
                .iter()
                .position(|c| c.syscall == "chroot" && c.result == Ok(0))
                .and_then(|at| {
                    let exec = lines[at..].iter().position(|c| c.syscall == "execve")?;
                    Some(at + exec)
                }),
            Start::Exec(path) => lines.iter().position(|c| {
                c.syscall == "execve"
                    && c.result == Ok(0)
                    && c.args.first().and_then(|a| string_arg(a)).as_deref() == Some(path)
            }),
        };
        if let Some(index) = first {
            from.insert(*pid, index);
        }
    }
    let mut queue: VecDeque<u32> = from.keys().copied().collect();
    // Parents before the children they forked (for the working directory).
    let mut order: Vec<u32> = Vec::new();
    while let Some(pid) = queue.pop_front() {
        order.push(pid);
        let begin = from[&pid];
        for call in &calls[&pid][begin..] {
            let forks = ["clone", "clone3", "fork", "vfork"].contains(&call.syscall.as_str());
            if let (true, Ok(child)) = (forks, &call.result) {
                let child = *child as u32;
                if calls.contains_key(&child) && !from.contains_key(&child) {
                    from.insert(child, 0);
                    queue.push_back(child);
                }
            }
        }
    }
    // Each process's working directory: `/` where the program starts
    // after chroot(8) (which changes to it), unknown under `--probe`;
    // inherited at a fork, followed through `chdir`, lost at `fchdir`.
    let mut inherited: BTreeMap<u32, Option<String>> = BTreeMap::new();
    let mut events = Vec::new();
    for pid in order {
        let begin = from[&pid];
        let mut cwd: Option<String> = match inherited.remove(&pid) {
            Some(cwd) => cwd,
            None if matches!(start, Start::Chroot) => Some("/".to_string()),
            None => None,
        };
        for call in &calls[&pid][begin..] {
            let forks = ["clone", "clone3", "fork", "vfork"].contains(&call.syscall.as_str());
            if let (true, Ok(child)) = (forks, &call.result) {
                inherited.insert(*child as u32, cwd.clone());
            }
            match (call.syscall.as_str(), &call.result) {
                ("chdir", Ok(0)) => {
                    cwd = call
                        .args
                        .first()
                        .and_then(|a| string_arg(a))
                        .and_then(|dir| absolute(dir, cwd.as_deref()));
                }
                ("fchdir", Ok(0)) => cwd = None,
                _ => {}
            }
            if call.syscall == EXIT {
                events.push(Event {
                    pid,
                    syscall: EXIT.to_string(),
                    path: String::new(),
                    result: call.result.clone(),
                    creates: None,
                    writes: false,
                    at: call.at,
                });
                continue;
            }
            let creates = created_name(call, cwd.as_deref());
            let path = path_of(call, cwd.as_deref()).or_else(|| creates.clone());
            if let Some(path) = path {
                events.push(Event {
                    pid,
                    syscall: call.syscall.clone(),
                    path,
                    result: call.result.clone(),
                    writes: creates.is_none() && opens_for_writing(call),
                    creates,
                    at: call.at,
                });
            }
        }
    }
    Ok(events)
}

/// The most trace text read, over all processes: the traced program is
/// the jail's, and a loop of failing opens writes lines without end.
/// What lies past it is left out (the first calls are the telling ones).
const MAX_TRACE_BYTES: u64 = 128 << 20;

/// A trace file's lines, from at most `budget` bytes (taken off it). The
/// file is strace's, in the scratch folder: opened without following a
/// link or blocking all the same.
fn read_bounded(path: &Path, budget: &mut u64) -> std::io::Result<Vec<String>> {
    use std::io::{BufRead, Read};
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Ok(Vec::new());
    }
    let mut reader = std::io::BufReader::new(file.take(*budget));
    let mut lines = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        *budget = budget.saturating_sub(n as u64);
        lines.push(String::from_utf8_lossy(&line).into_owned());
    }
    Ok(lines)
}

/// The absolute path a call works on, if any: the first argument, or the
/// second after `AT_FDCWD`. A relative one is taken from the process's
/// working directory `cwd` when it is known (a daemon that `chdir`s to its
/// state directory and creates `d.pid` there); one relative to another
/// descriptor is skipped.
fn path_of(call: &Call, cwd: Option<&str>) -> Option<String> {
    let first = call.args.first()?;
    let path = match string_arg(first) {
        Some(path) => absolute(path, cwd)?,
        None if first == "AT_FDCWD" => absolute(string_arg(call.args.get(1)?)?, cwd)?,
        None => {
            // dirfd form with an absolute path still names the file.
            let path = string_arg(call.args.get(1)?)?;
            if !path.starts_with('/') {
                return None;
            }
            path
        }
    };
    Some(without_trailing_slash(path))
}

/// `name` as an absolute path: itself, or joined to a known working
/// directory, `.` and `..` taken away (never above `/`).
fn absolute(name: String, cwd: Option<&str>) -> Option<String> {
    if name.starts_with('/') {
        return Some(name);
    }
    if name.is_empty() {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in cwd?.split('/').chain(name.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// `/usr/lib/d/` → `/usr/lib/d`: a program that opens its plugin directory
/// with a slash names the same directory, and the slash would hide it
/// (its last component would be empty, like every other such path's).
fn without_trailing_slash(path: String) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.len() == path.len() {
        path
    } else {
        trimmed.to_string()
    }
}

/// An `open`, `openat` or `openat2` whose flags ask for writing.
fn opens_for_writing(call: &Call) -> bool {
    ["open", "openat", "openat2"].contains(&call.syscall.as_str())
        && call
            .args
            .iter()
            .any(|a| a.split('|').any(|f| f == "O_WRONLY" || f == "O_RDWR"))
}

/// The absolute name a creating call would make, if it is one (a relative
/// name from `cwd`, unless it is relative to another descriptor).
fn created_name(call: &Call, cwd: Option<&str>) -> Option<String> {
    let strings = || call.args.iter().filter_map(|a| string_arg(a));
    let name = match call.syscall.as_str() {
        "mkdir" | "mkdirat" | "creat" | "mknod" | "mknodat" => strings().next(),
        "open" | "openat" | "openat2" if call.args.iter().any(|a| a.contains("O_CREAT")) => {
            strings().next()
        }
        // The new name is the last one given.
        "rename" | "renameat" | "renameat2" | "link" | "linkat" | "symlink" | "symlinkat" => {
            strings().next_back()
        }
        "bind" => call.args.iter().find_map(|a| {
            let at = a.find("sun_path=")?;
            string_arg(a[at + "sun_path=".len()..].trim_end_matches('}'))
        }),
        _ => None,
    }?;
    // The descriptor the new name is relative to, for the `*at` calls:
    // only the working directory (AT_FDCWD) is known here.
    let dirfd = match call.syscall.as_str() {
        "mkdirat" | "mknodat" | "openat" | "openat2" => call.args.first(),
        "renameat" | "renameat2" | "linkat" => call.args.get(2),
        "symlinkat" => call.args.get(1),
        _ => None,
    };
    let cwd = match dirfd {
        Some(fd) if fd != "AT_FDCWD" => None,
        _ => cwd,
    };
    absolute(name, cwd)
}

/// Parses `name(args) = result`; `None` for signals and anything else. A
/// process's end (`exit_group(N)`, `+++ exited with N +++`) becomes a call
/// named [`EXIT`].
fn parse_line(line: &str) -> Option<Call> {
    let (at, line) = time_of(line.trim_end());
    // `exit_group(N) = ?` (strace -qq leaves out the `+++ exited` lines).
    let exit = line
        .strip_prefix("+++ exited with ")
        .and_then(|rest| rest.strip_suffix(" +++"))
        .or_else(|| {
            line.strip_prefix("exit_group(")
                .and_then(|rest| rest.split_once(')'))
                .map(|(code, _)| code)
        });
    if let Some(code) = exit {
        return Some(Call {
            syscall: EXIT.to_string(),
            args: Vec::new(),
            result: Ok(code.parse().ok()?),
            at,
        });
    }
    if line.starts_with("---") || line.starts_with("+++") || line.contains("<unfinished") {
        return None;
    }
    let open = line.find('(')?;
    let syscall = &line[..open];
    if syscall.is_empty()
        || !syscall
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    // strace pads a short call with spaces up to a column before ` = `
    // (`access("/dev/urandom", R_OK)            = -1 ENOENT`): the result
    // follows the last ` = ` whose left side, spaces trimmed, ends the call.
    let equals = line.rfind(" = ")?;
    let call = line[..equals].trim_end();
    let close = call.len().checked_sub(1)?;
    if close <= open || !call.ends_with(')') {
        return None;
    }
    let args = split_args(&line[open + 1..close]);
    let result = parse_result(&line[equals + 3..])?;
    Some(Call {
        syscall: syscall.to_string(),
        args,
        result,
        at,
    })
}

/// `1764637200.123456 openat(...)` (strace `-ttt`) → the time in
/// microseconds since the epoch, and the call; a line without one as it is.
fn time_of(line: &str) -> (Option<u64>, &str) {
    let Some((first, rest)) = line.split_once(' ') else {
        return (None, line);
    };
    let Some((seconds, micros)) = first.split_once('.') else {
        return (None, line);
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(seconds) || !digits(micros) || micros.len() > 6 {
        return (None, line);
    }
    let (Ok(seconds), Ok(fraction)) = (seconds.parse::<u64>(), micros.parse::<u64>()) else {
        return (None, line);
    };
    let micros = fraction * 10u64.pow(6 - micros.len() as u32);
    (Some(seconds * 1_000_000 + micros), rest.trim_start())
}

fn parse_result(text: &str) -> Option<std::result::Result<i64, String>> {
    let mut words = text.split_whitespace();
    let value = words.next()?;
    if value == "-1" {
        let errno = words.next()?;
        return Some(Err(errno.to_string()));
    }
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    };
    parsed.map(Ok)
}

/// Splits the argument list at top-level commas, keeping quoted strings,
/// `[...]`, `{...}` and `(...)` whole.
fn split_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            current.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                current.push(c);
            }
            '[' | '{' | '(' => {
                depth += 1;
                current.push(c);
            }
            ']' | '}' | ')' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => args.push(std::mem::take(&mut current).trim().to_string()),
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        args.push(current.trim().to_string());
    }
    args
}

/// A quoted strace string argument, unescaped; `None` if not a string.
fn string_arg(arg: &str) -> Option<String> {
    let arg = arg.strip_suffix("...").unwrap_or(arg);
    let inner = arg.strip_prefix('"')?.strip_suffix('"')?;
    let mut bytes = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next()? {
            'n' => bytes.push(b'\n'),
            't' => bytes.push(b'\t'),
            'r' => bytes.push(b'\r'),
            'v' => bytes.push(0x0b),
            'f' => bytes.push(0x0c),
            'x' => {
                let hex: String = (0..2).filter_map(|_| chars.next()).collect();
                bytes.push(u8::from_str_radix(&hex, 16).ok()?);
            }
            d @ '0'..='7' => {
                let mut value = d.to_digit(8)?;
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(digit) => {
                            value = value * 8 + digit;
                            chars.next();
                        }
                        None => break,
                    }
                }
                bytes.push(value as u8);
            }
            other => {
                let mut buf = [0; 4];
                bytes.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_calls() {
        let call = parse_line(
            r#"openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)"#,
        )
        .unwrap();
        assert_eq!(call.syscall, "openat");
        assert_eq!(call.result, Err("ENOENT".to_string()));
        assert_eq!(path_of(&call, None).as_deref(), Some("/etc/hosts"));
        let call = parse_line(
            r#"execve("/usr/local/sbin/d", ["/usr/local/sbin/d", "a, b) = 3"], 0x7ffc /* 3 vars */) = 0"#,
        )
        .unwrap();
        assert_eq!(call.result, Ok(0));
        assert_eq!(path_of(&call, None).as_deref(), Some("/usr/local/sbin/d"));
        let call = parse_line(
            r#"newfstatat(3, "", {st_mode=S_IFREG|0644, st_size=114, ...}, AT_EMPTY_PATH) = 0"#,
        )
        .unwrap();
        assert_eq!(path_of(&call, None), None);
        assert_eq!(
            string_arg(r#""/a\"b\\c\303\251\x41""#).as_deref(),
            Some("/a\"b\\céA")
        );
        assert!(parse_line("--- SIGCHLD {si_signo=SIGCHLD} ---").is_none());
        assert_eq!(parse_line("+++ exited with 3 +++").unwrap().result, Ok(3));
        let call = parse_line(
            r#"openat(AT_FDCWD, "/usr/lib/d/", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = -1 ENOENT (No such file or directory)"#,
        )
        .unwrap();
        assert_eq!(path_of(&call, None).as_deref(), Some("/usr/lib/d"));
        // With strace -ttt's time first.
        let call = parse_line(
            r#"1764637200.123456 openat(AT_FDCWD, "/etc/hosts", O_RDONLY) = -1 ENOENT (No such file or directory)"#,
        )
        .unwrap();
        assert_eq!(call.at, Some(1_764_637_200_123_456));
        assert_eq!(path_of(&call, None).as_deref(), Some("/etc/hosts"));
        let exit = parse_line("1764637200.5 +++ exited with 1 +++").unwrap();
        assert_eq!((exit.result, exit.at), (Ok(1), Some(1_764_637_200_500_000)));
        // Padded to strace's result column: a short call is still a call.
        let call = parse_line(
            r#"access("/dev/urandom", R_OK)            = -1 ENOENT (No such file or directory)"#,
        )
        .unwrap();
        assert_eq!(call.syscall, "access");
        assert_eq!(call.result, Err("ENOENT".to_string()));
        assert_eq!(path_of(&call, None).as_deref(), Some("/dev/urandom"));
        let call = parse_line(r#"mkdir("/run/d", 0700)                   = 0"#).unwrap();
        assert_eq!(created_name(&call, None).as_deref(), Some("/run/d"));
        assert_eq!(call.result, Ok(0));
        let exit = parse_line("exit_group(1)                           = ?").unwrap();
        assert_eq!((exit.syscall.as_str(), exit.result), (EXIT, Ok(1)));
        assert_eq!(
            parse_line("clone(child_stack=NULL, flags=SIGCHLD) = 7")
                .unwrap()
                .result,
            Ok(7)
        );
    }

    #[test]
    fn only_the_jailed_processes_count() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("t");
        std::fs::write(
            dir.path().join("t.1"),
            "openat(AT_FDCWD, \"/host/only\", O_RDONLY) = -1 ENOENT (No such file or directory)\nclone(child_stack=NULL, flags=SIGCHLD) = 2\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t.2"),
            "openat(AT_FDCWD, \"/usr/lib/locale/x\", O_RDONLY) = -1 ENOENT (No such file or directory)\nchroot(\"/tmp/j\") = 0\nopenat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = -1 ENOENT (No such file or directory)\nexecve(\"/d\", [\"/d\"], 0x7f /* 1 var */) = 0\nopenat(AT_FDCWD, \"/etc/hosts\", O_RDONLY) = -1 ENOENT (No such file or directory)\nclone(child_stack=NULL, flags=SIGCHLD) = 3\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t.3"),
            "stat(\"/etc/resolv.conf\", 0x7f) = -1 ENOENT (No such file or directory)\n",
        )
        .unwrap();
        let paths: Vec<String> = read(&prefix, Start::Chroot)
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["/d", "/etc/hosts", "/etc/resolv.conf"]);
    }

    #[test]
    fn relative_names_are_taken_from_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("t");
        let enoent = "-1 ENOENT (No such file or directory)";
        let eacces = "-1 EACCES (Permission denied)";
        std::fs::write(
            dir.path().join("t.5"),
            format!(
                "chroot(\"/j\") = 0\n\
                 execve(\"/d\", [\"/d\"], 0x7f /* 1 var */) = 0\n\
                 openat(AT_FDCWD, \"etc/d.conf\", O_RDONLY) = {enoent}\n\
                 chdir(\"/var/lib/d\") = 0\n\
                 openat(AT_FDCWD, \"./d.pid\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = {eacces}\n\
                 mkdir(\"../d/zones\", 0700) = {eacces}\n\
                 clone(child_stack=NULL, flags=SIGCHLD) = 6\n\
                 fchdir(4) = 0\n\
                 openat(AT_FDCWD, \"lost\", O_RDONLY) = {enoent}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t.6"),
            format!(
                "mkdir(\"spool\", 0700) = {eacces}\n\
                 openat(5, \"elsewhere\", O_WRONLY|O_CREAT, 0600) = {eacces}\n"
            ),
        )
        .unwrap();
        let events = read(&prefix, Start::Chroot).unwrap();
        let named: Vec<(String, Option<String>)> =
            events.into_iter().map(|e| (e.path, e.creates)).collect();
        let created = |p: &str| (p.to_string(), Some(p.to_string()));
        assert_eq!(
            named,
            [
                ("/d".to_string(), None),
                // chroot(8) leaves the program at the jail's root.
                ("/etc/d.conf".to_string(), None),
                ("/var/lib/d".to_string(), None),
                created("/var/lib/d/d.pid"),
                created("/var/lib/d/zones"),
                // The child forked in /var/lib/d; the parent's fchdir
                // made its own directory unknown (so "lost" is left out);
                // a name relative to another descriptor is never guessed.
                created("/var/lib/d/spool"),
            ]
        );
    }
}
