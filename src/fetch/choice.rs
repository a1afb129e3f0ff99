//! Choosing the file, or the shards of a split file, that hold a quant among a repository's
//! files.

use std::collections::BTreeMap;

use crate::fetch::file_matches_label;
use crate::fetch::split::ShardName;
use crate::profile::QuantSpec;
use crate::quant::QuantLabel;

/// One file of a repository listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// Path inside the repository, `/`-separated.
    pub path: String,
    /// Size in bytes as the Hub reports it; absent for a file known only from the cache.
    pub size: Option<u64>,
    /// SHA-256 of the content, known for LFS files.
    pub sha256: Option<String>,
}

/// The files of one quant, in shard order; the first is the one llama.cpp is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub files: Vec<RepoFile>,
}

/// Why no single file could be chosen. `place` names the repository and revision.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChoiceError {
    #[error(
        "no GGUF file for quant {label} in {place}; quant labels there: {available}\n\n\
         hint: declare one of those, name the file with `file`, or set `derive_from`"
    )]
    NoMatch {
        label: QuantLabel,
        place: String,
        available: String,
    },
    #[error("several files match quant {label} in {place}: {names}; name one with `file` in the profile")]
    Ambiguous {
        label: QuantLabel,
        place: String,
        names: String,
    },
    #[error("file `{file}` of quant {label} not found in {place}; files there: {listed}")]
    FileNotListed {
        label: QuantLabel,
        file: String,
        place: String,
        listed: String,
    },
    #[error("shard `{shard}` of quant {label} is missing from {place}; the split cannot be loaded without it")]
    MissingShard {
        label: QuantLabel,
        shard: String,
        place: String,
    },
    #[error(
        "file name `{name}` for quant {label} in {place} is unsafe (absolute, `..` or a \
         backslash) and would be written outside the cache; it was not downloaded"
    )]
    UnsafeName {
        label: QuantLabel,
        name: String,
        place: String,
    },
}

/// Chooses the files of `quant` among `files`. An explicit `file` in the profile wins;
/// otherwise the quant label is matched against GGUF file names, vision projectors excluded.
pub fn choose(files: &[RepoFile], quant: &QuantSpec, place: &str) -> Result<Choice, ChoiceError> {
    let models = group_models(files);
    let chosen: Vec<&Vec<&RepoFile>> = match &quant.file {
        Some(file) => {
            let found = models
                .values()
                .find(|shards| shards.iter().any(|f| &f.path == file));
            match found {
                Some(shards) => vec![shards],
                None => {
                    return Err(ChoiceError::FileNotListed {
                        label: quant.label,
                        file: file.clone(),
                        place: place.to_string(),
                        listed: list_or_none(files.iter().map(|f| f.path.as_str())),
                    })
                }
            }
        }
        None => models
            .iter()
            .filter(|(key, _)| file_matches_label(key, quant.label))
            .map(|(_, shards)| shards)
            .collect(),
    };

    match chosen.as_slice() {
        [one] => complete_model(one, quant.label, place),
        [] => Err(ChoiceError::NoMatch {
            label: quant.label,
            place: place.to_string(),
            available: list_or_none(labels_present(&models).into_iter()),
        }),
        several => Err(ChoiceError::Ambiguous {
            label: quant.label,
            place: place.to_string(),
            names: several
                .iter()
                .map(|shards| shards[0].path.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Whether a repository path stays inside the folder it is joined to: relative, `/`-separated,
/// without `.` or `..` parts, backslashes or NUL bytes.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && !name.contains(':')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// GGUF files grouped into models: a split's shards under one key, every other file alone.
/// The key is the name the label is matched against.
fn group_models(files: &[RepoFile]) -> BTreeMap<String, Vec<&RepoFile>> {
    let mut models: BTreeMap<String, Vec<&RepoFile>> = BTreeMap::new();
    for file in files {
        let lower = file.path.to_ascii_lowercase();
        if !lower.ends_with(".gguf") || lower.contains("mmproj") {
            continue;
        }
        let key = match ShardName::parse(&file.path) {
            Some(shard) if shard.is_split() => {
                format!("{}-of-{:05}.gguf", shard.prefix, shard.count)
            }
            _ => file.path.clone(),
        };
        models.entry(key).or_default().push(file);
    }
    for shards in models.values_mut() {
        shards.sort_by_key(|file| ShardName::parse(&file.path).map_or(0, |shard| shard.index));
    }
    models
}

/// Checks that every shard of a split is present and every name is safe.
fn complete_model(
    shards: &[&RepoFile],
    label: QuantLabel,
    place: &str,
) -> Result<Choice, ChoiceError> {
    if let Some(unsafe_file) = shards.iter().find(|file| !is_safe_name(&file.path)) {
        return Err(ChoiceError::UnsafeName {
            label,
            name: unsafe_file.path.clone(),
            place: place.to_string(),
        });
    }
    if let Some(shard) = ShardName::parse(&shards[0].path).filter(ShardName::is_split) {
        for index in 1..=shard.count {
            let wanted = shard.sibling(index);
            if !shards.iter().any(|file| file.path == wanted) {
                return Err(ChoiceError::MissingShard {
                    label,
                    shard: wanted,
                    place: place.to_string(),
                });
            }
        }
    }
    Ok(Choice {
        files: shards.iter().map(|file| (*file).clone()).collect(),
    })
}

/// Quant labels that some GGUF file of the listing carries, most precise first.
fn labels_present(models: &BTreeMap<String, Vec<&RepoFile>>) -> Vec<&'static str> {
    QuantLabel::valid_labels()
        .into_iter()
        .filter(|text| {
            let label: QuantLabel = text.parse().expect("valid label");
            models.keys().any(|key| file_matches_label(key, label))
        })
        .collect()
}

fn list_or_none<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(names: &[&str]) -> Vec<RepoFile> {
        names
            .iter()
            .map(|name| RepoFile {
                path: name.to_string(),
                size: Some(1),
                sha256: None,
            })
            .collect()
    }

    fn quant(label: &str, file: Option<&str>) -> QuantSpec {
        QuantSpec {
            label: label.parse().unwrap(),
            file: file.map(String::from),
            derive_from: None,
        }
    }

    fn chosen_paths(names: &[&str], spec: &QuantSpec) -> Result<Vec<String>, ChoiceError> {
        let choice = choose(&listing(names), spec, "repo")?;
        Ok(choice.files.into_iter().map(|f| f.path).collect())
    }

    #[test]
    fn label_picks_its_file_among_neighbours() {
        let names = [
            "README.md",
            "m-UD-Q4_K_XL.gguf",
            "m-Q4_K_S.gguf",
            "m.q4_k_m.gguf",
            "mmproj-m-F16.gguf",
            "m-BF16.gguf",
        ];
        assert_eq!(
            chosen_paths(&names, &quant("Q4_K_M", None)).unwrap(),
            ["m.q4_k_m.gguf"]
        );
        let error = chosen_paths(&names, &quant("F16", None)).unwrap_err();
        assert!(matches!(error, ChoiceError::NoMatch { .. }), "{error}");
    }

    #[test]
    fn no_match_lists_labels_present() {
        let names = ["m-Q8_0.gguf", "m-BF16.gguf", "Q4_K_S/m-00001-of-00002.gguf"];
        let text = chosen_paths(&names, &quant("Q4_K_M", None))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("quant labels there: BF16, Q8_0, Q4_K_S"),
            "{text}"
        );
    }

    #[test]
    fn shards_come_back_in_order() {
        let names = [
            "Q8_0/m-Q8_0-00003-of-00003.gguf",
            "Q8_0/m-Q8_0-00001-of-00003.gguf",
            "Q8_0/m-Q8_0-00002-of-00003.gguf",
        ];
        assert_eq!(
            chosen_paths(&names, &quant("Q8_0", None)).unwrap(),
            [
                "Q8_0/m-Q8_0-00001-of-00003.gguf",
                "Q8_0/m-Q8_0-00002-of-00003.gguf",
                "Q8_0/m-Q8_0-00003-of-00003.gguf"
            ]
        );
    }

    #[test]
    fn missing_shard_is_named() {
        let names = ["m-Q8_0-00001-of-00003.gguf", "m-Q8_0-00003-of-00003.gguf"];
        let error = chosen_paths(&names, &quant("Q8_0", None)).unwrap_err();
        assert_eq!(
            error,
            ChoiceError::MissingShard {
                label: "Q8_0".parse().unwrap(),
                shard: "m-Q8_0-00002-of-00003.gguf".into(),
                place: "repo".into()
            }
        );
    }

    #[test]
    fn single_shard_file_is_ordinary() {
        let names = ["m-Q8_0-00001-of-00001.gguf"];
        assert_eq!(
            chosen_paths(&names, &quant("Q8_0", None)).unwrap(),
            ["m-Q8_0-00001-of-00001.gguf"]
        );
    }

    #[test]
    fn two_matches_are_both_listed() {
        let names = ["a-Q8_0.gguf", "Q8_0/b.gguf"];
        let text = chosen_paths(&names, &quant("Q8_0", None))
            .unwrap_err()
            .to_string();
        assert!(text.contains("Q8_0/b.gguf, a-Q8_0.gguf"), "{text}");
    }

    #[test]
    fn explicit_file_wins_and_must_be_listed() {
        let names = ["a-Q8_0.gguf", "b-Q8_0.gguf"];
        let spec = quant("Q8_0", Some("b-Q8_0.gguf"));
        assert_eq!(chosen_paths(&names, &spec).unwrap(), ["b-Q8_0.gguf"]);
        let spec = quant("Q8_0", Some("c.gguf"));
        let text = chosen_paths(&names, &spec).unwrap_err().to_string();
        assert!(
            text.contains("file `c.gguf` of quant Q8_0 not found"),
            "{text}"
        );
    }

    #[test]
    fn unsafe_names_are_rejected() {
        for name in ["../x-Q8_0.gguf", "/etc/x-Q8_0.gguf", "a\\x-Q8_0.gguf"] {
            let error = chosen_paths(&[name], &quant("Q8_0", None)).unwrap_err();
            assert!(
                matches!(error, ChoiceError::UnsafeName { .. }),
                "{name}: {error}"
            );
        }
        assert!(is_safe_name("Q4_K_M/m.gguf"));
        assert!(!is_safe_name("a/./b.gguf"));
        assert!(!is_safe_name("c:x.gguf"));
    }
}
