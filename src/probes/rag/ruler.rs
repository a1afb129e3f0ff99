//! Long-context tasks in the manner of RULER: several keys with distractors, one key with
//! several values, several queries at once, variable tracking through a chain of assignments,
//! and common-words extraction. Single-value tasks are scored by exact match, the others by
//! the share of expected values the answer contains.

use anyhow::Result;
use rand::Rng;

use super::haystack::Filler;
use super::names::FactGenerator;
use super::niah;
use super::prompt::{Asker, Check, Context, Question};
use super::{FamilyRun, RagFamily, RagSettings};

/// Keys hidden in the multi-key context; each is asked once, so the others are distractors.
const KEYS: usize = 4;
/// Values hidden for the key of the multi-value task.
const VALUES: usize = 4;
/// Values of the distractor key in the multi-value task.
const DISTRACTOR_VALUES: usize = 2;
/// Variables in the chain that carries the asked value, and in the distractor chain.
const CHAIN_LENGTH: usize = 4;
const DISTRACTOR_CHAIN_LENGTH: usize = 3;
/// Words asked for in common-words extraction, and how often each appears in the list.
const COMMON_WORDS: usize = 5;
const COMMON_REPEATS: usize = 8;
/// How often each uncommon word appears.
const RARE_REPEATS: usize = 2;

/// Tasks in the order their scores are averaged.
pub const TASKS: &[&str] = &[
    "multi_key",
    "multi_query",
    "multi_value",
    "variable_tracking",
    "common_words",
];

pub fn value_sentence(name: &str, value: &str) -> String {
    format!("One of the special numbers for {name} is {value}.")
}

pub fn assignment(variable: &str, value: &str) -> String {
    format!("VAR {variable} = {value}.")
}

pub fn multi_query_question(first: &str, second: &str) -> String {
    format!("What are the access codes for {first} and for {second}?")
}

pub fn multi_value_question(name: &str) -> String {
    format!("What are all the special numbers for {name}?")
}

pub fn variable_question(value: &str) -> String {
    format!("Which variables are assigned the value {value}? Name all of them.")
}

pub fn common_words_question(count: usize) -> String {
    format!("What are the {count} most common words in the list?")
}

/// Runs `ruler_trials` rounds of every task at `ruler_length` tokens.
pub fn run(
    asker: &mut Asker<'_>,
    settings: &RagSettings,
    on_progress: &mut dyn FnMut(&str),
) -> Result<FamilyRun> {
    let mut facts = FactGenerator::new(settings.seed ^ 0x7275_6c65);
    let length = (settings.ruler_length as usize).min(asker.max_context_tokens());
    let mut run = FamilyRun::default();
    for trial in 0..settings.ruler_trials {
        on_progress(&format!("RAG long-context tasks, round {}", trial + 1));
        let seed = settings.seed.wrapping_add(1000 + u64::from(trial));
        keys(asker, &mut facts, seed, length, trial, &mut run)?;
        multi_value(asker, &mut facts, seed + 100, length, trial, &mut run)?;
        variable_tracking(asker, &mut facts, seed + 200, length, trial, &mut run)?;
        common_words(asker, &mut facts, length, trial, &mut run)?;
    }
    Ok(run)
}

/// Inserts `needles` in filler of `length` tokens at random sentence boundaries, keeping
/// their order.
fn scatter(
    asker: &Asker<'_>,
    facts: &mut FactGenerator,
    seed: u64,
    length: usize,
    needles: Vec<String>,
) -> Result<Context> {
    let needle_tokens: usize = needles
        .iter()
        .map(|needle| asker.backend().count_tokens(&format!(" {needle}")))
        .sum::<Result<usize>>()?;
    let filler = Filler::build(
        asker.backend(),
        seed,
        length.saturating_sub(needle_tokens).max(1),
    )?;
    let mut boundaries: Vec<usize> = needles
        .iter()
        .map(|_| filler.boundary_at_depth(facts.rng().random_range(0.0..=1.0)))
        .collect();
    boundaries.sort_unstable();
    let insertions: Vec<(usize, String)> = boundaries.into_iter().zip(needles).collect();
    Context::measured(asker.backend(), filler.render(&insertions), Some(length))
}

/// Multi-key retrieval and multi-query retrieval over one context of several access codes.
fn keys(
    asker: &mut Asker<'_>,
    facts: &mut FactGenerator,
    seed: u64,
    length: usize,
    trial: u32,
    run: &mut FamilyRun,
) -> Result<()> {
    let keys: Vec<(String, String)> = (0..KEYS).map(|_| (facts.person(), facts.code(7))).collect();
    let needles = keys
        .iter()
        .map(|(name, code)| niah::needle(name, code))
        .collect();
    let context = scatter(asker, facts, seed, length, needles)?;

    let mut order: Vec<usize> = (0..KEYS).collect();
    facts.shuffle(&mut order);
    for (n, &index) in order.iter().enumerate() {
        let (name, code) = &keys[index];
        let question = Question::new(
            format!("ruler-multi_key-{trial}-{n}"),
            "multi_key",
            niah::question(name),
            Check::Number(code.clone()),
        );
        run.cases
            .push(asker.ask(RagFamily::Ruler, Some(&context), &question)?);
    }

    for (n, pair) in order.chunks(2).enumerate() {
        let [first, second] = pair else { continue };
        let (first_name, first_code) = &keys[*first];
        let (second_name, second_code) = &keys[*second];
        let question = Question::new(
            format!("ruler-multi_query-{trial}-{n}"),
            "multi_query",
            multi_query_question(first_name, second_name),
            Check::All(vec![first_code.clone(), second_code.clone()]),
        );
        run.cases
            .push(asker.ask(RagFamily::Ruler, Some(&context), &question)?);
    }
    Ok(())
}

/// One key with several values, beside a distractor key with values of its own.
fn multi_value(
    asker: &mut Asker<'_>,
    facts: &mut FactGenerator,
    seed: u64,
    length: usize,
    trial: u32,
    run: &mut FamilyRun,
) -> Result<()> {
    let name = facts.person();
    let distractor = facts.person();
    let values: Vec<String> = (0..VALUES).map(|_| facts.code(7)).collect();
    let mut needles: Vec<String> = values.iter().map(|v| value_sentence(&name, v)).collect();
    for _ in 0..DISTRACTOR_VALUES {
        needles.push(value_sentence(&distractor, &facts.code(7)));
    }
    facts.shuffle(&mut needles);
    let context = scatter(asker, facts, seed, length, needles)?;

    let question = Question::new(
        format!("ruler-multi_value-{trial}"),
        "multi_value",
        multi_value_question(&name),
        Check::All(values),
    );
    run.cases
        .push(asker.ask(RagFamily::Ruler, Some(&context), &question)?);
    Ok(())
}

/// A chain of assignments that passes one value from variable to variable, beside a
/// distractor chain with another value; every variable of the first chain must be named.
fn variable_tracking(
    asker: &mut Asker<'_>,
    facts: &mut FactGenerator,
    seed: u64,
    length: usize,
    trial: u32,
    run: &mut FamilyRun,
) -> Result<()> {
    let value = facts.code(5);
    let (variables, assignments) = chain(facts, &value, CHAIN_LENGTH);
    let distractor_value = facts.code(5);
    let (_, distractor) = chain(facts, &distractor_value, DISTRACTOR_CHAIN_LENGTH);

    // Both chains keep their own order, so every assignment follows the one it copies.
    let mut needles = Vec::new();
    let mut first = assignments.into_iter().peekable();
    let mut second = distractor.into_iter().peekable();
    while first.peek().is_some() || second.peek().is_some() {
        let take_first = match (first.peek(), second.peek()) {
            (Some(_), Some(_)) => facts.rng().random_bool(0.5),
            (Some(_), None) => true,
            _ => false,
        };
        let next = if take_first {
            first.next()
        } else {
            second.next()
        };
        needles.extend(next);
    }
    let context = scatter(asker, facts, seed, length, needles)?;

    let question = Question::new(
        format!("ruler-variable_tracking-{trial}"),
        "variable_tracking",
        variable_question(&value),
        Check::All(variables),
    );
    run.cases
        .push(asker.ask(RagFamily::Ruler, Some(&context), &question)?);
    Ok(())
}

/// Variables of a chain of `length` assignments starting from `value`, and its sentences.
fn chain(facts: &mut FactGenerator, value: &str, length: usize) -> (Vec<String>, Vec<String>) {
    let variables: Vec<String> = (0..length).map(|_| facts.variable()).collect();
    let mut sentences = vec![assignment(&variables[0], value)];
    for pair in variables.windows(2) {
        sentences.push(assignment(&pair[1], &format!("VAR {}", pair[0])));
    }
    (variables, sentences)
}

/// A numbered list of made-up words in which a few words appear far more often than the
/// rest, long enough to fill about `length` tokens.
fn common_words(
    asker: &mut Asker<'_>,
    facts: &mut FactGenerator,
    length: usize,
    trial: u32,
    run: &mut FamilyRun,
) -> Result<()> {
    let common: Vec<String> = (0..COMMON_WORDS).map(|_| facts.plain_word()).collect();
    let mut words: Vec<String> = common
        .iter()
        .flat_map(|word| std::iter::repeat_n(word.clone(), COMMON_REPEATS))
        .collect();
    let item_tokens = asker
        .backend()
        .count_tokens(&format!("\n{}. {}", 100, common[0]))?;
    let items_wanted = length / item_tokens.max(1);
    while words.len() + RARE_REPEATS <= items_wanted {
        let rare = facts.plain_word();
        words.extend(std::iter::repeat_n(rare, RARE_REPEATS));
    }
    facts.shuffle(&mut words);

    let list: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, word)| format!("{}. {word}", i + 1))
        .collect();
    let text = format!("Here is a numbered list of words.\n{}", list.join("\n"));
    let context = Context::measured(asker.backend(), text, Some(length))?;

    let question = Question::new(
        format!("ruler-common_words-{trial}"),
        "common_words",
        common_words_question(COMMON_WORDS),
        Check::All(common),
    );
    run.cases
        .push(asker.ask(RagFamily::Ruler, Some(&context), &question)?);
    Ok(())
}
