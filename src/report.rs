//! The table a sweep prints on stdout, in Markdown, CSV, JSON or JSON Lines.

use std::fmt::Write as _;

use clap::ValueEnum;
use serde::Serialize;

use crate::registry::QuantEntry;

/// Output formats of the sweep table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Md,
    Csv,
    Json,
    Jsonl,
}

/// One quant's line in the sweep table.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    pub model: String,
    pub quant: String,
    pub status: RowStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<QuantEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    Measured,
    Failed,
    /// Not measured again: the registry already held a result for the same file, settings
    /// and build, which the row shows.
    Skipped,
}

impl SweepRow {
    pub fn measured(model: &str, quant: &str, entry: QuantEntry) -> SweepRow {
        SweepRow {
            model: model.into(),
            quant: quant.into(),
            status: RowStatus::Measured,
            error: None,
            result: Some(entry),
        }
    }

    pub fn skipped(model: &str, quant: &str, entry: QuantEntry) -> SweepRow {
        SweepRow {
            status: RowStatus::Skipped,
            ..SweepRow::measured(model, quant, entry)
        }
    }

    pub fn failed(model: &str, quant: &str, error: String) -> SweepRow {
        SweepRow {
            model: model.into(),
            quant: quant.into(),
            status: RowStatus::Failed,
            error: Some(error),
            result: None,
        }
    }
}

/// Renders the rows in `format`.
pub fn render(rows: &[SweepRow], format: OutputFormat) -> String {
    match format {
        OutputFormat::Md => render_markdown(rows),
        OutputFormat::Csv => render_csv(rows),
        OutputFormat::Json => {
            let mut json = serde_json::to_string_pretty(rows).expect("rows serialise");
            json.push('\n');
            json
        }
        OutputFormat::Jsonl => rows
            .iter()
            .map(|row| serde_json::to_string(row).expect("rows serialise") + "\n")
            .collect(),
    }
}

/// Output and context lengths present in any row, in ascending order.
fn lengths(rows: &[SweepRow]) -> (Vec<u32>, Vec<u32>) {
    let mut outputs = Vec::new();
    let mut contexts = Vec::new();
    for entry in rows.iter().filter_map(|row| row.result.as_ref()) {
        outputs.extend(entry.generation.iter().map(|g| g.n_gen));
        contexts.extend(entry.prefill.iter().map(|p| p.n_prompt));
    }
    outputs.sort_unstable();
    outputs.dedup();
    contexts.sort_unstable();
    contexts.dedup();
    (outputs, contexts)
}

/// Column titles and, per row, cell texts; `plain` leaves numbers unformatted for CSV.
fn table(rows: &[SweepRow], plain: bool) -> (Vec<String>, Vec<Vec<String>>) {
    let (outputs, contexts) = lengths(rows);
    let mut header = vec![
        "model".to_string(),
        "quant".into(),
        "status".into(),
        "file MiB".into(),
    ];
    header.extend(outputs.iter().map(|n| format!("tokens/s @{n}")));
    header.extend(contexts.iter().map(|n| format!("TTFT ms @{n}")));
    header.extend(contexts.iter().map(|n| format!("prefill tokens/s @{n}")));
    header.extend([
        "token p50 ms".into(),
        "token p99 ms".into(),
        "peak RAM MiB".into(),
    ]);
    header.push("load ms".into());

    let number = |value: f64, spread: Option<f64>, decimals: usize| -> String {
        match (plain, spread) {
            (true, _) => format!("{value:.decimals$}"),
            (false, Some(sd)) => format!("{value:.decimals$} ± {sd:.decimals$}"),
            (false, None) => format!("{value:.decimals$}"),
        }
    };
    let missing = || {
        if plain {
            String::new()
        } else {
            "not measured".to_string()
        }
    };

    let mut body = Vec::new();
    for row in rows {
        let mut cells = vec![row.model.clone(), row.quant.clone()];
        let Some(entry) = &row.result else {
            let status = format!(
                "failed: {}",
                row.error.as_deref().unwrap_or("unknown error")
            );
            cells.push(if plain {
                "failed".into()
            } else {
                first_line(&status)
            });
            cells.resize(header.len(), missing());
            body.push(cells);
            continue;
        };
        cells.push(match row.status {
            RowStatus::Skipped => "skipped".into(),
            _ => "measured".into(),
        });
        cells.push(number(entry.file.bytes as f64 / MIB, None, 1));
        for n in &outputs {
            let found = entry.generation.iter().find(|g| g.n_gen == *n);
            cells.push(found.map_or_else(missing, |g| {
                number(g.tokens_per_sec.mean, Some(g.tokens_per_sec.stddev), 1)
            }));
        }
        for n in &contexts {
            let found = entry.prefill.iter().find(|p| p.n_prompt == *n);
            cells.push(found.map_or_else(missing, |p| {
                number(p.ttft_ms.mean, Some(p.ttft_ms.stddev), 1)
            }));
        }
        for n in &contexts {
            let found = entry.prefill.iter().find(|p| p.n_prompt == *n);
            cells.push(found.map_or_else(missing, |p| {
                number(
                    p.prompt_tokens_per_sec.mean,
                    Some(p.prompt_tokens_per_sec.stddev),
                    0,
                )
            }));
        }
        match &entry.token_latency {
            Some(latency) => {
                cells.push(number(latency.p50_ms, None, 2));
                cells.push(number(latency.p99_ms, None, 2));
            }
            None => cells.extend([missing(), missing()]),
        }
        cells.push(number(entry.memory.peak_rss_bytes as f64 / MIB, None, 1));
        cells.push(number(entry.load_ms, None, 1));
        body.push(cells);
    }
    (header, body)
}

const MIB: f64 = 1024.0 * 1024.0;

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").replace('|', "/")
}

fn render_markdown(rows: &[SweepRow]) -> String {
    let (header, body) = table(rows, false);
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for cells in &body {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&rule));
    for cells in &body {
        out.push_str(&line(cells));
    }
    out
}

fn render_csv(rows: &[SweepRow]) -> String {
    let (header, body) = table(rows, true);
    let mut out = String::new();
    for cells in std::iter::once(&header).chain(&body) {
        let quoted: Vec<String> = cells.iter().map(|cell| csv_field(cell)).collect();
        let _ = writeln!(out, "{}", quoted.join(","));
    }
    out
}

fn csv_field(cell: &str) -> String {
    if cell.contains([',', '"', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::sample_entry;

    fn rows() -> Vec<SweepRow> {
        vec![
            SweepRow::measured("tiny", "Q8_0", sample_entry(100 * 1024 * 1024)),
            SweepRow::failed(
                "tiny",
                "F16",
                "llama.cpp could not load f16.gguf\ndetails".into(),
            ),
        ]
    }

    #[test]
    fn markdown_lines_up_and_shows_failures() {
        let text = render(&rows(), OutputFormat::Md);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let width = lines[0].chars().count();
        assert!(
            lines.iter().all(|line| line.chars().count() == width),
            "{text}"
        );
        assert!(lines[0].contains("tokens/s @16"), "{text}");
        assert!(lines[0].contains("TTFT ms @128"), "{text}");
        assert!(lines[2].contains("11.0 ± 1.4"), "{text}");
        assert!(lines[2].contains("100.0"), "{text}");
        assert!(
            lines[3].contains("failed: llama.cpp could not load f16.gguf"),
            "{text}"
        );
        assert!(lines[3].contains("not measured"), "{text}");
    }

    #[test]
    fn csv_has_header_and_plain_numbers() {
        let text = render(&rows(), OutputFormat::Csv);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("model,quant,status,file MiB,tokens/s @16"),
            "{text}"
        );
        assert!(lines[1].starts_with("tiny,Q8_0,measured,"), "{text}");
        assert!(lines[1].contains(",11.0,"), "{text}");
        assert!(lines[2].starts_with("tiny,F16,failed,"), "{text}");
    }

    #[test]
    fn jsonl_has_one_object_per_row() {
        let text = render(&rows(), OutputFormat::Jsonl);
        let values: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0]["status"], "measured");
        assert_eq!(values[0]["result"]["generation"][0]["n_gen"], 16);
        assert_eq!(values[1]["status"], "failed");
        assert!(values[1].get("result").is_none());
    }

    #[test]
    fn json_is_an_array() {
        let value: serde_json::Value =
            serde_json::from_str(&render(&rows(), OutputFormat::Json)).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 2);
    }

    #[test]
    fn csv_quotes_commas() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
