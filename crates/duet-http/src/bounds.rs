//! Bounds on what a customer may put in the live state: every field of a
//! new conversation and of a message, and what one chat may hold from its
//! customer (messages, files, bytes). A request over a bound is refused
//! with 400 (a field) or 413 (a chat that is full), naming the field or
//! the limit; nothing is cut short silently. docs/security.md lists
//! them.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use duet_interactions::Interaction;
use duet_interactions::model::{Content, MessageKind, Sender};

use super::Refusal;
use duet_node::replication::IxRequest;
use duet_node::shared::Shared;

pub const QUEUE_MAX_CHARS: usize = 128;
pub const NAME_MAX_CHARS: usize = 256;
/// An email address may be 254 bytes; a phone number far less.
pub const ADDRESS_MAX_CHARS: usize = 320;
pub const NUMBER_MAX_CHARS: usize = 32;
pub const ATTRIBUTES_MAX: usize = 32;
pub const ATTRIBUTE_NAME_MAX_CHARS: usize = 64;
pub const ATTRIBUTE_VALUE_MAX_CHARS: usize = 1024;
pub const SKILLS_MAX: usize = 16;
pub const SKILL_NAME_MAX_CHARS: usize = 64;
pub const MESSAGE_BODY_MAX_CHARS: usize = 16 * 1024;
pub const MESSAGE_ID_MAX_CHARS: usize = 128;
pub const CALL_ID_MAX_CHARS: usize = 128;
/// What one chat may hold from its customer.
pub const CHAT_CUSTOMER_MESSAGES_MAX: usize = 1_000;
pub const CHAT_CUSTOMER_FILES_MAX: usize = 20;
/// Two files of the largest content by default (25 MiB) and the rest.
pub const CHAT_CUSTOMER_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// A field's length is counted in characters (Unicode scalar values), as
/// the OpenAPI document's `maxLength` counts; a character is at most 4
/// bytes, so a field holds at most 4 times its bound in bytes.
fn too_long(field: &str, value: &str, max_chars: usize) -> Result<(), Refusal> {
    // Cheap first: a value of at most `max_chars` bytes is short enough.
    if value.len() <= max_chars {
        return Ok(());
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("{field} is {chars} characters; at most {max_chars}"),
        ));
    }
    Ok(())
}

/// The fields of a new conversation a customer starts.
pub(super) struct NewFields<'a> {
    pub queue: &'a str,
    pub name: &'a str,
    pub address: &'a str,
    pub skills: &'a BTreeMap<String, u32>,
    pub attributes: &'a BTreeMap<String, String>,
}

pub(super) fn new_conversation(fields: &NewFields<'_>) -> Result<(), Refusal> {
    too_long("queue", fields.queue, QUEUE_MAX_CHARS)?;
    too_long("name", fields.name, NAME_MAX_CHARS)?;
    too_long("address", fields.address, ADDRESS_MAX_CHARS)?;
    if fields.skills.len() > SKILLS_MAX {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!(
                "skills: {} given; at most {SKILLS_MAX}",
                fields.skills.len()
            ),
        ));
    }
    for skill in fields.skills.keys() {
        too_long("a skill's name", skill, SKILL_NAME_MAX_CHARS)?;
    }
    if fields.attributes.len() > ATTRIBUTES_MAX {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!(
                "attributes: {} given; at most {ATTRIBUTES_MAX}",
                fields.attributes.len()
            ),
        ));
    }
    for (name, value) in fields.attributes {
        too_long("an attribute's name", name, ATTRIBUTE_NAME_MAX_CHARS)?;
        too_long(
            &format!("attribute {name:?}"),
            value,
            ATTRIBUTE_VALUE_MAX_CHARS,
        )?;
    }
    Ok(())
}

pub(super) fn number(number: &str) -> Result<(), Refusal> {
    too_long("number", number, NUMBER_MAX_CHARS)
}

/// A call's id from the telephony platform: given, and bounded.
pub(super) fn call_id(call_id: &str) -> Result<(), Refusal> {
    if call_id.is_empty() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "call_id: the telephony platform's id for the call is needed",
        ));
    }
    too_long("call_id", call_id, CALL_ID_MAX_CHARS)
}

/// A message's id and body.
pub(super) fn message(message_id: &str, body: &str) -> Result<(), Refusal> {
    too_long("message_id", message_id, MESSAGE_ID_MAX_CHARS)?;
    too_long("body", body, MESSAGE_BODY_MAX_CHARS)
}

/// Whether the chat has room for one more message (`file_bytes`: a
/// file's size) from its customer.
pub(super) fn chat_has_room(ix: &Interaction, file_bytes: Option<u64>) -> Result<(), Refusal> {
    let Content::Transcript(transcript) = &ix.content else {
        return Ok(());
    };
    let (mut messages, mut files, mut bytes) = (0usize, 0usize, 0u64);
    for m in transcript.iter().filter(|m| m.sender == Sender::Customer) {
        messages += 1;
        bytes += m.body.len() as u64;
        if let MessageKind::File(file) = &m.kind {
            files += 1;
            bytes += file.size_bytes;
        }
    }
    let full = |what: String| Err(Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, what));
    if messages >= CHAT_CUSTOMER_MESSAGES_MAX {
        return full(format!(
            "this chat holds {CHAT_CUSTOMER_MESSAGES_MAX} messages from its customer, its limit; start a new chat"
        ));
    }
    if let Some(size) = file_bytes {
        if files >= CHAT_CUSTOMER_FILES_MAX {
            return full(format!(
                "this chat holds {CHAT_CUSTOMER_FILES_MAX} files from its customer, its limit"
            ));
        }
        bytes += size;
    }
    if bytes > CHAT_CUSTOMER_BYTES_MAX {
        return full(format!(
            "this chat would hold more than {CHAT_CUSTOMER_BYTES_MAX} bytes from its customer, its limit"
        ));
    }
    Ok(())
}

/// Refuses a customer's message (or file of `file_bytes`) to a chat that
/// holds its customer's limit already. A chat that is not there is left
/// to the change to refuse.
pub(super) async fn room_in_chat(
    shared: &Shared,
    id: &str,
    file_bytes: Option<u64>,
) -> Result<(), Refusal> {
    let wanted = id.to_string();
    match super::ask(shared, |reply| IxRequest::Get { id: wanted, reply }).await? {
        Some(ix) => chat_has_room(&ix, file_bytes),
        None => Ok(()),
    }
}

/// The priority a customer may give its new conversation in `queue`.
pub(super) async fn allowed_priority(
    shared: &Shared,
    queue: &str,
    asked: i32,
) -> Result<i32, Refusal> {
    if asked == 0 {
        return Ok(0);
    }
    let Ok(path) =
        duet_config::TreePath::parse(&format!("{}/{queue}", duet_node::directory::WORKGROUPS))
    else {
        return Ok(0);
    };
    let workgroup = super::config_object(shared, path).await?;
    let max = workgroup
        .as_ref()
        .and_then(|o| o.attributes.get(CUSTOMER_PRIORITY_MAX))
        .map(String::as_str);
    Ok(customer_priority(asked, max))
}

/// The workgroup attribute that lets customers set a priority up to it.
pub const CUSTOMER_PRIORITY_MAX: &str = "customer_priority_max";

/// The priority a customer's conversation gets: what it asked for within
/// the queue's `customer_priority_max` (a workgroup attribute; absent or
/// not a number: 0, so customers cannot jump the queue).
pub(super) fn customer_priority(asked: i32, customer_priority_max: Option<&str>) -> i32 {
    let max = customer_priority_max
        .and_then(|m| m.trim().parse::<i32>().ok())
        .unwrap_or(0)
        .max(0);
    asked.clamp(0, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_over_its_bound_is_refused_by_name() {
        let long = "x".repeat(NAME_MAX_CHARS + 1);
        let none = BTreeMap::new();
        let fields = NewFields {
            queue: "Sales",
            name: &long,
            address: "",
            skills: &BTreeMap::new(),
            attributes: &none,
        };
        let refusal = new_conversation(&fields).unwrap_err();
        assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
        assert!(
            refusal
                .message
                .starts_with("name is 257 characters; at most 256")
        );
        let many: BTreeMap<String, String> = (0..=ATTRIBUTES_MAX)
            .map(|i| (format!("a{i}"), String::new()))
            .collect();
        let fields = NewFields {
            name: "Carol",
            attributes: &many,
            ..fields
        };
        assert!(
            new_conversation(&fields)
                .unwrap_err()
                .message
                .contains("attributes: 33")
        );
        let body = "b".repeat(MESSAGE_BODY_MAX_CHARS + 1);
        assert!(
            message("m1", &body)
                .unwrap_err()
                .message
                .starts_with("body is")
        );
        assert!(message("m1", "hello").is_ok());
    }

    #[test]
    fn customers_cannot_jump_the_queue_unless_it_allows_them() {
        assert_eq!(customer_priority(i32::MAX, None), 0);
        assert_eq!(customer_priority(5, Some("nonsense")), 0);
        assert_eq!(customer_priority(i32::MAX, Some("3")), 3);
        assert_eq!(customer_priority(2, Some("3")), 2);
        assert_eq!(customer_priority(-9, Some("3")), 0);
    }
}
