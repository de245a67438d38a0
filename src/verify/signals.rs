//! SIGINT, SIGTERM and SIGHUP while verify or doctor runs: instead of dying
//! on the spot (which would leave the scratch folder, an extracted jail,
//! behind in TMPDIR), the process notes the signal; the extraction loop and
//! the run's wait loop look at the note, end the run and return
//! [`Error::Interrupted`](crate::Error::Interrupted), and the scratch
//! folder's drop removes it on the way out.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::error::{Error, Result};

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The signal that arrived, 0 for none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Only an atomic store: the one thing a handler may safely do here.
extern "C" fn note(signal: libc::c_int) {
    RECEIVED.store(signal, Ordering::SeqCst);
}

/// The handlers, installed for as long as this lives; the previous ones
/// come back on drop. Process-wide: one verify at a time per process.
pub struct Handlers {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

/// Installs the handlers and forgets any earlier signal.
pub fn install() -> Result<Handlers> {
    RECEIVED.store(0, Ordering::SeqCst);
    let mut handlers = Handlers {
        previous: Vec::new(),
    };
    for signal in SIGNALS {
        // SAFETY: a zeroed sigaction is valid; the handler only stores an
        // atomic, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, &action, &mut previous) != 0 {
                return Err(Error::Tool {
                    tool: "verify".into(),
                    message: format!(
                        "cannot install a handler for {}: {}",
                        name(signal),
                        std::io::Error::last_os_error()
                    ),
                });
            }
            handlers.previous.push((signal, previous));
        }
    }
    Ok(handlers)
}

impl Drop for Handlers {
    fn drop(&mut self) {
        for (signal, previous) in &self.previous {
            // SAFETY: restores the action sigaction gave back earlier.
            unsafe { libc::sigaction(*signal, previous, std::ptr::null_mut()) };
        }
    }
}

/// `Err(Interrupted)` once one of the signals arrived.
pub fn check() -> Result<()> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => Ok(()),
        signal => Err(Error::Interrupted {
            signal: name(signal).to_string(),
        }),
    }
}

fn name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_noted_while_installed() {
        let handlers = install().unwrap();
        assert!(check().is_ok());
        // SAFETY: the handler installed above only stores an atomic.
        unsafe { libc::raise(libc::SIGHUP) };
        let err = check().unwrap_err().to_string();
        assert!(err.contains("SIGHUP"), "{err}");
        drop(handlers);
        // Installing again forgets it.
        let _handlers = install().unwrap();
        assert!(check().is_ok());
    }
}
