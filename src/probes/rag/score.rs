//! Scorers of the RAG probes: string matching of a model's answer against the expected
//! values, with no judge model. Answers are compared after normalisation (lowercase,
//! punctuation as spaces, thousands separators dropped), and values must appear as whole words.

/// Phrases, after normalisation, by which an answer says the context does not contain the
/// answer.
const REFUSAL_PHRASES: &[&str] = &[
    "does not say",
    "doesnt say",
    "does not mention",
    "doesnt mention",
    "not mentioned",
    "no mention",
    "does not state",
    "doesnt state",
    "not stated",
    "does not specify",
    "doesnt specify",
    "not specified",
    "does not contain",
    "doesnt contain",
    "does not provide",
    "doesnt provide",
    "not provided",
    "no information",
    "not given",
    "not included",
    "not in the document",
    "not in the passage",
    "cannot be determined",
    "cant be determined",
    "cannot answer",
    "cant answer",
    "i dont know",
    "i do not know",
    "unknown",
];

/// Lowercases `text`, drops apostrophes and the commas of numbers such as `4,821,337`, turns
/// other punctuation into spaces and collapses runs of spaces.
pub fn normalise(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let between_digits = i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(|next| next.is_ascii_digit());
        if (c == ',' && between_digits) || c == '\'' || c == '\u{2019}' {
            continue;
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out.trim().to_string()
}

/// Whether `phrase` appears in `answer` as whole words, after normalising both.
pub fn contains_phrase(answer: &str, phrase: &str) -> bool {
    let phrase = normalise(phrase);
    if phrase.is_empty() {
        return false;
    }
    format!(" {} ", normalise(answer)).contains(&format!(" {phrase} "))
}

/// Runs of digits in `answer`, after normalisation.
pub fn numbers(answer: &str) -> Vec<String> {
    normalise(answer)
        .split(' ')
        .filter(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

/// Exact match of a number: the answer contains `expected` and no other number of the same
/// number of digits, so an answer that lists several candidates does not pass.
pub fn match_number(answer: &str, expected: &str) -> bool {
    let found = numbers(answer);
    found.iter().any(|n| n == expected)
        && found
            .iter()
            .all(|n| n == expected || n.len() != expected.len())
}

/// Exact match of a name: the answer contains `expected` and none of `distractors`, the other
/// names of the same kind the context offered.
pub fn match_entity(answer: &str, expected: &str, distractors: &[String]) -> bool {
    contains_phrase(answer, expected)
        && !distractors
            .iter()
            .any(|other| other != expected && contains_phrase(answer, other))
}

/// Share of `expected` values the answer contains, the all-values string match that RULER
/// scores its multi-value tasks with (0 to 1).
pub fn match_all(answer: &str, expected: &[String]) -> f64 {
    if expected.is_empty() {
        return 0.0;
    }
    let found = expected
        .iter()
        .filter(|value| contains_phrase(answer, value))
        .count();
    found as f64 / expected.len() as f64
}

/// Whether the answer says that the context does not contain the answer.
pub fn is_refusal(answer: &str) -> bool {
    let answer = format!(" {} ", normalise(answer));
    REFUSAL_PHRASES
        .iter()
        .any(|phrase| answer.contains(&format!(" {phrase} ")))
}

/// How an answer to a question the context does not answer turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnanswerableOutcome {
    /// The answer says the context does not say: the expected answer.
    Refused,
    /// The answer offers something else, which the context cannot support.
    Hallucinated,
    /// The model produced no text at all.
    Empty,
}

/// Classifies an answer to a question the context does not answer.
pub fn judge_unanswerable(answer: &str) -> UnanswerableOutcome {
    if is_refusal(answer) {
        UnanswerableOutcome::Refused
    } else if normalise(answer).is_empty() {
        UnanswerableOutcome::Empty
    } else {
        UnanswerableOutcome::Hallucinated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn number_right_answer_passes() {
        assert!(match_number("4821337", "4821337"));
    }

    #[test]
    fn number_in_prose_passes() {
        assert!(match_number(
            "The access code for Dravo Kelmund is 4821337.",
            "4821337"
        ));
        assert!(match_number("It is 4,821,337", "4821337"));
    }

    #[test]
    fn number_wrong_answer_fails() {
        assert!(!match_number("4821338", "4821337"));
        assert!(!match_number("48213370", "4821337"));
        assert!(!match_number("", "4821337"));
    }

    #[test]
    fn number_among_candidates_fails() {
        assert!(!match_number("Either 4821337 or 1234567.", "4821337"));
    }

    #[test]
    fn number_beside_shorter_numbers_passes() {
        assert!(match_number("In 1954 the code was 4821337.", "4821337"));
    }

    #[test]
    fn number_refusal_fails() {
        assert!(!match_number("The document does not say.", "4821337"));
    }

    #[test]
    fn entity_right_and_in_prose_pass() {
        let towns = strings(&["Quelsby", "Dornford"]);
        assert!(match_entity("Quelsby", "Quelsby", &towns));
        assert!(match_entity("He works in quelsby.", "Quelsby", &towns));
    }

    #[test]
    fn entity_wrong_or_partial_fails() {
        let towns = strings(&["Quelsby", "Dornford"]);
        assert!(!match_entity("Dornford", "Quelsby", &towns));
        assert!(!match_entity("Quelsbyton", "Quelsby", &towns));
        assert!(!match_entity("Quelsby or Dornford", "Quelsby", &towns));
    }

    #[test]
    fn entity_refusal_fails() {
        let towns = strings(&["Quelsby"]);
        assert!(!match_entity(
            "The document does not say.",
            "Quelsby",
            &towns
        ));
    }

    #[test]
    fn all_values_are_scored_in_part() {
        let values = strings(&["1111111", "2222222", "3333333"]);
        assert_eq!(match_all("1111111, 2222222 and 3333333", &values), 1.0);
        assert!((match_all("They are 1111111 and 3333333.", &values) - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(match_all("4444444", &values), 0.0);
        assert_eq!(match_all("The document does not say.", &values), 0.0);
    }

    #[test]
    fn refusals_are_recognised() {
        for answer in [
            "The document does not say.",
            "It doesn't mention her sister.",
            "This information is not provided in the passage.",
            "Unknown",
            "I don't know.",
        ] {
            assert!(is_refusal(answer), "{answer}");
            assert_eq!(judge_unanswerable(answer), UnanswerableOutcome::Refused);
        }
    }

    #[test]
    fn values_are_not_refusals() {
        for answer in [
            "Quelsby",
            "The code is 4821337.",
            "She knows the answer: Dornford",
        ] {
            assert!(!is_refusal(answer), "{answer}");
            assert_eq!(
                judge_unanswerable(answer),
                UnanswerableOutcome::Hallucinated
            );
        }
    }

    #[test]
    fn empty_answer_is_neither_refusal_nor_hallucination() {
        assert_eq!(judge_unanswerable("  \n"), UnanswerableOutcome::Empty);
    }
}
