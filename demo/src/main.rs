//! daytimed: an RFC 867 daytime server, small enough to read in one sitting
//! and real enough to need a jail with more than its ELF closure in it.
//!
//! - The listen address is resolved *by name* through the C library
//!   (`getaddrinfo`, reached through std's `ToSocketAddrs`), so inside a jail
//!   it needs /etc/nsswitch.conf and /etc/hosts.
//! - The time is formatted by the C library in the local time zone, so it
//!   needs /etc/localtime.
//! - It stays in the foreground and logs to stderr, as a supervised daemon
//!   (rc.d's `rc_bg`, systemd's `Type=simple`) should.

use std::ffi::CStr;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::process::ExitCode;

const USAGE: &str = "usage: daytimed [--listen HOST:PORT]";
const DEFAULT_LISTEN: &str = "localhost:8013";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("daytimed: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let listen = parse_args(std::env::args().skip(1))?;
    let addr = resolve(&listen)?;
    let listener =
        TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr} ({listen}): {e}"))?;
    // Load the zone file now, while the whole jail is still visible.
    let zone = local_time("%Z %z")?;
    sandbox::restrict()?;
    eprintln!("daytimed: listening on {addr} ({listen}), time zone {zone}");
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("daytimed: accept: {e}");
                continue;
            }
        };
        // RFC 867 leaves the format free; this is the weekday, date, time
        // and the numeric offset plus name of the local zone.
        let line = local_time("%A, %B %d, %Y %H:%M:%S %z %Z")?;
        if let Err(e) = stream.write_all(format!("{line}\r\n").as_bytes()) {
            eprintln!("daytimed: write: {e}");
        }
    }
    Ok(())
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<String, String> {
    let mut listen = DEFAULT_LISTEN.to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" | "-l" => {
                listen = args
                    .next()
                    .ok_or_else(|| format!("--listen needs HOST:PORT\n{USAGE}"))?
            }
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(listen)
}

/// Resolves `host:port` by name through the C library's resolver.
fn resolve(listen: &str) -> Result<SocketAddr, String> {
    let (host, port) = listen
        .rsplit_once(':')
        .ok_or_else(|| format!("listen address {listen:?} is not HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("bad port in listen address {listen:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve listen address {listen}: {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("listen address {listen} resolves to nothing"))
}

/// The current time formatted by the C library in the local time zone.
fn local_time(format: &str) -> Result<String, String> {
    let format = std::ffi::CString::new(format).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 128];
    // SAFETY: time, localtime_r and strftime are given valid pointers to
    // locals; strftime writes at most buf.len() bytes including the NUL.
    let written = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return Err("localtime_r failed".to_string());
        }
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), format.as_ptr(), &tm)
    };
    if written == 0 {
        return Err("strftime produced nothing".to_string());
    }
    let text = CStr::from_bytes_until_nul(&buf).map_err(|e| e.to_string())?;
    Ok(text.to_string_lossy().into_owned())
}

#[cfg(target_os = "openbsd")]
mod sandbox {
    use std::ffi::CString;
    use std::os::raw::{c_char, c_int};

    unsafe extern "C" {
        fn pledge(promises: *const c_char, execpromises: *const c_char) -> c_int;
        fn unveil(path: *const c_char, permissions: *const c_char) -> c_int;
    }

    /// After binding and loading the zone, the daemon needs no file system
    /// and no new sockets: hide the file system and keep stdio + accept.
    pub fn restrict() -> Result<(), String> {
        let promises = CString::new("stdio inet").map_err(|e| e.to_string())?;
        // SAFETY: NULL, NULL locks unveil; promises is a valid C string.
        unsafe {
            if unveil(std::ptr::null(), std::ptr::null()) == -1 {
                return Err(format!("unveil: {}", std::io::Error::last_os_error()));
            }
            if pledge(promises.as_ptr(), std::ptr::null()) == -1 {
                return Err(format!("pledge: {}", std::io::Error::last_os_error()));
            }
        }
        Ok(())
    }
}

#[cfg(not(target_os = "openbsd"))]
mod sandbox {
    /// Elsewhere the jail and the service manager do the restricting.
    pub fn restrict() -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn listen_defaults_and_overrides() {
        assert_eq!(parse_args(args(&[])).unwrap(), DEFAULT_LISTEN);
        assert_eq!(
            parse_args(args(&["--listen", "127.0.0.1:99"])).unwrap(),
            "127.0.0.1:99"
        );
        assert!(
            parse_args(args(&["--bogus"]))
                .unwrap_err()
                .contains("--bogus")
        );
    }

    #[test]
    fn numeric_address_resolves_and_bad_port_is_refused() {
        assert_eq!(
            resolve("127.0.0.1:8013").unwrap(),
            "127.0.0.1:8013".parse::<SocketAddr>().unwrap()
        );
        assert!(resolve("[::1]:13").unwrap().is_ipv6());
        assert!(resolve("localhost:http").unwrap_err().contains("bad port"));
    }

    #[test]
    fn local_time_names_a_zone() {
        let zone = local_time("%z").unwrap();
        assert_eq!(zone.len(), 5, "numeric offset like +0100, got {zone:?}");
    }
}
