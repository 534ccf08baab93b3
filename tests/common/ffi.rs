//! For tests that drive the C ABI from Rust: the thread's last error.

use std::path::Path;

use propwash::ffi::{pw_last_error, PwResult};

/// The calling thread's last error message (`pw_last_error`).
pub(crate) fn last_error() -> String {
    let mut buf = [0u8; 1024];
    let mut len = 0usize;
    let r = unsafe { pw_last_error(buf.as_mut_ptr(), buf.len(), &mut len) };
    assert_eq!(r, PwResult::Ok, "pw_last_error");
    String::from_utf8(buf[..len].to_vec()).expect("last error is UTF-8")
}

/// Asserts a result and that the thread's last error contains `needle`.
#[track_caller]
pub(crate) fn expect_err(r: PwResult, code: PwResult, needle: &str) {
    assert_eq!(r, code, "{}", last_error());
    let e = last_error();
    assert!(
        e.contains(needle),
        "last error {e:?} should mention {needle:?}"
    );
}

/// A path as the `&str` a `PwStr` argument takes.
pub(crate) fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// The text keys and values of a `props` layout (a removed key as `null`),
/// as JSON, from `PW_EVENT_KIND_PROPERTIES_CHANGED`'s data (after its
/// 8-byte settings change) or a welcome.
pub(crate) fn props_json(data: &[u8]) -> serde_json::Value {
    let mut r = propwash::proto::wire::Reader::new(data);
    let changes = propwash::proto::room::read_changes(&mut r).expect("a props layout");
    assert_eq!(r.remaining(), 0, "bytes after the props");
    let map: serde_json::Map<String, serde_json::Value> = changes
        .into_iter()
        .map(|(k, v)| {
            let k = String::from_utf8(k).expect("a text key");
            let v = v.map_or(serde_json::Value::Null, |v| {
                serde_json::Value::String(String::from_utf8(v).expect("a text value"))
            });
            (k, v)
        })
        .collect();
    serde_json::Value::Object(map)
}

/// The changed properties of a PROPERTIES_CHANGED event's data, as JSON.
pub(crate) fn changed_json(data: &[u8]) -> serde_json::Value {
    assert!(data.len() >= 8, "a settings change first");
    props_json(&data[8..])
}

/// A `player` layout (PLAYER_JOINED's data) as JSON: `actor`, `role` (the
/// `PwRole` number), `seat` (null: none), `verified`, `name`, `player_id`,
/// `steam_id` (null: none), `props`; and the bytes after it.
pub(crate) fn player_json(data: &[u8]) -> (serde_json::Value, &[u8]) {
    use propwash::proto::wire::Reader;
    let mut r = Reader::new(data);
    let actor = r.u32("actor").expect("actor");
    let role = r.u8("role").expect("role");
    let seat = r.u8("seat").expect("seat");
    let verified = r.u8("verified").expect("verified") == 1;
    let mut text = |what: &'static str| {
        let n = usize::from(r.u8(what).expect("a length"));
        String::from_utf8(r.bytes(n, what).expect("text").to_vec()).expect("UTF-8")
    };
    let (name, player_id, steam_id) = (text("name"), text("player_id"), text("steam_id"));
    let changes = propwash::proto::room::read_changes(&mut r).expect("props");
    let props: serde_json::Map<String, serde_json::Value> = changes
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                v.map_or(serde_json::Value::Null, |v| {
                    String::from_utf8_lossy(&v).into_owned().into()
                }),
            )
        })
        .collect();
    let rest = r.rest();
    let json = serde_json::json!({
        "actor": actor,
        "role": role,
        "seat": (seat != 0xff).then_some(seat),
        "verified": verified,
        "name": name,
        "player_id": player_id,
        "steam_id": (!steam_id.is_empty()).then_some(steam_id),
        "props": props,
    });
    (json, rest)
}
