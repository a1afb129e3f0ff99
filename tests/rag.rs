//! The RAG probes on the real demo model: a small grid for every quant, haystack lengths with
//! the model's tokenizer, and `bench` writing `use_cases.rag` and the results file.

mod common;

use slm_quant::engine::{Engine, SessionSettings};
use slm_quant::probes::rag::haystack::Filler;
use slm_quant::probes::rag::{self, RagFamily, RagSettings};
use slm_quant::probes::{EngineBackend, ProbeBackend};

fn small_grid() -> RagSettings {
    RagSettings {
        families: vec![RagFamily::Niah],
        niah_lengths: vec![256],
        niah_depths: vec![0, 100],
        niah_trials: 1,
        ruler_length: 256,
        ruler_trials: 1,
        grounded_passages: 1,
        multi_hop_contexts: 1,
        seed: 5,
    }
}

fn session_settings() -> SessionSettings {
    SessionSettings {
        n_ctx: 1024,
        n_batch: 512,
        threads: 2,
    }
}

#[test]
fn small_grid_runs_on_every_quant() {
    let engine = Engine::init().unwrap();
    for label in ["F16", "Q8_0", "Q4_K_M"] {
        let model = engine.load(&common::demo_file(label)).unwrap();
        let mut session = model.session(&engine, &session_settings()).unwrap();
        let mut backend = EngineBackend::new(&mut session);
        let run = rag::run(&mut backend, &small_grid(), &mut |_| {}).unwrap();
        let record = &run.record;
        eprintln!(
            "{label}: score {:.1}, benchmarks {:?}, hallucination {:?}, closed book {:?}, \
             {:.0} ms, {} prefill tokens",
            record.score,
            record.benchmarks,
            record.hallucination_rate,
            record.closed_book_accuracy,
            record.wall_time_ms,
            record.prefill_tokens
        );

        assert!((0.0..=100.0).contains(&record.score), "{label}: {record:?}");
        assert_eq!(record.recommended, record.score >= 70.0);
        assert_eq!(run.families.len(), 1, "{label}");
        assert_eq!(record.niah_grid.len(), 2, "{label}");
        assert!(record.benchmarks.niah.is_some(), "{label}");
        assert!(record.closed_book_accuracy.is_some(), "{label}");
        assert!(record.prefill_tokens > 0, "{label}");
        let prompt_tokens: usize = run.cases.iter().map(|c| c.prompt_tokens).sum();
        assert!(
            record.prefill_tokens < prompt_tokens as u64,
            "{label}: questions about one context should reuse its KV cache"
        );
        for case in run
            .cases
            .iter()
            .filter(|c| c.family == RagFamily::Niah && !c.closed_book)
        {
            let tokens = case.context_tokens.unwrap();
            assert!(tokens.abs_diff(256) <= 40, "{label}: {case:?}");
        }
    }
}

#[test]
fn other_families_run_on_demo_model() {
    let engine = Engine::init().unwrap();
    let model = engine.load(&common::demo_file("Q4_K_M")).unwrap();
    let mut session = model.session(&engine, &session_settings()).unwrap();
    let mut backend = EngineBackend::new(&mut session);
    let settings = RagSettings {
        families: vec![RagFamily::Ruler, RagFamily::Grounded, RagFamily::MultiHop],
        ..small_grid()
    };
    let run = rag::run(&mut backend, &settings, &mut |_| {}).unwrap();
    let record = &run.record;
    eprintln!("Q4_K_M: {record:?}");

    assert_eq!(run.families.len(), 3);
    assert!(record.benchmarks.niah.is_none());
    assert!(record.benchmarks.ruler.is_some());
    assert!(record.benchmarks.ragtruth.is_some());
    assert!(record.benchmarks.frames.is_some());
    let hallucination_rate = record.hallucination_rate.unwrap();
    assert!((0.0..=1.0).contains(&hallucination_rate));
    let tasks: Vec<&str> = run.cases.iter().map(|c| c.task.as_str()).collect();
    for task in [
        "multi_key",
        "variable_tracking",
        "common_words",
        "unanswerable",
        "three_hop",
    ] {
        assert!(tasks.contains(&task), "{task} missing from {tasks:?}");
    }
}

#[test]
fn haystack_length_matches_real_tokenizer() {
    let engine = Engine::init().unwrap();
    let model = engine.load(&common::demo_file("Q4_K_M")).unwrap();
    let mut session = model.session(&engine, &session_settings()).unwrap();
    let backend = EngineBackend::new(&mut session);
    for target in [512, 2048, 8000] {
        let filler = Filler::build(&backend, 3, target).unwrap();
        let measured = backend.count_tokens(&filler.text()).unwrap();
        assert_eq!(filler.tokens(), measured);
        assert!(
            measured.abs_diff(target) <= filler.max_sentence_tokens(),
            "target {target}, measured {measured}"
        );
    }
}

#[test]
fn bench_writes_rag_block_and_results() {
    let dir = tempfile::tempdir().unwrap();
    let profile = common::write_demo_profile(dir.path());
    let mut text = std::fs::read_to_string(&profile).unwrap();
    text.push_str(
        "\n[rag]\nniah_lengths = [256]\nniah_depths = [50]\nruler_length = 256\n\
         grounded_passages = 1\nmulti_hop_contexts = 1\n",
    );
    std::fs::write(&profile, text).unwrap();
    let registry = dir.path().join("registry/models.json");

    let output = common::slm_quant(
        dir.path(),
        &[
            "bench",
            "--profile",
            profile.to_str().unwrap(),
            "--quant",
            "Q4_K_M",
            "--registry",
            registry.to_str().unwrap(),
            "--output-lengths",
            "4",
            "--context-lengths",
            "32",
            "--runs",
            "1",
            "--warmup-runs",
            "0",
            "--rag-families",
            "niah,grounded",
            "--fc-categories",
            "none",
            "--no-quality",
            "--no-progress",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&registry).unwrap()).unwrap();
    let rag = &json["models"]["smollm2-135m-instruct"]["performance"]["quantizations"]["Q4_K_M"]
        ["use_cases"]["rag"];
    assert!(rag["score"].is_number(), "{rag}");
    assert!(rag["benchmarks"]["niah"].is_number(), "{rag}");
    assert!(rag["benchmarks"]["ragtruth"].is_number(), "{rag}");
    assert!(rag["benchmarks"].get("ruler").is_none(), "{rag}");
    assert_eq!(rag["niah_grid"][0]["context_tokens"], 256);
    assert_eq!(rag["niah_grid"][0]["depth_percent"], 50);
    assert_eq!(rag["seed"], 42);
    assert_eq!(
        rag["results_file"],
        "results/smollm2-135m-instruct/Q4_K_M/rag.jsonl"
    );

    let results = std::fs::read_to_string(
        dir.path()
            .join("registry/results/smollm2-135m-instruct/Q4_K_M/rag.jsonl"),
    )
    .unwrap();
    let lines: Vec<serde_json::Value> = results
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines[0]["record"], "family");
    assert_eq!(lines[0]["family"], "niah");
    assert!(lines
        .iter()
        .any(|l| l["record"] == "case" && l["closed_book"] == true));
    assert!(lines
        .iter()
        .filter(|l| l["record"] == "case")
        .all(|l| l["prompt_sha256"].as_str().unwrap().len() == 64));
}
