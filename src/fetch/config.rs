//! Hub settings read from the environment variables Hugging Face users already set.

use std::fmt;
use std::path::PathBuf;

/// Endpoint used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A Hub access token. Its `Debug` and `Display` forms print `<redacted>` in place of the
/// value, so formatting a config or an error cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Returns the secret itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Hub endpoint, cache folders and credentials.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Base URL without a trailing `/` (`HF_ENDPOINT`).
    pub endpoint: String,
    /// `HF_HOME`: contains the token file and the folder of derived quants.
    pub hf_home: PathBuf,
    /// Hub cache in the layout the official client uses (`HF_HUB_CACHE`, else `HF_HOME/hub`).
    pub cache_dir: PathBuf,
    /// `HF_TOKEN`, else the token file the official CLI writes (`HF_TOKEN_PATH`, else
    /// `HF_HOME/token`).
    pub token: Option<Token>,
    /// `HF_HUB_OFFLINE`: use the cache only and send no request.
    pub offline: bool,
}

impl HubConfig {
    /// Reads the settings from the process environment.
    pub fn from_env() -> HubConfig {
        HubConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value or `None`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> HubConfig {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let hf_home = set("HF_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(default_hf_home);
        let cache_dir = set("HF_HUB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("hub"));
        let endpoint = set("HF_ENDPOINT")
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
            .trim_end_matches('/')
            .to_string();
        let token_path = set("HF_TOKEN_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("token"));
        let token = set("HF_TOKEN")
            .or_else(|| std::fs::read_to_string(&token_path).ok())
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
            .map(Token);
        let offline = set("HF_HUB_OFFLINE").is_some_and(|value| is_true(&value));

        HubConfig {
            endpoint,
            hf_home,
            cache_dir,
            token,
            offline,
        }
    }
}

/// Returns whether `value` is one that `huggingface_hub` accepts as true for its boolean
/// variables.
fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "on" | "yes" | "true"
    )
}

fn default_hf_home() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("huggingface")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> HubConfig {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn hub_cache_defaults_under_hf_home() {
        let found = config(&[("HF_HOME", "/data/hf")]);
        assert_eq!(found.cache_dir, PathBuf::from("/data/hf/hub"));
        assert_eq!(found.endpoint, DEFAULT_ENDPOINT);
        assert!(!found.offline);
    }

    #[test]
    fn hub_cache_variable_wins() {
        let found = config(&[("HF_HOME", "/data/hf"), ("HF_HUB_CACHE", "/fast/hub")]);
        assert_eq!(found.cache_dir, PathBuf::from("/fast/hub"));
    }

    #[test]
    fn endpoint_loses_trailing_slash() {
        let found = config(&[("HF_HOME", "/h"), ("HF_ENDPOINT", "http://127.0.0.1:9/")]);
        assert_eq!(found.endpoint, "http://127.0.0.1:9");
    }

    #[test]
    fn offline_accepts_usual_spellings() {
        for value in ["1", "true", "ON", "yes"] {
            assert!(config(&[("HF_HOME", "/h"), ("HF_HUB_OFFLINE", value)]).offline);
        }
        for value in ["0", "false", "no"] {
            assert!(!config(&[("HF_HOME", "/h"), ("HF_HUB_OFFLINE", value)]).offline);
        }
    }

    #[test]
    fn token_variable_beats_token_file() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("token"), "hf_from_file\n").unwrap();
        let home_text = home.path().to_str().unwrap();

        let from_file = config(&[("HF_HOME", home_text)]);
        assert_eq!(from_file.token.unwrap().expose(), "hf_from_file");

        let from_variable = config(&[("HF_HOME", home_text), ("HF_TOKEN", "hf_variable")]);
        assert_eq!(from_variable.token.unwrap().expose(), "hf_variable");
    }

    #[test]
    fn token_is_redacted_in_debug_output() {
        let found = config(&[("HF_HOME", "/h"), ("HF_TOKEN", "hf_secret_value")]);
        let shown = format!("{found:?}");
        assert!(!shown.contains("hf_secret_value"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
