//! The RAG probes run against scripted backends: one that reads the context and answers
//! right, and one that always gives the same guess. Tokens are whitespace-separated words.

use std::collections::HashMap;

use anyhow::Result;

use super::grounded::ATTRIBUTES;
use super::haystack::{self, Filler};
use super::record::ResultLine;
use super::*;
use crate::chat::ChatTemplate;
use crate::probes::Completion;

const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' \
    + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}\
    {{ '<|im_start|>assistant\n' }}{% endif %}";

/// Marker for the slot of a sentence or question template.
const SLOT: &str = "\u{1}";

/// How a scripted backend answers a document and a question.
type Answerer = fn(Option<&str>, &str) -> String;

/// A backend with a whitespace tokenizer and a simulated KV cache of words.
struct ScriptedBackend {
    answer: Answerer,
    cached: Vec<String>,
    n_ctx: usize,
}

impl ScriptedBackend {
    fn new(answer: Answerer) -> ScriptedBackend {
        ScriptedBackend {
            answer,
            cached: Vec::new(),
            n_ctx: 16_384,
        }
    }
}

impl ProbeBackend for ScriptedBackend {
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }

    fn chat_template(&self) -> Option<ChatTemplate> {
        Some(ChatTemplate::new(CHATML, "", "<|im_end|>"))
    }

    fn complete(&mut self, prompt: &str, _max_tokens: usize) -> Result<Completion> {
        let words: Vec<String> = prompt.split_whitespace().map(str::to_string).collect();
        let shared = self
            .cached
            .iter()
            .zip(&words)
            .take_while(|(a, b)| a == b)
            .count()
            .min(words.len().saturating_sub(1));
        let prefilled = words.len() - shared;
        self.cached = words;

        let user = prompt
            .split("<|im_start|>user\n")
            .nth(1)
            .and_then(|rest| rest.split("<|im_end|>").next())
            .unwrap_or_default();
        let (document, question) = match user.strip_prefix("Document:\n") {
            Some(rest) => {
                let (document, question) = rest.rsplit_once("\n\nQuestion: ").unwrap();
                (Some(document), question)
            }
            None => (None, user.strip_prefix("Question: ").unwrap_or(user)),
        };
        Ok(Completion {
            text: (self.answer)(document, question),
            prompt_tokens: self.cached.len(),
            prefilled_tokens: prefilled,
        })
    }

    fn n_ctx(&self) -> usize {
        self.n_ctx
    }
}

/// Extracts the text in the slot of `template` (built with `SLOT`) when `text` matches it whole.
fn slot_of(template: &str, text: &str) -> Option<String> {
    let (before, after) = template.split_once(SLOT)?;
    let value = text.strip_prefix(before)?.strip_suffix(after)?;
    Some(value.to_string())
}

/// Collects every value that fills the slot of `template` somewhere in `document`.
fn fills(template: &str, document: &str) -> Vec<String> {
    let (before, after) = template.split_once(SLOT).unwrap();
    let mut values = Vec::new();
    let mut rest = document;
    while let Some(start) = rest.find(before) {
        rest = &rest[start + before.len()..];
        if let Some(end) = rest.find(after) {
            values.push(rest[..end].to_string());
        }
    }
    values
}

fn fill(template: &str, document: &str) -> Option<String> {
    fills(template, document).into_iter().next()
}

const REFUSAL: &str = "The document does not say.";

/// Answers every probe question by reading the document, as a perfect model would.
fn correct_reader(document: Option<&str>, question: &str) -> String {
    let Some(document) = document else {
        return REFUSAL.to_string();
    };
    read(document, question).unwrap_or_else(|| REFUSAL.to_string())
}

fn read(document: &str, question: &str) -> Option<String> {
    if let Some(name) = slot_of(&niah::question(SLOT), question) {
        return fill(&niah::needle(&name, SLOT), document);
    }

    let pair_template = ruler::multi_query_question(SLOT, SLOT);
    let (pair_before, pair_rest) = pair_template.split_once(SLOT).unwrap();
    let (pair_middle, pair_after) = pair_rest.split_once(SLOT).unwrap();
    if let Some(names) = question
        .strip_prefix(pair_before)
        .and_then(|rest| rest.strip_suffix(pair_after))
    {
        let (first, second) = names.split_once(pair_middle)?;
        let code = |name: &str| fill(&niah::needle(name, SLOT), document);
        return Some(format!("{} and {}", code(first)?, code(second)?));
    }

    if let Some(name) = slot_of(&ruler::multi_value_question(SLOT), question) {
        return Some(fills(&ruler::value_sentence(&name, SLOT), document).join(", "));
    }

    if let Some(value) = slot_of(&ruler::variable_question(SLOT), question) {
        return Some(track_variables(document, &value).join(", "));
    }

    if let Some(count) = slot_of(
        &ruler::common_words_question(99).replace("99", SLOT),
        question,
    ) {
        return Some(most_common_words(document, count.parse().ok()?).join(", "));
    }

    if let Some(person) = slot_of(&multi_hop::two_hop_question(SLOT), question) {
        let company = fill(&multi_hop::works_for(&person, SLOT), document)?;
        return fill(&multi_hop::based_in(&company, SLOT), document);
    }

    if let Some(person) = slot_of(&multi_hop::three_hop_question(SLOT), question) {
        let company = fill(&multi_hop::works_for(&person, SLOT), document)?;
        let group = fill(&multi_hop::owned_by(&company, SLOT), document)?;
        return fill(&multi_hop::head_office(&group, SLOT), document);
    }

    for attribute in ATTRIBUTES {
        if let Some(person) = slot_of(&attribute.question(SLOT), question) {
            return fill(&attribute.sentence(&person, SLOT), document);
        }
    }

    panic!("the scripted reader does not know the question {question:?}");
}

/// Variables that end up holding `value` through the chain of assignments.
fn track_variables(document: &str, value: &str) -> Vec<String> {
    let assignment = ruler::assignment(SLOT, "");
    let (before, _) = assignment.split_once(SLOT).unwrap();
    let assignments: Vec<(String, String)> = fills(&format!("{before}{SLOT}."), document)
        .into_iter()
        .filter_map(|text| {
            let (variable, source) = text.split_once(" = ")?;
            Some((variable.to_string(), source.to_string()))
        })
        .collect();
    let mut holding: Vec<String> = Vec::new();
    let mut sources = vec![value.to_string()];
    while let Some(source) = sources.pop() {
        for (variable, from) in &assignments {
            let copies = from == &source || from == &format!("VAR {source}");
            if copies && !holding.contains(variable) {
                holding.push(variable.clone());
                sources.push(variable.clone());
            }
        }
    }
    holding
}

fn most_common_words(document: &str, count: usize) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for line in document.lines() {
        if let Some((number, word)) = line.split_once(". ") {
            if number.chars().all(|c| c.is_ascii_digit()) {
                *counts.entry(word).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(count)
        .map(|(word, _)| word.to_string())
        .collect()
}

/// Gives the same answer to every question.
fn fixed_guesser(_document: Option<&str>, _question: &str) -> String {
    "It is 1234567 in Quelsby.".to_string()
}

fn small_settings() -> RagSettings {
    RagSettings {
        niah_lengths: vec![256, 600],
        niah_depths: vec![0, 50, 100],
        niah_trials: 2,
        ruler_length: 400,
        ruler_trials: 2,
        grounded_passages: 3,
        multi_hop_contexts: 2,
        ..RagSettings::default()
    }
}

fn run_with(answer: Answerer, settings: &RagSettings) -> RagRun {
    let mut backend = ScriptedBackend::new(answer);
    run(&mut backend, settings, &mut |_| {}).unwrap()
}

#[test]
fn correct_reader_scores_full_marks() {
    let run = run_with(correct_reader, &small_settings());
    for summary in &run.families {
        assert_eq!(summary.score, 100.0, "{summary:?}");
    }
    assert_eq!(run.families.len(), 4);
    assert_eq!(run.record.score, 100.0);
    assert!(run.record.recommended);
    assert_eq!(run.record.benchmarks.niah, Some(100.0));
    assert_eq!(run.record.benchmarks.ruler, Some(100.0));
    assert_eq!(run.record.benchmarks.ragtruth, Some(100.0));
    assert_eq!(run.record.benchmarks.frames, Some(100.0));
    assert_eq!(run.record.hallucination_rate, Some(0.0));
}

#[test]
fn correct_reader_fails_closed_book() {
    let run = run_with(correct_reader, &small_settings());
    let controls = run.cases.iter().filter(|case| case.closed_book).count();
    // Needle: 2 lengths x 3 depths x 2 trials; grounded: 2 answerable x 3 passages;
    // multi-hop: 3 chains x 2 contexts.
    assert_eq!(controls, 12 + 6 + 6);
    assert_eq!(run.record.closed_book_accuracy, Some(0.0));
}

#[test]
fn fixed_guesser_scores_near_zero() {
    let run = run_with(fixed_guesser, &small_settings());
    for summary in &run.families {
        assert!(summary.score <= 5.0, "{summary:?}");
    }
    assert!(run.record.score <= 5.0, "{:?}", run.record);
    assert!(!run.record.recommended);
    assert_eq!(run.record.hallucination_rate, Some(1.0));
}

#[test]
fn niah_grid_has_every_cell() {
    let run = run_with(correct_reader, &small_settings());
    let cells: Vec<(usize, u32, usize)> = run
        .record
        .niah_grid
        .iter()
        .map(|cell| (cell.context_tokens, cell.depth_percent, cell.trials))
        .collect();
    assert_eq!(
        cells,
        vec![
            (256, 0, 2),
            (256, 50, 2),
            (256, 100, 2),
            (600, 0, 2),
            (600, 50, 2),
            (600, 100, 2)
        ]
    );
    assert!(run.record.niah_grid.iter().all(|cell| cell.accuracy == 1.0));
}

#[test]
fn needle_cases_record_measured_length_and_depth() {
    let run = run_with(correct_reader, &small_settings());
    for case in run
        .cases
        .iter()
        .filter(|c| c.family == RagFamily::Niah && !c.closed_book)
    {
        let target = case.target_context_tokens.unwrap() as f64;
        let actual = case.context_tokens.unwrap() as f64;
        assert!((actual - target).abs() <= 30.0, "{case:?}");
        let depth = f64::from(case.target_depth_percent.unwrap());
        assert!(
            (case.depth_percent.unwrap() - depth).abs() <= 10.0,
            "{case:?}"
        );
    }
}

#[test]
fn haystack_length_is_within_a_sentence() {
    let backend = ScriptedBackend::new(correct_reader);
    for target in [100, 1000, 4000, 8000] {
        let filler = Filler::build(&backend, 7, target).unwrap();
        let sentence = filler.max_sentence_tokens();
        assert!(sentence > 0);
        assert_eq!(
            filler.tokens(),
            backend.count_tokens(&filler.text()).unwrap()
        );
        assert!(
            filler.tokens().abs_diff(target) <= sentence,
            "target {target}, got {}, sentence {sentence}",
            filler.tokens()
        );
    }
}

#[test]
fn needle_lands_at_requested_depth() {
    let backend = ScriptedBackend::new(correct_reader);
    let filler = Filler::build(&backend, 11, 2000).unwrap();
    let sentence = filler.max_sentence_tokens() as f64;
    let needle = niah::needle("Dravo Kelmund", "4821337");
    for depth in [0u32, 10, 25, 50, 75, 100] {
        let boundary = filler.boundary_at_depth(f64::from(depth) / 100.0);
        let text = filler.render(&[(boundary, needle.clone())]);
        let placement = haystack::placement(&backend, &text, &needle).unwrap();
        let tokens_before = placement.depth_percent / 100.0 * placement.context_tokens as f64;
        let wanted = f64::from(depth) / 100.0 * filler.tokens() as f64;
        assert!(
            (tokens_before - wanted).abs() <= sentence,
            "depth {depth}: {tokens_before} tokens before the needle, wanted {wanted}"
        );
    }
}

#[test]
fn same_seed_gives_same_probes() {
    let settings = small_settings();
    let first = run_with(correct_reader, &settings);
    let second = run_with(correct_reader, &settings);
    let hashes = |run: &RagRun| -> Vec<String> {
        run.cases.iter().map(|c| c.prompt_sha256.clone()).collect()
    };
    assert_eq!(hashes(&first), hashes(&second));

    let other = run_with(
        correct_reader,
        &RagSettings {
            seed: 7,
            ..settings
        },
    );
    assert_ne!(hashes(&first), hashes(&other));
}

#[test]
fn questions_reuse_their_context() {
    let run = run_with(correct_reader, &small_settings());
    let prompt_tokens: usize = run.cases.iter().map(|c| c.prompt_tokens).sum();
    assert!(run.record.prefill_tokens < prompt_tokens as u64 / 2);

    // The second multi-key question of a context decodes little more than the question.
    let multi_key: Vec<&CaseResult> = run.cases.iter().filter(|c| c.task == "multi_key").collect();
    assert!(multi_key[1].prefilled_tokens < 40, "{:?}", multi_key[1]);

    // The deepest needle comes first and the next depth reuses the text before its needle.
    let niah: Vec<&CaseResult> = run
        .cases
        .iter()
        .filter(|c| c.family == RagFamily::Niah && !c.closed_book)
        .collect();
    assert_eq!(niah[0].target_depth_percent, Some(100));
    assert!(niah[1].prefilled_tokens < 40, "{:?}", niah[1]);
}

#[test]
fn family_costs_add_up() {
    let run = run_with(correct_reader, &small_settings());
    let family_prefill: u64 = run.families.iter().map(|f| f.prefill_tokens).sum();
    assert!(family_prefill > 0);
    assert!(family_prefill <= run.record.prefill_tokens);
    let lines = run.result_lines();
    let families = lines
        .iter()
        .filter(|line| matches!(line, ResultLine::Family(_)))
        .count();
    assert_eq!(families, 4);
    assert_eq!(lines.len(), 4 + run.cases.len());
}

#[test]
fn selected_families_only_run() {
    let settings = RagSettings {
        families: vec![RagFamily::Grounded],
        ..small_settings()
    };
    let run = run_with(correct_reader, &settings);
    assert!(run.cases.iter().all(|c| c.family == RagFamily::Grounded));
    assert_eq!(run.record.benchmarks.niah, None);
    assert_eq!(run.record.benchmarks.ragtruth, Some(100.0));
    assert!(run.record.niah_grid.is_empty());
}

#[test]
fn lengths_are_capped_to_the_context() {
    let mut backend = ScriptedBackend::new(correct_reader);
    backend.n_ctx = 1000;
    let settings = RagSettings {
        families: vec![RagFamily::Niah],
        niah_lengths: vec![512, 4096, 8192],
        niah_depths: vec![50],
        niah_trials: 1,
        ..RagSettings::default()
    };
    let run = run(&mut backend, &settings, &mut |_| {}).unwrap();
    let lengths: Vec<usize> = run
        .record
        .niah_grid
        .iter()
        .map(|c| c.context_tokens)
        .collect();
    assert_eq!(lengths, vec![512, 1000 - prompt::CONTEXT_RESERVE_TOKENS]);
}

#[test]
fn families_parse_from_flag() {
    assert_eq!(
        parse_families("niah,multi_hop").unwrap(),
        vec![RagFamily::Niah, RagFamily::MultiHop]
    );
    assert_eq!(parse_families("none").unwrap(), vec![]);
    let error = parse_families("niah,rag").unwrap_err();
    assert!(error.contains("`rag`"), "{error}");
    assert!(error.contains("multi_hop"), "{error}");
}

#[test]
fn settings_table_parses_with_defaults() {
    let settings: RagSettings = toml::from_str("families = [\"niah\"]\nniah_trials = 3").unwrap();
    assert_eq!(settings.families, vec![RagFamily::Niah]);
    assert_eq!(settings.niah_trials, 3);
    assert_eq!(settings.niah_depths, RagSettings::default().niah_depths);
    let error = toml::from_str::<RagSettings>("trials = 3")
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown field `trials`"), "{error}");
}

#[test]
fn invalid_depth_is_rejected() {
    let settings = RagSettings {
        niah_depths: vec![0, 150],
        ..RagSettings::default()
    };
    let error = settings.validate().unwrap_err();
    assert!(error.contains("niah_depths"), "{error}");
}
