//! Renders a case into the prompt the model sees, through its own chat template.
//!
//! A template that reads `tools` gets the tool definitions in the OpenAI shape and the
//! conversation with `tool_calls` and `tool` messages as Hugging Face passes them. A template
//! without tool support gets the fallback system prompt below, which lists the tools as JSON
//! Schema and asks for `<tool_call>` blocks; earlier calls are then written in that same form
//! and tool results become user messages wrapped in `<tool_response>`.
//!
//! Either way the tool definitions come first, so cases offering the same tools share the
//! start of their prompts and the KV cache of it is reused.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cases::{CallRecord, Case, CaseMessage, Function};
use crate::chat::{ChatTemplate, Message};

/// How the tools reached the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptMode {
    /// The chat template rendered the tools itself.
    Template,
    /// The template has no tool support, so the tools are listed in the fallback system prompt.
    FallbackPrompt,
}

impl PromptMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptMode::Template => "template",
            PromptMode::FallbackPrompt => "fallback_prompt",
        }
    }
}

/// Renders cases with one model's chat template.
pub struct PromptRenderer {
    template: ChatTemplate,
    mode: PromptMode,
}

impl PromptRenderer {
    /// Chooses the mode from whether the template reads a `tools` variable.
    pub fn new(template: ChatTemplate) -> PromptRenderer {
        let mode = if template.supports_tools() {
            PromptMode::Template
        } else {
            PromptMode::FallbackPrompt
        };
        PromptRenderer { template, mode }
    }

    pub fn mode(&self) -> PromptMode {
        self.mode
    }

    /// The prompt for `case`, ending where the assistant's answer begins.
    pub fn render(&self, case: &Case, tools: &[&Function]) -> Result<String> {
        match self.mode {
            PromptMode::Template => {
                let definitions: Vec<Value> = tools.iter().map(|f| f.to_tool()).collect();
                let messages = template_messages(&case.messages);
                self.template.render(&messages, Some(&definitions), true)
            }
            PromptMode::FallbackPrompt => {
                let messages = fallback_messages(&case.messages, tools);
                self.template.render(&messages, None, true)
            }
        }
    }
}

/// The system prompt that offers tools to a model whose template cannot.
pub fn fallback_system_prompt(tools: &[&Function]) -> String {
    let mut prompt = String::from(
        "You are a helpful assistant that can call functions. \
         These functions are available, each described as JSON Schema:\n",
    );
    for function in tools {
        prompt.push_str(&serde_json::to_string(function).unwrap_or_default());
        prompt.push('\n');
    }
    prompt.push_str(
        "\nTo call a function, reply with only this, filling in the function name and its \
         arguments as a JSON object:\n\
         <tool_call>{\"name\": \"function_name\", \"arguments\": {\"argument_name\": \"value\"}}</tool_call>\n\
         Write one <tool_call> block per call; when the request needs several calls, write \
         several blocks. When no function fits the request, answer in plain text without any \
         <tool_call> block.",
    );
    prompt
}

fn tool_call_value(call: &CallRecord, index: usize) -> Value {
    serde_json::json!({
        "id": format!("call_{index}"),
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    })
}

fn template_messages(messages: &[CaseMessage]) -> Vec<Message> {
    let mut call_index = 0;
    let mut converted = Vec::new();
    for message in messages {
        let mut rendered = Message::new(&message.role, message.content.clone());
        if !message.tool_calls.is_empty() {
            let calls: Vec<Value> = message
                .tool_calls
                .iter()
                .enumerate()
                .map(|(i, call)| tool_call_value(call, call_index + i))
                .collect();
            rendered.tool_calls = Some(Value::Array(calls));
        }
        if message.role == "tool" {
            rendered.name = message.name.clone();
            rendered.tool_call_id = Some(format!("call_{}", call_index.saturating_sub(1)));
        }
        call_index += message.tool_calls.len();
        converted.push(rendered);
    }
    converted
}

/// The conversation for the fallback mode: the tool list first in the system message, earlier
/// calls as `<tool_call>` text, tool results as user messages, and consecutive messages of
/// one role merged so roles alternate as strict templates require.
fn fallback_messages(messages: &[CaseMessage], tools: &[&Function]) -> Vec<Message> {
    let mut converted = vec![Message::system(fallback_system_prompt(tools))];
    for message in messages {
        let (role, content) = match message.role.as_str() {
            "tool" => (
                "user",
                format!("<tool_response>\n{}\n</tool_response>", message.content),
            ),
            "assistant" => ("assistant", assistant_text(message)),
            role => (role, message.content.clone()),
        };
        match converted.last_mut() {
            Some(last) if last.role == role => {
                last.content.push_str("\n\n");
                last.content.push_str(&content);
            }
            _ => converted.push(Message::new(role, content)),
        }
    }
    converted
}

fn assistant_text(message: &CaseMessage) -> String {
    let mut text = message.content.clone();
    for call in &message.tool_calls {
        if !text.is_empty() {
            text.push('\n');
        }
        let body = serde_json::json!({"name": call.name, "arguments": call.arguments});
        text.push_str(&format!("<tool_call>{body}</tool_call>"));
    }
    text
}
