//! Media types and parties.

use serde::{Deserialize, Serialize};

/// The kind of an interaction; capacities and logins are per media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    Call,
    Chat,
    Email,
    Callback,
    Sms,
    SocialConversation,
    SocialDirectMessage,
}

impl MediaType {
    pub const ALL: [MediaType; 7] = [
        MediaType::Call,
        MediaType::Chat,
        MediaType::Email,
        MediaType::Callback,
        MediaType::Sms,
        MediaType::SocialConversation,
        MediaType::SocialDirectMessage,
    ];

    /// Whether a second agent may join (a conference): calls and chats.
    pub fn allows_conference(self) -> bool {
        matches!(self, MediaType::Call | MediaType::Chat)
    }

    /// Whether the interaction keeps a transcript of messages.
    pub fn has_transcript(self) -> bool {
        matches!(
            self,
            MediaType::Chat
                | MediaType::Sms
                | MediaType::SocialConversation
                | MediaType::SocialDirectMessage
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            MediaType::Call => "call",
            MediaType::Chat => "chat",
            MediaType::Email => "email",
            MediaType::Callback => "callback",
            MediaType::Sms => "sms",
            MediaType::SocialConversation => "social_conversation",
            MediaType::SocialDirectMessage => "social_direct_message",
        }
    }
}

impl std::fmt::Display for MediaType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Someone on an interaction outside the contact center: an address (a
/// phone number, an email address, a chat visitor id) and a display name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Party {
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub address: super::Name,
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub name: super::Name,
}
