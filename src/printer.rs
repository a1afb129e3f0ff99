//! The stderr display of slm-quant: log lines, warnings and progress bars. One value decides
//! it for `-q`, `-v` and `--no-progress`, and bars appear only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// How much is printed besides the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
    Trace,
}

impl Verbosity {
    pub fn from_flags(quiet: bool, verbose: u8) -> Verbosity {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, 1) => Verbosity::Verbose,
            (false, _) => Verbosity::Trace,
        }
    }

    /// Returns the `tracing` filter for this level. llama.cpp's own lines (target `llama-cpp-2`)
    /// are shown from `-v` on, except its errors, which are always shown.
    pub fn filter(self) -> String {
        match self {
            Verbosity::Quiet => "error".into(),
            Verbosity::Normal => "warn,llama-cpp-2=error".into(),
            Verbosity::Verbose => "info,slm_quant=debug,llama-cpp-2=info".into(),
            Verbosity::Trace => "debug,slm_quant=trace".into(),
        }
    }
}

/// The stderr display of one command.
#[derive(Clone)]
pub struct Printer {
    verbosity: Verbosity,
    bars: MultiProgress,
    show_bars: bool,
}

impl Printer {
    pub fn new(verbosity: Verbosity, no_progress: bool) -> Printer {
        let show_bars =
            verbosity != Verbosity::Quiet && !no_progress && std::io::stderr().is_terminal();
        let target = if show_bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Printer {
            verbosity,
            bars: MultiProgress::with_draw_target(target),
            show_bars,
        }
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// Installs the global `tracing` subscriber, writing through this printer so log lines
    /// do not tear the progress bars. `RUST_LOG`, when set, replaces the level's filter.
    pub fn init_logging(&self) -> String {
        let filter = std::env::var("RUST_LOG")
            .ok()
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| self.verbosity.filter());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(&filter))
            .with_writer(self.clone())
            .with_target(self.verbosity >= Verbosity::Verbose)
            // Colour codes only for a person at a terminal: logs piped to a file or CI, and
            // the measuring processes' lines that `bench` relays, stay plain text.
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .without_time()
            .try_init();
        filter
    }

    /// Creates a spinner for one quant, hidden when bars are off.
    pub fn quant_bar(&self, quant: &str) -> ProgressBar {
        if !self.show_bars {
            return ProgressBar::hidden();
        }
        let bar = self.bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:>8} [{elapsed_precise}] {msg}")
                .expect("valid template"),
        );
        bar.set_prefix(quant.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Prints a status line on stderr, unless quiet.
    pub fn status(&self, message: &str) {
        if self.verbosity > Verbosity::Quiet {
            self.line(message);
        }
    }

    /// Prints a line on stderr, above any progress bars.
    pub fn line(&self, message: &str) {
        self.bars.suspend(|| eprintln!("{message}"));
    }
}

/// Writer handed to `tracing`: each write goes to stderr with the bars suspended.
pub struct PrinterWriter {
    bars: MultiProgress,
}

impl Write for PrinterWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bars.suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for Printer {
    type Writer = PrinterWriter;

    fn make_writer(&'a self) -> Self::Writer {
        PrinterWriter {
            bars: self.bars.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_to_levels() {
        assert_eq!(Verbosity::from_flags(true, 2), Verbosity::Quiet);
        assert_eq!(Verbosity::from_flags(false, 0), Verbosity::Normal);
        assert_eq!(Verbosity::from_flags(false, 1), Verbosity::Verbose);
        assert_eq!(Verbosity::from_flags(false, 3), Verbosity::Trace);
    }

    #[test]
    fn normal_level_hides_llama_cpp_info() {
        assert!(Verbosity::Normal.filter().contains("llama-cpp-2=error"));
        assert!(Verbosity::Verbose.filter().contains("llama-cpp-2=info"));
    }
}
