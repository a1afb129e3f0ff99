//! Function-calling probes on the real demo model: a few cases per quant through llama.cpp,
//! with the fallback prompt and KV-cache reuse of the shared tool definitions.

mod common;

use slm_quant::engine::{Engine, SessionSettings};
use slm_quant::probes::function_calling::{
    self, score, Category, FunctionCallingSettings, PromptMode, Suite,
};
use slm_quant::probes::EngineBackend;

/// Cases offering the same four tools, so all but the first reuse the cached tool
/// definitions, from three categories.
const CASE_IDS: [&str; 3] = [
    "multiple_stock",
    "irrelevance_capital",
    "multi_turn_stock_then_convert",
];

#[test]
fn demo_model_runs_cases_for_each_quant() {
    let engine = Engine::init().unwrap();
    let suite = Suite::builtin()
        .unwrap()
        .filter(|case| CASE_IDS.contains(&case.id.as_str()));
    let settings = FunctionCallingSettings {
        categories: Category::ALL.to_vec(),
        max_answer_tokens: 24,
        n_ctx: 2048,
    };

    for label in ["F16", "Q8_0", "Q4_K_M"] {
        let model = engine.load(&common::demo_file(label)).unwrap();
        let session_settings = SessionSettings {
            n_ctx: settings.n_ctx,
            n_batch: 512,
            // One thread keeps the test's run time steadier when other processes share the
            // cores.
            threads: 1,
        };
        let mut session = model.session(&engine, &session_settings).unwrap();
        let mut backend = EngineBackend::new(&mut session);
        let run = function_calling::run_suite(&mut backend, &suite, &settings, |_, _| {}).unwrap();

        assert_eq!(run.mode, PromptMode::FallbackPrompt, "{label}");
        assert_eq!(run.results.len(), CASE_IDS.len(), "{label}");
        for result in &run.results {
            eprintln!(
                "{label} {} passed={} error={:?} answer={:?}",
                result.id, result.passed, result.error_type, result.answer
            );
            assert_eq!(
                result.passed,
                result.error_type.is_none(),
                "{label} {result:?}"
            );
            assert!(result.prompt_tokens > 100, "{label} {result:?}");
        }

        // Cases are grouped by tool list, so every case after the first of a group decodes
        // only its own conversation, not the shared tool definitions.
        let reused: Vec<_> = run
            .results
            .iter()
            .filter(|r| r.prefilled_tokens < r.prompt_tokens / 2)
            .collect();
        assert_eq!(
            reused.len(),
            CASE_IDS.len() - 1,
            "{label}: {:?}",
            run.results
        );

        let record = score::summarise(run.mode, &run.results, run.wall_time, "r.jsonl");
        assert_eq!(record.cases as usize, CASE_IDS.len());
        let failed: u32 = record.error_counts.values().sum();
        let passed = run.results.iter().filter(|r| r.passed).count() as u32;
        assert_eq!(failed + passed, record.cases, "{label}");
        assert!((0.0..=100.0).contains(&record.score), "{label}");
    }
}
