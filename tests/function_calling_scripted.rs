//! The function-calling suite on scripted backends: one that answers every case right must
//! score 100 %, and one that only names the function in prose must score 0 %.

use anyhow::Result;
use serde_json::{Map, Value};
use slm_quant::chat::ChatTemplate;
use slm_quant::probes::function_calling::cases::{is_omission, ExpectedCall};
use slm_quant::probes::function_calling::{
    run_suite, score, Case, Category, ErrorType, FunctionCallingSettings, Suite,
};
use slm_quant::probes::{Completion, ProbeBackend};

const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' \
    + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}\
    {{ '<|im_start|>assistant\n' }}{% endif %}";

/// Answers each prompt with the reply scripted for the case whose last user message appears
/// latest in the prompt.
struct ScriptedBackend {
    replies: Vec<(String, String)>,
}

impl ScriptedBackend {
    fn new(suite: &Suite, reply: impl Fn(&Case) -> String) -> ScriptedBackend {
        let replies = suite
            .cases()
            .iter()
            .map(|case| {
                let question = case.messages.last().unwrap().content.clone();
                (question, reply(case))
            })
            .collect();
        ScriptedBackend { replies }
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
        let (_, reply) = self
            .replies
            .iter()
            .filter_map(|(question, reply)| prompt.rfind(question.as_str()).map(|at| (at, reply)))
            .max_by_key(|(at, _)| *at)
            .expect("every prompt contains its case's question");
        Ok(Completion {
            text: reply.clone(),
            prompt_tokens: prompt.len(),
            prefilled_tokens: prompt.len(),
        })
    }

    fn n_ctx(&self) -> usize {
        1 << 20
    }
}

/// Picks the first accepted value of each argument, written as the model would send it. Objects
/// listed in BFCL's form (each key with its accepted values) are turned into plain objects.
fn first_accepted(options: &[Value]) -> Option<Value> {
    let value = options.iter().find(|v| !is_omission(v))?;
    Some(match value {
        Value::Object(fields) => {
            let plain: Map<String, Value> = fields
                .iter()
                .filter_map(|(key, options)| {
                    let options = options.as_array()?;
                    Some((key.clone(), first_accepted(options)?))
                })
                .collect();
            Value::Object(plain)
        }
        other => other.clone(),
    })
}

fn right_call(expected: &ExpectedCall) -> String {
    let arguments: Map<String, Value> = expected
        .arguments
        .iter()
        .filter_map(|(name, options)| Some((name.clone(), first_accepted(options)?)))
        .collect();
    let call = serde_json::json!({"name": expected.name, "arguments": arguments});
    format!("<tool_call>{call}</tool_call>")
}

fn right_answer(case: &Case) -> String {
    if case.answers.is_empty() {
        return "None of the available tools can help with that.".to_string();
    }
    let calls: Vec<String> = case.answers.iter().map(right_call).collect();
    calls.join("\n")
}

fn prose_answer(case: &Case) -> String {
    format!(
        "I would use the {} function to answer that.",
        case.answers
            .first()
            .map(|a| a.name.as_str())
            .unwrap_or(&case.tools[0])
    )
}

fn settings(categories: &[Category]) -> FunctionCallingSettings {
    FunctionCallingSettings {
        categories: categories.to_vec(),
        ..FunctionCallingSettings::default()
    }
}

#[test]
fn right_answers_score_100() {
    let suite = Suite::builtin().unwrap();
    let mut backend = ScriptedBackend::new(&suite, right_answer);
    let run = run_suite(&mut backend, &suite, &settings(&Category::ALL), |_, _| {}).unwrap();

    let failed: Vec<_> = run.results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let record = score::summarise(run.mode, &run.results, run.wall_time, "r.jsonl");
    assert_eq!(record.score, 100.0);
    assert!(record.recommended);
    assert_eq!(record.benchmarks.bfcl_v2, Some(100.0));
    assert_eq!(record.benchmarks.multi_turn, Some(100.0));
    assert_eq!(record.cases as usize, suite.cases().len());
    assert!(record.error_counts.is_empty());
}

#[test]
fn function_name_in_prose_scores_0() {
    let suite = Suite::builtin().unwrap();
    let calling: Vec<Category> = Category::ALL
        .into_iter()
        .filter(|c| *c != Category::Irrelevance)
        .collect();
    let mut backend = ScriptedBackend::new(&suite, prose_answer);
    let run = run_suite(&mut backend, &suite, &settings(&calling), |_, _| {}).unwrap();

    let record = score::summarise(run.mode, &run.results, run.wall_time, "r.jsonl");
    assert_eq!(record.score, 0.0);
    assert!(!record.recommended);
    assert_eq!(record.error_counts.len(), 1, "{:?}", record.error_counts);
    assert_eq!(record.error_counts[&ErrorType::NoCall], record.cases);
}

#[test]
fn calls_on_irrelevance_cases_score_0() {
    let suite = Suite::builtin().unwrap();
    let mut backend = ScriptedBackend::new(&suite, |case| {
        format!(
            "<tool_call>{{\"name\": \"{}\", \"arguments\": {{}}}}</tool_call>",
            case.tools[0]
        )
    });
    let run = run_suite(
        &mut backend,
        &suite,
        &settings(&[Category::Irrelevance]),
        |_, _| {},
    )
    .unwrap();

    let record = score::summarise(run.mode, &run.results, run.wall_time, "r.jsonl");
    assert_eq!(record.benchmarks.irrelevance, Some(0.0));
    assert_eq!(
        record.error_counts[&ErrorType::UnexpectedCall],
        record.cases
    );
}
