//! The public profile picture URL of a Steam id (the game's
//! `profile-photo-url`), read from the public profile data
//! (`<base>/profiles/<id>?xml=1`, its `<avatarFull>`), with a short timeout
//! and a cache: a failed fetch keeps the URL known before.
//!
//! Fetching blocks for up to the timeout: call it from a worker thread (the
//! runtime's, or the command line), never from the game thread. Reading the
//! cache ([`cached_avatar_url`]) never blocks.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use once_cell::sync::Lazy;
use parking_lot::Mutex;

/// Where public Steam profiles are served.
pub const STEAM_COMMUNITY: &str = "https://steamcommunity.com";
/// How long one fetch may take, connecting included.
pub const AVATAR_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest profile document read.
const MAX_PROFILE_BYTES: u64 = 512 * 1024;

/// Why no avatar URL could be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AvatarError {
    /// The request failed (no network, timeout, HTTP error status).
    Http {
        /// The URL asked.
        url: String,
        /// What went wrong.
        error: String,
    },
    /// The profile data had no usable `<avatarFull>`.
    NoAvatar {
        /// The URL asked.
        url: String,
        /// What the document said instead.
        detail: String,
    },
}

impl fmt::Display for AvatarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AvatarError::Http { url, error } => write!(f, "{url}: {error}"),
            AvatarError::NoAvatar { url, detail } => write!(f, "{url}: no avatar: {detail}"),
        }
    }
}

impl std::error::Error for AvatarError {}

/// The profile-data URL of `steam_id` under `base`.
pub fn profile_xml_url(base: &str, steam_id: u64) -> String {
    format!("{}/profiles/{steam_id}?xml=1", base.trim_end_matches('/'))
}

/// Fetches the avatar URL of `steam_id` from `base` (normally
/// [`STEAM_COMMUNITY`]). Blocks up to `timeout`.
pub fn fetch_avatar_url(
    base: &str,
    steam_id: u64,
    timeout: Duration,
) -> Result<String, AvatarError> {
    let url = profile_xml_url(base, steam_id);
    let http = |error: String| AvatarError::Http {
        url: url.clone(),
        error,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(3)
        .user_agent("propwash")
        .build()
        .into();
    let mut response = agent.get(&url).call().map_err(|e| http(e.to_string()))?;
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_PROFILE_BYTES)
        .read_to_string()
        .map_err(|e| http(e.to_string()))?;
    avatar_from_profile_xml(&body).map_err(|detail| AvatarError::NoAvatar {
        url: url.clone(),
        detail,
    })
}

/// The `<avatarFull>` URL in a profile document, or what the document says
/// instead (its `<error>`, or that the element is missing or odd).
pub fn avatar_from_profile_xml(xml: &str) -> Result<String, String> {
    let Some(value) = element_text(xml, "avatarFull") else {
        return Err(match element_text(xml, "error") {
            Some(e) => e,
            None => "the profile data has no <avatarFull>".into(),
        });
    };
    let ok_scheme = value.starts_with("https://") || value.starts_with("http://");
    let ok_chars = !value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>'));
    if ok_scheme && ok_chars && value.len() <= 2048 {
        Ok(value)
    } else {
        Err(format!("<avatarFull> is not a web address: {value:?}"))
    }
}

/// The text of the first `<tag>...</tag>`, CDATA unwrapped and trimmed.
fn element_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let inner = xml[start..end].trim();
    let inner = inner
        .strip_prefix("<![CDATA[")
        .and_then(|s| s.strip_suffix("]]>"))
        .unwrap_or(inner);
    Some(inner.trim().to_string())
}

/// Avatar URLs by Steam id, kept across failed fetches.
#[derive(Debug)]
pub struct AvatarCache {
    base: String,
    timeout: Duration,
    known: Mutex<HashMap<u64, String>>,
}

impl AvatarCache {
    /// A cache fetching from `base` with `timeout` per fetch.
    pub fn new(base: &str, timeout: Duration) -> AvatarCache {
        AvatarCache {
            base: base.to_string(),
            timeout,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The URL known for `steam_id`, without fetching.
    pub fn get(&self, steam_id: u64) -> Option<String> {
        self.known.lock().get(&steam_id).cloned()
    }

    /// Remembers a URL learned elsewhere (e.g. the game's own file).
    pub fn remember(&self, steam_id: u64, url: String) {
        self.known.lock().insert(steam_id, url);
    }

    /// Fetches the URL afresh; on failure logs why and keeps the previous
    /// value. Returns the URL known afterwards. Blocks up to the timeout.
    pub fn refresh(&self, steam_id: u64) -> Option<String> {
        match fetch_avatar_url(&self.base, steam_id, self.timeout) {
            Ok(url) => {
                self.remember(steam_id, url.clone());
                Some(url)
            }
            Err(e) => {
                tracing::warn!(error = %e, steam_id, "avatar fetch failed; keeping the previous one");
                self.get(steam_id)
            }
        }
    }
}

static CACHE: Lazy<AvatarCache> = Lazy::new(|| AvatarCache::new(STEAM_COMMUNITY, AVATAR_TIMEOUT));

/// The process-wide cached avatar URL of `steam_id`; never blocks.
pub fn cached_avatar_url(steam_id: u64) -> Option<String> {
    CACHE.get(steam_id)
}

/// Refreshes the process-wide cache from Steam Community; blocks up to
/// [`AVATAR_TIMEOUT`]. Returns the URL known afterwards.
pub fn refresh_avatar_url(steam_id: u64) -> Option<String> {
    CACHE.refresh(steam_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_avatar_full_with_or_without_cdata() {
        let xml = "<profile><avatarIcon><![CDATA[https://a/i.jpg]]></avatarIcon>\
                   <avatarFull>\n<![CDATA[https://avatars.example/x_full.jpg]]>\n</avatarFull></profile>";
        assert_eq!(
            avatar_from_profile_xml(xml).unwrap(),
            "https://avatars.example/x_full.jpg"
        );
        assert_eq!(
            avatar_from_profile_xml("<avatarFull>http://h/p.jpg</avatarFull>").unwrap(),
            "http://h/p.jpg"
        );
    }

    #[test]
    fn explains_a_missing_or_odd_avatar() {
        let err = avatar_from_profile_xml(
            "<response><error><![CDATA[The specified profile could not be found.]]></error></response>",
        )
        .unwrap_err();
        assert_eq!(err, "The specified profile could not be found.");
        let err =
            avatar_from_profile_xml("<avatarFull>javascript:alert(1)</avatarFull>").unwrap_err();
        assert!(err.contains("not a web address"), "{err}");
        assert!(avatar_from_profile_xml("<html>login</html>").is_err());
    }

    #[test]
    fn profile_url_shape() {
        assert_eq!(
            profile_xml_url("https://steamcommunity.com/", 76_561_198_000_000_001),
            "https://steamcommunity.com/profiles/76561198000000001?xml=1"
        );
    }
}
