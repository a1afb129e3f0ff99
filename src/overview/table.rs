//! The `report` command's output: a comparison per model as an aligned Markdown table, as CSV
//! or as JSON.

use std::fmt::Write as _;

use clap::ValueEnum;

use super::{ModelComparison, QuantComparison, VsReference};

/// Output formats of the comparison report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Md,
    Csv,
    Json,
}

const NOT_MEASURED: &str = "not measured";
const MIB: f64 = 1024.0 * 1024.0;

/// Renders `models` in `format`.
pub fn render(models: &[ModelComparison], format: ReportFormat) -> String {
    match format {
        ReportFormat::Md => models
            .iter()
            .map(render_markdown)
            .collect::<Vec<_>>()
            .join("\n"),
        ReportFormat::Csv => render_csv(models),
        ReportFormat::Json => {
            let mut json = serde_json::to_string_pretty(models).expect("comparisons serialise");
            json.push('\n');
            json
        }
    }
}

fn headers(model: &ModelComparison) -> Vec<String> {
    let at = |length: Option<u32>| length.map_or(String::new(), |n| format!(" @{n}"));
    vec![
        "quant".into(),
        "file MiB".into(),
        format!("tokens/s{}", at(model.output_length)),
        format!("TTFT ms{}", at(model.context_length)),
        "peak RAM MiB".into(),
        "RAG score".into(),
        "FC score".into(),
        "mean KLD".into(),
        "PPL ratio".into(),
    ]
}

/// Cell texts of one quant's figures; `missing` fills what was not measured.
fn cells(quant: &QuantComparison, missing: &str) -> Vec<String> {
    let number = |value: Option<f64>, decimals: usize| {
        value.map_or_else(|| missing.to_string(), |v| format!("{v:.decimals$}"))
    };
    vec![
        quant.quant.clone(),
        format!("{:.1}", quant.file_bytes as f64 / MIB),
        number(quant.tokens_per_sec, 1),
        number(quant.ttft_ms, 1),
        format!("{:.1}", quant.peak_rss_bytes as f64 / MIB),
        number(quant.rag_score, 1),
        number(quant.function_calling_score, 1),
        number(quant.mean_kld, 4),
        number(quant.ppl_ratio, 3),
    ]
}

/// Describes the ratios as a phrase, e.g. "1.90× tokens/s, 0.40× RAM, −3.0 RAG points".
pub fn describe_vs_reference(vs: &VsReference) -> String {
    let mut parts = Vec::new();
    let times = |ratio: Option<f64>, what: &str| ratio.map(|r| format!("{r:.2}× {what}"));
    let points = |delta: Option<f64>, what: &str| {
        delta.map(|d| {
            let sign = if d < 0.0 { "\u{2212}" } else { "+" };
            format!("{sign}{:.1} {what} points", d.abs())
        })
    };
    parts.extend(times(vs.tokens_per_sec_ratio, "tokens/s"));
    parts.extend(times(vs.ttft_ratio, "TTFT"));
    parts.extend(times(vs.peak_rss_ratio, "RAM"));
    parts.extend(times(vs.file_size_ratio, "size"));
    parts.extend(points(vs.rag_points, "RAG"));
    parts.extend(points(vs.function_calling_points, "FC"));
    if parts.is_empty() {
        return NOT_MEASURED.to_string();
    }
    parts.join(", ")
}

fn render_markdown(model: &ModelComparison) -> String {
    let mut out = format!("## {} ({})\n\n", model.display_name, model.model);
    if model.quants.is_empty() {
        out.push_str("No quant of this model has been measured.\n");
        return out;
    }
    let reference = model.reference_quant.as_deref().unwrap_or("none");
    let mut header = headers(model);
    header.push(format!("vs {reference}"));
    let body: Vec<Vec<String>> = model
        .quants
        .iter()
        .map(|quant| {
            let mut row = cells(quant, NOT_MEASURED);
            row.push(match &quant.vs_reference {
                Some(vs) => describe_vs_reference(vs),
                None => "reference".into(),
            });
            row
        })
        .collect();
    out.push_str(&aligned_table(&header, &body));
    out
}

/// A Markdown table whose columns are padded to one width, so it reads in a terminal.
fn aligned_table(header: &[String], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in body {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| {
                let pad = width - cell.chars().count();
                format!("{cell}{}", " ".repeat(pad))
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&rule));
    for row in body {
        out.push_str(&line(row));
    }
    out
}

fn render_csv(models: &[ModelComparison]) -> String {
    let header = [
        "model",
        "quant",
        "reference_quant",
        "file_bytes",
        "output_length",
        "tokens_per_sec",
        "context_length",
        "ttft_ms",
        "peak_rss_bytes",
        "rag_score",
        "function_calling_score",
        "mean_kld",
        "ppl_ratio",
        "same_top_p",
        "tokens_per_sec_ratio",
        "ttft_ratio",
        "peak_rss_ratio",
        "file_size_ratio",
        "rag_points",
        "function_calling_points",
    ];
    let mut out = header.join(",") + "\n";
    let number = |value: Option<f64>| value.map_or(String::new(), |v| v.to_string());
    let length = |value: Option<u32>| value.map_or(String::new(), |v| v.to_string());
    for model in models {
        for quant in &model.quants {
            let vs = quant.vs_reference.clone().unwrap_or_default();
            let fields = [
                csv_field(&model.model),
                csv_field(&quant.quant),
                csv_field(model.reference_quant.as_deref().unwrap_or("")),
                quant.file_bytes.to_string(),
                length(model.output_length),
                number(quant.tokens_per_sec),
                length(model.context_length),
                number(quant.ttft_ms),
                quant.peak_rss_bytes.to_string(),
                number(quant.rag_score),
                number(quant.function_calling_score),
                number(quant.mean_kld),
                number(quant.ppl_ratio),
                number(quant.same_top_p),
                number(vs.tokens_per_sec_ratio),
                number(vs.ttft_ratio),
                number(vs.peak_rss_ratio),
                number(vs.file_size_ratio),
                number(vs.rag_points),
                number(vs.function_calling_points),
            ];
            let _ = writeln!(out, "{}", fields.join(","));
        }
    }
    out
}

fn csv_field(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overview::compare_registry;
    use crate::registry::Registry;

    fn fixture() -> Vec<ModelComparison> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/registry-site.json"
        );
        let registry = Registry::load(std::path::Path::new(path)).unwrap();
        compare_registry(&registry, Some("smollm2-135m-instruct")).unwrap()
    }

    #[test]
    fn markdown_columns_line_up() {
        let text = render(&fixture(), ReportFormat::Md);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 6, "{text}");
        let width = rows[0].chars().count();
        for row in &rows {
            assert_eq!(row.chars().count(), width, "{text}");
        }
    }

    #[test]
    fn markdown_shows_values_and_ratios() {
        let text = render(&fixture(), ReportFormat::Md);
        let line = |quant: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("| {quant} ")))
                .unwrap_or_else(|| panic!("no row for {quant} in {text}"))
                .to_string()
        };
        assert!(text.contains("tokens/s @500"), "{text}");
        assert!(text.contains("TTFT ms @2048"), "{text}");
        assert!(text.contains("vs F16"), "{text}");
        assert!(line("F16").contains("| reference"), "{text}");
        let q4 = line("Q4_K_M");
        assert!(q4.contains("| 182.4 "), "{q4}");
        assert!(q4.contains("1.97× tokens/s"), "{q4}");
        assert!(q4.contains("0.37× RAM"), "{q4}");
        assert!(q4.contains("\u{2212}9.5 RAG points"), "{q4}");
        assert!(q4.contains("\u{2212}20.0 FC points"), "{q4}");
        assert!(q4.contains("| 0.0913 "), "{q4}");
    }

    #[test]
    fn missing_values_say_not_measured() {
        let text = render(&fixture(), ReportFormat::Md);
        let q4_1 = text.lines().find(|l| l.starts_with("| Q4_1 ")).unwrap();
        let cells: Vec<&str> = q4_1.split('|').map(str::trim).collect();
        // quant, file, tokens/s, TTFT, RAM, RAG, FC, KLD, PPL ratio, vs reference
        assert_eq!(cells[6], "not measured", "{q4_1}");
        assert_eq!(cells[7], "not measured", "{q4_1}");
        assert_eq!(cells[8], "0.1402", "{q4_1}");
        assert!(!cells[10].contains("RAG"), "{q4_1}");
        assert!(!q4_1.contains("| 0.0 "), "{q4_1}");
    }

    #[test]
    fn csv_leaves_missing_cells_empty() {
        let text = render(&fixture(), ReportFormat::Csv);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("model,quant,reference_quant,file_bytes"));
        assert_eq!(lines.len(), 5);
        let q4_1: Vec<&str> = lines
            .iter()
            .find(|l| l.contains(",Q4_1,"))
            .unwrap()
            .split(',')
            .collect();
        assert_eq!(q4_1.len(), 20);
        assert_eq!(q4_1[9], "", "rag_score");
        assert_eq!(q4_1[18], "", "rag_points");
        let f16 = lines.iter().find(|l| l.contains(",F16,")).unwrap();
        assert!(f16.ends_with(",,,,,,"), "{f16}");
    }

    #[test]
    fn json_keeps_nulls_for_missing() {
        let value: serde_json::Value =
            serde_json::from_str(&render(&fixture(), ReportFormat::Json)).unwrap();
        let quants = value[0]["quants"].as_array().unwrap();
        let q4_1 = quants.iter().find(|q| q["quant"] == "Q4_1").unwrap();
        assert!(q4_1["rag_score"].is_null());
        assert_eq!(value[0]["reference_quant"], "F16");
    }

    #[test]
    fn csv_quotes_separators() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("x\"y"), "\"x\"\"y\"");
        assert_eq!(csv_field("Q8_0"), "Q8_0");
    }
}
