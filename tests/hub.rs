//! Pulling quants from a Hugging Face Hub repository, against a Hub-like server on 127.0.0.1
//! that each test starts itself. Every test points HF_HOME and HF_HUB_CACHE at its own
//! temporary folder, so the real cache in the home folder is never touched.

mod common;
#[path = "hub/server.rs"]
mod server;
#[path = "hub/split_gguf.rs"]
mod split_gguf;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use server::{Access, Content, Fault, ServedFile, ServedRepo, TestHub, COMMIT};
use slm_quant::fetch::config::HubConfig;
use slm_quant::fetch::hub_quant::{self, HubSource};
use slm_quant::fetch::ResolvedQuant;
use slm_quant::profile::Profile;

const REPO: &str = "test-org/tiny-GGUF";

/// A temporary HF_HOME with its Hub cache, and a folder for profiles.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("hf-home")
    }

    fn cache(&self) -> PathBuf {
        self.home().join("hub")
    }

    fn vars(&self, endpoint: &str, token: Option<&str>, offline: bool) -> Vec<(String, String)> {
        let mut vars = vec![
            ("HF_ENDPOINT".to_string(), endpoint.to_string()),
            ("HF_HOME".to_string(), self.home().display().to_string()),
            (
                "HF_HUB_CACHE".to_string(),
                self.cache().display().to_string(),
            ),
        ];
        if let Some(token) = token {
            vars.push(("HF_TOKEN".into(), token.into()));
        }
        if offline {
            vars.push(("HF_HUB_OFFLINE".into(), "1".into()));
        }
        vars
    }

    fn config(&self, endpoint: &str, token: Option<&str>, offline: bool) -> HubConfig {
        let vars = self.vars(endpoint, token, offline);
        HubConfig::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
    }

    /// Writes a profile for `repo` whose `[[quant]]` tables are `quants`, and loads it.
    fn profile(&self, repo: &str, quants: &str) -> Profile {
        let path = self.dir.path().join("profile.toml");
        let text = format!(
            "id = \"tiny\"\ndisplay_name = \"Tiny\"\n\n[source]\nkind = \"hub\"\nrepo = \"{repo}\"\n\n{quants}"
        );
        std::fs::write(&path, text).unwrap();
        Profile::load(&path).unwrap()
    }
}

/// Bytes that start with the GGUF magic, distinct per `seed`.
fn fake_gguf(len: usize, seed: u8) -> Content {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend((0..len - 4).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    Content::Bytes(Arc::new(bytes))
}

fn public(files: Vec<ServedFile>) -> ServedRepo {
    ServedRepo {
        files,
        access: Access::Public,
    }
}

fn resolve(config: &HubConfig, profile: &Profile, label: &str) -> anyhow::Result<ResolvedQuant> {
    let source = HubSource {
        repo: REPO,
        revision: "main",
    };
    let spec = profile.quant(label.parse().unwrap()).unwrap();
    hub_quant::resolve(config, source, profile, spec)
}

fn error_text(result: anyhow::Result<ResolvedQuant>) -> String {
    format!("{:#}", result.expect_err("resolution should fail"))
}

fn sha256_of(path: &Path) -> String {
    slm_quant::fetch::integrity::sha256_of(path).unwrap()
}

/// Lists every file under `dir`, links included, as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                for inner in files_under(&path) {
                    found.push(format!("{}/{inner}", entry.file_name().to_string_lossy()));
                }
            } else {
                found.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn listing_order_does_not_change_choice() {
    let q8 = ServedFile::lfs("tiny-Q8_0.gguf", fake_gguf(4096, 1));
    let wanted_sha = q8.sha256().to_string();
    let hub = TestHub::start(vec![(
        REPO,
        public(vec![
            ServedFile::plain("README.md", b"# tiny"),
            ServedFile::lfs("tiny-UD-Q4_K_XL.gguf", fake_gguf(512, 2)),
            q8,
            ServedFile::lfs("mmproj-tiny-F16.gguf", fake_gguf(512, 3)),
            ServedFile::lfs("tiny-Q8_0_L.gguf.txt", fake_gguf(512, 4)),
            ServedFile::lfs("tiny-BF16.gguf", fake_gguf(512, 5)),
            ServedFile::lfs("tiny-Q4_K_S.gguf", fake_gguf(512, 6)),
        ]),
    )]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n\n[[quant]]\nlabel = \"Q4_K_M\"\n\n[[quant]]\nlabel = \"F16\"\n");

    let found = resolve(&config, &profile, "Q8_0").unwrap();
    assert_eq!(
        found.path,
        sandbox
            .cache()
            .join("models--test-org--tiny-GGUF/snapshots")
            .join(COMMIT)
            .join("tiny-Q8_0.gguf")
    );
    assert_eq!(sha256_of(&found.path), wanted_sha);
    let origin = found.hub.unwrap();
    assert_eq!(origin.revision, COMMIT);
    assert_eq!(origin.sha256, wanted_sha);
    assert_eq!(origin.bytes, 4096);

    // Q4_K_M must not take Q4_K_S or UD-Q4_K_XL, and F16 must not take BF16 or mmproj.
    let text = error_text(resolve(&config, &profile, "Q4_K_M"));
    assert!(text.contains("no GGUF file for quant Q4_K_M"), "{text}");
    assert!(
        text.contains("quant labels there: BF16, Q8_0, Q4_K_S"),
        "{text}"
    );
    let text = error_text(resolve(&config, &profile, "F16"));
    assert!(text.contains("no GGUF file for quant F16"), "{text}");

    // The official cache layout: a ref for the branch, a blob named after the SHA-256.
    let repo_dir = sandbox.cache().join("models--test-org--tiny-GGUF");
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );
    assert!(repo_dir.join("blobs").join(&wanted_sha).is_file());
}

#[test]
fn download_progress_reaches_full() {
    let hub = TestHub::start(vec![(
        REPO,
        public(vec![ServedFile::lfs(
            "tiny-Q8_0.gguf",
            fake_gguf(1 << 20, 1),
        )]),
    )]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");
    let spec = profile.quant("Q8_0".parse().unwrap()).unwrap();
    let source = HubSource {
        repo: REPO,
        revision: "main",
    };

    let mut messages = Vec::new();
    let mut report = |message: &str| messages.push(message.to_string());
    hub_quant::resolve_with_progress(&config, source, &profile, spec, &mut report).unwrap();
    assert_eq!(
        messages.last().map(String::as_str),
        Some("downloading tiny-Q8_0.gguf: 100%")
    );
    assert!(messages.len() <= 101, "{} messages", messages.len());
}

#[test]
fn shards_out_of_order_are_all_fetched() {
    let shards: Vec<ServedFile> = [3u8, 1, 2]
        .iter()
        .map(|&i| {
            ServedFile::lfs(
                &format!("Q8_0/tiny-Q8_0-0000{i}-of-00003.gguf"),
                fake_gguf(1000 + i as usize, i),
            )
        })
        .collect();
    let hub = TestHub::start(vec![(REPO, public(shards))]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");

    let found = resolve(&config, &profile, "Q8_0").unwrap();
    assert!(found.path.ends_with("Q8_0/tiny-Q8_0-00001-of-00003.gguf"));
    let folder = found.path.parent().unwrap();
    assert_eq!(
        files_under(folder),
        [
            "tiny-Q8_0-00001-of-00003.gguf",
            "tiny-Q8_0-00002-of-00003.gguf",
            "tiny-Q8_0-00003-of-00003.gguf"
        ]
    );
    let origin = found.hub.clone().unwrap();
    assert_eq!(
        origin.files,
        [
            "Q8_0/tiny-Q8_0-00001-of-00003.gguf",
            "Q8_0/tiny-Q8_0-00002-of-00003.gguf",
            "Q8_0/tiny-Q8_0-00003-of-00003.gguf"
        ]
    );
    assert_eq!(origin.bytes, 1001 + 1002 + 1003);

    // What the measuring process records for shard 1 covers every shard.
    let mut record = slm_quant::measure::file_record(&found.path).unwrap();
    assert_eq!(record.bytes, 3006);
    assert_eq!(record.sha256, origin.sha256);
    found.annotate(&mut record);
    assert_eq!(record.name, "Q8_0/tiny-Q8_0-00001-of-00003.gguf");
    assert_eq!(record.shards.as_deref().unwrap().len(), 3);
    assert_eq!(record.repo.as_deref(), Some(REPO));
    assert_eq!(record.revision.as_deref(), Some(COMMIT));
}

#[test]
fn missing_shard_is_named_and_nothing_fetched() {
    let hub = TestHub::start(vec![(
        REPO,
        public(vec![
            ServedFile::lfs("tiny-Q8_0-00003-of-00003.gguf", fake_gguf(600, 3)),
            ServedFile::lfs("tiny-Q8_0-00001-of-00003.gguf", fake_gguf(600, 1)),
        ]),
    )]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");

    let text = error_text(resolve(&config, &profile, "Q8_0"));
    assert!(
        text.contains("shard `tiny-Q8_0-00002-of-00003.gguf` of quant Q8_0 is missing"),
        "{text}"
    );
    assert!(!hub.requests().iter().any(|line| line.contains("/resolve/")));
}

#[test]
fn lowercase_and_folder_names_match() {
    let hub = TestHub::start(vec![(
        REPO,
        public(vec![
            ServedFile::lfs("tiny.q8_0.gguf", fake_gguf(700, 1)),
            ServedFile::lfs("Q4_K_M/tiny.gguf", fake_gguf(700, 2)),
            ServedFile::lfs("tiny-00001-of-00001.Q4_0.gguf", fake_gguf(700, 3)),
            ServedFile::lfs("tiny-Q5_0-00001-of-00001.gguf", fake_gguf(700, 4)),
        ]),
    )]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(
        REPO,
        "[[quant]]\nlabel = \"Q8_0\"\n\n[[quant]]\nlabel = \"q4_k_m\"\n\n[[quant]]\nlabel = \"Q5_0\"\n",
    );

    let q8 = resolve(&config, &profile, "Q8_0").unwrap();
    assert!(q8.path.ends_with("tiny.q8_0.gguf"));
    let q4 = resolve(&config, &profile, "Q4_K_M").unwrap();
    assert!(
        q4.path.ends_with("Q4_K_M/tiny.gguf"),
        "{}",
        q4.path.display()
    );
    let q5 = resolve(&config, &profile, "Q5_0").unwrap();
    assert_eq!(q5.hub.unwrap().files, ["tiny-Q5_0-00001-of-00001.gguf"]);
}

#[test]
fn ambiguous_label_lists_both_files() {
    let hub = TestHub::start(vec![(
        REPO,
        public(vec![
            ServedFile::lfs("b.q8_0.gguf", fake_gguf(500, 1)),
            ServedFile::lfs("a-Q8_0.gguf", fake_gguf(500, 2)),
        ]),
    )]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");

    let text = error_text(resolve(&config, &profile, "Q8_0"));
    assert!(text.contains("several files match quant Q8_0"), "{text}");
    assert!(text.contains("a-Q8_0.gguf, b.q8_0.gguf"), "{text}");

    // Naming the file settles it.
    let profile = sandbox.profile(
        REPO,
        "[[quant]]\nlabel = \"Q8_0\"\nfile = \"b.q8_0.gguf\"\n",
    );
    assert!(resolve(&config, &profile, "Q8_0")
        .unwrap()
        .path
        .ends_with("b.q8_0.gguf"));
}

const HTML_PAGE: &[u8] = b"<!DOCTYPE html><html><body>Sign in</body></html>\r\n\r\n";

#[test]
fn html_body_is_reported_and_removed() {
    assert_eq!(HTML_PAGE.len(), 52);
    let hub = TestHub::start(vec![(
        REPO,
        public(vec![ServedFile::plain("tiny-Q8_0.gguf", HTML_PAGE)]),
    )]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");

    let text = error_text(resolve(&config, &profile, "Q8_0"));
    assert!(
        text.contains("`tiny-Q8_0.gguf` is not a GGUF file: starts with `<!DO`, 52 bytes"),
        "{text}"
    );
    assert!(text.contains("removed from the cache"), "{text}");
    let repo_dir = sandbox.cache().join("models--test-org--tiny-GGUF");
    // hf-hub leaves its `.lock` file beside the blobs; no content may stay.
    let blobs: Vec<String> = files_under(&repo_dir.join("blobs"))
        .into_iter()
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    assert_eq!(blobs, Vec::<String>::new());
    assert_eq!(
        files_under(&repo_dir.join("snapshots")),
        Vec::<String>::new()
    );
}

fn snapshot_of(sandbox: &Sandbox, name: &str) -> PathBuf {
    sandbox
        .cache()
        .join("models--test-org--tiny-GGUF/snapshots")
        .join(COMMIT)
        .join(name)
}

#[test]
fn cut_download_is_never_cached_and_resumes() {
    let file = ServedFile::lfs("tiny-Q8_0.gguf", fake_gguf(3 << 20, 7)).with_fault(Fault::CutOnce);
    let wanted_sha = file.sha256().to_string();
    let hub = TestHub::start(vec![(REPO, public(vec![file]))]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");

    let text = error_text(resolve(&config, &profile, "Q8_0"));
    assert!(
        text.contains("download of `tiny-Q8_0.gguf` was interrupted"),
        "{text}"
    );
    assert!(text.contains("run again to resume"), "{text}");
    assert!(
        !snapshot_of(&sandbox, "tiny-Q8_0.gguf").exists(),
        "a partial download was linked as the file"
    );

    let found = resolve(&config, &profile, "Q8_0").unwrap();
    assert_eq!(sha256_of(&found.path), wanted_sha);
    let resume_range = format!("bytes={}-", 3 << 19);
    assert!(
        hub.requests()
            .iter()
            .any(|line| line.starts_with("GET /cdn/") && line.ends_with(&resume_range)),
        "{:#?}",
        hub.requests()
    );
}

#[test]
fn unnoticed_cut_is_removed_and_restarts() {
    let file = ServedFile::lfs("tiny-Q8_0.gguf", fake_gguf(3 << 20, 8))
        .with_fault(Fault::CutOnceUnannounced);
    let wanted_sha = file.sha256().to_string();
    let hub = TestHub::start(vec![(REPO, public(vec![file]))]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");

    // hf-hub takes the short body as complete; the size check catches it.
    let text = error_text(resolve(&config, &profile, "Q8_0"));
    let expected = format!(
        "download of `tiny-Q8_0.gguf` is incomplete: {} of {} bytes",
        3 << 19,
        3 << 20
    );
    assert!(text.contains(&expected), "{text}");
    assert!(!snapshot_of(&sandbox, "tiny-Q8_0.gguf").exists());
    assert!(!sandbox
        .cache()
        .join("models--test-org--tiny-GGUF/blobs")
        .join(&wanted_sha)
        .exists());

    let found = resolve(&config, &profile, "Q8_0").unwrap();
    assert_eq!(sha256_of(&found.path), wanted_sha);
}

#[test]
fn damaged_cached_copy_is_fetched_again() {
    let file = ServedFile::lfs("tiny-Q8_0.gguf", fake_gguf(5000, 9));
    let wanted_sha = file.sha256().to_string();
    let hub = TestHub::start(vec![(REPO, public(vec![file]))]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");

    let first = resolve(&config, &profile, "Q8_0").unwrap();
    let blob = first.path.canonicalize().unwrap();
    std::fs::write(&blob, b"GGUF but not the right bytes").unwrap();

    let second = resolve(&config, &profile, "Q8_0").unwrap();
    assert_eq!(sha256_of(&second.path), wanted_sha);
}

#[test]
fn gated_repo_names_licence_and_token() {
    let secret = "hf_gatedSecretToken123";
    let hub = TestHub::start(vec![(
        REPO,
        ServedRepo {
            files: vec![ServedFile::lfs("tiny-Q8_0.gguf", fake_gguf(800, 1))],
            access: Access::Gated(secret.to_string()),
        },
    )]);
    let sandbox = Sandbox::new();
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");

    let text = error_text(resolve(
        &sandbox.config(&hub.url, None, false),
        &profile,
        "Q8_0",
    ));
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(text.contains("accept its licence"), "{text}");
    assert!(text.contains("set HF_TOKEN"), "{text}");

    let wrong = "hf_wrongSecretToken456";
    let text = error_text(resolve(
        &sandbox.config(&hub.url, Some(wrong), false),
        &profile,
        "Q8_0",
    ));
    assert!(text.contains("was refused or lacks access"), "{text}");
    assert!(!text.contains(wrong), "the token leaked into: {text}");

    let found = resolve(
        &sandbox.config(&hub.url, Some(secret), false),
        &profile,
        "Q8_0",
    );
    assert!(found.is_ok(), "{:#}", found.unwrap_err());

    // The token file the official CLI writes is honoured too.
    std::fs::write(sandbox.home().join("token"), format!("{secret}\n")).unwrap();
    std::fs::remove_dir_all(sandbox.cache()).unwrap();
    let found = resolve(&sandbox.config(&hub.url, None, false), &profile, "Q8_0");
    assert!(found.is_ok(), "{:#}", found.unwrap_err());
}

#[test]
fn private_repo_is_401_with_hint() {
    let hub = TestHub::start(vec![(
        REPO,
        ServedRepo {
            files: vec![ServedFile::lfs("tiny-Q8_0.gguf", fake_gguf(800, 1))],
            access: Access::Private("hf_privateToken".to_string()),
        },
    )]);
    let sandbox = Sandbox::new();
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");
    let text = error_text(resolve(
        &sandbox.config(&hub.url, None, false),
        &profile,
        "Q8_0",
    ));
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("set HF_TOKEN"), "{text}");
}

#[test]
fn missing_repo_and_missing_file_differ() {
    let hub = TestHub::start(vec![(
        REPO,
        public(vec![
            ServedFile::lfs("tiny-Q8_0.gguf", fake_gguf(800, 1)),
            ServedFile::lfs("tiny-Q4_0.gguf", fake_gguf(800, 2)).with_fault(Fault::Vanished),
        ]),
    )]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);

    let profile = sandbox.profile("test-org/absent", "[[quant]]\nlabel = \"Q8_0\"\n");
    let spec = profile.quant("Q8_0".parse().unwrap()).unwrap();
    let source = HubSource {
        repo: "test-org/absent",
        revision: "main",
    };
    let text = format!(
        "{:#}",
        hub_quant::resolve(&config, source, &profile, spec).unwrap_err()
    );
    assert!(
        text.contains("repository `test-org/absent` not found"),
        "{text}"
    );
    assert!(text.contains("HTTP 404"), "{text}");

    let profile = sandbox.profile(
        REPO,
        "[[quant]]\nlabel = \"Q8_0\"\nfile = \"other.gguf\"\n\n[[quant]]\nlabel = \"Q4_0\"\n",
    );
    let text = error_text(resolve(&config, &profile, "Q8_0"));
    assert!(
        text.contains("file `other.gguf` of quant Q8_0 not found"),
        "{text}"
    );
    assert!(text.contains("tiny-Q8_0.gguf"), "{text}");

    // Listed but gone when fetched: the Hub's 404 for the file itself.
    let text = error_text(resolve(&config, &profile, "Q4_0"));
    assert!(
        text.contains("file `tiny-Q4_0.gguf` not found in repository"),
        "{text}"
    );
    assert!(text.contains("HTTP 404"), "{text}");
}

#[test]
fn unreachable_hub_says_so() {
    // Nothing listens on a port that was just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sandbox = Sandbox::new();
    let config = sandbox.config(&format!("http://127.0.0.1:{port}"), None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");
    let text = error_text(resolve(&config, &profile, "Q8_0"));
    assert!(text.contains("cannot reach the Hugging Face Hub"), "{text}");
    assert!(text.contains("HF_HUB_OFFLINE"), "{text}");
}

#[test]
fn offline_uses_warm_cache_and_names_cold_file() {
    let sandbox = Sandbox::new();
    let profile = sandbox.profile(
        REPO,
        "[[quant]]\nlabel = \"Q8_0\"\nfile = \"tiny-Q8_0.gguf\"\n\n[[quant]]\nlabel = \"Q4_0\"\n",
    );

    let cold = sandbox.config("http://127.0.0.1:9", None, true);
    let text = error_text(resolve(&cold, &profile, "Q8_0"));
    assert!(text.contains("HF_HUB_OFFLINE is set"), "{text}");
    assert!(text.contains("file `tiny-Q8_0.gguf`"), "{text}");

    let online = {
        let hub = TestHub::start(vec![(
            REPO,
            public(vec![ServedFile::lfs("tiny-Q8_0.gguf", fake_gguf(900, 1))]),
        )]);
        resolve(&sandbox.config(&hub.url, None, false), &profile, "Q8_0").unwrap()
    };

    // The Hub is gone now; the endpoint is never contacted while offline.
    let offline = sandbox.config("http://127.0.0.1:9", None, true);
    let found = resolve(&offline, &profile, "Q8_0").unwrap();
    assert_eq!(found.path, online.path);
    assert_eq!(found.hub.unwrap().sha256, online.hub.unwrap().sha256);

    let text = error_text(resolve(&offline, &profile, "Q4_0"));
    assert!(text.contains("no GGUF file for quant Q4_0"), "{text}");
    assert!(text.contains("HF_HUB_OFFLINE is set"), "{text}");
}

#[test]
fn dotdot_name_never_leaves_cache() {
    let hub = TestHub::start(vec![(
        REPO,
        public(vec![ServedFile::lfs(
            "../../../escaped-Q8_0.gguf",
            fake_gguf(400, 1),
        )]),
    )]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");

    let text = error_text(resolve(&config, &profile, "Q8_0"));
    assert!(text.contains("`../../../escaped-Q8_0.gguf`"), "{text}");
    assert!(text.contains("outside the cache"), "{text}");
    assert!(!hub.requests().iter().any(|line| line.contains("/resolve/")));
    let everything = files_under(sandbox.dir.path());
    assert!(
        !everything.iter().any(|name| name.contains("escaped")),
        "{everything:?}"
    );
}

/// Runs `slm-quant` with the Hub variables of `sandbox` and no proxy, so every request goes
/// to the test Hub.
fn run_cli(sandbox: &Sandbox, endpoint: &str, token: &str, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_slm-quant"));
    command
        .args(args)
        .current_dir(sandbox.dir.path())
        .env_remove("RUST_LOG")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_TOKEN_PATH");
    for proxy in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        command.env_remove(proxy);
    }
    for (name, value) in sandbox.vars(endpoint, Some(token), false) {
        command.env(name, value);
    }
    command.output().expect("slm-quant runs")
}

const SHORT_SETTINGS: &[&str] = &[
    "--output-lengths",
    "8",
    "--context-lengths",
    "64",
    "--runs",
    "1",
    "--warmup-runs",
    "0",
    "--threads",
    "2",
    "--no-progress",
    "--no-quality",
    "--rag-families",
    "none",
    "--fc-categories",
    "none",
    "-v",
];

#[test]
fn bench_pulls_measures_and_derives() {
    let sandbox = Sandbox::new();
    let demo = |label: &str| Content::File(common::demo_file(label));
    let q8 = ServedFile::lfs("SmolLM2-135M-Instruct-Q8_0.gguf", demo("Q8_0"));
    let q4_1 = ServedFile::lfs(
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        Content::File(common::demo_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf")),
    );
    // Q4_K_M is published as two shards in a per-quant folder, listed shard 2 first.
    let split_dir = sandbox.dir.path().join("split");
    std::fs::create_dir(&split_dir).unwrap();
    let shard_paths = split_gguf::split_gguf(
        &common::demo_file("Q4_K_M"),
        &split_dir,
        "SmolLM2-135M-Instruct-Q4_K_M",
        2,
    );
    let shard_name = |index: usize| {
        format!(
            "Q4_K_M/{}",
            shard_paths[index].file_name().unwrap().to_string_lossy()
        )
    };
    let shard_bytes: u64 = shard_paths
        .iter()
        .map(|path| std::fs::metadata(path).unwrap().len())
        .sum();
    let shards_sha = {
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        for path in &shard_paths {
            slm_quant::fetch::integrity::hash_into(path, &mut hasher).unwrap();
        }
        format!("{:x}", sha2::Digest::finalize(hasher))
    };
    let shas: Vec<(&str, String)> = vec![
        ("Q8_0", q8.sha256().to_string()),
        ("Q4_K_M", shards_sha),
        ("Q4_1", q4_1.sha256().to_string()),
    ];
    let hub = TestHub::start(vec![(
        REPO,
        public(vec![
            ServedFile::plain("README.md", b"# tiny"),
            ServedFile::lfs(&shard_name(1), Content::File(shard_paths[1].clone())),
            q4_1,
            ServedFile::plain("SmolLM2-135M-Instruct-Q5_0.gguf", HTML_PAGE),
            q8,
            ServedFile::lfs(&shard_name(0), Content::File(shard_paths[0].clone())),
        ]),
    )]);
    let profile_path = sandbox.dir.path().join("tiny.toml");
    std::fs::write(
        &profile_path,
        format!(
            "id = \"tiny\"\ndisplay_name = \"Tiny\"\n\n[source]\nkind = \"hub\"\nrepo = \"{REPO}\"\n\n\
             [[quant]]\nlabel = \"Q8_0\"\n\n[[quant]]\nlabel = \"Q4_K_M\"\n\n\
             [[quant]]\nlabel = \"Q4_1\"\n\n[[quant]]\nlabel = \"Q5_0\"\n\n\
             [[quant]]\nlabel = \"Q4_0\"\nderive_from = \"Q8_0\"\n"
        ),
    )
    .unwrap();
    let registry_path = sandbox.dir.path().join("registry.json");
    let token = "hf_endToEndSecret789";
    let profile_arg = profile_path.display().to_string();
    let registry_arg = registry_path.display().to_string();
    let mut args = vec![
        "bench",
        "--profile",
        &profile_arg,
        "--registry",
        &registry_arg,
    ];
    args.extend_from_slice(SHORT_SETTINGS);

    // A first run writes one quant, which is then filed under another model id so the
    // second run has an earlier entry to keep.
    let mut first = args.clone();
    first.extend(["--quant", "Q4_1"]);
    let output = run_cli(&sandbox, &hub.url, token, &first);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut registry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&registry_path).unwrap()).unwrap();
    let mut earlier = registry["models"]["tiny"].take();
    earlier["id"] = "earlier-model".into();
    registry["models"] = serde_json::json!({ "earlier-model": earlier });
    std::fs::write(&registry_path, registry.to_string()).unwrap();

    let mut second = args.clone();
    second.push("--all-quants");
    let output = run_cli(&sandbox, &hub.url, token, &second);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("quant Q5_0 failed")
            && stderr.contains("is not a GGUF file: starts with `<!DO`, 52 bytes"),
        "{stderr}"
    );
    assert!(!stdout.contains(token), "{stdout}");
    assert!(!stderr.contains(token), "{stderr}");

    let text = std::fs::read_to_string(&registry_path).unwrap();
    assert!(!text.contains(token));
    let registry: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        registry["models"]["earlier-model"]["performance"]["quantizations"]["Q4_1"].is_object(),
        "the earlier entry was lost"
    );
    let quants = &registry["models"]["tiny"]["performance"]["quantizations"];
    let measured: Vec<&String> = quants.as_object().unwrap().keys().collect();
    assert_eq!(measured, ["Q4_0", "Q4_1", "Q4_K_M", "Q8_0"]);
    for (label, sha) in &shas {
        let file = &quants[*label]["file"];
        assert_eq!(file["repo"], REPO, "{label}");
        assert_eq!(file["revision"], COMMIT, "{label}");
        assert_eq!(file["sha256"], sha.as_str(), "{label}");
        assert!(quants[*label]["tps_output"].is_null() || quants[*label]["tps_output"].is_number());
        assert!(
            quants[*label]["generation"][0]["tokens_per_sec"]["mean"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }
    assert_eq!(
        quants["Q8_0"]["file"]["name"],
        "SmolLM2-135M-Instruct-Q8_0.gguf"
    );
    assert_eq!(
        quants["Q8_0"]["file"]["bytes"],
        std::fs::metadata(common::demo_file("Q8_0")).unwrap().len()
    );

    // The split was loaded through shard 1 and recorded with both shards.
    let split = &quants["Q4_K_M"]["file"];
    assert_eq!(split["name"], shard_name(0).as_str());
    assert_eq!(
        split["shards"],
        serde_json::json!([shard_name(0), shard_name(1)])
    );
    assert_eq!(split["bytes"], shard_bytes);

    let derived = &quants["Q4_0"]["file"];
    assert_eq!(derived["name"], "tiny-Q4_0.gguf");
    assert_eq!(derived["derived_from"]["label"], "Q8_0");
    assert_eq!(
        derived["derived_from"]["file"],
        "SmolLM2-135M-Instruct-Q8_0.gguf"
    );
    assert_eq!(derived["derived_from"]["sha256"], shas[0].1.as_str());
    let derived_path = sandbox
        .home()
        .join("slm-quant/derived")
        .join(&shas[0].1)
        .join("tiny-Q4_0.gguf");
    assert_eq!(derived["sha256"], sha256_of(&derived_path).as_str());
}

#[test]
fn full_disk_is_reported() {
    let file = ServedFile::lfs("tiny-Q8_0.gguf", fake_gguf(64 << 10, 3));
    let blob = file.sha256().to_string();
    let hub = TestHub::start(vec![(REPO, public(vec![file]))]);
    let sandbox = Sandbox::new();
    let config = sandbox.config(&hub.url, None, false);
    let profile = sandbox.profile(REPO, "[[quant]]\nlabel = \"Q8_0\"\n");

    // hf-hub appends to `blobs/<etag>.part`; pointing that at /dev/full makes every write
    // fail with ENOSPC, as a full disk does.
    let blobs = sandbox.cache().join("models--test-org--tiny-GGUF/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::os::unix::fs::symlink("/dev/full", blobs.join(format!("{blob}.part"))).unwrap();

    let text = error_text(resolve(&config, &profile, "Q8_0"));
    assert!(
        text.contains("disk full while writing into the Hub cache"),
        "{text}"
    );
    assert!(text.contains("HF_HUB_CACHE"), "{text}");
}
