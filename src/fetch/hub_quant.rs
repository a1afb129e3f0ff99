//! Resolving one quant of a Hub source: list the repository (or the cache when offline),
//! choose the quant's files, download and verify them, or derive the quant locally.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};

use crate::fetch::choice::{self, Choice, ChoiceError, RepoFile};
use crate::fetch::config::HubConfig;
use crate::fetch::derive;
use crate::fetch::hub::{self, HubClient};
use crate::fetch::integrity::{self, Expected};
use crate::fetch::{HubOrigin, ResolvedQuant};
use crate::profile::{Profile, QuantSpec};

/// Repository and revision of a profile's Hub source.
#[derive(Debug, Clone, Copy)]
pub struct HubSource<'a> {
    pub repo: &'a str,
    pub revision: &'a str,
}

/// Makes the files of `quant` available locally and returns the file llama.cpp loads.
pub fn resolve(
    config: &HubConfig,
    source: HubSource<'_>,
    profile: &Profile,
    quant: &QuantSpec,
) -> Result<ResolvedQuant> {
    resolve_with_progress(config, source, profile, quant, &mut |_| {})
}

/// Like [`resolve`], reporting download progress as short messages through `report`.
pub fn resolve_with_progress(
    config: &HubConfig,
    source: HubSource<'_>,
    profile: &Profile,
    quant: &QuantSpec,
    report: &mut dyn FnMut(&str),
) -> Result<ResolvedQuant> {
    let place = Place::new(source, config.offline);
    let (commit, files, client) = if config.offline {
        let commit = cached_commit_or_error(config, source, quant)?;
        let files = cached_files(config, source.repo, &commit)?;
        (commit, files, None)
    } else {
        let client = HubClient::new(config)?;
        let listing = client.list(source.repo, source.revision)?;
        (listing.commit, listing.files, Some(client))
    };
    let place_text = place.describe(&commit);
    tracing::debug!(repo = source.repo, commit = %commit, files = files.len(), "repository listed");

    match choice::choose(&files, quant, &place_text) {
        Ok(choice) => fetch_choice(
            config,
            client.as_ref(),
            source,
            &commit,
            quant,
            &choice,
            report,
        ),
        Err(ChoiceError::NoMatch { .. }) if quant.derive_from.is_some() => {
            let from = quant.derive_from.expect("checked by the guard");
            let declared = profile.quant(from).ok().cloned();
            let source_spec = declared.unwrap_or(QuantSpec {
                label: from,
                file: None,
                derive_from: None,
            });
            tracing::info!(quant = %quant.label, from = %from, "repository lacks the quant; deriving it");
            let choice = choice::choose(&files, &source_spec, &place_text)
                .with_context(|| format!("cannot derive quant {} from {from}", quant.label))?;
            let parent = fetch_choice(
                config,
                client.as_ref(),
                source,
                &commit,
                &source_spec,
                &choice,
                report,
            )?;
            derive::derive(config, &parent, quant.label)
        }
        Err(error) => Err(error.into()),
    }
}

/// Name of the listed repository in errors: the online listing or the offline cache.
struct Place<'a> {
    source: HubSource<'a>,
    offline: bool,
}

impl<'a> Place<'a> {
    fn new(source: HubSource<'a>, offline: bool) -> Place<'a> {
        Place { source, offline }
    }

    fn describe(&self, commit: &str) -> String {
        let short = &commit[..commit.len().min(12)];
        let HubSource { repo, revision } = self.source;
        if self.offline {
            format!(
                "the cached files of repository `{repo}` at revision `{revision}` (commit \
                 {short}; HF_HUB_OFFLINE is set, so the Hub was not asked)"
            )
        } else {
            format!("repository `{repo}` at revision `{revision}` (commit {short})")
        }
    }
}

/// Downloads (or finds in the cache) every file of `choice` and verifies it.
fn fetch_choice(
    config: &HubConfig,
    client: Option<&HubClient>,
    source: HubSource<'_>,
    commit: &str,
    quant: &QuantSpec,
    choice: &Choice,
    report: &mut dyn FnMut(&str),
) -> Result<ResolvedQuant> {
    let mut paths = Vec::new();
    let mut bytes = 0u64;
    let mut hashes = Vec::new();
    for file in &choice.files {
        let (path, verified) = fetch_file(config, client, source, commit, file, report)?;
        bytes += verified.bytes;
        hashes.push(verified.sha256);
        paths.push(path);
    }
    if client.is_some() {
        hub::write_ref(&config.cache_dir, source.repo, source.revision, commit)?;
    }

    // A split model is identified by the SHA-256 of its shards concatenated in order, the
    // same value the registry records for it.
    let sha256 = match hashes.as_slice() {
        [one] => one.clone(),
        _ => {
            let mut hasher = sha2::Sha256::default();
            for path in &paths {
                integrity::hash_into(path, &mut hasher)?;
            }
            format!("{:x}", sha2::Digest::finalize(hasher))
        }
    };
    let names: Vec<String> = choice.files.iter().map(|f| f.path.clone()).collect();
    tracing::debug!(quant = %quant.label, file = %names[0], bytes, shards = names.len(), "file chosen");

    Ok(ResolvedQuant {
        label: quant.label,
        path: paths[0].clone(),
        hub: Some(HubOrigin {
            repo: source.repo.to_string(),
            revision: commit.to_string(),
            files: names,
            bytes,
            sha256,
            derived_from: None,
        }),
    })
}

/// Returns the verified local path of one repository file, downloading it unless a good copy
/// is cached. A cached copy that fails verification is removed and, online, downloaded again.
fn fetch_file(
    config: &HubConfig,
    client: Option<&HubClient>,
    source: HubSource<'_>,
    commit: &str,
    file: &RepoFile,
    report: &mut dyn FnMut(&str),
) -> Result<(PathBuf, integrity::Verified)> {
    let expected = Expected {
        size: file.size,
        sha256: file.sha256.clone(),
    };
    let cached = hub::snapshot_path(&config.cache_dir, source.repo, commit, &file.path);
    if cached.exists() {
        match integrity::verify(&cached, &file.path, &expected) {
            Ok(verified) => {
                tracing::debug!(file = %file.path, "cache hit");
                return Ok((cached, verified));
            }
            Err(error) if client.is_some() => {
                tracing::warn!(file = %file.path, error = %error, "cached copy failed verification; downloading it again");
                remove_cached(&config.cache_dir, &cached);
            }
            Err(error) => {
                remove_cached(&config.cache_dir, &cached);
                return Err(anyhow!(
                    "{error:#}. The cached copy was removed; unset HF_HUB_OFFLINE to download \
                     it again"
                ));
            }
        }
    }
    let Some(client) = client else {
        bail!("file `{}` is not in the cache", file.path);
    };

    let path = client.download(source.repo, source.revision, commit, &file.path, report)?;
    ensure_inside(&config.cache_dir, &path)?;
    match integrity::verify(&path, &file.path, &expected) {
        Ok(verified) => Ok((path, verified)),
        Err(error) => {
            remove_cached(&config.cache_dir, &path);
            Err(anyhow!(
                "{error:#}. The file was removed from the cache, so the next run downloads it \
                 again; if it fails the same way, the repository's copy is bad"
            ))
        }
    }
}

/// Fails unless `path`, with links followed, lies inside the cache folder.
fn ensure_inside(cache_dir: &Path, path: &Path) -> Result<()> {
    let root = cache_dir
        .canonicalize()
        .with_context(|| format!("cannot read the Hub cache {}", cache_dir.display()))?;
    let real = path
        .canonicalize()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !real.starts_with(&root) {
        bail!(
            "{} resolves to {}, outside the Hub cache {}, so it was not used",
            path.display(),
            real.display(),
            root.display()
        );
    }
    Ok(())
}

/// Removes a snapshot link and the blob it points to, when both lie inside the cache.
fn remove_cached(cache_dir: &Path, link: &Path) {
    if let Ok(blob) = link.canonicalize() {
        if ensure_inside(cache_dir, &blob).is_ok() {
            std::fs::remove_file(&blob).ok();
        }
    }
    std::fs::remove_file(link).ok();
}

fn cached_commit_or_error(
    config: &HubConfig,
    source: HubSource<'_>,
    quant: &QuantSpec,
) -> Result<String> {
    hub::cached_commit(&config.cache_dir, source.repo, source.revision).with_context(|| {
        let wanted = match &quant.file {
            Some(file) => format!("file `{file}`"),
            None => format!("a GGUF file matching {}", quant.label),
        };
        format!(
            "HF_HUB_OFFLINE is set and repository `{}` at revision `{}` is not in the Hub \
             cache {}; quant {} needs {wanted}. Unset HF_HUB_OFFLINE to download it",
            source.repo,
            source.revision,
            config.cache_dir.display(),
            quant.label
        )
    })
}

/// Lists the files of a cached snapshot. Sizes are unknown offline; an LFS blob is named
/// after its SHA-256, so that hash is still checked.
fn cached_files(config: &HubConfig, repo: &str, commit: &str) -> Result<Vec<RepoFile>> {
    let root = hub::snapshot_path(&config.cache_dir, repo, commit, "");
    let mut files = Vec::new();
    collect_files(&root, &root, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<RepoFile>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries.filter_map(|entry| entry.ok()) {
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, files)?;
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let name = relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let blob_name = std::fs::read_link(&path)
            .ok()
            .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()));
        let sha256 = blob_name
            .filter(|blob| blob.len() == 64 && blob.bytes().all(|b| b.is_ascii_hexdigit()));
        files.push(RepoFile {
            path: name,
            size: None,
            sha256,
        });
    }
    Ok(())
}
