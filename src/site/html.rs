//! HTML text helpers: escaping of every string that comes from a registry or a model, and
//! number formatting shared by the pages and charts.

/// Escapes `text` for use as HTML text or inside a double- or single-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Formats `value` with `decimals` decimals, or "not measured" in a muted span.
pub fn number_or_missing(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(value) => format!("{value:.decimals$}"),
        None => NOT_MEASURED_HTML.to_string(),
    }
}

/// Marker for a value that was not measured.
pub const NOT_MEASURED_HTML: &str = "<span class=\"missing\">not measured</span>";

/// Formats a 0-1 share as a percentage, or "not measured".
pub fn percent_or_missing(share: Option<f64>) -> String {
    match share {
        Some(share) => format!("{:.1}%", share * 100.0),
        None => NOT_MEASURED_HTML.to_string(),
    }
}

/// Formats a byte count in MiB (below 1 GiB) or GiB.
pub fn bytes(count: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = count as f64 / MIB;
    if mib < 1024.0 {
        format!("{mib:.1} MiB")
    } else {
        format!("{:.2} GiB", mib / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(escape("a & \"b\" 'c'"), "a &amp; &quot;b&quot; &#39;c&#39;");
        assert_eq!(escape("Q4_K_M"), "Q4_K_M");
    }

    #[test]
    fn bytes_pick_unit() {
        assert_eq!(bytes(150 * 1024 * 1024), "150.0 MiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.00 GiB");
    }
}
