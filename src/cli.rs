//! Command-line flags and what each command does with them.
//!
//! Exit codes: 0 when every requested quant was measured, 1 when some quants failed but the
//! others were measured and written, 2 for a usage or setup error (bad flag, profile or
//! registry), in which case nothing was written.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};

use crate::engine::Engine;
use crate::measure::{self, MeasureRequest};
use crate::printer::{Printer, Verbosity};
use crate::probes::function_calling::Category;
use crate::profile::{BenchSettings, DEFAULT_PROFILE};
use crate::quant::QuantLabel;
use crate::quantize;
use crate::registry::DEFAULT_REGISTRY;
use crate::report::{self, OutputFormat, RowStatus};
use crate::sweep::{self, QuantSelection, SweepPlan, PROGRESS_PREFIX};

pub const EXIT_SOME_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "slm-quant",
    version,
    about = "Measure what each GGUF quantization of a model costs and loses"
)]
pub struct Cli {
    /// Print more: -v for decisions and llama.cpp's log, -vv for everything.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Print only results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Never draw progress bars (they are drawn only when stderr is a terminal).
    #[arg(long, global = true)]
    no_progress: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the quants of a profile and write them into the registry.
    Bench(BenchArgs),
    /// Write a GGUF file of another quantization type with llama.cpp's quantizer.
    Quantize(QuantizeArgs),
    /// Measure one GGUF file and write its registry block (run by `bench` for each quant).
    #[command(hide = true)]
    Measure(MeasureArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Profile of the model to measure.
    #[arg(long, default_value = DEFAULT_PROFILE)]
    profile: PathBuf,
    /// Measure every quant the profile declares.
    #[arg(long, conflicts_with = "quant")]
    all_quants: bool,
    /// Measure only this quant (repeatable), e.g. --quant Q8_0.
    #[arg(long, value_parser = parse_label)]
    quant: Vec<QuantLabel>,
    /// Registry file to update.
    #[arg(long, default_value = DEFAULT_REGISTRY)]
    registry: PathBuf,
    /// Format of the table printed on stdout.
    #[arg(long, value_enum, default_value = "md")]
    output: OutputFormat,
    #[command(flatten)]
    overrides: SettingOverrides,
    /// Function-calling categories to run, comma-separated (simple, multiple, parallel,
    /// parallel_multiple, irrelevance, multi_turn), or `none` to skip the probes.
    #[arg(long, value_parser = parse_fc_categories)]
    fc_categories: Option<FcCategories>,
    /// Tokens generated at most per function-calling answer.
    #[arg(long)]
    fc_max_tokens: Option<u32>,
}

/// The categories `--fc-categories` selects.
#[derive(Debug, Clone)]
struct FcCategories(Vec<Category>);

fn parse_fc_categories(text: &str) -> Result<FcCategories, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(FcCategories(Vec::new()));
    }
    let categories = text
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<Category>, String>>()?;
    Ok(FcCategories(categories))
}

/// Flags that replace the profile's `[bench]` settings for one run.
#[derive(Debug, Args)]
struct SettingOverrides {
    /// CPU threads.
    #[arg(long)]
    threads: Option<u32>,
    /// Generated tokens per generation run, comma-separated (e.g. 100,500,1000).
    #[arg(long, value_delimiter = ',')]
    output_lengths: Option<Vec<u32>>,
    /// Prompt lengths in tokens for TTFT and prefill, comma-separated.
    #[arg(long, value_delimiter = ',')]
    context_lengths: Option<Vec<u32>>,
    /// Timed runs per measurement.
    #[arg(long)]
    runs: Option<u32>,
    /// Discarded runs before the timed ones.
    #[arg(long)]
    warmup_runs: Option<u32>,
    /// Seed for generated prompt text.
    #[arg(long)]
    seed: Option<u64>,
    /// Tokens per llama_decode call while processing a prompt.
    #[arg(long)]
    batch_size: Option<u32>,
}

impl SettingOverrides {
    fn apply(&self, settings: &mut BenchSettings) {
        if let Some(threads) = self.threads {
            settings.threads = threads;
        }
        if let Some(lengths) = &self.output_lengths {
            settings.output_lengths = lengths.clone();
        }
        if let Some(lengths) = &self.context_lengths {
            settings.context_lengths = lengths.clone();
        }
        if let Some(runs) = self.runs {
            settings.runs = runs;
        }
        if let Some(warmup_runs) = self.warmup_runs {
            settings.warmup_runs = warmup_runs;
        }
        if let Some(seed) = self.seed {
            settings.seed = seed;
        }
        if let Some(batch_size) = self.batch_size {
            settings.batch_size = batch_size;
        }
    }
}

#[derive(Debug, Args)]
struct QuantizeArgs {
    /// GGUF file to read.
    input: PathBuf,
    /// GGUF file to write.
    output: PathBuf,
    /// Target quantization type, e.g. Q4_K_M.
    #[arg(long = "type", value_parser = parse_label)]
    label: QuantLabel,
    /// Threads for quantizing (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: u32,
}

#[derive(Debug, Args)]
struct MeasureArgs {
    /// What to measure, as JSON.
    #[arg(long)]
    request_json: String,
    /// File the quant's registry block is written to, as JSON.
    #[arg(long)]
    result: PathBuf,
}

fn parse_label(text: &str) -> Result<QuantLabel, String> {
    text.parse()
        .map_err(|error: crate::quant::UnknownQuantLabel| error.to_string())
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(
        Verbosity::from_flags(cli.quiet, cli.verbose),
        cli.no_progress,
    );
    let log_filter = printer.init_logging();

    match run(cli.command, &printer, log_filter) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            printer.line(&format!("error: {error}"));
            for cause in error.chain().skip(1) {
                printer.line(&format!("  caused by: {cause}"));
            }
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(command: Command, printer: &Printer, log_filter: String) -> Result<u8> {
    match command {
        Command::Bench(args) => bench(args, printer, log_filter),
        Command::Quantize(args) => {
            let engine = Engine::init()?;
            quantize::quantize(&engine, &args.input, &args.output, args.label, args.threads)?;
            printer.status(&format!("wrote {} ({})", args.output.display(), args.label));
            Ok(0)
        }
        Command::Measure(args) => measure_command(args),
    }
}

fn bench(args: BenchArgs, printer: &Printer, log_filter: String) -> Result<u8> {
    let selection = match (args.all_quants, args.quant.is_empty()) {
        (true, _) => QuantSelection::All,
        (false, false) => QuantSelection::Only(args.quant.clone()),
        (false, true) => anyhow::bail!(
            "no quants selected; pass --all-quants or --quant LABEL (for example --quant Q8_0)"
        ),
    };
    let mut plan = SweepPlan::new(
        &args.profile,
        &selection,
        |settings| args.overrides.apply(settings),
        &args.registry,
        log_filter,
    )?;
    if let Some(FcCategories(categories)) = &args.fc_categories {
        plan.function_calling.categories = categories.clone();
    }
    if let Some(max_tokens) = args.fc_max_tokens {
        plan.function_calling.max_answer_tokens = max_tokens;
    }
    plan.function_calling
        .validate()
        .map_err(|message| anyhow::anyhow!("invalid settings: {message}"))?;
    printer.status(&format!(
        "measuring {} quant(s) of {} from {}",
        plan.quants.len(),
        plan.profile.id,
        plan.profile_path.display()
    ));

    let rows = sweep::run(&plan, printer)?;
    let table = report::render(&rows, args.output);
    std::io::stdout()
        .write_all(table.as_bytes())
        .context("cannot write to stdout")?;

    let failed = rows
        .iter()
        .filter(|row| row.status == RowStatus::Failed)
        .count();
    if failed > 0 {
        printer.line(&format!(
            "{failed} of {} quant(s) failed; see the errors above",
            rows.len()
        ));
        return Ok(EXIT_SOME_FAILED);
    }
    Ok(0)
}

fn measure_command(args: MeasureArgs) -> Result<u8> {
    let request: MeasureRequest =
        serde_json::from_str(&args.request_json).context("invalid --request-json")?;
    let entry = measure::measure_quant(&request, |message| {
        println!("{PROGRESS_PREFIX}{message}");
        let _ = std::io::stdout().flush();
    })?;
    let json = serde_json::to_string(&entry)?;
    std::fs::write(&args.result, json)
        .with_context(|| format!("cannot write result {}", args.result.display()))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fc_categories_parse() {
        let FcCategories(categories) = parse_fc_categories("simple,parallel-multiple").unwrap();
        assert_eq!(
            categories,
            vec![Category::Simple, Category::ParallelMultiple]
        );
        let FcCategories(none) = parse_fc_categories("none").unwrap();
        assert!(none.is_empty());
        let error = parse_fc_categories("simple,chat").unwrap_err();
        assert!(error.contains("`chat`"), "{error}");
    }
}
