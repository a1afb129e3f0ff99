//! Seeded generator of filler prose: ordinary-sounding English sentences about invented places
//! and people, used to build prompts of a chosen token length. The same seed always gives the
//! same text, and nothing in it is copied from a corpus.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SUBJECTS: &[&str] = &[
    "the old harbour",
    "a quiet orchard",
    "the river valley",
    "the market square",
    "a narrow bridge",
    "the northern ridge",
    "the village library",
    "a small bakery",
    "the weather station",
    "the night train",
    "a fishing boat",
    "the hill farm",
    "the copper mine",
    "a mountain path",
    "the city council",
    "the spring festival",
    "a travelling choir",
    "the coastal road",
    "the glass workshop",
    "the school garden",
    "a wooden mill",
    "the lighthouse keeper",
    "the ferry crew",
    "a group of hikers",
];

const VERBS: &[&str] = &[
    "looked out over",
    "was rebuilt after",
    "stood beside",
    "was famous for",
    "slowly recovered from",
    "was busy during",
    "grew quiet after",
    "welcomed visitors to",
    "was painted before",
    "depended on",
    "was closed during",
    "opened again after",
    "was surrounded by",
    "kept records of",
    "was known for",
    "changed little since",
];

const OBJECTS: &[&str] = &[
    "the long winter",
    "the autumn storms",
    "a week of heavy rain",
    "the harvest season",
    "the fields of barley",
    "the first snowfall",
    "a row of chestnut trees",
    "the summer crowds",
    "the new railway line",
    "the flooded meadows",
    "a dry spring",
    "the evening fog",
    "the weekly market",
    "the repairs to the dam",
    "the salt marshes",
    "a cluster of stone cottages",
    "the annual regatta",
    "the pine forest",
];

const CLAUSES: &[&str] = &[
    "and most people agreed that it had been worth the wait",
    "although few of the younger residents remembered why",
    "while the children played near the water",
    "so the shops stayed open later than usual",
    "because the roads had finally been cleared",
    "and the local paper wrote about it for weeks",
    "even though the budget had been cut twice",
    "while visitors took photographs from the hill",
    "and the bells rang at noon as they always had",
    "until the lamps were lit along the main street",
];

const OPENERS: &[&str] = &[
    "In the early morning,",
    "By late afternoon,",
    "For many years,",
    "According to the guide,",
    "Later that season,",
    "On most weekends,",
    "Every few years,",
    "Despite the cold,",
    "After the meeting,",
    "Before the bridge was finished,",
];

const ADJECTIVES: &[&str] = &[
    "calm",
    "crowded",
    "bright",
    "muddy",
    "peaceful",
    "windy",
    "lively",
    "grey",
    "green",
    "busy",
    "silent",
    "colourful",
];

/// A deterministic source of filler sentences.
pub struct ProseGenerator {
    rng: ChaCha8Rng,
}

impl ProseGenerator {
    pub fn new(seed: u64) -> ProseGenerator {
        ProseGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// One sentence, ending with a full stop and no trailing space.
    pub fn sentence(&mut self) -> String {
        let subject = *SUBJECTS.choose(&mut self.rng).expect("non-empty list");
        let verb = *VERBS.choose(&mut self.rng).expect("non-empty list");
        let object = *OBJECTS.choose(&mut self.rng).expect("non-empty list");
        let sentence = match self.rng.random_range(0..4) {
            0 => {
                let opener = *OPENERS.choose(&mut self.rng).expect("non-empty list");
                format!("{opener} {subject} {verb} {object}.")
            }
            1 => {
                let clause = *CLAUSES.choose(&mut self.rng).expect("non-empty list");
                format!("{subject} {verb} {object}, {clause}.")
            }
            2 => {
                let adjective = *ADJECTIVES.choose(&mut self.rng).expect("non-empty list");
                let year = self.rng.random_range(1890..2020);
                format!("In {year}, {subject} {verb} {object}, and the day was {adjective}.")
            }
            _ => format!("{subject} {verb} {object}."),
        };
        capitalise(&sentence)
    }

    /// Sentences joined by spaces until the text has at least `min_chars` characters.
    pub fn paragraph(&mut self, min_chars: usize) -> String {
        let mut text = String::new();
        while text.len() < min_chars {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&self.sentence());
        }
        text
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_text() {
        let a = ProseGenerator::new(7).paragraph(2000);
        let b = ProseGenerator::new(7).paragraph(2000);
        assert_eq!(a, b);
    }

    #[test]
    fn different_seeds_give_different_text() {
        let a = ProseGenerator::new(7).paragraph(500);
        let b = ProseGenerator::new(8).paragraph(500);
        assert_ne!(a, b);
    }

    #[test]
    fn sentences_are_capitalised_and_end_with_full_stop() {
        let mut generator = ProseGenerator::new(1);
        for _ in 0..200 {
            let sentence = generator.sentence();
            assert!(sentence.ends_with('.'), "{sentence}");
            assert!(
                sentence.chars().next().unwrap().is_uppercase(),
                "{sentence}"
            );
        }
    }

    #[test]
    fn paragraph_reaches_requested_length() {
        let text = ProseGenerator::new(3).paragraph(10_000);
        assert!(text.len() >= 10_000);
        assert!(!text.ends_with(' '));
    }

    #[test]
    fn text_is_varied() {
        let mut generator = ProseGenerator::new(5);
        let sentences: std::collections::BTreeSet<String> =
            (0..200).map(|_| generator.sentence()).collect();
        assert!(
            sentences.len() > 150,
            "only {} distinct sentences",
            sentences.len()
        );
    }
}
