//! The provider catalog: for each route kind, where its signature, id and
//! event name travel and which handshake it answers (`hookgate providers`,
//! the README's kinds table). Source of each row: the provider's own
//! documentation and SDK, as `../shared/docs/PROVIDERS.md` cites them.

use crate::config::RouteKind;

/// What `hookgate providers` prints of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    /// The kind (its config name is [`RouteKind::as_str`]).
    pub kind: RouteKind,
    /// The headers (or body members) the signature travels in, and what
    /// is signed.
    pub signature: &'static str,
    /// Where the idempotency key comes from.
    pub id: &'static str,
    /// Where the event name (routing key `<route>.<event>`) comes from.
    pub event: &'static str,
    /// The handshake answered at the edge (never queued), `-` for none.
    pub handshake: &'static str,
    /// The provider document the scheme is taken from.
    pub source: &'static str,
}

/// Every kind's row, in [`RouteKind::ALL`] order.
const CATALOG: [Provider; RouteKind::ALL.len()] = [
        // --- the kinds before the catalog ---
    Provider {
            kind: RouteKind::SalesforceOm,
            signature: "none: Organization ID in the SOAP body (optionally a client certificate)",
            id: "each Notification's `Id`",
            event: "the sObject type (`sObject xsi:type`)",
            handshake: "-",
            source: "Salesforce Outbound Messaging (docs/SALESFORCE.md)",
        },
    Provider {
            kind: RouteKind::Github,
            signature: "`X-Hub-Signature-256`: `sha256=` hex HMAC-SHA256 of the body",
            id: "`X-GitHub-Delivery`",
            event: "`X-GitHub-Event`",
            handshake: "-",
            source: "GitHub: Validating webhook deliveries",
        },
    Provider {
            kind: RouteKind::Stripe,
            signature: "`Stripe-Signature: t=..,v1=..`: hex HMAC-SHA256 of `{t}.{body}`",
            id: "body `id`",
            event: "body `type`",
            handshake: "-",
            source: "Stripe: Verify webhook signatures",
        },
    Provider {
            kind: RouteKind::Slack,
            signature: "`X-Slack-Signature` `v0=` hex HMAC-SHA256 of `v0:{ts}:{body}`, `X-Slack-Request-Timestamp`",
            id: "body `event_id`",
            event: "body `event.type`",
            handshake: "signed `url_verification` -> 200 `{\"challenge\":C}`",
            source: "Slack: Verifying requests from Slack",
        },
    Provider {
            kind: RouteKind::Shopify,
            signature: "`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the body",
            id: "`X-Shopify-Webhook-Id`",
            event: "`X-Shopify-Topic`",
            handshake: "-",
            source: "Shopify: Verify webhooks",
        },
    Provider {
            kind: RouteKind::StandardWebhooks,
            signature: "`webhook-signature` `v1,` base64 HMAC-SHA256 of `{id}.{ts}.{body}` (`svix-*` too)",
            id: "`webhook-id`",
            event: "body `type`",
            handshake: "-",
            source: "Standard Webhooks specification",
        },
    Provider {
            kind: RouteKind::GenericHmac,
            signature: "configured `header`: HMAC of the configured `signed_payload`",
            id: "`id_header`, else sha256 of body",
            event: "`event_header`",
            handshake: "-",
            source: "README: generic_hmac",
        },
        // --- asymmetric keys and signed URLs ---
    Provider {
            kind: RouteKind::Twilio,
            signature: "`X-Twilio-Signature`: base64 HMAC-SHA1 of the public URL + sorted form params (JSON: `bodySHA256` query)",
            id: "`I-Twilio-Idempotency-Token`, else sha256 of body",
            event: "form `MessageStatus` / `SmsStatus` / `CallStatus` when sent",
            handshake: "-",
            source: "Twilio: Webhooks security; twilio-python request_validator.py",
        },
    Provider {
            kind: RouteKind::Hubspot,
            signature: "`X-HubSpot-Signature-v3`: base64 HMAC-SHA256 of method + URI (public_url + query, 12 escapes decoded) + body + `X-HubSpot-Request-Timestamp` (ms)",
            id: "one event: `eventId`; several: sha256 of body",
            event: "`subscriptionType` (when every event shares it)",
            handshake: "-",
            source: "HubSpot: Validating requests",
        },
    Provider {
            kind: RouteKind::Square,
            signature: "`x-square-hmacsha256-signature`: base64 HMAC-SHA256 of `{public_url}{body}`",
            id: "body `event_id`",
            event: "body `type`",
            handshake: "-",
            source: "Square: Validate webhook notifications",
        },
    Provider {
            kind: RouteKind::Discord,
            signature: "`X-Signature-Ed25519`: hex Ed25519 over `{X-Signature-Timestamp}{body}`",
            id: "interactions: body `id`; events: sha256 of body",
            event: "interactions: `type` name + `.data.name`; events: `event.type`",
            handshake: "PING -> `{\"type\":1}` (interactions) or 204 (webhook_events)",
            source: "Discord: Interactions, Webhook Events",
        },
    Provider {
            kind: RouteKind::Sendgrid,
            signature: "`X-Twilio-Email-Event-Webhook-Signature`: base64 DER ECDSA P-256 over `{timestamp}{body}`",
            id: "one event: `sg_event_id`; several: sha256 of body",
            event: "`event` (when every event shares it)",
            handshake: "-",
            source: "SendGrid: Event Webhook security features",
        },
        // --- handshakes at the edge ---
    Provider {
            kind: RouteKind::Zoom,
            signature: "`x-zm-signature` `v0=` hex HMAC-SHA256 of `v0:{ts}:{body}`, `x-zm-request-timestamp`",
            id: "sha256 of body",
            event: "body `event`",
            handshake: "`endpoint.url_validation` -> `{\"plainToken\",\"encryptedToken\"}`",
            source: "Zoom: Using webhooks",
        },
    Provider {
            kind: RouteKind::Meta,
            signature: "`X-Hub-Signature-256`: `sha256=` hex HMAC-SHA256 of the body",
            id: "sha256 of body",
            event: "body `object`",
            handshake: "GET `hub.mode=subscribe&hub.verify_token=V&hub.challenge=C` -> 200 `C` (wrong V: 401)",
            source: "Meta: Webhooks getting started",
        },
    Provider {
            kind: RouteKind::Twitch,
            signature: "`Twitch-Eventsub-Message-Signature` `sha256=` hex HMAC-SHA256 of `{id}{timestamp}{body}`",
            id: "`Twitch-Eventsub-Message-Id`",
            event: "`Twitch-Eventsub-Subscription-Type`",
            handshake: "`webhook_callback_verification` -> 200 text/plain challenge",
            source: "Twitch: EventSub webhook events",
        },
    Provider {
            kind: RouteKind::X,
            signature: "`x-twitter-webhooks-signature`: `sha256=` base64 HMAC-SHA256 of the body",
            id: "sha256 of body",
            event: "the top-level `*_events` key",
            handshake: "GET `crc_token=T` -> `{\"response_token\":\"sha256=..\"}`",
            source: "X: Account Activity API, securing webhooks",
        },
    Provider {
            kind: RouteKind::MicrosoftGraph,
            signature: "none: every `value[].clientState` equals a secret",
            id: "`value[].id` of a one-notification batch, else sha256 of body",
            event: "first `value[].changeType` (lifecycle: `lifecycleEvent`)",
            handshake: "POST `validationToken=T` -> 200 text/plain T",
            source: "Microsoft Graph: change notifications through webhooks",
        },
    Provider {
            kind: RouteKind::Dropbox,
            signature: "`X-Dropbox-Signature`: hex HMAC-SHA256 of the body",
            id: "sha256 of body",
            event: "`list_folder`",
            handshake: "GET `challenge=C` -> 200 text/plain C",
            source: "Dropbox: Webhooks",
        },
    Provider {
            kind: RouteKind::Okta,
            signature: "a header (default `Authorization`) equals a secret",
            id: "body `eventId`",
            event: "first `data.events[].eventType`",
            handshake: "GET with `X-Okta-Verification-Challenge: V` -> `{\"verification\":\"V\"}`",
            source: "Okta: Event hooks",
        },
        // --- HMAC presets ---
    Provider {
            kind: RouteKind::Paddle,
            signature: "`Paddle-Signature: ts=..;h1=..[;h1=..]`: hex HMAC-SHA256 of `{ts}:{body}`; 5 s",
            id: "body `event_id`",
            event: "body `event_type`",
            handshake: "-",
            source: "Paddle: Verify webhook signatures",
        },
    Provider {
            kind: RouteKind::Linear,
            signature: "`Linear-Signature`: hex HMAC-SHA256 of the body; body `webhookTimestamp` (ms), 60 s",
            id: "`Linear-Delivery`, else sha256 of body",
            event: "`Linear-Event`, else body `type`",
            handshake: "-",
            source: "Linear: Webhooks",
        },
    Provider {
            kind: RouteKind::Intercom,
            signature: "`X-Hub-Signature`: `sha1=` hex HMAC-SHA1 of the body",
            id: "body `id`",
            event: "body `topic`",
            handshake: "-",
            source: "Intercom: Webhooks, signed notifications",
        },
    Provider {
            kind: RouteKind::Gitlab,
            signature: "`X-Gitlab-Token` equals a secret",
            id: "`Idempotency-Key`, else `X-Gitlab-Event-UUID`",
            event: "`X-Gitlab-Event`",
            handshake: "-",
            source: "GitLab: Webhooks",
        },
    Provider {
            kind: RouteKind::Bitbucket,
            signature: "`X-Hub-Signature`: `sha256=` hex HMAC-SHA256 of the body",
            id: "`X-Request-UUID`",
            event: "`X-Event-Key`",
            handshake: "-",
            source: "Bitbucket Cloud: Manage webhooks",
        },
    Provider {
            kind: RouteKind::Pagerduty,
            signature: "`X-PagerDuty-Signature: v1=..[,v1=..]`: hex HMAC-SHA256 of the body",
            id: "`X-Webhook-Id`, else body `event.id`",
            event: "body `event.event_type`",
            handshake: "-",
            source: "PagerDuty: Verifying signatures (v3)",
        },
    Provider {
            kind: RouteKind::Calendly,
            signature: "`Calendly-Webhook-Signature: t=..,v1=..`: hex HMAC-SHA256 of `{t}.{body}`",
            id: "sha256 of body",
            event: "body `event`",
            handshake: "-",
            source: "Calendly: Webhook signatures",
        },
    Provider {
            kind: RouteKind::Typeform,
            signature: "`Typeform-Signature`: `sha256=` base64 HMAC-SHA256 of the body",
            id: "body `event_id`",
            event: "body `event_type`",
            handshake: "-",
            source: "Typeform: Secure your webhooks",
        },
    Provider {
            kind: RouteKind::Docusign,
            signature: "`X-DocuSign-Signature-N`: base64 HMAC-SHA256 of the body",
            id: "sha256 of body",
            event: "body `event`",
            handshake: "-",
            source: "DocuSign Connect: HMAC security",
        },
    Provider {
            kind: RouteKind::Mailgun,
            signature: "body `signature.{timestamp,token,signature}`: hex HMAC-SHA256 of `{timestamp}{token}` (body not covered)",
            id: "body `event-data.id`, else `signature.token`",
            event: "body `event-data.event`",
            handshake: "-",
            source: "Mailgun: Securing webhooks",
        },
];

/// The catalog row of `kind`.
pub fn describe(kind: RouteKind) -> Provider {
    CATALOG
        .into_iter()
        .find(|p| p.kind == kind)
        .unwrap_or(Provider {
            kind,
            signature: "-",
            id: "-",
            event: "-",
            handshake: "-",
            source: "-",
        })
}

/// Every kind's row, in [`RouteKind::ALL`] order.
pub fn all() -> impl Iterator<Item = Provider> {
    RouteKind::ALL.into_iter().map(describe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_row() {
        for kind in RouteKind::ALL {
            let rows = CATALOG.iter().filter(|p| p.kind == kind).count();
            assert_eq!(rows, 1, "{}", kind.as_str());
        }
    }
}
