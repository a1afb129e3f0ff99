//! Judges the calls read from an answer against a case's accepted calls, with the rules of
//! BFCL's AST checker: exact function name, every required argument present, no argument
//! outside the schema or the accepted answer, matching types (an integer is accepted as a
//! number), enum values respected, values among the accepted ones, and parallel calls matched
//! in any order. Each failure gets exactly one [`ErrorType`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cases::{is_omission, Case, ExpectedCall, Function, Suite};
use super::parser::{ParseError, ToolCall};
use super::schema;

/// Reason a case failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The answer tries to call a tool in a form that cannot be read.
    ParseError,
    /// A call was expected and the answer contains none.
    NoCall,
    /// No tool fits the request, yet the answer calls one.
    UnexpectedCall,
    /// The call names another function than the expected one.
    WrongFunction,
    /// A required argument, or an accepted argument that may not be left out, is missing.
    MissingArgument,
    /// An argument that is not in the schema or not in the accepted answer.
    UnknownArgument,
    /// An argument of another type than its schema declares.
    WrongType,
    /// An argument of the right type whose value is not accepted (enum values included).
    WrongValue,
    /// Another number of calls than expected.
    WrongCount,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::ParseError => "parse_error",
            ErrorType::NoCall => "no_call",
            ErrorType::UnexpectedCall => "unexpected_call",
            ErrorType::WrongFunction => "wrong_function",
            ErrorType::MissingArgument => "missing_argument",
            ErrorType::UnknownArgument => "unknown_argument",
            ErrorType::WrongType => "wrong_type",
            ErrorType::WrongValue => "wrong_value",
            ErrorType::WrongCount => "wrong_count",
        }
    }
}

/// A failed case: its error type and what exactly was wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub error_type: ErrorType,
    pub detail: String,
}

fn fail(error_type: ErrorType, detail: impl Into<String>) -> Failure {
    Failure {
        error_type,
        detail: detail.into(),
    }
}

/// Judges what was parsed from the answer to `case`.
pub fn judge(
    suite: &Suite,
    case: &Case,
    parsed: &Result<Vec<ToolCall>, ParseError>,
) -> Result<(), Failure> {
    let calls = match parsed {
        Ok(calls) => calls,
        Err(error) => return Err(fail(ErrorType::ParseError, error.to_string())),
    };
    let expected = &case.answers;

    if expected.is_empty() {
        return match calls.first() {
            None => Ok(()),
            Some(call) => Err(fail(
                ErrorType::UnexpectedCall,
                format!("no tool fits, but `{}` was called", call.name),
            )),
        };
    }
    if calls.is_empty() {
        return Err(fail(ErrorType::NoCall, "the answer contains no call"));
    }
    if calls.len() != expected.len() {
        return Err(fail(
            ErrorType::WrongCount,
            format!("{} call(s) expected, {} made", expected.len(), calls.len()),
        ));
    }
    match_in_any_order(suite, expected, calls)
}

/// Matches each expected call with a distinct call of the answer. When an expected call has
/// no match, the error reported is that of the first unmatched call to the same function, or
/// `wrong_function` when no unmatched call names it.
fn match_in_any_order(
    suite: &Suite,
    expected: &[ExpectedCall],
    calls: &[ToolCall],
) -> Result<(), Failure> {
    let mut used = vec![false; calls.len()];
    for want in expected {
        let function = suite
            .function(&want.name)
            .expect("the suite checked that expected functions exist");
        let mut first_error = None;
        let mut matched = false;
        for (index, call) in calls.iter().enumerate() {
            if used[index] {
                continue;
            }
            match check_call(function, want, call) {
                Ok(()) => {
                    used[index] = true;
                    matched = true;
                    break;
                }
                Err(failure) => {
                    let same_name = failure.error_type != ErrorType::WrongFunction;
                    if first_error.is_none() && same_name {
                        first_error = Some(failure);
                    }
                }
            }
        }
        if !matched {
            let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
            return Err(first_error.unwrap_or_else(|| {
                fail(
                    ErrorType::WrongFunction,
                    format!("`{}` expected, called {}", want.name, names.join(", ")),
                )
            }));
        }
    }
    Ok(())
}

/// Checks one call against one expected call, in BFCL's order: name, required arguments,
/// then each given argument (known, type, enum, value), then accepted arguments left out.
pub fn check_call(
    function: &Function,
    want: &ExpectedCall,
    call: &ToolCall,
) -> Result<(), Failure> {
    if call.name != want.name {
        return Err(fail(
            ErrorType::WrongFunction,
            format!("`{}` expected, `{}` called", want.name, call.name),
        ));
    }
    for required in function.required() {
        if !call.arguments.contains_key(required) {
            return Err(fail(
                ErrorType::MissingArgument,
                format!("required argument `{required}` is missing"),
            ));
        }
    }

    let properties = function.properties();
    for (name, value) in &call.arguments {
        let property = properties.and_then(|p| p.get(name));
        let accepted = want.arguments.get(name);
        let (Some(property), Some(accepted)) = (property, accepted) else {
            return Err(fail(
                ErrorType::UnknownArgument,
                format!("argument `{name}` is not expected"),
            ));
        };
        check_argument(name, value, accepted, property)?;
    }

    for (name, accepted) in &want.arguments {
        if !call.arguments.contains_key(name) && !accepted.iter().any(is_omission) {
            return Err(fail(
                ErrorType::MissingArgument,
                format!("argument `{name}` is missing"),
            ));
        }
    }
    Ok(())
}

fn check_argument(
    name: &str,
    value: &Value,
    accepted: &[Value],
    property: &Value,
) -> Result<(), Failure> {
    if !schema::type_matches(value, property) {
        let kind = property.get("type").and_then(Value::as_str).unwrap_or("?");
        return Err(fail(
            ErrorType::WrongType,
            format!("argument `{name}` is {value}, not of type {kind}"),
        ));
    }
    if !schema::enum_allows(value, property) {
        return Err(fail(
            ErrorType::WrongValue,
            format!("argument `{name}` is {value}, not one of its enum values"),
        ));
    }
    if !schema::matches_any(value, accepted, property) {
        let accepted: Vec<String> = accepted.iter().map(Value::to_string).collect();
        return Err(fail(
            ErrorType::WrongValue,
            format!(
                "argument `{name}` is {value}; accepted: {}",
                accepted.join(", ")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::function_calling::parser::parse_calls;

    const SUITE: &str = r#"{
      "functions": [
        {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object",
          "properties": {"city": {"type": "string"},
                         "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                         "days": {"type": "integer"}},
          "required": ["city"]}},
        {"name": "convert_currency", "description": "Money.", "parameters": {"type": "object",
          "properties": {"amount": {"type": "number"}, "to": {"type": "string"}},
          "required": ["amount", "to"]}}
      ],
      "cases": [
        {"id": "simple", "category": "simple", "tools": ["get_weather"],
         "messages": [{"role": "user", "content": "Weather in New York for 3 days?"}],
         "answers": [{"name": "get_weather", "arguments": {
            "city": ["New York", "NYC"], "days": [3], "unit": ["", "celsius"]}}]},
        {"id": "multiple", "category": "multiple", "tools": ["get_weather", "convert_currency"],
         "messages": [{"role": "user", "content": "100 in EUR?"}],
         "answers": [{"name": "convert_currency", "arguments": {"amount": [100], "to": ["EUR"]}}]},
        {"id": "parallel", "category": "parallel", "tools": ["get_weather"],
         "messages": [{"role": "user", "content": "Weather in Oslo and Rome?"}],
         "answers": [{"name": "get_weather", "arguments": {"city": ["Oslo"]}},
                     {"name": "get_weather", "arguments": {"city": ["Rome"]}}]},
        {"id": "irrelevance", "category": "irrelevance", "tools": ["get_weather"],
         "messages": [{"role": "user", "content": "Tell me a joke."}], "answers": []}
      ]}"#;

    fn verdict(case_id: &str, answer: &str) -> Result<(), Failure> {
        let suite = Suite::parse(SUITE).unwrap();
        let case = suite.cases().iter().find(|c| c.id == case_id).unwrap();
        judge(&suite, case, &parse_calls(answer))
    }

    fn error_type(case_id: &str, answer: &str) -> ErrorType {
        match verdict(case_id, answer) {
            Ok(()) => panic!("{answer:?} passed on {case_id}"),
            Err(failure) => failure.error_type,
        }
    }

    #[test]
    fn right_call_passes() {
        let answer = r#"<tool_call>{"name": "get_weather", "arguments": {"city": "new york", "days": 3}}</tool_call>"#;
        assert_eq!(verdict("simple", answer), Ok(()));
        let answer = "get_weather(city='NYC', days=3, unit='celsius')";
        assert_eq!(verdict("simple", answer), Ok(()));
    }

    #[test]
    fn integer_is_accepted_as_number() {
        let answer = r#"{"name": "convert_currency", "arguments": {"amount": 100, "to": "EUR"}}"#;
        assert_eq!(verdict("multiple", answer), Ok(()));
        let answer = r#"{"name": "convert_currency", "arguments": {"amount": 100.0, "to": "eur"}}"#;
        assert_eq!(verdict("multiple", answer), Ok(()));
    }

    #[test]
    fn wrong_value_fails() {
        let answer = r#"{"name": "get_weather", "arguments": {"city": "Boston", "days": 3}}"#;
        assert_eq!(error_type("simple", answer), ErrorType::WrongValue);
    }

    #[test]
    fn value_outside_enum_fails() {
        let answer =
            r#"{"name": "get_weather", "arguments": {"city": "NYC", "days": 3, "unit": "kelvin"}}"#;
        assert_eq!(error_type("simple", answer), ErrorType::WrongValue);
    }

    #[test]
    fn wrong_type_fails() {
        let answer = r#"{"name": "get_weather", "arguments": {"city": "NYC", "days": "3"}}"#;
        assert_eq!(error_type("simple", answer), ErrorType::WrongType);
        let answer = r#"{"name": "get_weather", "arguments": {"city": "NYC", "days": 3.5}}"#;
        assert_eq!(error_type("simple", answer), ErrorType::WrongType);
    }

    #[test]
    fn missing_required_argument_fails() {
        let answer = r#"{"name": "get_weather", "arguments": {"days": 3}}"#;
        assert_eq!(error_type("simple", answer), ErrorType::MissingArgument);
    }

    #[test]
    fn missing_accepted_argument_fails() {
        let answer = r#"{"name": "get_weather", "arguments": {"city": "NYC"}}"#;
        assert_eq!(error_type("simple", answer), ErrorType::MissingArgument);
    }

    #[test]
    fn extra_argument_fails() {
        let answer =
            r#"{"name": "get_weather", "arguments": {"city": "NYC", "days": 3, "hourly": true}}"#;
        assert_eq!(error_type("simple", answer), ErrorType::UnknownArgument);
    }

    #[test]
    fn extra_call_fails() {
        let answer = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"NYC\", \"days\": 3}}</tool_call>\
                      <tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"NYC\", \"days\": 3}}</tool_call>";
        assert_eq!(error_type("simple", answer), ErrorType::WrongCount);
    }

    #[test]
    fn wrong_function_fails() {
        let answer = r#"{"name": "get_weather", "arguments": {"city": "Paris"}}"#;
        assert_eq!(error_type("multiple", answer), ErrorType::WrongFunction);
    }

    #[test]
    fn call_on_irrelevance_case_fails() {
        let answer = r#"{"name": "get_weather", "arguments": {"city": "Paris"}}"#;
        assert_eq!(error_type("irrelevance", answer), ErrorType::UnexpectedCall);
        assert_eq!(
            verdict("irrelevance", "Why did the cat sit on the laptop?"),
            Ok(())
        );
    }

    #[test]
    fn prose_answer_fails_as_no_call() {
        let answer = "You should use get_weather with the city New York and 3 days.";
        assert_eq!(error_type("simple", answer), ErrorType::NoCall);
    }

    #[test]
    fn unreadable_answer_fails_as_parse_error() {
        let answer = r#"<tool_call>{"name": "get_weather", "arguments": {city: NYC}}</tool_call>"#;
        assert_eq!(error_type("simple", answer), ErrorType::ParseError);
    }

    #[test]
    fn parallel_calls_match_in_any_order() {
        let answer = "[get_weather(city='Rome'), get_weather(city='Oslo')]";
        assert_eq!(verdict("parallel", answer), Ok(()));
        let answer = "[get_weather(city='Rome'), get_weather(city='Rome')]";
        assert_eq!(error_type("parallel", answer), ErrorType::WrongValue);
        let answer = "get_weather(city='Rome')";
        assert_eq!(error_type("parallel", answer), ErrorType::WrongCount);
    }
}
