//! Haystacks: filler prose of a chosen length in the model's own tokens, into which needle
//! sentences are inserted at sentence boundaries at chosen depths.

use anyhow::{bail, Result};

use crate::probes::ProbeBackend;
use crate::text::ProseGenerator;

/// Adjustments of one sentence each allowed while the filler is brought to its length; the
/// estimate from per-sentence counts is normally off by a token or two, so few are needed.
const MAX_ADJUSTMENTS: usize = 64;

/// Filler sentences and their token counts, whose joined text is as close to a target token
/// length as whole sentences allow.
#[derive(Debug, Clone)]
pub struct Filler {
    sentences: Vec<String>,
    /// Tokens of each sentence with its leading space, as it appears inside the text.
    sentence_tokens: Vec<usize>,
    /// Tokens of the joined text, counted as a whole.
    tokens: usize,
}

impl Filler {
    /// Builds filler of `target_tokens` tokens (within half a sentence) from the prose of
    /// `seed`, counting tokens with the backend's tokenizer.
    pub fn build(backend: &dyn ProbeBackend, seed: u64, target_tokens: usize) -> Result<Filler> {
        if target_tokens == 0 {
            bail!("a haystack needs a positive length in tokens");
        }
        let mut prose = ProseGenerator::new(seed);
        let mut filler = Filler {
            sentences: Vec::new(),
            sentence_tokens: Vec::new(),
            tokens: 0,
        };
        let mut estimate = 0;
        while estimate < target_tokens {
            estimate += filler.push(backend, prose.sentence())?;
        }

        for _ in 0..MAX_ADJUSTMENTS {
            filler.tokens = backend.count_tokens(&filler.text())?;
            let last = *filler.sentence_tokens.last().unwrap_or(&0);
            if filler.tokens > target_tokens && 2 * (filler.tokens - target_tokens) > last {
                filler.sentences.pop();
                filler.sentence_tokens.pop();
            } else if filler.tokens < target_tokens
                && 2 * (target_tokens - filler.tokens) > last.max(1)
            {
                filler.push(backend, prose.sentence())?;
            } else {
                break;
            }
        }
        Ok(filler)
    }

    fn push(&mut self, backend: &dyn ProbeBackend, sentence: String) -> Result<usize> {
        let tokens = backend.count_tokens(&format!(" {sentence}"))?;
        self.sentences.push(sentence);
        self.sentence_tokens.push(tokens);
        Ok(tokens)
    }

    /// Tokens of the filler text as a whole.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// Tokens of the longest sentence, the precision to which lengths and depths are met.
    pub fn max_sentence_tokens(&self) -> usize {
        self.sentence_tokens.iter().copied().max().unwrap_or(0)
    }

    pub fn text(&self) -> String {
        self.sentences.join(" ")
    }

    /// The sentence boundary closest to `depth` (0 = before the first sentence, 1 = after the
    /// last one), as an index into the sentences.
    pub fn boundary_at_depth(&self, depth: f64) -> usize {
        let total: usize = self.sentence_tokens.iter().sum();
        let goal = depth.clamp(0.0, 1.0) * total as f64;
        let mut best = (0, goal);
        let mut before = 0usize;
        for index in 1..=self.sentences.len() {
            before += self.sentence_tokens[index - 1];
            let distance = (before as f64 - goal).abs();
            if distance < best.1 {
                best = (index, distance);
            }
        }
        best.0
    }

    /// The filler text with each `(boundary, sentence)` inserted before the filler sentence
    /// at that boundary. Insertions at the same boundary keep their order.
    pub fn render(&self, insertions: &[(usize, String)]) -> String {
        let mut insertions: Vec<&(usize, String)> = insertions.iter().collect();
        insertions.sort_by_key(|(boundary, _)| *boundary);
        let mut parts: Vec<&str> = Vec::with_capacity(self.sentences.len() + insertions.len());
        let mut pending = insertions.into_iter().peekable();
        for (index, sentence) in self.sentences.iter().enumerate() {
            while let Some((_, needle)) = pending.next_if(|(boundary, _)| *boundary <= index) {
                parts.push(needle);
            }
            parts.push(sentence);
        }
        parts.extend(pending.map(|(_, needle)| needle.as_str()));
        parts.join(" ")
    }
}

/// Where a needle ended up in a rendered haystack, measured in tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Tokens of the whole haystack, needle included.
    pub context_tokens: usize,
    /// Tokens before the needle as a percentage of the whole haystack.
    pub depth_percent: f64,
}

/// Measures the placement of `needle` in `haystack`.
pub fn placement(backend: &dyn ProbeBackend, haystack: &str, needle: &str) -> Result<Placement> {
    let context_tokens = backend.count_tokens(haystack)?;
    let Some(offset) = haystack.find(needle) else {
        bail!("the needle `{needle}` is missing from its haystack");
    };
    let before = backend.count_tokens(haystack[..offset].trim_end())?;
    let depth_percent = if context_tokens == 0 {
        0.0
    } else {
        100.0 * before as f64 / context_tokens as f64
    };
    Ok(Placement {
        context_tokens,
        depth_percent,
    })
}
