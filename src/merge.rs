//! `slm-quant registry merge`: folds fragments into the registry.
//!
//! Rule, per model × quant slot: a fragment replaces the stored entry only when its
//! `measured_at` is strictly later (times are compared as instants, so offsets do not matter).
//! At an equal time the stored entry is kept, which makes a repeated merge change nothing.
//! Fragments of one merge are applied in a fixed order (by `measured_at`, then model, quant
//! and the entry's JSON text), so the order of the files on the command line never changes
//! the result. Entries no fragment names are kept as they are. A stored entry whose
//! `measured_at` cannot be parsed counts as older than any fragment.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::fragment::{parse_measured_at, Fragment};
use crate::registry::{ModelEntry, Registry};

/// A fragment file that could not be merged, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub path: PathBuf,
    pub reason: String,
}

/// Outcome of merging one fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The slot was empty and now contains the fragment's entry.
    Added,
    /// The fragment was newer and replaced the stored entry measured at this time.
    Replaced { previous_measured_at: String },
    /// The stored entry, measured at this time, is as new or newer and was kept.
    KeptStored { stored_measured_at: String },
}

/// One applied or skipped fragment.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub path: PathBuf,
    pub model: String,
    pub quant: String,
    pub measured_at: String,
    pub decision: Decision,
}

/// Reads every fragment file, splitting them into valid fragments and rejected files.
pub fn load_fragments(paths: &[PathBuf]) -> (Vec<(PathBuf, Fragment)>, Vec<Rejected>) {
    let mut fragments = Vec::new();
    let mut rejected = Vec::new();
    for path in paths {
        match Fragment::load(path) {
            Ok(fragment) => fragments.push((path.clone(), fragment)),
            Err(error) => rejected.push(Rejected {
                path: path.clone(),
                reason: format!("{error:#}"),
            }),
        }
    }
    (fragments, rejected)
}

/// Merges `fragments` into `registry` and returns what happened to each, in the order they
/// were applied.
pub fn merge(registry: &mut Registry, mut fragments: Vec<(PathBuf, Fragment)>) -> Vec<Merged> {
    fragments.sort_by_cached_key(|(_, fragment)| application_key(fragment));

    let mut touched = BTreeSet::new();
    let mut outcomes = Vec::new();
    for (path, fragment) in fragments {
        let decision = decide(registry, &fragment);
        tracing::debug!(
            fragment = %path.display(),
            model = %fragment.model.id,
            quant = %fragment.quant,
            ?decision,
            "fragment merged"
        );
        if !matches!(decision, Decision::KeptStored { .. }) {
            touched.insert(fragment.model.id.clone());
            registry.upsert_quant(fragment.header(), &fragment.quant, fragment.entry.clone());
        }
        outcomes.push(Merged {
            path,
            model: fragment.model.id,
            quant: fragment.quant,
            measured_at: fragment.entry.measured_at,
            decision,
        });
    }

    for id in touched {
        if let Some(model) = registry.models.get_mut(&id) {
            set_latest_hardware(model);
        }
    }
    outcomes
}

/// Order in which fragments are applied: oldest first, ties broken by content, so the result
/// does not depend on the order of the input files.
fn application_key(fragment: &Fragment) -> (OffsetDateTime, String, String, String) {
    let entry_json = serde_json::to_string(&fragment.entry).unwrap_or_default();
    (
        fragment.measured_at(),
        fragment.model.id.clone(),
        fragment.quant.clone(),
        entry_json,
    )
}

fn decide(registry: &Registry, fragment: &Fragment) -> Decision {
    let stored = registry
        .models
        .get(&fragment.model.id)
        .and_then(|model| model.performance.quantizations.get(&fragment.quant));
    let Some(stored) = stored else {
        return Decision::Added;
    };
    let stored_time = parse_measured_at(&stored.measured_at);
    if stored_time.is_none() {
        tracing::warn!(
            model = %fragment.model.id,
            quant = %fragment.quant,
            measured_at = %stored.measured_at,
            "stored entry has an unreadable measured_at; the fragment replaces it"
        );
    }
    match stored_time {
        Some(time) if time >= fragment.measured_at() => Decision::KeptStored {
            stored_measured_at: stored.measured_at.clone(),
        },
        _ => Decision::Replaced {
            previous_measured_at: stored.measured_at.clone(),
        },
    }
}

/// Sets the model's `performance.hardware` to the machine of its most recently measured
/// quant (the first quant label in sorted order on a tie), so the model-level field does not
/// depend on the order the fragments were merged in.
fn set_latest_hardware(model: &mut ModelEntry) {
    let latest = model
        .performance
        .quantizations
        .values()
        .filter_map(|entry| parse_measured_at(&entry.measured_at).map(|time| (time, entry)))
        .reduce(|best, next| if next.0 > best.0 { next } else { best });
    if let Some((_, entry)) = latest {
        model.performance.hardware = Some(entry.run.hardware.clone());
    }
}

/// Human-readable line for one outcome, as printed by the command.
pub fn describe(merged: &Merged) -> String {
    let slot = format!("{} {}", merged.model, merged.quant);
    let file = display(&merged.path);
    match &merged.decision {
        Decision::Added => format!(
            "{slot}: added from {file} (measured {})",
            merged.measured_at
        ),
        Decision::Replaced {
            previous_measured_at,
        } => format!(
            "{slot}: replaced the entry measured {previous_measured_at} with {file} (measured {})",
            merged.measured_at
        ),
        Decision::KeptStored { stored_measured_at } => format!(
            "{slot}: kept the entry measured {stored_measured_at}; \
             {file} (measured {}) is not newer",
            merged.measured_at
        ),
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::tests::sample_fragment;

    fn named(fragments: &[Fragment]) -> Vec<(PathBuf, Fragment)> {
        fragments
            .iter()
            .enumerate()
            .map(|(i, f)| (PathBuf::from(format!("f{i}.json")), f.clone()))
            .collect()
    }

    fn merged(start: &Registry, fragments: &[Fragment]) -> Registry {
        let mut registry = start.clone();
        merge(&mut registry, named(fragments));
        registry
    }

    fn with_tps(mut fragment: Fragment, tps: f64) -> Fragment {
        fragment.entry.tps_output = Some(tps);
        fragment
    }

    fn tps(registry: &Registry, model: &str, quant: &str) -> Option<f64> {
        registry.models[model].performance.quantizations[quant].tps_output
    }

    #[test]
    fn any_order_gives_same_registry() {
        let fragments = vec![
            with_tps(sample_fragment("a", "Q8_0", "2026-01-02T00:00:00Z"), 1.0),
            with_tps(sample_fragment("a", "Q8_0", "2026-01-03T00:00:00Z"), 2.0),
            with_tps(sample_fragment("a", "F16", "2026-01-01T00:00:00Z"), 3.0),
            with_tps(sample_fragment("b", "Q4_K_M", "2026-01-01T00:00:00Z"), 4.0),
            // Same slot and time as the next one, different content.
            with_tps(sample_fragment("b", "F16", "2026-01-01T00:00:00Z"), 5.0),
            with_tps(sample_fragment("b", "F16", "2026-01-01T00:00:00Z"), 6.0),
        ];
        let start = Registry::default();
        let forward = merged(&start, &fragments);
        let mut reversed_input = fragments.clone();
        reversed_input.reverse();
        let reversed = merged(&start, &reversed_input);
        let mut rotated_input = fragments.clone();
        rotated_input.rotate_left(2);
        let rotated = merged(&start, &rotated_input);

        assert_eq!(forward, reversed);
        assert_eq!(forward, rotated);
        assert_eq!(tps(&forward, "a", "Q8_0"), Some(2.0));
        assert_eq!(tps(&forward, "a", "F16"), Some(3.0));
        assert_eq!(tps(&forward, "b", "Q4_K_M"), Some(4.0));
    }

    #[test]
    fn merging_twice_changes_nothing() {
        let fragments = vec![
            sample_fragment("a", "Q8_0", "2026-01-02T00:00:00Z"),
            sample_fragment("a", "F16", "2026-01-03T00:00:00Z"),
        ];
        let once = merged(&Registry::default(), &fragments);
        let mut twice = once.clone();
        let outcomes = merge(&mut twice, named(&fragments));
        assert_eq!(once, twice);
        assert!(outcomes
            .iter()
            .all(|o| matches!(o.decision, Decision::KeptStored { .. })));
    }

    #[test]
    fn stale_fragment_keeps_newer_entry() {
        let newer = with_tps(sample_fragment("a", "Q8_0", "2026-01-05T00:00:00Z"), 9.0);
        let stale = with_tps(sample_fragment("a", "Q8_0", "2026-01-04T23:59:59Z"), 1.0);
        let mut registry = merged(&Registry::default(), &[newer]);
        let outcomes = merge(&mut registry, named(&[stale]));
        assert_eq!(tps(&registry, "a", "Q8_0"), Some(9.0));
        assert_eq!(
            outcomes[0].decision,
            Decision::KeptStored {
                stored_measured_at: "2026-01-05T00:00:00Z".into()
            }
        );
    }

    #[test]
    fn newer_fragment_replaces_entry() {
        let old = with_tps(sample_fragment("a", "Q8_0", "2026-01-04T00:00:00Z"), 1.0);
        let new = with_tps(
            sample_fragment("a", "Q8_0", "2026-01-05T00:00:00+01:00"),
            2.0,
        );
        let mut registry = merged(&Registry::default(), &[old]);
        let outcomes = merge(&mut registry, named(&[new]));
        assert_eq!(tps(&registry, "a", "Q8_0"), Some(2.0));
        assert!(matches!(outcomes[0].decision, Decision::Replaced { .. }));
    }

    #[test]
    fn equal_time_keeps_stored_entry() {
        let stored = with_tps(sample_fragment("a", "Q8_0", "2026-01-04T00:00:00Z"), 1.0);
        let same_time = with_tps(sample_fragment("a", "Q8_0", "2026-01-04T00:00:00Z"), 2.0);
        let mut registry = merged(&Registry::default(), &[stored]);
        merge(&mut registry, named(&[same_time]));
        assert_eq!(tps(&registry, "a", "Q8_0"), Some(1.0));
    }

    #[test]
    fn unrelated_entries_survive() {
        let mut start = merged(
            &Registry::default(),
            &[
                with_tps(sample_fragment("a", "F16", "2026-01-01T00:00:00Z"), 7.0),
                with_tps(
                    sample_fragment("other", "Q4_0", "2026-01-01T00:00:00Z"),
                    8.0,
                ),
            ],
        );
        start
            .extra
            .insert("generated_by".into(), serde_json::json!("another tool"));
        let after = merged(
            &start,
            &[sample_fragment("a", "Q8_0", "2026-01-02T00:00:00Z")],
        );
        assert_eq!(tps(&after, "a", "F16"), Some(7.0));
        assert_eq!(tps(&after, "other", "Q4_0"), Some(8.0));
        assert_eq!(after.models["other"], start.models["other"]);
        assert_eq!(after.extra["generated_by"], "another tool");
        assert_eq!(after.models["a"].performance.quantizations.len(), 2);
    }

    #[test]
    fn model_hardware_follows_latest_quant() {
        let mut early = sample_fragment("a", "F16", "2026-01-01T00:00:00Z");
        early.entry.run.hardware.cpu_model = "early cpu".into();
        let mut late = sample_fragment("a", "Q8_0", "2026-01-02T00:00:00Z");
        late.entry.run.hardware.cpu_model = "late cpu".into();
        for order in [vec![early.clone(), late.clone()], vec![late, early]] {
            let registry = merged(&Registry::default(), &order);
            let hardware = registry.models["a"].performance.hardware.as_ref().unwrap();
            assert_eq!(hardware.cpu_model, "late cpu");
        }
    }

    #[test]
    fn corrupt_file_is_rejected_and_others_load() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        sample_fragment("a", "Q8_0", "2026-01-01T00:00:00Z")
            .save(&good)
            .unwrap();
        let corrupt = dir.path().join("corrupt.json");
        std::fs::write(&corrupt, "{\"fragment_version\": 1, \"model\": ").unwrap();
        let missing = dir.path().join("missing.json");

        let (fragments, rejected) =
            load_fragments(&[corrupt.clone(), good.clone(), missing.clone()]);
        assert_eq!(fragments.len(), 1);
        assert_eq!(fragments[0].0, good);
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].path, corrupt);
        assert!(
            rejected[0].reason.contains("not valid JSON"),
            "{rejected:?}"
        );
        assert_eq!(rejected[1].path, missing);
        assert!(rejected[1].reason.contains("cannot read"), "{rejected:?}");
    }

    #[test]
    fn outcome_lines_name_slot_and_times() {
        let line = describe(&Merged {
            path: "f.json".into(),
            model: "a".into(),
            quant: "Q8_0".into(),
            measured_at: "2026-01-01T00:00:00Z".into(),
            decision: Decision::KeptStored {
                stored_measured_at: "2026-01-02T00:00:00Z".into(),
            },
        });
        assert_eq!(
            line,
            "a Q8_0: kept the entry measured 2026-01-02T00:00:00Z; f.json \
             (measured 2026-01-01T00:00:00Z) is not newer"
        );
    }
}
