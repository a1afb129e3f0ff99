//! The site in a real browser. Headless Chromium loads the pages built from a fixture
//! registry and switches every tab with the mouse, with and without JavaScript. The tests
//! check each chart's axes and marks and that a hostile model name shows as text, and keep
//! screenshots in tests/artifacts/.

mod cdp;
mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

use cdp::{Browser, Page};

const TABS: &[&str] = &["rag", "function-calling", "coding", "reasoning"];
const QUANTS: &[&str] = &["F16", "Q8_0", "Q4_1", "Q4_K_M"];

fn chromium() -> PathBuf {
    cdp::find_chromium().unwrap_or_else(|| {
        panic!(
            "Chromium is missing, and the site's browser test needs it; run scripts/setup.sh \
             (it installs the Debian packages in scripts/apt-packages.txt) or set \
             SLM_QUANT_CHROMIUM to a Chromium binary"
        )
    })
}

/// Builds the site from the fixture registry into `dir` with the slm-quant binary.
fn build_site(dir: &Path) {
    let registry = common::repo_root().join("tests/fixtures/registry-site.json");
    let output = common::slm_quant(
        dir,
        &[
            "site",
            "--out",
            dir.to_str().unwrap(),
            "--registry",
            registry.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "slm-quant site failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn url(dir: &Path, file: &str) -> String {
    format!("file://{}", dir.join(file).display())
}

/// Lists the ids of the visible tab panels.
fn visible_panels(browser: &mut Browser, page: &Page) -> Value {
    browser.evaluate(
        page,
        "[...document.querySelectorAll('.tab-panel')]\
         .filter(p => getComputedStyle(p).display !== 'none' && p.offsetHeight > 0)\
         .map(p => p.id)",
    )
}

fn assert_tabs_switch(browser: &mut Browser, page: &Page, scripts_on: bool) {
    assert_eq!(
        visible_panels(browser, page),
        serde_json::json!(["panel-rag"]),
        "only the RAG tab is open at first"
    );
    for tab in TABS.iter().rev().chain(TABS.iter()) {
        browser.click(page, &format!("label[for=\"tab-{tab}\"]"));
        assert_eq!(
            visible_panels(browser, page),
            serde_json::json!([format!("panel-{tab}")]),
            "clicking the {tab} tab shows its panel alone (JavaScript on: {scripts_on})"
        );
        if scripts_on {
            let hash = browser.evaluate(page, "location.hash");
            assert_eq!(hash, format!("#{tab}"), "the address names the open tab");
        }
    }
}

/// Collects each chart's kind, tick label counts, axis titles, and the quants of its marks,
/// per group for bar charts and for the whole chart otherwise.
fn charts(browser: &mut Browser, page: &Page) -> Vec<Value> {
    let value = browser.evaluate(
        page,
        "[...document.querySelectorAll('svg.chart')].map(svg => ({\
           kind: svg.dataset.kind,\
           title: svg.getAttribute('aria-label'),\
           xTicks: svg.querySelectorAll('.x-axis .tick').length,\
           yTicks: svg.querySelectorAll('.y-axis .tick').length,\
           xTitle: (svg.querySelector('.x-axis .axis-title') || {}).textContent || '',\
           yTitle: (svg.querySelector('.y-axis .axis-title') || {}).textContent || '',\
           groups: [...svg.querySelectorAll('.group')].map(g =>\
             [...g.querySelectorAll('.mark')].map(m => m.dataset.quant)),\
           marks: [...svg.querySelectorAll('.mark')].map(m => m.dataset.quant),\
           cells: svg.querySelectorAll('.cell').length,\
           width: svg.getBoundingClientRect().width\
         }))",
    );
    value.as_array().expect("chart list").clone()
}

fn assert_chart(chart: &Value) {
    let title = chart["title"].as_str().unwrap_or("?");
    assert!(
        chart["xTicks"].as_u64().unwrap() >= 2,
        "{title}: x ticks {chart}"
    );
    assert!(
        chart["yTicks"].as_u64().unwrap() >= 2,
        "{title}: y ticks {chart}"
    );
    assert!(
        !chart["xTitle"].as_str().unwrap().is_empty(),
        "{title}: x title"
    );
    assert!(
        !chart["yTitle"].as_str().unwrap().is_empty(),
        "{title}: y title"
    );
    match chart["kind"].as_str().unwrap() {
        "bar" => {
            let groups = chart["groups"].as_array().unwrap();
            assert!(!groups.is_empty(), "{title}: no bar groups");
            for group in groups {
                assert_eq!(
                    group,
                    &serde_json::json!(QUANTS),
                    "{title}: one bar per quant"
                );
            }
        }
        "line" | "scatter" => {
            assert_eq!(
                chart["marks"],
                serde_json::json!(QUANTS),
                "{title}: one mark per quant"
            );
        }
        "heatmap" => {
            assert_eq!(chart["cells"], 20, "{title}: 4 prompt lengths × 5 depths");
        }
        other => panic!("{title}: unknown chart kind {other}"),
    }
}

/// Collects the console errors, uncaught exceptions, browser log errors and dialogs of `page`.
fn problems(browser: &Browser, page: &Page) -> Vec<String> {
    let mut found = Vec::new();
    for event in browser.events_named(&page.session, "Runtime.consoleAPICalled") {
        let kind = event["params"]["type"].as_str().unwrap_or("");
        if kind == "error" || kind == "assert" || kind == "warning" {
            found.push(format!("console {kind}: {}", event["params"]["args"]));
        }
    }
    for event in browser.events_named(&page.session, "Runtime.exceptionThrown") {
        found.push(format!(
            "exception: {}",
            event["params"]["exceptionDetails"]
        ));
    }
    for event in browser.events_named(&page.session, "Log.entryAdded") {
        if event["params"]["entry"]["level"] == "error" {
            found.push(format!("log: {}", event["params"]["entry"]));
        }
    }
    for event in browser.events_named(&page.session, "Page.javascriptDialogOpening") {
        found.push(format!("dialog: {}", event["params"]));
    }
    found
}

/// Saves one screenshot per page section as `<prefix>-<section>.png`, small enough to read.
fn save_sections(browser: &mut Browser, page: &Page, prefix: &str) {
    for section in ["summary", "performance", "use-cases", "deployment", "setup"] {
        let png = browser.screenshot_element(page, &format!("#{section}"));
        let path = artifact_dir().join(format!("{prefix}-{section}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot of {section}: {}", path.display());
    }
}

fn artifact_dir() -> PathBuf {
    let dir = common::repo_root().join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn site_works_in_chromium() {
    let chromium = chromium();
    let site = tempfile::tempdir().unwrap();
    build_site(site.path());
    let mut browser = Browser::launch(&chromium);

    let page = browser.new_page(1280, 900);
    browser.navigate(&page, &url(site.path(), "smollm2-135m-instruct.html"));
    assert_tabs_switch(&mut browser, &page, true);

    let charts = charts(&mut browser, &page);
    let kinds: Vec<&str> = charts.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["bar", "line", "bar", "scatter", "bar", "heatmap", "heatmap", "heatmap", "bar"],
        "speed, TTFT, RAM, quality, RAG scores, three NIAH grids, function-calling scores"
    );
    for chart in &charts {
        assert_chart(chart);
    }
    let empty_panels = browser.evaluate(
        &page,
        "['panel-coding', 'panel-reasoning']\
         .map(id => document.getElementById(id).textContent)",
    );
    for text in empty_panels.as_array().unwrap() {
        assert!(
            text.as_str().unwrap().contains("not measured"),
            "coding and reasoning show as not measured: {text}"
        );
    }

    browser.click(&page, "label[for=\"tab-rag\"]");
    browser.evaluate(&page, "window.scrollTo(0, 0)");
    let png = browser.screenshot(&page);
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
    let shot = artifact_dir().join("site-model-page.png");
    std::fs::write(&shot, &png).unwrap();
    println!("screenshot of the model page: {}", shot.display());
    save_sections(&mut browser, &page, "site-model");
    assert_eq!(problems(&browser, &page), Vec::<String>::new());

    let linked = browser.new_page(1280, 900);
    browser.navigate(
        &linked,
        &url(site.path(), "smollm2-135m-instruct.html#function-calling"),
    );
    assert_eq!(
        visible_panels(&mut browser, &linked),
        serde_json::json!(["panel-function-calling"]),
        "a link to a tab opens it"
    );
    assert_eq!(problems(&browser, &linked), Vec::<String>::new());
}

#[test]
fn tabs_switch_without_javascript() {
    let chromium = chromium();
    let site = tempfile::tempdir().unwrap();
    build_site(site.path());
    let mut browser = Browser::launch(&chromium);

    let page = browser.new_page(1280, 900);
    browser.call(
        Some(&page.session),
        "Emulation.setScriptExecutionDisabled",
        serde_json::json!({"value": true}),
    );
    browser.navigate(&page, &url(site.path(), "smollm2-135m-instruct.html"));
    let ran = browser.evaluate(&page, "document.querySelectorAll('script').length");
    assert_eq!(
        ran, 1,
        "the page has its one tab script, which stays off here"
    );
    assert_tabs_switch(&mut browser, &page, false);
    assert_eq!(
        browser.evaluate(&page, "location.hash"),
        "",
        "no script changed the address"
    );
}

#[test]
fn hostile_names_render_as_text() {
    let chromium = chromium();
    let site = tempfile::tempdir().unwrap();
    build_site(site.path());
    let mut browser = Browser::launch(&chromium);

    for file in ["xss-check.html", "index.html"] {
        let page = browser.new_page(1280, 900);
        browser.navigate(&page, &url(site.path(), file));
        let found = browser.evaluate(
            &page,
            "({scripts: document.querySelectorAll('script').length,\
               images: document.querySelectorAll('img').length,\
               bold: document.querySelectorAll('main b').length,\
               text: document.body.innerText})",
        );
        assert_eq!(found["scripts"], 1, "{file}: only the page's own script");
        assert_eq!(found["images"], 0, "{file}: no injected image");
        assert_eq!(found["bold"], 0, "{file}: no injected markup");
        let text = found["text"].as_str().unwrap();
        assert!(
            text.contains("<script>alert(1)</script>"),
            "{file}: the model name shows as text"
        );
        assert_eq!(problems(&browser, &page), Vec::<String>::new(), "{file}");
    }

    let page = browser.new_page(1280, 900);
    browser.navigate(&page, &url(site.path(), "xss-check.html"));
    let heading = browser.evaluate(&page, "document.querySelector('h1').textContent");
    assert_eq!(heading, "<script>alert(1)</script>");
    let file_cell = browser.evaluate(
        &page,
        "document.querySelector('#setup tbody code').textContent",
    );
    assert_eq!(file_cell, "<b>bold</b>.gguf");
}

/// Renders the site of the registry named by `SLM_QUANT_SITE_REGISTRY`, such as a real
/// sweep's, and checks its charts' axes and the console. Screenshots of each model page and
/// its sections go to tests/artifacts/.
#[test]
#[ignore = "needs SLM_QUANT_SITE_REGISTRY; run with --ignored"]
fn registry_from_environment_renders() {
    let registry = std::env::var_os("SLM_QUANT_SITE_REGISTRY")
        .map(PathBuf::from)
        .expect("set SLM_QUANT_SITE_REGISTRY to the registry to render");
    let chromium = chromium();
    let site = tempfile::tempdir().unwrap();
    let output = common::slm_quant(
        site.path(),
        &[
            "site",
            "--out",
            site.path().to_str().unwrap(),
            "--registry",
            registry.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut browser = Browser::launch(&chromium);
    let mut pages: Vec<String> = std::fs::read_dir(site.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".html") && name != "index.html")
        .collect();
    pages.sort();
    for file in pages {
        let page = browser.new_page(1280, 900);
        browser.navigate(&page, &url(site.path(), &file));
        for chart in charts(&mut browser, &page) {
            let title = chart["title"].as_str().unwrap_or("?").to_string();
            assert!(
                chart["yTicks"].as_u64().unwrap() >= 2,
                "{file} {title}: y ticks"
            );
            assert!(
                chart["xTicks"].as_u64().unwrap() >= 1,
                "{file} {title}: x ticks"
            );
        }
        let stem = file.trim_end_matches(".html");
        let png = browser.screenshot(&page);
        let path = artifact_dir().join(format!("{stem}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot of {file}: {}", path.display());
        save_sections(&mut browser, &page, stem);
        assert_eq!(problems(&browser, &page), Vec::<String>::new(), "{file}");
    }
}
