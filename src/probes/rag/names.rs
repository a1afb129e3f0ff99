//! Seeded generator of fictional facts for the RAG probes: names of people, companies, groups,
//! towns and variables, and numeric codes, built from syllables so that no model can know them
//! from its training data.

use std::collections::HashSet;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ONSETS: &[&str] = &[
    "b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kl", "l", "m", "n", "p", "qu", "r", "s", "st",
    "t", "tr", "v", "w", "z", "th", "sk",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ae", "io", "ou"];
const CODAS: &[&str] = &["", "", "n", "r", "l", "s", "m", "nd", "rt", "x", "v", "k"];
const TOWN_SUFFIXES: &[&str] = &["by", "ford", "holm", "wick", "stead", "mouth", "dale"];
const COMPANY_KINDS: &[&str] = &[
    "Tools",
    "Freight",
    "Textiles",
    "Instruments",
    "Ceramics",
    "Robotics",
    "Paper",
    "Optics",
];
const GROUP_KINDS: &[&str] = &["Holdings", "Group", "Trust", "Partners"];

/// A deterministic source of fictional facts; every name it returns is distinct from the
/// names it returned before, so a probe never holds two facts about the same name by chance.
pub struct FactGenerator {
    rng: ChaCha8Rng,
    used: HashSet<String>,
}

impl FactGenerator {
    pub fn new(seed: u64) -> FactGenerator {
        FactGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            used: HashSet::new(),
        }
    }

    /// The generator's random source, for choices a probe makes alongside its facts.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// A capitalised made-up word of `syllables` syllables.
    fn word(&mut self, syllables: usize) -> String {
        let mut word = String::new();
        for _ in 0..syllables {
            word.push_str(pick(&mut self.rng, ONSETS));
            word.push_str(pick(&mut self.rng, VOWELS));
        }
        word.push_str(pick(&mut self.rng, CODAS));
        capitalise(&word)
    }

    /// Calls `make` until it returns a name not returned before.
    fn unique(&mut self, mut make: impl FnMut(&mut Self) -> String) -> String {
        loop {
            let name = make(self);
            if self.used.insert(name.to_lowercase()) {
                return name;
            }
        }
    }

    /// A first name and a surname, such as "Dravo Kelmund".
    pub fn person(&mut self) -> String {
        self.unique(|g| format!("{} {}", g.word(2), g.word(2)))
    }

    /// A single first name.
    pub fn first_name(&mut self) -> String {
        self.unique(|g| g.word(2))
    }

    /// A company name, such as "Brenvik Optics".
    pub fn company(&mut self) -> String {
        self.unique(|g| {
            let kind = pick(&mut g.rng, COMPANY_KINDS);
            format!("{} {kind}", g.word(2))
        })
    }

    /// A holding group, such as "Talvora Holdings".
    pub fn group(&mut self) -> String {
        self.unique(|g| {
            let kind = pick(&mut g.rng, GROUP_KINDS);
            format!("{} {kind}", g.word(2))
        })
    }

    /// A town name, such as "Quelsby".
    pub fn town(&mut self) -> String {
        self.unique(|g| {
            let suffix = pick(&mut g.rng, TOWN_SUFFIXES);
            format!("{}{suffix}", g.word(1))
        })
    }

    /// A street, such as "Morvane Lane".
    pub fn street(&mut self) -> String {
        self.unique(|g| format!("{} Lane", g.word(2)))
    }

    /// A lowercase made-up word, for word-list probes.
    pub fn plain_word(&mut self) -> String {
        self.unique(|g| g.word(2).to_lowercase())
    }

    /// A variable name of five capital letters, such as "QXRTA".
    pub fn variable(&mut self) -> String {
        self.unique(|g| {
            (0..5)
                .map(|_| char::from(b'A' + g.rng.random_range(0..26u8)))
                .collect()
        })
    }

    /// A number of exactly `digits` digits, without a leading zero, distinct from the numbers
    /// returned before.
    pub fn code(&mut self, digits: u32) -> String {
        let low = 10u64.pow(digits - 1);
        self.unique(|g| g.rng.random_range(low..low * 10).to_string())
    }

    /// Shuffles `items` with the generator's random source.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        items.shuffle(&mut self.rng);
    }
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items.choose(rng).expect("non-empty list")
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
    fn same_seed_gives_same_facts() {
        let mut a = FactGenerator::new(3);
        let mut b = FactGenerator::new(3);
        for _ in 0..20 {
            assert_eq!(a.person(), b.person());
            assert_eq!(a.code(7), b.code(7));
            assert_eq!(a.town(), b.town());
        }
    }

    #[test]
    fn names_are_distinct() {
        let mut facts = FactGenerator::new(9);
        let names: HashSet<String> = (0..300).map(|_| facts.person()).collect();
        assert_eq!(names.len(), 300);
    }

    #[test]
    fn codes_have_requested_digits() {
        let mut facts = FactGenerator::new(1);
        for _ in 0..100 {
            let code = facts.code(7);
            assert_eq!(code.len(), 7, "{code}");
            assert!(!code.starts_with('0'), "{code}");
        }
    }

    #[test]
    fn variables_are_five_capitals() {
        let mut facts = FactGenerator::new(2);
        let variable = facts.variable();
        assert_eq!(variable.len(), 5);
        assert!(
            variable.chars().all(|c| c.is_ascii_uppercase()),
            "{variable}"
        );
    }
}
