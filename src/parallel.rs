//! Independent work on every core, its results in the order of its inputs
//! (so the first error in a list is the one a loop would have met first).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Items a thread takes at once, at most.
const MAX_CHUNK: usize = 16;

/// `work` applied to each item on as many threads as there are cores, the
/// results in the items' order.
pub fn map<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    if threads == 1 {
        // One item or one core: no thread to start.
        return items.iter().map(work).collect();
    }
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    // Neighbouring items taken together (a run of programs
                    // of one package shares its libraries, which then stay
                    // in one core's cache), fewer together towards the end
                    // so that the threads finish together.
                    let left = items.len().saturating_sub(next.load(Ordering::Relaxed));
                    let chunk = (left / (threads * 4)).clamp(1, MAX_CHUNK);
                    let start = next.fetch_add(chunk, Ordering::Relaxed);
                    let Some(chunk) = items.get(start..(start + chunk).min(items.len())) else {
                        return;
                    };
                    let done: Vec<R> = chunk.iter().map(&work).collect();
                    if let Ok(mut results) = results.lock() {
                        for (slot, result) in results[start..].iter_mut().zip(done) {
                            *slot = Some(result);
                        }
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item was worked on"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_order_of_the_items() {
        let items: Vec<u64> = (0..1000).collect();
        let squares = super::map(&items, |n| n * n);
        assert_eq!(squares, items.iter().map(|n| n * n).collect::<Vec<_>>());
        assert!(super::map(&[] as &[u8], |_| 0).is_empty());
    }
}
