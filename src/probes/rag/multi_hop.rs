//! Multi-hop questions: facts spread over three passages (who works where, where companies
//! are based and who owns them, where groups have their head office) that must be chained to
//! name a town, scored by exact match against the other towns of the context.

use anyhow::Result;

use super::names::FactGenerator;
use super::prompt::{Asker, Check, Context, Question};
use super::{FamilyRun, RagFamily, RagSettings};

/// Chains per context that take two hops (person, company, town).
const TWO_HOP_CHAINS: usize = 2;
/// Chains per context that take three hops (person, company, group, town).
const THREE_HOP_CHAINS: usize = 1;

pub fn works_for(person: &str, company: &str) -> String {
    format!("{person} works for {company}.")
}

pub fn based_in(company: &str, town: &str) -> String {
    format!("{company} is based in {town}.")
}

pub fn owned_by(company: &str, group: &str) -> String {
    format!("{company} is owned by {group}.")
}

pub fn head_office(group: &str, town: &str) -> String {
    format!("{group} has its head office in {town}.")
}

pub fn two_hop_question(person: &str) -> String {
    format!("In which town is the company that {person} works for based?")
}

pub fn three_hop_question(person: &str) -> String {
    format!("In which town does the group that owns the company {person} works for have its head office?")
}

/// Facts of one context, by passage, and its questions.
struct Chains {
    staff: Vec<String>,
    companies: Vec<String>,
    groups: Vec<String>,
    /// Question, expected town, whether it takes three hops.
    questions: Vec<(String, String, bool)>,
    towns: Vec<String>,
}

fn build_chains(facts: &mut FactGenerator) -> Chains {
    let mut chains = Chains {
        staff: Vec::new(),
        companies: Vec::new(),
        groups: Vec::new(),
        questions: Vec::new(),
        towns: Vec::new(),
    };
    for _ in 0..TWO_HOP_CHAINS {
        let (person, company, town) = (facts.person(), facts.company(), facts.town());
        chains.staff.push(works_for(&person, &company));
        chains.companies.push(based_in(&company, &town));
        // The company also belongs to a group elsewhere, so "based in" and "head office"
        // must not be confused.
        let (group, group_town) = (facts.group(), facts.town());
        chains.companies.push(owned_by(&company, &group));
        chains.groups.push(head_office(&group, &group_town));
        chains
            .questions
            .push((two_hop_question(&person), town.clone(), false));
        chains.towns.extend([town, group_town]);
    }
    for _ in 0..THREE_HOP_CHAINS {
        let (person, company, group) = (facts.person(), facts.company(), facts.group());
        let (company_town, town) = (facts.town(), facts.town());
        chains.staff.push(works_for(&person, &company));
        chains.companies.push(owned_by(&company, &group));
        chains.companies.push(based_in(&company, &company_town));
        chains.groups.push(head_office(&group, &town));
        chains
            .questions
            .push((three_hop_question(&person), town.clone(), true));
        chains.towns.extend([company_town, town]);
    }
    // A person and a company nobody asks about, as distractors.
    let (person, company, town) = (facts.person(), facts.company(), facts.town());
    chains.staff.push(works_for(&person, &company));
    chains.companies.push(based_in(&company, &town));
    chains.towns.push(town);

    facts.shuffle(&mut chains.staff);
    facts.shuffle(&mut chains.companies);
    facts.shuffle(&mut chains.groups);
    chains
}

/// Runs `multi_hop_contexts` contexts, asking every chain's question after its context.
pub fn run(
    asker: &mut Asker<'_>,
    settings: &RagSettings,
    on_progress: &mut dyn FnMut(&str),
) -> Result<FamilyRun> {
    on_progress("RAG multi-hop questions");
    let mut facts = FactGenerator::new(settings.seed ^ 0x686f_7073);
    let mut run = FamilyRun::default();
    for index in 0..settings.multi_hop_contexts {
        let chains = build_chains(&mut facts);
        let text = format!(
            "Passage 1: {}\n\nPassage 2: {}\n\nPassage 3: {}",
            chains.staff.join(" "),
            chains.companies.join(" "),
            chains.groups.join(" ")
        );
        let context = Context::measured(asker.backend(), text, None)?;

        for (n, (text, town, three_hops)) in chains.questions.into_iter().enumerate() {
            let task = if three_hops { "three_hop" } else { "two_hop" };
            let question = Question::new(
                format!("multi_hop-{index}-{n}"),
                task,
                text,
                Check::Entity {
                    expected: town,
                    distractors: chains.towns.clone(),
                },
            );
            run.cases
                .push(asker.ask(RagFamily::MultiHop, Some(&context), &question)?);
            run.controls.push(question);
        }
    }
    Ok(run)
}
