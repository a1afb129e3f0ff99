//! The use-case tabs of a model page: RAG, function calling, coding and reasoning.
//!
//! The tabs are radio buttons with labels, and CSS shows the panel of the checked one, so
//! they switch with JavaScript off. The page script only mirrors the choice in the address.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::chart::{Bar, BarChart, BarGroup, Heatmap, QuantColors};
use super::html::{escape, number_or_missing, percent_or_missing, NOT_MEASURED_HTML};
use super::page::PageQuant;
use crate::registry_blocks::{
    FunctionCallingBlock, RagBlock, FUNCTION_CALLING_CATEGORIES, RAG_BENCHMARKS,
};

/// Tabs in display order: fragment id and label.
const TABS: &[(&str, &str)] = &[
    ("rag", "RAG"),
    ("function-calling", "Function calling"),
    ("coding", "Coding"),
    ("reasoning", "Reasoning"),
];

/// Renders the tab strip and one panel per use case.
pub fn render(quants: &[PageQuant], colors: &QuantColors) -> String {
    let mut out = String::from("<section id=\"use-cases\"><h2>Use cases</h2><div class=\"tabs\">");
    for (index, (id, _)) in TABS.iter().enumerate() {
        let checked = if index == 0 { " checked" } else { "" };
        let _ = write!(
            out,
            "<input type=\"radio\" name=\"use-case\" id=\"tab-{id}\" class=\"tab-input\" \
             aria-controls=\"panel-{id}\"{checked}>"
        );
    }
    out.push_str("<div class=\"tab-list\">");
    for (id, label) in TABS {
        let _ = write!(out, "<label for=\"tab-{id}\" class=\"tab\">{label}</label>");
    }
    out.push_str("</div>");
    for (id, label) in TABS {
        let panel = match *id {
            "rag" => rag_panel(quants, colors),
            "function-calling" => function_calling_panel(quants, colors),
            other => other_panel(other, label, quants),
        };
        let _ = write!(
            out,
            "<div class=\"tab-panel\" id=\"panel-{id}\" role=\"region\" \
             aria-label=\"{label}\">{panel}</div>"
        );
    }
    out.push_str("</div></section>\n");
    out
}

fn not_measured(what: &str) -> String {
    format!(
        "<p class=\"empty\">{what}: {NOT_MEASURED_HTML}. The registry has no results for this \
         use case yet.</p>"
    )
}

fn rag_panel(quants: &[PageQuant], colors: &QuantColors) -> String {
    let measured: Vec<(&PageQuant, &RagBlock)> = quants
        .iter()
        .filter_map(|q| q.blocks.rag.as_ref().map(|rag| (q, rag)))
        .collect();
    if measured.is_empty() {
        return not_measured("RAG");
    }

    let mut out = String::from(
        "<p>Scores are 0-100. Hallucination rate is the share of answers with claims the \
         context does not support; closed-book accuracy is answered without the context.</p>\
         <div class=\"scroll\"><table class=\"data\"><thead><tr><th>quant</th><th>score</th>",
    );
    for (_, name) in RAG_BENCHMARKS {
        let _ = write!(out, "<th>{name}</th>");
    }
    out.push_str("<th>hallucination rate</th><th>closed-book accuracy</th></tr></thead><tbody>");
    for quant in quants {
        let rag = quant.blocks.rag.as_ref();
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td>",
            escape(quant.label),
            score_cell(rag.and_then(|r| r.score), rag.and_then(|r| r.recommended))
        );
        for (key, _) in RAG_BENCHMARKS {
            let value = rag.and_then(|r| r.benchmarks.get(*key).copied());
            let _ = write!(out, "<td>{}</td>", number_or_missing(value, 1));
        }
        let _ = write!(
            out,
            "<td>{}</td><td>{}</td></tr>",
            percent_or_missing(rag.and_then(|r| r.hallucination_rate)),
            percent_or_missing(rag.and_then(|r| r.closed_book_accuracy))
        );
    }
    out.push_str("</tbody></table></div>");

    let groups = RAG_BENCHMARKS
        .iter()
        .map(|(key, name)| BarGroup {
            label: name.to_string(),
            bars: quants
                .iter()
                .map(|q| Bar {
                    quant: q.label.to_string(),
                    value: q
                        .blocks
                        .rag
                        .as_ref()
                        .and_then(|r| r.benchmarks.get(*key).copied()),
                    spread: None,
                })
                .collect(),
        })
        .collect();
    let chart = BarChart {
        title: "RAG benchmark scores".into(),
        x_label: "benchmark".into(),
        y_label: "score (0-100)".into(),
        y_max: Some(100.0),
        decimals: 0,
        groups,
    };
    out.push_str("<div class=\"charts\">");
    out.push_str(&wide_figure(
        "Score per benchmark",
        "higher is better; n/m = not measured",
        &chart.to_svg(colors),
    ));
    out.push_str(
        "</div><h3>Needle in a haystack</h3><p>Share of trials that found the needle \
                  at each prompt length and depth (0% = start of the context).</p>\
                  <div class=\"charts\">",
    );
    for (quant, rag) in &measured {
        out.push_str(&niah_heatmap(quant.label, rag));
    }
    out.push_str("</div>");
    out
}

fn niah_heatmap(quant: &str, rag: &RagBlock) -> String {
    let title = format!("NIAH accuracy, {quant}");
    if rag.niah_grid.is_empty() {
        return format!(
            "<figure class=\"chart-box empty\"><figcaption><strong>{}</strong></figcaption>\
             <p>{NOT_MEASURED_HTML}.</p></figure>",
            escape(&title)
        );
    }
    let contexts: BTreeSet<u64> = rag.niah_grid.iter().map(|c| c.context_tokens).collect();
    let mut depths: Vec<f64> = rag.niah_grid.iter().map(|c| c.depth_percent).collect();
    depths.sort_by(f64::total_cmp);
    depths.dedup();
    let cells = contexts
        .iter()
        .map(|context| {
            depths
                .iter()
                .map(|depth| {
                    rag.niah_grid
                        .iter()
                        .find(|c| c.context_tokens == *context && c.depth_percent == *depth)
                        .map(|c| c.accuracy)
                })
                .collect()
        })
        .collect();
    let heatmap = Heatmap {
        title: title.clone(),
        x_label: "needle depth (%)".into(),
        y_label: "prompt length (tokens)".into(),
        columns: depths.iter().map(|d| format!("{d}")).collect(),
        rows: contexts.iter().map(u64::to_string).collect(),
        cells,
    };
    let trials = rag.niah_grid.iter().filter_map(|c| c.trials).max();
    let note = trials.map_or(String::new(), |t| format!("up to {t} trials per cell"));
    format!(
        "<figure class=\"chart-box\" data-quant=\"{}\"><figcaption><strong>{}</strong>\
         <span>{}</span></figcaption>{}</figure>",
        escape(quant),
        escape(&title),
        escape(&note),
        heatmap.to_svg()
    )
}

fn function_calling_panel(quants: &[PageQuant], colors: &QuantColors) -> String {
    let measured: Vec<(&PageQuant, &FunctionCallingBlock)> = quants
        .iter()
        .filter_map(|q| q.blocks.function_calling.as_ref().map(|b| (q, b)))
        .collect();
    if measured.is_empty() {
        return not_measured("Function calling");
    }

    let mut out = String::from(
        "<p>Scores are 0-100 per category. Mode <code>template</code> passes the tools \
         through the model's chat template; <code>fallback_prompt</code> describes them in \
         the prompt because the template has no tool support.</p>\
         <div class=\"scroll\"><table class=\"data\"><thead><tr><th>quant</th><th>score</th>\
         <th>mode</th><th>cases</th>",
    );
    for (_, name) in FUNCTION_CALLING_CATEGORIES {
        let _ = write!(out, "<th>{name}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for quant in quants {
        let calling = quant.blocks.function_calling.as_ref();
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td>",
            escape(quant.label),
            score_cell(
                calling.and_then(|c| c.score),
                calling.and_then(|c| c.recommended)
            ),
            calling.and_then(|c| c.mode.as_deref()).map_or(
                NOT_MEASURED_HTML.to_string(),
                |m| format!("<code>{}</code>", escape(m))
            ),
            calling
                .and_then(|c| c.cases)
                .map_or(NOT_MEASURED_HTML.to_string(), |n| n.to_string())
        );
        for (key, _) in FUNCTION_CALLING_CATEGORIES {
            let value = calling.and_then(|c| c.benchmarks.get(*key).copied());
            let _ = write!(out, "<td>{}</td>", number_or_missing(value, 1));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");

    let groups = FUNCTION_CALLING_CATEGORIES
        .iter()
        .map(|(key, name)| BarGroup {
            label: name.to_string(),
            bars: quants
                .iter()
                .map(|q| Bar {
                    quant: q.label.to_string(),
                    value: q
                        .blocks
                        .function_calling
                        .as_ref()
                        .and_then(|c| c.benchmarks.get(*key).copied()),
                    spread: None,
                })
                .collect(),
        })
        .collect();
    let chart = BarChart {
        title: "Function-calling scores per category".into(),
        x_label: "category".into(),
        y_label: "score (0-100)".into(),
        y_max: Some(100.0),
        decimals: 0,
        groups,
    };
    out.push_str("<div class=\"charts\">");
    out.push_str(&wide_figure(
        "Score per category",
        "higher is better; n/m = not measured",
        &chart.to_svg(colors),
    ));
    out.push_str("</div>");
    out.push_str(&error_table(quants));
    out
}

/// Failed cases per error type (rows) and quant (columns).
fn error_table(quants: &[PageQuant]) -> String {
    let types: BTreeSet<&str> = quants
        .iter()
        .filter_map(|q| q.blocks.function_calling.as_ref())
        .flat_map(|c| c.error_counts.keys().map(String::as_str))
        .collect();
    let mut out = String::from("<h3>Error types</h3>");
    if types.is_empty() {
        out.push_str("<p>No errors were recorded.</p>");
        return out;
    }
    out.push_str(
        "<p>Failed cases per error type.</p><div class=\"scroll\"><table class=\"data\">\
         <thead><tr><th>error type</th>",
    );
    for quant in quants {
        let _ = write!(out, "<th>{}</th>", escape(quant.label));
    }
    out.push_str("</tr></thead><tbody>");
    for error_type in types {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(error_type));
        for quant in quants {
            let cell = match &quant.blocks.function_calling {
                Some(calling) => calling
                    .error_counts
                    .get(error_type)
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
                None => NOT_MEASURED_HTML.to_string(),
            };
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// Renders a use case without a dedicated view: its score and benchmarks per quant, when the
/// registry has them under `use_cases.<key>`.
fn other_panel(id: &str, label: &str, quants: &[PageQuant]) -> String {
    let key = id.replace('-', "_");
    let blocks: Vec<_> = quants
        .iter()
        .map(|q| (q, q.blocks.other_use_cases.get(&key)))
        .collect();
    if blocks.iter().all(|(_, block)| block.is_none()) {
        return not_measured(label);
    }
    let benchmarks: BTreeSet<&str> = blocks
        .iter()
        .filter_map(|(_, block)| *block)
        .flat_map(|b| b.benchmarks.keys().map(String::as_str))
        .collect();
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"data\"><thead><tr><th>quant</th><th>score</th>",
    );
    for name in &benchmarks {
        let _ = write!(out, "<th>{}</th>", escape(name));
    }
    out.push_str("</tr></thead><tbody>");
    for (quant, block) in blocks {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td>",
            escape(quant.label),
            score_cell(
                block.and_then(|b| b.score),
                block.and_then(|b| b.recommended)
            )
        );
        for name in &benchmarks {
            let value = block.and_then(|b| b.benchmarks.get(*name).copied());
            let _ = write!(out, "<td>{}</td>", number_or_missing(value, 1));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

fn score_cell(score: Option<f64>, recommended: Option<bool>) -> String {
    let mut cell = number_or_missing(score, 1);
    if recommended == Some(true) {
        cell.push_str(" <span class=\"badge\">recommended</span>");
    }
    cell
}

fn wide_figure(title: &str, note: &str, svg: &str) -> String {
    format!(
        "<figure class=\"chart-box wide\"><figcaption><strong>{}</strong><span>{}</span>\
         </figcaption>{svg}</figure>",
        escape(title),
        escape(note)
    )
}
