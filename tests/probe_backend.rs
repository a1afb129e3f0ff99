//! The llama.cpp probe backend on the real demo model: chat template, completion and KV-cache
//! reuse.

mod common;

use slm_quant::chat::Message;
use slm_quant::engine::{Engine, SessionSettings};
use slm_quant::probes::{EngineBackend, ProbeBackend};

#[test]
fn demo_model_answers_through_its_chat_template() {
    let engine = Engine::init().unwrap();
    let model = engine.load(&common::demo_file("Q8_0")).unwrap();
    let mut session = model
        .session(
            &engine,
            &SessionSettings {
                n_ctx: 1024,
                n_batch: 512,
                threads: 2,
            },
        )
        .unwrap();
    let mut backend = EngineBackend::new(&mut session);

    let template = backend
        .chat_template()
        .expect("the demo GGUF has a chat template");
    assert!(template.source().contains("<|im_start|>"));
    let prompt = template
        .render(
            &[Message::user(
                "What is the capital of France? Answer in one word.",
            )],
            None,
            true,
        )
        .unwrap();

    let first = backend.complete(&prompt, 16).unwrap();
    assert!(first.text.contains("Paris"), "answer: {:?}", first.text);
    assert_eq!(first.prefilled_tokens, first.prompt_tokens);

    let again = backend.complete(&prompt, 16).unwrap();
    assert_eq!(again.text, first.text, "greedy decoding is deterministic");
    assert_eq!(again.prefilled_tokens, 1, "the cached prompt is reused");
    assert!(backend.count_tokens("Paris").unwrap() >= 1);
}
