//! The function-calling suite: tool definitions, the cases that use them and the calls each
//! case accepts, read from a JSON case file and checked on load.
//!
//! Accepted calls follow BFCL's possible-answer convention: each argument lists the values
//! that count as right, and an empty string `""` in that list means the argument may be left
//! out. Inside an object-typed argument, each accepted value is itself an object whose keys
//! list their accepted values the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::schema;

/// The suite shipped with slm-quant.
const BUILTIN_CASES: &str = include_str!("../../../probes/function_calling/cases.json");

/// A BFCL test category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// One tool offered, one call expected.
    Simple,
    /// Several tools offered, one call to the right one expected.
    Multiple,
    /// One tool called several times in the same answer.
    Parallel,
    /// Several tools, several calls in the same answer.
    ParallelMultiple,
    /// No offered tool fits the request, so no call is expected.
    Irrelevance,
    /// A tool result is already in the conversation and the follow-up needs a call using it.
    /// NOTE: the earlier call is given in the conversation, not made by the model, so only
    /// the second call is judged.
    MultiTurn,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Simple,
        Category::Multiple,
        Category::Parallel,
        Category::ParallelMultiple,
        Category::Irrelevance,
        Category::MultiTurn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Simple => "simple",
            Category::Multiple => "multiple",
            Category::Parallel => "parallel",
            Category::ParallelMultiple => "parallel_multiple",
            Category::Irrelevance => "irrelevance",
            Category::MultiTurn => "multi_turn",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = String;

    /// Accepts the snake_case names, and `-` in place of `_`.
    fn from_str(text: &str) -> Result<Category, String> {
        let wanted = text.trim().replace('-', "_").to_ascii_lowercase();
        Category::ALL
            .into_iter()
            .find(|category| category.as_str() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown function-calling category `{text}`; valid categories: {}",
                    names.join(", ")
                )
            })
    }
}

/// A tool the model may call, with its parameters as a JSON Schema object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

impl Function {
    /// Returns the OpenAI tool shape that chat templates read: `{"type": "function", "function": …}`.
    pub fn to_tool(&self) -> Value {
        serde_json::json!({"type": "function", "function": self})
    }

    pub fn properties(&self) -> Option<&Map<String, Value>> {
        self.parameters.get("properties").and_then(Value::as_object)
    }

    pub fn required(&self) -> Vec<&str> {
        self.parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

/// A call a tool was given in the conversation, or one the model is expected to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    pub name: String,
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

/// One message of a case's conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    #[serde(default)]
    pub content: String,
    /// Calls an assistant message made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<CallRecord>,
    /// For `tool` messages: the function whose result `content` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A call the model must make: the function name and, per argument, the accepted values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedCall {
    pub name: String,
    #[serde(default)]
    pub arguments: BTreeMap<String, Vec<Value>>,
}

/// One probe: the tools offered, the conversation so far, and the calls that count as right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    pub category: Category,
    /// Names of the functions offered, in the order they are shown to the model.
    pub tools: Vec<String>,
    pub messages: Vec<CaseMessage>,
    /// Calls the answer must contain, in any order; empty for irrelevance cases.
    pub answers: Vec<ExpectedCall>,
}

/// The case file as written on disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    functions: Vec<Function>,
    cases: Vec<Case>,
}

/// A checked suite: every case's tools exist and every accepted value fits its schema.
#[derive(Debug, Clone)]
pub struct Suite {
    functions: BTreeMap<String, Function>,
    cases: Vec<Case>,
}

impl Suite {
    /// Loads the suite shipped in `probes/function_calling/cases.json`.
    pub fn builtin() -> Result<Suite> {
        Suite::parse(BUILTIN_CASES).context("the built-in function-calling case file is invalid")
    }

    /// Reads and checks a case file's text.
    pub fn parse(text: &str) -> Result<Suite> {
        let file: CaseFile = serde_json::from_str(text).context("the case file does not parse")?;
        let mut functions = BTreeMap::new();
        for function in file.functions {
            check_function(&function)
                .with_context(|| format!("invalid function `{}`", function.name))?;
            let name = function.name.clone();
            if functions.insert(name.clone(), function).is_some() {
                bail!("function `{name}` is defined twice");
            }
        }

        let mut ids = BTreeSet::new();
        for case in &file.cases {
            if !ids.insert(case.id.as_str()) {
                bail!("case id `{}` is used twice", case.id);
            }
            check_case(case, &functions).with_context(|| format!("invalid case `{}`", case.id))?;
        }
        Ok(Suite {
            functions,
            cases: file.cases,
        })
    }

    /// A copy of the suite with only the cases `keep` returns true for.
    pub fn filter(&self, keep: impl Fn(&Case) -> bool) -> Suite {
        Suite {
            functions: self.functions.clone(),
            cases: self.cases.iter().filter(|c| keep(c)).cloned().collect(),
        }
    }

    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.get(name)
    }

    /// Returns the functions `case` offers, in its order.
    pub fn tools_of(&self, case: &Case) -> Vec<&Function> {
        case.tools
            .iter()
            .filter_map(|name| self.functions.get(name))
            .collect()
    }

    /// Returns the cases of `categories`, ordered so that cases offering the same tools run one after
    /// another and share their rendered tool definitions in the KV cache.
    pub fn select(&self, categories: &[Category]) -> Vec<&Case> {
        let mut selected: Vec<&Case> = self
            .cases
            .iter()
            .filter(|case| categories.contains(&case.category))
            .collect();
        selected.sort_by(|a, b| a.tools.cmp(&b.tools));
        selected
    }
}

fn check_function(function: &Function) -> Result<()> {
    if function.name.is_empty() {
        bail!("the name is empty");
    }
    if function.parameters.get("type").and_then(Value::as_str) != Some("object") {
        bail!("`parameters` must be a JSON Schema with \"type\": \"object\"");
    }
    let properties = function
        .properties()
        .context("`parameters` has no `properties` object")?;
    for (name, property) in properties {
        schema::check_schema(property).with_context(|| format!("parameter `{name}`"))?;
    }
    for required in function.required() {
        if !properties.contains_key(required) {
            bail!("required parameter `{required}` is not among the properties");
        }
    }
    Ok(())
}

fn check_case(case: &Case, functions: &BTreeMap<String, Function>) -> Result<()> {
    if case.tools.is_empty() {
        bail!("no tools are offered");
    }
    for name in &case.tools {
        if !functions.contains_key(name) {
            bail!("tool `{name}` is not defined under `functions`");
        }
    }
    check_messages(case)?;
    check_category_shape(case)?;
    for expected in &case.answers {
        if !case.tools.contains(&expected.name) {
            bail!(
                "expected call `{}` is not among the case's tools",
                expected.name
            );
        }
        check_expected_call(expected, &functions[&expected.name])
            .with_context(|| format!("expected call `{}`", expected.name))?;
    }
    Ok(())
}

fn check_messages(case: &Case) -> Result<()> {
    let last = case.messages.last().context("the conversation is empty")?;
    if last.role != "user" {
        bail!(
            "the last message must be from the user, not `{}`",
            last.role
        );
    }
    for message in &case.messages {
        match message.role.as_str() {
            "system" | "user" | "assistant" => {}
            "tool" if message.name.is_some() => {}
            "tool" => bail!("a `tool` message needs the `name` of the function it answers"),
            other => bail!("unknown message role `{other}`"),
        }
    }
    Ok(())
}

fn check_category_shape(case: &Case) -> Result<()> {
    let calls = case.answers.len();
    let names: BTreeSet<&str> = case.answers.iter().map(|a| a.name.as_str()).collect();
    let has_tool_result = case.messages.iter().any(|m| m.role == "tool");
    let problem = match case.category {
        Category::Simple if case.tools.len() != 1 || calls != 1 => {
            Some("a simple case offers one tool and expects one call")
        }
        Category::Multiple if case.tools.len() < 2 || calls != 1 => {
            Some("a multiple case offers several tools and expects one call")
        }
        Category::Parallel if calls < 2 || names.len() != 1 => {
            Some("a parallel case expects several calls to one function")
        }
        Category::ParallelMultiple if calls < 2 || names.len() < 2 => {
            Some("a parallel_multiple case expects several calls to several functions")
        }
        Category::Irrelevance if calls != 0 => Some("an irrelevance case expects no call"),
        Category::MultiTurn if !has_tool_result || calls == 0 => {
            Some("a multi_turn case has a tool result in its conversation and expects a call")
        }
        _ => None,
    };
    match problem {
        Some(problem) => bail!("{problem}"),
        None => Ok(()),
    }
}

fn check_expected_call(expected: &ExpectedCall, function: &Function) -> Result<()> {
    let properties = function
        .properties()
        .context("the function has no properties")?;
    for (name, accepted) in &expected.arguments {
        let property = properties
            .get(name)
            .with_context(|| format!("argument `{name}` is not a parameter of the function"))?;
        if accepted.is_empty() {
            bail!("argument `{name}` lists no accepted value");
        }
        for value in accepted.iter().filter(|v| !is_omission(v)) {
            schema::check_accepted(value, property)
                .with_context(|| format!("accepted value {value} of argument `{name}`"))?;
        }
    }
    for required in function.required() {
        match expected.arguments.get(required) {
            None => bail!("required parameter `{required}` has no accepted values"),
            Some(accepted) if accepted.iter().any(is_omission) => {
                bail!("required parameter `{required}` is marked as omittable with \"\"")
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Returns whether an accepted value is BFCL's `""`, which allows leaving the argument out.
pub fn is_omission(value: &Value) -> bool {
    value.as_str() == Some("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEATHER: &str = r#"{"name": "get_weather", "description": "Weather now.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}"#;

    fn file_with(case: &str) -> String {
        format!(r#"{{"functions": [{WEATHER}], "cases": [{case}]}}"#)
    }

    #[test]
    fn builtin_suite_loads() {
        let suite = Suite::builtin().unwrap();
        for category in Category::ALL {
            let count = suite
                .cases()
                .iter()
                .filter(|c| c.category == category)
                .count();
            assert!(count >= 10, "{category} has {count} cases");
        }
    }

    #[test]
    fn valid_case_is_accepted() {
        let text = file_with(
            r#"{"id": "w1", "category": "simple", "tools": ["get_weather"],
               "messages": [{"role": "user", "content": "Weather in Oslo?"}],
               "answers": [{"name": "get_weather",
                            "arguments": {"city": ["Oslo"], "unit": ["", "celsius"]}}]}"#,
        );
        let suite = Suite::parse(&text).unwrap();
        assert_eq!(suite.cases().len(), 1);
    }

    #[test]
    fn undefined_tool_names_the_case() {
        let text = file_with(
            r#"{"id": "w2", "category": "simple", "tools": ["get_time"],
               "messages": [{"role": "user", "content": "Time?"}], "answers": []}"#,
        );
        let error = format!("{:#}", Suite::parse(&text).unwrap_err());
        assert!(error.contains("invalid case `w2`"), "{error}");
        assert!(error.contains("`get_time` is not defined"), "{error}");
    }

    #[test]
    fn accepted_value_outside_enum_is_rejected() {
        let text = file_with(
            r#"{"id": "w3", "category": "simple", "tools": ["get_weather"],
               "messages": [{"role": "user", "content": "Weather?"}],
               "answers": [{"name": "get_weather",
                            "arguments": {"city": ["Oslo"], "unit": ["kelvin"]}}]}"#,
        );
        let error = format!("{:#}", Suite::parse(&text).unwrap_err());
        assert!(error.contains("invalid case `w3`"), "{error}");
        assert!(error.contains("kelvin"), "{error}");
    }

    #[test]
    fn omittable_required_argument_is_rejected() {
        let text = file_with(
            r#"{"id": "w4", "category": "simple", "tools": ["get_weather"],
               "messages": [{"role": "user", "content": "Weather?"}],
               "answers": [{"name": "get_weather", "arguments": {"city": ["", "Oslo"]}}]}"#,
        );
        let error = format!("{:#}", Suite::parse(&text).unwrap_err());
        assert!(error.contains("`city` is marked as omittable"), "{error}");
    }

    #[test]
    fn category_shape_is_checked() {
        let text = file_with(
            r#"{"id": "w5", "category": "irrelevance", "tools": ["get_weather"],
               "messages": [{"role": "user", "content": "Weather?"}],
               "answers": [{"name": "get_weather", "arguments": {"city": ["Oslo"]}}]}"#,
        );
        let error = format!("{:#}", Suite::parse(&text).unwrap_err());
        assert!(error.contains("invalid case `w5`"), "{error}");
        assert!(error.contains("expects no call"), "{error}");
    }

    #[test]
    fn duplicate_id_is_rejected() {
        let case = r#"{"id": "dup", "category": "irrelevance", "tools": ["get_weather"],
               "messages": [{"role": "user", "content": "Hi"}], "answers": []}"#;
        let text = format!(r#"{{"functions": [{WEATHER}], "cases": [{case}, {case}]}}"#);
        let error = format!("{:#}", Suite::parse(&text).unwrap_err());
        assert!(error.contains("`dup` is used twice"), "{error}");
    }

    #[test]
    fn category_names_parse() {
        assert_eq!(
            "parallel-multiple".parse::<Category>(),
            Ok(Category::ParallelMultiple)
        );
        let error = "paralel".parse::<Category>().unwrap_err();
        assert!(error.contains("multi_turn"), "{error}");
    }
}
