//! The static site: an index of the registry's models and one page per model, written as
//! plain HTML files with one shared stylesheet. The pages load nothing from the network, and
//! their tabs work with JavaScript turned off.

mod chart;
mod html;
mod index;
mod page;
mod use_cases;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::registry::Registry;

/// Stylesheet shared by every page.
const STYLE: &str = include_str!("style.css");
/// Script that keeps the selected tab in the address, so a tab can be linked to.
const TABS_SCRIPT: &str = include_str!("tabs.js");

/// Writes `index.html`, `style.css` and one `<model>.html` per model into `out`, and
/// returns the path of the index.
pub fn write_site(registry: &Registry, out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create site folder {}", out.display()))?;
    let generated_at = now_utc();

    let pages = page_files(registry.models.keys());
    for (id, model) in &registry.models {
        let file = &pages[id];
        let html = page::render(model, &generated_at);
        write(&out.join(file), &html)?;
        tracing::debug!(model = %id, file = %file, "wrote model page");
    }
    write(&out.join("style.css"), STYLE)?;
    let index = out.join("index.html");
    write(&index, &index::render(registry, &pages, &generated_at))?;
    Ok(index)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// File name of each model's page: its id reduced to characters safe in a file name and a
/// URL, made unique with a number when two ids reduce to the same name.
fn page_files<'a>(
    ids: impl Iterator<Item = &'a String>,
) -> std::collections::BTreeMap<String, String> {
    let mut taken = BTreeSet::from(["index".to_string(), "style".to_string()]);
    let mut files = std::collections::BTreeMap::new();
    for id in ids {
        let mut stem: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        stem = stem.trim_matches(['.', '-']).to_string();
        if stem.is_empty() {
            stem = "model".into();
        }
        let mut candidate = stem.clone();
        let mut number = 2;
        while taken.contains(&candidate) {
            candidate = format!("{stem}-{number}");
            number += 1;
        }
        taken.insert(candidate.clone());
        files.insert(id.clone(), format!("{candidate}.html"));
    }
    files
}

fn now_utc() -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_else(|_| "unknown time".into())
}

/// Wraps `body` in the page skeleton: the head with the stylesheet, and the tab script.
fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<link rel=\"stylesheet\" href=\"style.css\">\n</head>\n\
         <body>\n{body}\n<script>\n{TABS_SCRIPT}</script>\n</body>\n</html>\n",
        html::escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_files_are_safe_and_unique() {
        let ids: Vec<String> = vec![
            "a/b".into(),
            "a-b".into(),
            "<script>".into(),
            "index".into(),
            "SmolLM2".into(),
        ];
        let files = page_files(ids.iter());
        assert_eq!(files["a/b"], "a-b.html");
        assert_eq!(files["a-b"], "a-b-2.html");
        assert_eq!(files["<script>"], "script.html");
        assert_eq!(files["index"], "index-2.html");
        assert_eq!(files["SmolLM2"], "smollm2.html");
    }

    #[test]
    fn site_escapes_registry_strings() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/registry-site.json"
        );
        let registry = Registry::load(Path::new(path)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let index = write_site(&registry, dir.path()).unwrap();

        let index_html = std::fs::read_to_string(index).unwrap();
        let page = std::fs::read_to_string(dir.path().join("xss-check.html")).unwrap();
        for html in [&index_html, &page] {
            assert!(!html.contains("<script>alert"), "unescaped script tag");
            assert!(!html.contains("<img src=x"), "unescaped img tag");
            assert!(!html.contains("<b>bold"), "unescaped file name");
            assert!(!html.contains("<i>Fake"), "unescaped CPU model");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&lt;b&gt;bold&lt;/b&gt;.gguf"));
    }
}
