//! Talking to the Hugging Face Hub through hf-hub 0.5: listing a repository at a revision and
//! downloading files into the standard Hub cache, with the client's failures turned into
//! sentences a user can act on.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use hf_hub::api::sync::{Api, ApiBuilder, ApiError, ApiRepo};
use hf_hub::api::Progress;
use hf_hub::{Cache, Repo, RepoType};
use serde::Deserialize;

use crate::fetch::choice::RepoFile;
use crate::fetch::config::HubConfig;

/// A repository's files at one commit.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The commit the revision pointed to when it was listed.
    pub commit: String,
    pub files: Vec<RepoFile>,
}

/// The body of `GET /api/models/{repo}/revision/{revision}?blobs=true`.
#[derive(Debug, Deserialize)]
struct RepoInfoBody {
    sha: String,
    siblings: Vec<SiblingBody>,
}

#[derive(Debug, Deserialize)]
struct SiblingBody {
    rfilename: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    lfs: Option<LfsBody>,
}

#[derive(Debug, Deserialize)]
struct LfsBody {
    sha256: String,
    size: u64,
}

/// A connection to one Hub endpoint with the user's token and cache.
pub struct HubClient {
    api: Api,
    config: HubConfig,
}

impl HubClient {
    pub fn new(config: &HubConfig) -> Result<HubClient> {
        // `from_cache` with an explicit folder, so hf-hub reads no environment variable of
        // its own and every setting comes from `config`.
        // NOTE: hf-hub 0.5 builds its ureq agents itself, without timeouts, so a Hub that
        // stops sending mid-transfer stalls the sweep until the connection drops.
        let api = ApiBuilder::from_cache(Cache::new(config.cache_dir.clone()))
            .with_endpoint(config.endpoint.clone())
            .with_token(
                config
                    .token
                    .as_ref()
                    .map(|token| token.expose().to_string()),
            )
            .with_progress(false)
            .build()
            .map_err(|error| anyhow!("cannot set up the Hub client: {error}"))?;
        Ok(HubClient {
            api,
            config: config.clone(),
        })
    }

    fn repo(&self, repo: &str, revision: &str) -> ApiRepo {
        self.api.repo(Repo::with_revision(
            repo.to_string(),
            RepoType::Model,
            revision.to_string(),
        ))
    }

    /// Lists the files of `repo` at `revision`, with sizes and LFS hashes.
    pub fn list(&self, repo: &str, revision: &str) -> Result<Listing> {
        let request = self
            .repo(repo, revision)
            .info_request()
            .query("blobs", "true")
            .config()
            .http_status_as_error(false)
            .build();
        let mut response = request
            .call()
            .map_err(|error| self.request_failed(&error, &format!("list repository `{repo}`")))?;

        let status = response.status().as_u16();
        if status != 200 {
            let error_code = response
                .headers()
                .get("x-error-code")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string();
            bail!(self.listing_status(status, &error_code, repo, revision));
        }
        let body: RepoInfoBody = response.body_mut().read_json().map_err(|error| {
            anyhow!(
                "the listing of repository `{repo}` from {} is not the Hub's JSON: {error}; \
                 check HF_ENDPOINT",
                self.config.endpoint
            )
        })?;
        if !is_commit_hash(&body.sha) {
            bail!(
                "the listing of repository `{repo}` names commit `{}`, which is not a commit \
                 hash; check HF_ENDPOINT",
                body.sha
            );
        }

        let files = body
            .siblings
            .into_iter()
            .map(|sibling| RepoFile {
                size: sibling.lfs.as_ref().map(|lfs| lfs.size).or(sibling.size),
                sha256: sibling.lfs.map(|lfs| lfs.sha256.to_ascii_lowercase()),
                path: sibling.rfilename,
            })
            .collect();
        Ok(Listing {
            commit: body.sha,
            files,
        })
    }

    /// Downloads `file` of `repo` at `revision` into the cache, unless a copy is already
    /// there, and returns its path in the snapshot folder of `commit`.
    pub fn download(
        &self,
        repo: &str,
        revision: &str,
        commit: &str,
        file: &str,
        report: &mut dyn FnMut(&str),
    ) -> Result<PathBuf> {
        let api_repo = self.repo(repo, revision);
        let url = api_repo.url(file);
        let metadata = self
            .api
            .metadata(&url)
            .map_err(|error| self.download_failed(error, repo, revision, file))?;

        // hf-hub names the blob after the ETag and the snapshot folder after the commit, so
        // both are checked before they become paths.
        if !is_safe_blob_name(metadata.etag()) {
            bail!(
                "the Hub sent ETag `{}` for `{file}`, which is not a plain hash; nothing was \
                 written",
                metadata.etag()
            );
        }
        if metadata.commit_hash() != commit {
            bail!(
                "revision `{revision}` of `{repo}` moved from commit {commit} to {} while \
                 downloading; run again to use the new commit",
                metadata.commit_hash()
            );
        }
        tracing::info!(repo, file, bytes = metadata.size(), "downloading");

        // NOTE: hf-hub requests the metadata again inside `download_with_progress`; a server
        // that changed its ETag between the two requests would get a blob name unchecked.
        let path = match api_repo.download_with_progress(file, DownloadProgress::new(report)) {
            Err(ApiError::InvalidResume) => {
                // A `.part` file longer than the file itself cannot be resumed: start over.
                let part = self.blob_path(repo, metadata.etag()).with_extension("part");
                tracing::warn!(part = %part.display(), "removing a partial download that cannot be resumed");
                std::fs::remove_file(&part).ok();
                api_repo.download_with_progress(file, DownloadProgress::new(report))
            }
            other => other,
        }
        .map_err(|error| self.download_failed(error, repo, revision, file))?;

        let expected = self.snapshot_path(repo, commit, file);
        if path != expected {
            bail!(
                "hf-hub stored `{file}` at {}, not at {}; the cache is left as it is",
                path.display(),
                expected.display()
            );
        }
        Ok(path)
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    fn blob_path(&self, repo: &str, etag: &str) -> PathBuf {
        Cache::new(self.config.cache_dir.clone())
            .repo(Repo::model(repo.to_string()))
            .blob_path(etag)
    }

    /// Returns where the snapshot link of `file` at `commit` lives in the cache.
    pub fn snapshot_path(&self, repo: &str, commit: &str, file: &str) -> PathBuf {
        snapshot_path(&self.config.cache_dir, repo, commit, file)
    }

    fn listing_status(&self, status: u16, error_code: &str, repo: &str, revision: &str) -> String {
        match (status, error_code) {
            (401 | 403, _) => auth_message(status, &format!("repository `{repo}`"), &self.config),
            (404, "RevisionNotFound") => format!(
                "revision `{revision}` not found in repository `{repo}` (HTTP 404); fix \
                 `revision` in the profile"
            ),
            (404, _) => format!(
                "repository `{repo}` not found at {} (HTTP 404); fix `repo` in the profile",
                self.config.endpoint
            ),
            _ => format!(
                "the Hub responded with HTTP {status} when listing repository `{repo}` at revision \
                 `{revision}`; try again later"
            ),
        }
    }

    fn request_failed(&self, error: &ureq::Error, action: &str) -> anyhow::Error {
        match error {
            ureq::Error::StatusCode(status) => {
                anyhow!("the Hub responded with HTTP {status} to the request to {action}")
            }
            ureq::Error::Io(io) if is_disk_full(io) => disk_full(&self.config.cache_dir),
            _ => anyhow!(
                "cannot reach the Hugging Face Hub at {} to {action}: {error}\n\n\
                 hint: check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use \
                 files already in the cache",
                self.config.endpoint
            ),
        }
    }

    fn download_failed(
        &self,
        error: ApiError,
        repo: &str,
        revision: &str,
        file: &str,
    ) -> anyhow::Error {
        let action = format!("download `{file}`");
        match error {
            ApiError::RequestError(inner) => match *inner {
                ureq::Error::StatusCode(status @ (401 | 403)) => {
                    anyhow!(auth_message(
                        status,
                        &format!("`{file}` of `{repo}`"),
                        &self.config
                    ))
                }
                ureq::Error::StatusCode(404) => anyhow!(
                    "file `{file}` not found in repository `{repo}` at revision `{revision}` \
                     (HTTP 404); fix `file` in the profile or pick another revision"
                ),
                other => self.request_failed(&other, &action),
            },
            ApiError::IoError(io) if is_disk_full(&io) => disk_full(&self.config.cache_dir),
            ApiError::IoError(io) => anyhow!(
                "download of `{file}` was interrupted: {io}; run again to resume it (the \
                 partial file stays in the cache)"
            ),
            ApiError::MissingHeader(header) | ApiError::InvalidHeader(header) => anyhow!(
                "the response for `{file}` from {} lacks a valid `{header}` header, so it is \
                 not a Hugging Face Hub; check HF_ENDPOINT",
                self.config.endpoint
            ),
            ApiError::LockAcquisition(lock) => anyhow!(
                "another process is downloading `{file}` (lock {}); wait for it to finish",
                lock.display()
            ),
            other => anyhow!("cannot download `{file}` of `{repo}`: {other}"),
        }
    }
}

/// Download progress as short messages for the sweep's progress bar, one per whole percent.
struct DownloadProgress<'a> {
    report: &'a mut dyn FnMut(&str),
    name: String,
    total: usize,
    done: usize,
    shown: Option<usize>,
}

impl<'a> DownloadProgress<'a> {
    fn new(report: &'a mut dyn FnMut(&str)) -> DownloadProgress<'a> {
        DownloadProgress {
            report,
            name: String::new(),
            total: 0,
            done: 0,
            shown: None,
        }
    }
}

impl Progress for DownloadProgress<'_> {
    fn init(&mut self, size: usize, filename: &str) {
        self.total = size;
        self.done = 0;
        self.shown = None;
        self.name = filename.to_string();
    }

    fn update(&mut self, size: usize) {
        self.done += size;
        let percent = self.done * 100 / self.total.max(1);
        if self.shown != Some(percent) {
            self.shown = Some(percent);
            (self.report)(&format!("downloading {}: {percent}%", self.name));
        }
    }

    fn finish(&mut self) {}
}

/// Returns where the snapshot link of `file` at `commit` lives in a Hub cache.
pub fn snapshot_path(cache_dir: &Path, repo: &str, commit: &str, file: &str) -> PathBuf {
    Cache::new(cache_dir.to_path_buf())
        .repo(Repo::model(repo.to_string()))
        .pointer_path(commit)
        .join(file)
}

/// Returns the folder of `repo` in a Hub cache (`models--org--name`).
pub fn repo_cache_dir(cache_dir: &Path, repo: &str) -> PathBuf {
    cache_dir.join(Repo::model(repo.to_string()).folder_name())
}

fn auth_message(status: u16, what: &str, config: &HubConfig) -> String {
    let token_hint = if config.token.is_some() {
        "the token in HF_TOKEN (or the token file) was refused or lacks access to it; use a \
         token of an account that has access"
    } else {
        "no token is set; set HF_TOKEN to a token with read access (or log in with the \
         official CLI)"
    };
    format!(
        "access to {what} was denied (HTTP {status}): it is gated or private. For a gated \
         model, accept its licence on the model page; {token_hint}"
    )
}

fn disk_full(cache_dir: &Path) -> anyhow::Error {
    anyhow!(
        "disk full while writing into the Hub cache {}; free some space or set HF_HUB_CACHE \
         to a larger disk, then run again to resume",
        cache_dir.display()
    )
}

/// Returns whether an I/O error means the disk is full (`ENOSPC`).
pub fn is_disk_full(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::StorageFull || error.raw_os_error() == Some(28)
}

/// Returns whether `text` is a 40-digit hex git commit hash.
pub fn is_commit_hash(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Returns whether an ETag can name a blob file. It must be letters and digits only, as the
/// Hub's SHA-256 and git SHA-1 ETags are.
fn is_safe_blob_name(etag: &str) -> bool {
    !etag.is_empty() && etag.len() <= 128 && etag.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Reads the commit a revision points to from the cache, as the official client records it
/// in `refs/<revision>`. A revision that is a commit hash is returned as it is.
pub fn cached_commit(cache_dir: &Path, repo: &str, revision: &str) -> Option<String> {
    if is_commit_hash(revision) {
        return Some(revision.to_string());
    }
    let path = repo_cache_dir(cache_dir, repo).join("refs").join(revision);
    let text = std::fs::read_to_string(path).ok()?;
    let commit = text.trim();
    is_commit_hash(commit).then(|| commit.to_string())
}

/// Records that `revision` points to `commit`, so an offline run finds the snapshot.
pub fn write_ref(cache_dir: &Path, repo: &str, revision: &str, commit: &str) -> Result<()> {
    if is_commit_hash(revision) {
        return Ok(());
    }
    Cache::new(cache_dir.to_path_buf())
        .repo(Repo::with_revision(
            repo.to_string(),
            RepoType::Model,
            revision.to_string(),
        ))
        .create_ref(commit)
        .with_context(|| format!("cannot write the cache reference of `{repo}` at `{revision}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_recognised() {
        assert!(is_disk_full(&std::io::Error::from_raw_os_error(28)));
        assert!(!is_disk_full(&std::io::Error::from_raw_os_error(2)));
    }

    #[test]
    fn etags_with_path_parts_are_unsafe() {
        assert!(is_safe_blob_name("0a1b2c"));
        assert!(!is_safe_blob_name("../../x"));
        assert!(!is_safe_blob_name("a/b"));
        assert!(!is_safe_blob_name(""));
    }

    #[test]
    fn commit_revision_needs_no_ref() {
        let dir = tempfile::tempdir().unwrap();
        let commit = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            cached_commit(dir.path(), "o/r", commit).as_deref(),
            Some(commit)
        );
        assert_eq!(cached_commit(dir.path(), "o/r", "main"), None);
        write_ref(dir.path(), "o/r", "main", commit).unwrap();
        assert_eq!(
            cached_commit(dir.path(), "o/r", "main").as_deref(),
            Some(commit)
        );
    }
}
