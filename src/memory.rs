//! Memory readings of the current process from `/proc/self/status`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Resident-set figures of this process, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryReading {
    /// Current resident set (`VmRSS`).
    pub rss_bytes: u64,
    /// The kernel's high-water mark of the resident set since the process started (`VmHWM`).
    pub peak_rss_bytes: u64,
    /// Anonymous resident memory (`RssAnon`): buffers, KV cache, repacked weights.
    pub rss_anon_bytes: u64,
    /// File-backed resident memory (`RssFile`): mmapped model pages that were touched.
    pub rss_file_bytes: u64,
}

/// Reads this process's memory figures, or `None` where `/proc` is not available.
pub fn read_self() -> Option<MemoryReading> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status(&status)
}

fn parse_status(status: &str) -> Option<MemoryReading> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some(MemoryReading {
        rss_bytes: field("VmRSS:")?,
        peak_rss_bytes: field("VmHWM:")?,
        rss_anon_bytes: field("RssAnon:").unwrap_or(0),
        rss_file_bytes: field("RssFile:").unwrap_or(0),
    })
}

/// Samples `RssAnon` on a background thread. The kernel keeps a peak of the whole resident
/// set (`VmHWM`) but not of its anonymous part, so that peak is tracked here, every 10 ms.
pub struct AnonPeakSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl AnonPeakSampler {
    pub fn start() -> AnonPeakSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let peak = Arc::clone(&peak);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(reading) = read_self() {
                        peak.fetch_max(reading.rss_anon_bytes, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        AnonPeakSampler {
            peak,
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling and returns the highest `RssAnon` seen, in bytes.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        if let Some(reading) = read_self() {
            self.peak
                .fetch_max(reading.rss_anon_bytes, Ordering::Relaxed);
        }
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tslm-quant\nVmPeak:\t  900000 kB\nVmHWM:\t  204800 kB\n\
                          VmRSS:\t  102400 kB\nRssAnon:\t   51200 kB\nRssFile:\t   51200 kB\n";

    #[test]
    fn status_fields_are_read_in_bytes() {
        let reading = parse_status(STATUS).unwrap();
        assert_eq!(reading.peak_rss_bytes, 200 * 1024 * 1024);
        assert_eq!(reading.rss_bytes, 100 * 1024 * 1024);
        assert_eq!(reading.rss_anon_bytes, 50 * 1024 * 1024);
        assert_eq!(reading.rss_file_bytes, 50 * 1024 * 1024);
    }

    #[test]
    fn status_without_rss_is_none() {
        assert!(parse_status("Name:\tx\n").is_none());
    }

    #[test]
    fn own_process_has_positive_peak() {
        let reading = read_self().unwrap();
        assert!(reading.peak_rss_bytes >= reading.rss_bytes);
        assert!(reading.rss_bytes > 0);
    }

    #[test]
    fn sampler_sees_a_large_allocation() {
        let sampler = AnonPeakSampler::start();
        let block = vec![1u8; 64 * 1024 * 1024];
        std::thread::sleep(Duration::from_millis(50));
        let peak = sampler.finish();
        assert!(block.iter().all(|&b| b == 1));
        assert!(peak >= 64 * 1024 * 1024, "peak {peak}");
    }
}
