//! A cargo-style progress line on stderr while the archive is made: bytes
//! and files of the total, redrawn at most ten times a second and erased
//! when done. Nothing at all when stderr is not a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::emit::archive::Progress;

/// Nothing is drawn for a run shorter than this: no flicker on a small jail.
const FIRST_DRAW: Duration = Duration::from_millis(300);
const REDRAW: Duration = Duration::from_millis(100);
const BAR: usize = 25;

pub(super) struct ProgressLine {
    enabled: bool,
    started: Instant,
    last: Option<Instant>,
}

impl ProgressLine {
    /// On when stderr is a terminal (and `TERM` is not `dumb`).
    pub fn new() -> Self {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        ProgressLine {
            enabled: std::io::stderr().is_terminal() && !dumb,
            started: Instant::now(),
            last: None,
        }
    }

    pub fn update(&mut self, progress: Progress) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let due = match self.last {
            None => now.duration_since(self.started) >= FIRST_DRAW,
            Some(last) => now.duration_since(last) >= REDRAW,
        };
        if !due || progress.files == progress.total_files {
            return;
        }
        self.last = Some(now);
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r{}\x1b[K", line(&progress));
        let _ = stderr.flush();
    }

    /// Erases the line, if one was drawn.
    pub fn clear(&mut self) {
        if self.last.take().is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `     Packing [=========>               ] 45.2/133.0 MiB, 600/1463 files`
fn line(progress: &Progress) -> String {
    let fraction = if progress.total_bytes == 0 {
        progress.files as f64 / progress.total_files.max(1) as f64
    } else {
        progress.bytes as f64 / progress.total_bytes as f64
    };
    let filled = ((fraction * BAR as f64) as usize).min(BAR);
    let bar: String = (0..BAR)
        .map(|i| match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        })
        .collect();
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    format!(
        "{:>12} [{bar}] {:.1}/{:.1} MiB, {}/{} files",
        "Packing",
        mib(progress.bytes),
        mib(progress.total_bytes),
        progress.files,
        progress.total_files
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_bytes_and_files_of_the_total() {
        let text = line(&Progress {
            bytes: 50 << 20,
            total_bytes: 100 << 20,
            files: 3,
            total_files: 7,
        });
        assert_eq!(
            text,
            "     Packing [============>            ] 50.0/100.0 MiB, 3/7 files"
        );
    }
}
