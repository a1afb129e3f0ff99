//! Needle in a haystack: one access code hidden in filler prose at a grid of haystack lengths
//! and depths, a fresh needle for every trial, scored by exact match of the code.

use anyhow::Result;

use super::haystack::{self, Filler};
use super::names::FactGenerator;
use super::prompt::{Asker, Check, Context, Question};
use super::{FamilyRun, RagFamily, RagSettings};

/// Digits of an access code.
const CODE_DIGITS: u32 = 7;

pub fn needle(name: &str, code: &str) -> String {
    format!("The access code for {name} is {code}.")
}

pub fn question(name: &str) -> String {
    format!("What is the access code for {name}?")
}

/// Haystack lengths to run: the requested ones capped at what the context holds, without
/// duplicates.
pub fn plan_lengths(requested: &[u32], max_context_tokens: usize) -> Vec<usize> {
    let mut lengths = Vec::new();
    for &length in requested {
        let capped = (length as usize).min(max_context_tokens);
        if capped < length as usize {
            tracing::warn!(
                requested = length,
                capped,
                "needle haystack capped to fit the context beside question and answer"
            );
        }
        if capped > 0 && !lengths.contains(&capped) {
            lengths.push(capped);
        }
    }
    lengths
}

/// Runs the grid. Depths go from deepest to shallowest and the filler of one length is
/// shared by all its cells, so each prompt reuses the cached text before its needle.
pub fn run(
    asker: &mut Asker<'_>,
    settings: &RagSettings,
    on_progress: &mut dyn FnMut(&str),
) -> Result<FamilyRun> {
    let mut facts = FactGenerator::new(settings.seed ^ 0x6e69_6168);
    let mut depths = settings.niah_depths.clone();
    depths.sort_unstable_by(|a, b| b.cmp(a));
    depths.dedup();

    let mut run = FamilyRun::default();
    for length in plan_lengths(&settings.niah_lengths, asker.max_context_tokens()) {
        on_progress(&format!("RAG needle grid, {length} tokens"));
        let sample = needle("Dravo Kelmund", "4821337");
        let needle_tokens = asker.backend().count_tokens(&format!(" {sample}"))?;
        let filler = Filler::build(
            asker.backend(),
            settings.seed.wrapping_add(length as u64),
            length.saturating_sub(needle_tokens).max(1),
        )?;

        for &depth in &depths {
            let boundary = filler.boundary_at_depth(f64::from(depth) / 100.0);
            for trial in 0..settings.niah_trials {
                let name = facts.person();
                let code = facts.code(CODE_DIGITS);
                let needle = needle(&name, &code);
                let text = filler.render(&[(boundary, needle.clone())]);
                let placement = haystack::placement(asker.backend(), &text, &needle)?;
                let context = Context {
                    text,
                    tokens: placement.context_tokens,
                    target_tokens: Some(length),
                };

                let mut question = Question::new(
                    format!("niah-{length}-{depth}-{trial}"),
                    "needle",
                    question(&name),
                    Check::Number(code),
                );
                question.target_depth_percent = Some(depth);
                question.depth_percent = Some(placement.depth_percent);
                run.cases
                    .push(asker.ask(RagFamily::Niah, Some(&context), &question)?);
                run.controls.push(question);
            }
        }
    }
    Ok(run)
}
