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

/// Shortens an RFC 3339 UTC time such as `2026-12-03T21:42:07Z` to `2026-12-03 21:42 UTC`;
/// any other text is returned unchanged.
pub fn timestamp(rfc3339: &str) -> String {
    let shape_ok = rfc3339.len() >= 17
        && rfc3339.ends_with('Z')
        && rfc3339.get(10..11) == Some("T")
        && rfc3339.is_char_boundary(16);
    if !shape_ok {
        return rfc3339.to_string();
    }
    format!("{} {} UTC", &rfc3339[..10], &rfc3339[11..16])
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
    fn timestamp_drops_seconds() {
        assert_eq!(timestamp("2026-12-03T21:42:07Z"), "2026-12-03 21:42 UTC");
        assert_eq!(timestamp("2026-12-03T21:42:07.5Z"), "2026-12-03 21:42 UTC");
        assert_eq!(timestamp("yesterday"), "yesterday");
    }

    #[test]
    fn bytes_pick_unit() {
        assert_eq!(bytes(150 * 1024 * 1024), "150.0 MiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.00 GiB");
    }
}
