//! Renders a case into the prompt the model sees, through its own chat template.
//!
//! A template that reads `tools` gets the tool definitions in the OpenAI shape and the
//! conversation with `tool_calls` and `tool` messages as Hugging Face passes them. A template
//! without tool support gets the fallback system prompt below, which lists the tools as JSON
//! Schema and asks for `<tool_call>` blocks; earlier calls are then written in that same form
//! and tool results become user messages wrapped in `<tool_response>`.
//!
//! The fallback prompt puts the tool definitions first, so cases offering the same tools
//! share the start of their prompts and its KV cache is reused. A template with tool support
//! decides where the tools go, and the reuse is only as long as the shared start it renders.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cases::{CallRecord, Case, CaseMessage, Function};
use crate::chat::{ChatTemplate, Message};

/// The way the tools are given to the model.
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

    /// Renders the prompt for `case`, ending where the assistant's answer begins.
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

/// Builds the system prompt that offers tools to a model whose template cannot.
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

/// Converts the conversation for the fallback mode: the tool list first in the system message, earlier
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::function_calling::cases::Suite;

    /// SmolLM2-Instruct's template: plain ChatML without tool support.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] \
        != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, \
        trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] \
        + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if \
        add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// A ChatML template with tools in the system turn and `<tool_call>` blocks, in the style
    /// of Hermes and Qwen 2.5 templates.
    const CHATML_TOOLS: &str = r#"{%- if tools %}<|im_start|>system
You may call these functions:
<tools>
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}</tools>
Reply with <tool_call>{"name": ..., "arguments": ...}</tool_call>.<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message.role == "assistant" and message.tool_calls %}<|im_start|>assistant
{% for call in message.tool_calls %}<tool_call>{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments | tojson }}}</tool_call>{% endfor %}<|im_end|>
{% elif message.role == "tool" %}<|im_start|>user
<tool_response>{{ message.content }}</tool_response><|im_end|>
{% else %}<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"#;

    /// A Llama 3.1-style template: header tokens, an `ipython` role for tool results and
    /// calls written as `{"name", "parameters"}`.
    const LLAMA3_TOOLS: &str = r#"{{ bos_token }}{% if tools %}<|start_header_id|>system<|end_header_id|>

Environment: ipython
Use these functions when they help:
{% for tool in tools %}{{ tool.function | tojson(indent=4) }}
{% endfor %}<|eot_id|>{% endif %}{% for message in messages %}{% if message.role == 'tool' %}<|start_header_id|>ipython<|end_header_id|>

{{ message.content }}<|eot_id|>{% elif message.tool_calls %}<|start_header_id|>assistant<|end_header_id|>

{% for call in message.tool_calls %}{"name": "{{ call.function.name }}", "parameters": {{ call.function.arguments | tojson }}}{% endfor %}<|eom_id|>{% else %}<|start_header_id|>{{ message.role }}<|end_header_id|>

{{ message.content | trim }}<|eot_id|>{% endif %}{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>

{% endif %}"#;

    fn render(source: &str, case_id: &str) -> (PromptMode, String) {
        let suite = Suite::builtin().unwrap();
        let case = suite.cases().iter().find(|c| c.id == case_id).unwrap();
        let template = ChatTemplate::new(source, "<|begin_of_text|>", "<|eot_id|>");
        let renderer = PromptRenderer::new(template);
        let prompt = renderer.render(case, &suite.tools_of(case)).unwrap();
        (renderer.mode(), prompt)
    }

    #[test]
    fn demo_template_gets_fallback_prompt() {
        let (mode, prompt) = render(SMOLLM2, "multiple_stock");
        assert_eq!(mode, PromptMode::FallbackPrompt);
        assert!(
            prompt.starts_with(
                "<|im_start|>system\nYou are a helpful assistant that can call functions."
            ),
            "{prompt}"
        );
        assert!(!prompt.contains("named SmolLM"), "{prompt}");
        assert!(prompt.contains(r#""name":"get_stock_price""#), "{prompt}");
        assert!(
            prompt.contains(r#""enum":["NASDAQ","NYSE","LSE"]"#),
            "{prompt}"
        );
        assert!(
            prompt.contains("<tool_call>{\"name\": \"function_name\""),
            "{prompt}"
        );
        assert!(
            prompt.contains(
                "<|im_start|>user\nWhat is Microsoft trading at on the NASDAQ?<|im_end|>"
            ),
            "{prompt}"
        );
        assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt}");
    }

    #[test]
    fn demo_template_writes_history_as_text() {
        let (_, prompt) = render(SMOLLM2, "multi_turn_stock_then_convert");
        assert!(prompt.contains("<|im_start|>assistant\n<tool_call>{\"arguments\":{\"exchange\":\"NYSE\",\"symbol\":\"SAP\"},\"name\":\"get_stock_price\"}</tool_call><|im_end|>"), "{prompt}");
        assert!(prompt.contains("<|im_start|>user\n<tool_response>\n{\"symbol\": \"SAP\", \"price\": 182.4, \"currency\": \"USD\"}\n</tool_response>\n\nConvert that price into euros.<|im_end|>"), "{prompt}");
        assert!(!prompt.contains("<|im_start|>tool"), "{prompt}");
    }

    #[test]
    fn chatml_tools_template_renders_tools_and_calls() {
        let (mode, prompt) = render(CHATML_TOOLS, "multi_turn_stock_then_convert");
        assert_eq!(mode, PromptMode::Template);
        assert!(
            prompt.starts_with("<|im_start|>system\nYou may call these functions:\n<tools>\n{"),
            "{prompt}"
        );
        assert!(prompt.contains(r#""name":"convert_currency""#), "{prompt}");
        assert!(prompt.contains(r#"<tool_call>{"name": "get_stock_price", "arguments": {"exchange":"NYSE","symbol":"SAP"}}</tool_call>"#), "{prompt}");
        assert!(
            prompt.contains("<tool_response>{\"symbol\": \"SAP\""),
            "{prompt}"
        );
        assert!(
            prompt.ends_with("Convert that price into euros.<|im_end|>\n<|im_start|>assistant\n"),
            "{prompt}"
        );
    }

    #[test]
    fn llama3_template_renders_tools_and_calls() {
        let (mode, prompt) = render(LLAMA3_TOOLS, "multi_turn_weather_then_translate");
        assert_eq!(mode, PromptMode::Template);
        assert!(prompt.starts_with("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython"), "{prompt}");
        assert!(prompt.contains("\"name\": \"translate_text\""), "{prompt}");
        assert!(
            prompt
                .contains(r#"{"name": "get_weather", "parameters": {"city":"Madrid"}}<|eom_id|>"#),
            "{prompt}"
        );
        assert!(
            prompt.contains("<|start_header_id|>ipython<|end_header_id|>\n\n{\"city\": \"Madrid\""),
            "{prompt}"
        );
        assert!(
            prompt.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n"),
            "{prompt}"
        );
    }

    #[test]
    fn cases_with_same_tools_share_prompt_start() {
        let (_, first) = render(SMOLLM2, "multiple_stock");
        let (_, second) = render(SMOLLM2, "multiple_currency");
        let shared = first
            .bytes()
            .zip(second.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        let user_turn = first.find("<|im_start|>user").unwrap();
        assert_eq!(shared, user_turn + "<|im_start|>user\n".len());
    }
}
