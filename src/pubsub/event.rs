//! What identifies a pulled event in its message: the words of its routing
//! key and its `message_id` (docs/pubsub.md, "What is published").

use crate::envelope;

/// `(event words, message id)` of a decoded event: a change event (it has a
/// `ChangeEventHeader`) is `<entityName>.<changeType>` and
/// `<transactionKey>-<sequenceNumber>` \[CDCDEL\]; a platform event is its
/// schema's name and its EventUuid (`ProducerEvent.id` \[UUID\]).
pub(super) fn identity(
    json: &serde_json::Value,
    schema_name: &str,
    event_id: &str,
    replay_id: &[u8],
) -> (String, String) {
    if let Some(h) = json.get("ChangeEventHeader") {
        let text = |k: &str| h.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let entity = text("entityName");
        let change = text("changeType");
        let key = text("transactionKey");
        let seq = h.get("sequenceNumber").and_then(serde_json::Value::as_i64);
        let id = match (key.is_empty(), seq) {
            (false, Some(seq)) => format!("{key}-{seq}"),
            _ => fallback_id(event_id, replay_id),
        };
        return (format!("{entity}.{change}"), id);
    }
    let name = if schema_name.is_empty() {
        "event"
    } else {
        schema_name
    };
    (name.to_owned(), fallback_id(event_id, replay_id))
}

/// `id`, or `sha256:<hex>` of it when it is longer than an AMQP short
/// string holds (a publisher-chosen platform event id may be: one such
/// event must not stop the subscription).
pub(super) fn carriable_id(id: String) -> String {
    if id.len() <= envelope::MAX_SHORT_STRING {
        return id;
    }
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(id.as_bytes()))
    )
}

/// The event's id, or `replay:<base64 replay id>` when it has none.
pub(super) fn fallback_id(event_id: &str, replay_id: &[u8]) -> String {
    use base64::Engine as _;
    if event_id.is_empty() {
        format!(
            "replay:{}",
            base64::engine::general_purpose::STANDARD.encode(replay_id)
        )
    } else {
        event_id.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_events_are_named_by_entity_and_change() {
        let json = serde_json::json!({"ChangeEventHeader": {
            "entityName": "Account", "changeType": "UPDATE",
            "transactionKey": "0002a2b9-1f2e", "sequenceNumber": 3}});
        assert_eq!(
            identity(&json, "AccountChangeEvent", "", b"\x01"),
            ("Account.UPDATE".to_owned(), "0002a2b9-1f2e-3".to_owned())
        );
        let pe = serde_json::json!({"CreatedDate": 1});
        assert_eq!(
            identity(&pe, "Order_Placed__e", "e-uuid", b"\x01"),
            ("Order_Placed__e".to_owned(), "e-uuid".to_owned())
        );
        assert_eq!(identity(&pe, "", "", b"\x01\x02").1, "replay:AQI=");
    }

    #[test]
    fn an_overlong_event_id_is_hashed_not_refused() {
        assert_eq!(carriable_id("e".repeat(255)), "e".repeat(255));
        let long = carriable_id("e".repeat(256));
        assert!(
            long.starts_with("sha256:") && long.len() == 7 + 64,
            "{long}"
        );
        assert_ne!(long, carriable_id("f".repeat(256)));
    }
}
