//! Command-line flags and what each command does with them.
//!
//! Exit codes: 0 when every requested quant was measured, 1 when some quants failed but the
//! others were measured and written, 2 for a usage or setup error (bad flag, profile or
//! registry), in which case nothing was written.
//!
//! `registry merge` exits with 1 when some fragments were rejected (the others are merged and
//! written), and `compare --fail-on-regression` exits with 1 when a regression is flagged.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};

use crate::compare::{self, CompareFormat, DEFAULT_MIN_CHANGE_PERCENT};
use crate::engine::Engine;
use crate::fragment::Fragment;
use crate::measure::{self, MeasureRequest};
use crate::merge;
use crate::overview::table::ReportFormat;
use crate::plan::{self, DEFAULT_PROFILES_DIR};
use crate::printer::{Printer, Verbosity};
use crate::probes::function_calling::Category;
use crate::probes::rag;
use crate::profile::{BenchSettings, DEFAULT_PROFILE};
use crate::quality::evaluate::{self, ReferenceRequest};
use crate::quality::orchestrate::QualityPlan;
use crate::quant::QuantLabel;
use crate::quantize;
use crate::registry::{Registry, DEFAULT_REGISTRY};
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
    Bench(Box<BenchArgs>),
    /// Write a GGUF file of another quantization type with llama.cpp's quantizer.
    Quantize(QuantizeArgs),
    /// Measure one GGUF file and write its registry block (run by `bench` for each quant).
    #[command(hide = true)]
    Measure(MeasureArgs),
    /// List the (profile, quant) jobs of a sweep, as a GitHub Actions matrix with --json.
    Plan(PlanArgs),
    /// Work on the registry file.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Show how each metric changed between two registries, and flag changes beyond noise.
    Compare(CompareArgs),
    /// Print each model's quants side by side, with ratios to the reference quant.
    Report(ReportArgs),
    /// Write a static HTML site (index and one page per model) from the registry.
    Site(SiteArgs),
    /// Compute the reference quant's log-probabilities over the evaluation text (run by
    /// `bench` before the quants are compared with it).
    #[command(hide = true)]
    Reference(ReferenceArgs),
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// Folder of profile files (*.toml).
    #[arg(long, default_value = DEFAULT_PROFILES_DIR)]
    profiles: PathBuf,
    /// Print the matrix as one line of JSON (`{"include": [...]}`) instead of a job list.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Fold fragments written by `bench --fragment` into the registry; a fragment replaces a
    /// stored quant only when it was measured later.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// Fragment files to merge.
    #[arg(required = true)]
    fragments: Vec<PathBuf>,
    /// Registry file to update.
    #[arg(long, default_value = DEFAULT_REGISTRY)]
    registry: PathBuf,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// Registry before (a missing file counts as an empty registry).
    old: PathBuf,
    /// Registry after.
    new: PathBuf,
    /// Exit with code 1 when any metric regressed beyond noise.
    #[arg(long)]
    fail_on_regression: bool,
    /// Smallest change, in percent of the old mean, that can be flagged.
    #[arg(long, default_value_t = DEFAULT_MIN_CHANGE_PERCENT)]
    min_change_percent: f64,
    /// Format printed on stdout: Markdown (for $GITHUB_STEP_SUMMARY) or JSON.
    #[arg(long, value_enum, default_value = "md")]
    output: CompareFormat,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// Registry file to read.
    #[arg(long, default_value = DEFAULT_REGISTRY)]
    registry: PathBuf,
    /// Report only this model id.
    #[arg(long)]
    model: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "md")]
    output: ReportFormat,
}

#[derive(Debug, Args)]
struct SiteArgs {
    /// Folder to write the site into; created when missing, its pages are overwritten.
    #[arg(long)]
    out: PathBuf,
    /// Registry file to read.
    #[arg(long, default_value = DEFAULT_REGISTRY)]
    registry: PathBuf,
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
    /// Measure even quants whose stored result has the same file sha256, settings and build.
    #[arg(long)]
    force: bool,
    /// Also write the quant's result as a fragment file for `registry merge` (one quant only).
    #[arg(long)]
    fragment: Option<PathBuf>,
    #[command(flatten)]
    overrides: SettingOverrides,
    #[command(flatten)]
    quality: QualityArgs,
    /// RAG probe families to run on each quant, comma-separated (niah, ruler, grounded,
    /// multi_hop), or `none`; replaces the profile's `rag.families`.
    #[arg(long, value_name = "FAMILIES")]
    rag_families: Option<String>,
    /// Function-calling categories to run, comma-separated (simple, multiple, parallel,
    /// parallel_multiple, irrelevance, multi_turn), or `none` to skip the probes.
    #[arg(long, value_parser = parse_fc_categories)]
    fc_categories: Option<FcCategories>,
    /// Tokens generated at most per function-calling answer.
    #[arg(long)]
    fc_max_tokens: Option<u32>,
}

/// Flags that replace the profile's `[quality]` settings for one run.
#[derive(Debug, Args)]
struct QualityArgs {
    /// Measure speed and memory only, without comparing with the reference quant.
    #[arg(long)]
    no_quality: bool,
    /// UTF-8 text file to measure quality on, instead of the generated prose.
    #[arg(long, value_name = "FILE", conflicts_with = "no_quality")]
    eval_text: Option<PathBuf>,
    /// Chunks of the evaluation text scored for quality.
    #[arg(long, value_name = "N", conflicts_with = "no_quality")]
    quality_chunks: Option<u32>,
    /// Tokens per quality chunk; the second half of each chunk is scored.
    #[arg(long, value_name = "N", conflicts_with = "no_quality")]
    quality_ctx: Option<u32>,
    /// Folder of cached reference log-probabilities (default: ~/.cache/slm-quant/quality).
    #[arg(long, value_name = "DIR", conflicts_with = "no_quality")]
    quality_cache: Option<PathBuf>,
}

impl QualityArgs {
    fn apply(&self, plan: &mut Option<QualityPlan>) -> Result<()> {
        if self.no_quality {
            *plan = None;
            return Ok(());
        }
        let Some(plan) = plan else { return Ok(()) };
        if let Some(path) = &self.eval_text {
            plan.settings.eval_text = Some(path.clone());
        }
        if let Some(n_chunks) = self.quality_chunks {
            plan.settings.n_chunks = n_chunks;
        }
        if let Some(n_ctx) = self.quality_ctx {
            plan.settings.n_ctx = n_ctx;
        }
        if let Some(dir) = &self.quality_cache {
            plan.cache_dir = dir.clone();
        }
        plan.settings
            .validate()
            .map_err(|message| anyhow::anyhow!("invalid settings: {message}"))
    }
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
struct ReferenceArgs {
    /// Reference request, as JSON.
    #[arg(long)]
    request_json: String,
}

#[derive(Debug, Args)]
struct MeasureArgs {
    /// Measurement request as JSON.
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
        Command::Bench(args) => bench(*args, printer, log_filter),
        Command::Quantize(args) => {
            let engine = Engine::init()?;
            quantize::quantize(&engine, &args.input, &args.output, args.label, args.threads)?;
            printer.status(&format!("wrote {} ({})", args.output.display(), args.label));
            Ok(0)
        }
        Command::Measure(args) => measure_command(args),
        Command::Plan(args) => plan_command(args),
        Command::Registry(RegistryCommand::Merge(args)) => merge_command(args, printer),
        Command::Compare(args) => compare_command(args),
        Command::Report(args) => report_command(args),
        Command::Site(args) => site_command(args, printer),
        Command::Reference(args) => reference_command(args),
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
    plan.force = args.force;
    if args.fragment.is_some() && plan.quants.len() != 1 {
        anyhow::bail!(
            "--fragment writes one quant, but {} are selected; pass exactly one --quant",
            plan.quants.len()
        );
    }
    args.quality.apply(&mut plan.quality)?;
    if let Some(families) = &args.rag_families {
        plan.rag.families = rag::parse_families(families)
            .map_err(|message| anyhow::anyhow!("invalid --rag-families: {message}"))?;
    }
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
    if let Some(path) = &args.fragment {
        write_fragment(&plan, &rows, path, printer)?;
    }
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

/// Writes the fragment of the sweep's one quant, unless that quant failed.
fn write_fragment(
    plan: &SweepPlan,
    rows: &[report::SweepRow],
    path: &std::path::Path,
    printer: &Printer,
) -> Result<()> {
    let (Some(row), Some(&label)) = (rows.first(), plan.quants.first()) else {
        return Ok(());
    };
    let Some(entry) = &row.result else {
        printer.line(&format!(
            "no fragment written to {}: quant {label} failed",
            path.display()
        ));
        return Ok(());
    };
    let reused = row.status == RowStatus::Skipped;
    let fragment = Fragment::new(
        &plan.profile,
        &plan.profile_path,
        label,
        entry.clone(),
        reused,
    );
    fragment.save(path)?;
    printer.status(&format!("wrote fragment {}", path.display()));
    Ok(())
}

fn plan_command(args: PlanArgs) -> Result<u8> {
    let matrix = plan::plan(&args.profiles)?;
    let text = if args.json {
        serde_json::to_string(&matrix)? + "\n"
    } else {
        plan::render_text(&matrix)
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    Ok(0)
}

fn report_command(args: ReportArgs) -> Result<u8> {
    let registry = existing_registry(&args.registry)?;
    let models = crate::overview::compare_registry(&registry, args.model.as_deref())?;
    let text = crate::overview::table::render(&models, args.output);
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    Ok(0)
}

fn merge_command(args: MergeArgs, printer: &Printer) -> Result<u8> {
    // An unreadable registry stops the merge before anything is written.
    let mut registry = Registry::load(&args.registry)?;
    let before = registry.clone();

    let (fragments, rejected) = merge::load_fragments(&args.fragments);
    for rejection in &rejected {
        printer.line(&format!("error: rejected {}", rejection.reason));
    }
    let outcomes = merge::merge(&mut registry, fragments);
    for outcome in &outcomes {
        printer.status(&merge::describe(outcome));
    }
    if registry != before {
        registry.save(&args.registry)?;
    }
    printer.status(&format!(
        "merged {} fragment(s) into {}, rejected {}",
        outcomes.len(),
        args.registry.display(),
        rejected.len()
    ));
    Ok(if rejected.is_empty() {
        0
    } else {
        EXIT_SOME_FAILED
    })
}

fn compare_command(args: CompareArgs) -> Result<u8> {
    if !(args.min_change_percent >= 0.0 && args.min_change_percent.is_finite()) {
        anyhow::bail!(
            "--min-change-percent must be a non-negative number, not {}",
            args.min_change_percent
        );
    }
    let old = Registry::load(&args.old)?;
    let new = Registry::load(&args.new)?;
    let comparison = compare::compare(&old, &new, args.min_change_percent);
    std::io::stdout()
        .write_all(compare::render(&comparison, args.output).as_bytes())
        .context("cannot write to stdout")?;
    Ok(if args.fail_on_regression && comparison.has_regression() {
        EXIT_SOME_FAILED
    } else {
        0
    })
}

fn site_command(args: SiteArgs, printer: &Printer) -> Result<u8> {
    let registry = existing_registry(&args.registry)?;
    let index = crate::site::write_site(&registry, &args.out)?;
    printer.status(&format!("wrote {}", index.display()));
    Ok(0)
}

/// Loads a registry that must exist, because reporting on a missing file would print an empty
/// report that looks like a successful one.
fn existing_registry(path: &std::path::Path) -> Result<Registry> {
    if !path.is_file() {
        anyhow::bail!(
            "registry {} not found; run `slm-quant bench` first or pass --registry PATH",
            path.display()
        );
    }
    Registry::load(path)
}

fn reference_command(args: ReferenceArgs) -> Result<u8> {
    let request: ReferenceRequest =
        serde_json::from_str(&args.request_json).context("invalid --request-json")?;
    evaluate::build_reference(&request, |message| {
        println!("{PROGRESS_PREFIX}{message}");
        let _ = std::io::stdout().flush();
    })?;
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
