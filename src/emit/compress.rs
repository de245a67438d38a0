//! The archive's compression, on every core. The tar stream is cut into
//! blocks of a fixed size, compressed apart on worker threads and written
//! in order, so the output depends on the input alone, never on how many
//! threads made it. gzip is made as pigz makes it: each block a raw deflate
//! stream primed with the 32 KiB before it (its dictionary) and ended with
//! a sync flush, the last with the final block, under one gzip header and
//! a trailer whose CRC-32 is combined from the blocks'. zstd: one frame a
//! block (concatenated frames are one valid stream). Memory is bounded by
//! the blocks in flight, whatever the archive's size.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Status};

/// gzip blocks: large enough that the sync flush and the reset cost
/// nothing measurable, small enough that two threads stay busy on a
/// small jail.
const GZIP_BLOCK: usize = 256 << 10;
/// deflate's window: each gzip block is primed with this much of the input
/// before it, so cutting the stream costs almost no ratio.
const DICTIONARY: usize = 32 << 10;
/// deflate's memory level: 6 ends a deflate block every 4,096 symbols
/// (zlib's default 8: 16,384), so each block's Huffman codes follow the
/// data more closely. On the benchmark's jail at level 6 the archive is
/// 1.022x `gzip -6` instead of 1.033x, for 10% more time (level 9: smaller
/// than `gzip -9`); level 1 ignores it.
const MEM_LEVEL: i32 = 6;
/// zstd frames: a frame shares nothing with the one before, so larger.
const ZSTD_BLOCK: usize = 1 << 20;

/// How the tar stream is compressed (`--compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

impl Compression {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "gzip" | "gz" => Some(Compression::Gzip),
            "zstd" | "zst" => Some(Compression::Zstd),
            "none" => Some(Compression::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }

    /// The archive's file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => "tar.gz",
            Compression::Zstd => "tar.zst",
            Compression::None => "tar",
        }
    }

    /// gzip -6 and zstd -3, the defaults of both tools.
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Gzip => 6,
            Compression::Zstd => 3,
            Compression::None => 0,
        }
    }

    /// The levels `--compression-level` accepts.
    pub fn levels(self) -> std::ops::RangeInclusive<u32> {
        match self {
            Compression::Gzip => 1..=9,
            Compression::Zstd => 1..=19,
            Compression::None => 0..=0,
        }
    }

    fn block_size(self) -> usize {
        match self {
            Compression::Zstd => ZSTD_BLOCK,
            Compression::Gzip | Compression::None => GZIP_BLOCK,
        }
    }
}

/// What the archive is compressed with, and on how many threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    pub compression: Compression,
    /// `None`: the compression's default level.
    pub level: Option<u32>,
    /// `None`: one per core. The output is the same for any number.
    pub threads: Option<usize>,
}

impl Settings {
    pub fn level(&self) -> u32 {
        self.level
            .unwrap_or_else(|| self.compression.default_level())
    }

    fn threads(&self) -> usize {
        if self.compression == Compression::None {
            return 1;
        }
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    /// Checks the level against the compression's range.
    pub fn check(&self) -> Result<(), String> {
        let range = self.compression.levels();
        if !range.contains(&self.level()) {
            return Err(format!(
                "--compression-level {} for {}: use {} to {}",
                self.level(),
                self.compression.as_str(),
                range.start(),
                range.end()
            ));
        }
        if self.compression == Compression::Zstd && !cfg!(feature = "zstd") {
            return Err(
                "--compression zstd: this jailpack was built without its `zstd` feature".into(),
            );
        }
        Ok(())
    }
}

/// Runs `produce` with a writer whose bytes reach `out` compressed, and
/// hands back `out` with what `produce` returned. An error from `produce`
/// stops the workers and is returned as it is.
pub fn compressed<W, T, E>(
    out: W,
    settings: &Settings,
    produce: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<(W, T), E>
where
    W: Write + Send,
    E: From<io::Error>,
{
    let threads = settings.threads();
    let codec = CodecKind {
        compression: settings.compression,
        level: settings.level(),
    };
    std::thread::scope(|scope| {
        let mut blocks = Blocks::new(out, codec, settings.compression.block_size());
        if threads > 1 {
            let (jobs, queue) = mpsc::sync_channel::<Job>(threads);
            let queue = Arc::new(Mutex::new(queue));
            let (done, results) = mpsc::channel::<Done>();
            for _ in 0..threads {
                let queue = Arc::clone(&queue);
                let done = done.clone();
                scope.spawn(move || worker(codec, &queue, done));
            }
            blocks.pool = Some(Pool {
                jobs,
                results,
                in_flight: 0,
                limit: 2 * threads + 1,
            });
        }
        let value = produce(&mut blocks)?;
        let out = blocks.finish()?;
        Ok((out, value))
    })
}

/// The codec and level every block is compressed with.
#[derive(Debug, Clone, Copy)]
struct CodecKind {
    compression: Compression,
    level: u32,
}

/// One worker's compressor, reused from block to block.
enum Codec {
    /// A deflate state is made for each block: its level.
    Gzip(u32),
    #[cfg(feature = "zstd")]
    Zstd(zstd::bulk::Compressor<'static>),
    None,
}

impl CodecKind {
    fn make(self) -> io::Result<Codec> {
        Ok(match self.compression {
            Compression::Gzip => Codec::Gzip(self.level),
            #[cfg(feature = "zstd")]
            Compression::Zstd => Codec::Zstd(zstd::bulk::Compressor::new(self.level as i32)?),
            #[cfg(not(feature = "zstd"))]
            Compression::Zstd => {
                return Err(io::Error::other(
                    "this jailpack was built without its `zstd` feature",
                ));
            }
            Compression::None => Codec::None,
        })
    }
}

/// A block of the tar stream to compress.
struct Job {
    index: u64,
    /// The input just before this block (gzip's priming dictionary).
    dictionary: Vec<u8>,
    data: Vec<u8>,
    last: bool,
}

/// A block compressed.
struct Done {
    index: u64,
    result: io::Result<Compressed>,
}

struct Compressed {
    bytes: Vec<u8>,
    crc: crc32fast::Hasher,
    input: u64,
}

fn worker(kind: CodecKind, queue: &Mutex<mpsc::Receiver<Job>>, done: mpsc::Sender<Done>) {
    let mut codec = kind.make();
    loop {
        // The lock is held only while waiting for the next job.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let result = match &mut codec {
            Ok(codec) => compress(codec, &job),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        };
        if done
            .send(Done {
                index: job.index,
                result,
            })
            .is_err()
        {
            return;
        }
    }
}

fn compress(codec: &mut Codec, job: &Job) -> io::Result<Compressed> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&job.data);
    let bytes = match codec {
        Codec::Gzip(level) => deflate_block(*level, job)?,
        #[cfg(feature = "zstd")]
        Codec::Zstd(zstd) => zstd.compress(&job.data)?,
        Codec::None => job.data.clone(),
    };
    Ok(Compressed {
        bytes,
        crc,
        input: job.data.len() as u64,
    })
}

/// One block as raw deflate, primed with the block before it, ended with
/// a sync flush (a byte boundary, so the next block's stream follows it)
/// or, for the last, the final block.
fn deflate_block(level: u32, job: &Job) -> io::Result<Vec<u8>> {
    let failed = |e: zlib_rs::DeflateError| io::Error::other(format!("deflate: {}", e.as_str()));
    // A fresh state for each block: after a reset, deflate may still match
    // against what an earlier block left in its window, which would make
    // the bytes depend on which thread compressed which blocks before.
    let mut deflate = Deflate::new_with_config(DeflateConfig {
        level: level as i32,
        // Raw deflate (no zlib header), deflate's full 32 KiB window.
        window_bits: -15,
        mem_level: MEM_LEVEL,
        ..DeflateConfig::default()
    });
    if !job.dictionary.is_empty() {
        deflate.set_dictionary(&job.dictionary).map_err(failed)?;
    }
    let flush = if job.last {
        DeflateFlush::Finish
    } else {
        DeflateFlush::SyncFlush
    };
    let mut out = Vec::new();
    let mut input = &job.data[..];
    loop {
        let room = (input.len() / 2).max(64 << 10);
        let start = out.len();
        out.resize(start + room, 0);
        let (before_in, before_out) = (deflate.total_in(), deflate.total_out());
        let status = deflate
            .compress(input, &mut out[start..], flush)
            .map_err(failed)?;
        input = &input[(deflate.total_in() - before_in) as usize..];
        let produced = (deflate.total_out() - before_out) as usize;
        out.truncate(start + produced);
        match status {
            Status::StreamEnd => break,
            // A sync flush is complete once the input is taken and the
            // output was not filled: deflate had all the room it wanted.
            _ if !job.last && input.is_empty() && produced < room => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Blocks handed to the workers.
struct Pool {
    jobs: mpsc::SyncSender<Job>,
    results: mpsc::Receiver<Done>,
    in_flight: usize,
    /// Blocks queued or being compressed at most: what bounds memory.
    limit: usize,
}

/// The writer `produce` writes the tar stream to: cuts it into blocks and
/// writes the compressed blocks to `out` in order.
struct Blocks<W: Write> {
    out: Option<W>,
    kind: CodecKind,
    block_size: usize,
    current: Vec<u8>,
    dictionary: Vec<u8>,
    next_index: u64,
    next_to_write: u64,
    /// Compressed blocks that came back before an earlier one.
    waiting: BTreeMap<u64, Compressed>,
    crc: crc32fast::Hasher,
    input: u64,
    header_written: bool,
    /// No pool: one thread, blocks compressed here.
    pool: Option<Pool>,
    inline: Option<Codec>,
}

impl<W: Write> Blocks<W> {
    fn new(out: W, kind: CodecKind, block_size: usize) -> Self {
        Blocks {
            out: Some(out),
            kind,
            block_size,
            current: Vec::with_capacity(block_size),
            dictionary: Vec::new(),
            next_index: 0,
            next_to_write: 0,
            waiting: BTreeMap::new(),
            crc: crc32fast::Hasher::new(),
            input: 0,
            header_written: false,
            pool: None,
            inline: None,
        }
    }

    fn out(&mut self) -> &mut W {
        self.out.as_mut().expect("written to after finish")
    }

    fn submit(&mut self, last: bool) -> io::Result<()> {
        let data = std::mem::replace(&mut self.current, Vec::with_capacity(self.block_size));
        let dictionary = match self.kind.compression {
            Compression::Gzip => {
                let tail = data.len().saturating_sub(DICTIONARY);
                std::mem::replace(&mut self.dictionary, data[tail..].to_vec())
            }
            _ => Vec::new(),
        };
        let job = Job {
            index: self.next_index,
            dictionary,
            data,
            last,
        };
        self.next_index += 1;
        match &mut self.pool {
            Some(pool) => {
                pool.jobs
                    .send(job)
                    .map_err(|_| io::Error::other("a compression thread stopped"))?;
                pool.in_flight += 1;
                // Write what is ready; wait while too much is in flight.
                while let Some(done) = self.next_done()? {
                    self.accept(done)?;
                }
            }
            None => {
                if self.inline.is_none() {
                    self.inline = Some(self.kind.make()?);
                }
                let codec = self.inline.as_mut().expect("made above");
                let result = compress(codec, &job);
                self.accept(Done {
                    index: job.index,
                    result,
                })?;
            }
        }
        Ok(())
    }

    /// A finished block, waiting for one while the pool is full.
    fn next_done(&mut self) -> io::Result<Option<Done>> {
        let Some(pool) = &mut self.pool else {
            return Ok(None);
        };
        if pool.in_flight == 0 {
            return Ok(None);
        }
        let done = if pool.in_flight >= pool.limit {
            Some(
                pool.results
                    .recv()
                    .map_err(|_| io::Error::other("a compression thread stopped"))?,
            )
        } else {
            pool.results.try_recv().ok()
        };
        if done.is_some() {
            pool.in_flight -= 1;
        }
        Ok(done)
    }

    fn accept(&mut self, done: Done) -> io::Result<()> {
        self.waiting.insert(done.index, done.result?);
        while let Some(block) = self.waiting.remove(&self.next_to_write) {
            self.write_block(block)?;
            self.next_to_write += 1;
        }
        Ok(())
    }

    fn write_block(&mut self, block: Compressed) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            if self.kind.compression == Compression::Gzip {
                let header = gzip_header(self.kind.level);
                self.out().write_all(&header)?;
            }
        }
        self.crc.combine(&block.crc);
        self.input += block.input;
        self.out().write_all(&block.bytes)
    }

    /// Compresses the rest, writes the gzip trailer and hands `out` back.
    fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while self.next_to_write < self.next_index {
            let pool = self.pool.as_mut().expect("blocks left only with a pool");
            let done = pool
                .results
                .recv()
                .map_err(|_| io::Error::other("a compression thread stopped"))?;
            pool.in_flight -= 1;
            self.accept(done)?;
        }
        if self.kind.compression == Compression::Gzip {
            let crc = std::mem::take(&mut self.crc).finalize();
            let size = self.input as u32;
            let out = self.out();
            out.write_all(&crc.to_le_bytes())?;
            out.write_all(&size.to_le_bytes())?;
        }
        let mut out = self.out.take().expect("finished once");
        out.flush()?;
        Ok(out)
    }
}

impl<W: Write> Write for Blocks<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.block_size - self.current.len();
        let taken = buf.len().min(room);
        self.current.extend_from_slice(&buf[..taken]);
        if self.current.len() == self.block_size {
            self.submit(false)?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// RFC 1952's header as gzip writes it, with no name and an mtime of 0 so
/// nothing varies; XFL says "best" or "fastest" as gzip -9 and -1 do, and
/// OS 255 (unknown) keeps the bytes the same whatever host made them.
fn gzip_header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Input that compresses somewhat, with repeats further apart than a block.
    fn sample(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if i % 3 == 0 {
                    (state % 26) as u8 + b'a'
                } else {
                    b"the jail and its closure "[i % 25]
                }
            })
            .collect()
    }

    fn run(settings: Settings, input: &[u8]) -> Vec<u8> {
        let (out, ()) = compressed(Vec::new(), &settings, |w| w.write_all(input)).unwrap();
        out
    }

    #[test]
    fn gzip_is_one_stream_whatever_the_threads_and_the_same_bytes() {
        // Regression: with one deflate state reset between blocks, a long
        // input gave other bytes on two threads than on one.
        for len in [
            0,
            1,
            GZIP_BLOCK - 1,
            GZIP_BLOCK,
            3 * GZIP_BLOCK + 77,
            40 * GZIP_BLOCK,
        ] {
            let input = sample(len);
            let outputs: Vec<Vec<u8>> = [1, 2, 5]
                .iter()
                .map(|&threads| {
                    run(
                        Settings {
                            threads: Some(threads),
                            ..Settings::default()
                        },
                        &input,
                    )
                })
                .collect();
            assert!(outputs.windows(2).all(|w| w[0] == w[1]), "len {len}");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&outputs[0][..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == input, "len {len}: the round trip differs");
            // gzip -t checks the CRC and the size in the trailer too.
            let mut gzip = std::process::Command::new("gzip")
                .args(["-t", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            gzip.stdin.take().unwrap().write_all(&outputs[0]).unwrap();
            assert!(gzip.wait().unwrap().success(), "gzip -t, len {len}");
        }
    }

    #[test]
    fn zstd_frames_decode_whatever_the_threads() {
        if !cfg!(feature = "zstd") {
            return;
        }
        let input = sample(2 * ZSTD_BLOCK + 5);
        let settings = |threads| Settings {
            compression: Compression::Zstd,
            threads: Some(threads),
            ..Settings::default()
        };
        let one = run(settings(1), &input);
        assert_eq!(one, run(settings(2), &input));
        let mut zstd = std::process::Command::new("zstd")
            .args(["-d", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = zstd.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&one).unwrap());
        let output = zstd.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(output.status.success());
        assert!(output.stdout == input, "zstd -d gave other bytes");
    }

    #[test]
    fn levels_out_of_range_are_refused() {
        let bad = Settings {
            level: Some(10),
            ..Settings::default()
        };
        assert!(bad.check().unwrap_err().contains("1 to 9"));
        assert!(Settings::default().check().is_ok());
    }
}
