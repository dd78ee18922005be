//! What a takeover keeps, by media: the seed's "... Interaction Recovery
//! Enabled" server parameters. duet's default keeps everything; a media
//! turned off gets the seed's behaviour before recovery existed, so the
//! difference can be shown.

use serde::{Deserialize, Serialize};

use super::interaction::Interaction;
use super::media::MediaType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Recovery {
    /// Mail Interaction Recovery Enabled (off: requeued as a new email).
    pub mail: bool,
    /// Mail Interaction Recovery Filter Enabled: only emails already
    /// assigned to an agent are recovered; the others are requeued as new,
    /// "from the mailbox as normal".
    pub mail_filter: bool,
    /// Chat Interaction Recovery Enabled (off: the customer is asked to
    /// start again).
    pub chat: bool,
    /// Callback Interaction Recovery Enabled (off: the callback is lost).
    pub callback: bool,
    /// SMS Interaction Recovery Enabled (off: as chat).
    pub sms: bool,
    /// Socialconversation Interaction Recovery Enabled (off: ended; a new
    /// reply from the customer starts a new one).
    pub social_conversation: bool,
    /// Directmessage Interaction Recovery Enabled (off: as conversations).
    pub direct_message: bool,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            mail: true,
            mail_filter: false,
            chat: true,
            callback: true,
            sms: true,
            social_conversation: true,
            direct_message: true,
        }
    }
}

impl Recovery {
    /// Whether a takeover keeps `ix` as it is. Calls belong to the
    /// telephony platform, which keeps them.
    pub fn recovers(&self, ix: &Interaction) -> bool {
        self.keeps(ix.media, assigned(ix))
    }

    /// Whether a takeover keeps an interaction of `media` that was
    /// (`assigned`) or was never assigned to an agent: what a reader of
    /// the change stream, which holds no [`Interaction`], decides by.
    pub fn keeps(&self, media: MediaType, assigned: bool) -> bool {
        match media {
            MediaType::Call => true,
            MediaType::Email => self.mail && (!self.mail_filter || assigned),
            MediaType::Chat => self.chat,
            MediaType::Callback => self.callback,
            MediaType::Sms => self.sms,
            MediaType::SocialConversation => self.social_conversation,
            MediaType::SocialDirectMessage => self.direct_message,
        }
    }
}

/// Whether an email was ever assigned to an agent (offered, connected, or
/// moved to an agent's queue): what the seed's mail filter shadows.
fn assigned(ix: &Interaction) -> bool {
    ix.state.owner().is_some() || ix.segments.iter().any(|s| s.agent.is_some())
}
