//! Grounded answers and hallucination: short passages of fictional facts about one person,
//! with questions the passage answers (scored by exact match) and questions it does not
//! (which must be answered with a refusal; a value counts as a hallucination).

use anyhow::Result;

use super::names::FactGenerator;
use super::prompt::{Asker, Check, Context, Question};
use super::{FamilyRun, RagFamily, RagSettings};
use crate::text::ProseGenerator;

/// Attributes stated in each passage; the remaining ones are asked about but never stated.
const STATED: usize = 4;
/// Answerable and unanswerable questions asked per passage, each.
const QUESTIONS_PER_KIND: usize = 2;
/// Filler sentences around the facts, so a passage reads like a text and not a table.
const FILLER_SENTENCES: usize = 3;

/// The kinds of fact a passage may state about its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    Hometown,
    Employer,
    Sister,
    Street,
    Badge,
    Boat,
}

pub const ATTRIBUTES: [Attribute; 6] = [
    Attribute::Hometown,
    Attribute::Employer,
    Attribute::Sister,
    Attribute::Street,
    Attribute::Badge,
    Attribute::Boat,
];

impl Attribute {
    fn value(self, facts: &mut FactGenerator) -> String {
        match self {
            Attribute::Hometown => facts.town(),
            Attribute::Employer => facts.company(),
            Attribute::Sister | Attribute::Boat => facts.first_name(),
            Attribute::Street => facts.street(),
            Attribute::Badge => facts.code(5),
        }
    }

    pub fn sentence(self, person: &str, value: &str) -> String {
        match self {
            Attribute::Hometown => format!("{person} grew up in {value}."),
            Attribute::Employer => format!("{person} works for {value}."),
            Attribute::Sister => format!("{person} has a sister called {value}."),
            Attribute::Street => format!("{person} lives on {value}."),
            Attribute::Badge => format!("The badge number of {person} is {value}."),
            Attribute::Boat => format!("{person} owns a boat named {value}."),
        }
    }

    pub fn question(self, person: &str) -> String {
        match self {
            Attribute::Hometown => format!("In which town did {person} grow up?"),
            Attribute::Employer => format!("Which company does {person} work for?"),
            Attribute::Sister => format!("What is the name of the sister of {person}?"),
            Attribute::Street => format!("On which street does {person} live?"),
            Attribute::Badge => format!("What is the badge number of {person}?"),
            Attribute::Boat => format!("What is the name of the boat of {person}?"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Attribute::Hometown => "hometown",
            Attribute::Employer => "employer",
            Attribute::Sister => "sister",
            Attribute::Street => "street",
            Attribute::Badge => "badge",
            Attribute::Boat => "boat",
        }
    }
}

/// Runs `grounded_passages` passages, each with answerable and unanswerable questions in a
/// shuffled order.
pub fn run(
    asker: &mut Asker<'_>,
    settings: &RagSettings,
    on_progress: &mut dyn FnMut(&str),
) -> Result<FamilyRun> {
    on_progress("RAG grounded answers");
    let mut facts = FactGenerator::new(settings.seed ^ 0x6772_6f75);
    let mut prose = ProseGenerator::new(settings.seed.wrapping_add(2000));
    let mut run = FamilyRun::default();

    for passage in 0..settings.grounded_passages {
        let person = facts.person();
        let mut attributes = ATTRIBUTES.to_vec();
        facts.shuffle(&mut attributes);
        let (stated, unstated) = attributes.split_at(STATED);
        let values: Vec<String> = stated.iter().map(|a| a.value(&mut facts)).collect();

        let mut sentences: Vec<String> = stated
            .iter()
            .zip(&values)
            .map(|(attribute, value)| attribute.sentence(&person, value))
            .collect();
        sentences.extend((0..FILLER_SENTENCES).map(|_| prose.sentence()));
        facts.shuffle(&mut sentences);
        let context = Context::measured(asker.backend(), sentences.join(" "), None)?;

        let mut questions = Vec::new();
        for (attribute, value) in stated.iter().zip(&values).take(QUESTIONS_PER_KIND) {
            let check = match attribute {
                Attribute::Badge => Check::Number(value.clone()),
                _ => Check::Entity {
                    expected: value.clone(),
                    distractors: values.clone(),
                },
            };
            questions.push(Question::new(
                format!("grounded-{passage}-{}", attribute.name()),
                "answerable",
                attribute.question(&person),
                check,
            ));
        }
        for attribute in unstated.iter().take(QUESTIONS_PER_KIND) {
            questions.push(Question::new(
                format!("grounded-{passage}-{}", attribute.name()),
                "unanswerable",
                attribute.question(&person),
                Check::Unanswerable,
            ));
        }
        facts.shuffle(&mut questions);

        for question in questions {
            run.cases
                .push(asker.ask(RagFamily::Grounded, Some(&context), &question)?);
            if question.check != Check::Unanswerable {
                run.controls.push(question);
            }
        }
    }
    Ok(run)
}
