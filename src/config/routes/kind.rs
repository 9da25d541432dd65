//! The route kinds: which sender's scheme a route verifies, and what each
//! kind needs of its route (see `../shared/docs/PROVIDERS.md`).

use serde::Deserialize;

use super::DEFAULT_TOLERANCE_S;

/// The kind of sender a route verifies; decides the signature scheme,
/// idempotency key and event name (see `../shared/docs/PROVIDERS.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// Salesforce SOAP Outbound Messages (no signature: Organization ID check).
    SalesforceOm,
    /// GitHub: `X-Hub-Signature-256`.
    Github,
    /// Stripe: `Stripe-Signature` with `t=` and `v1=`.
    Stripe,
    /// Slack: `X-Slack-Signature` over `v0:{ts}:{body}`.
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256`, base64.
    Shopify,
    /// Standard Webhooks (and Svix): `webhook-*` or `svix-*` headers.
    StandardWebhooks,
    /// Any HMAC scheme described by the route's keys.
    GenericHmac,
    /// Twilio: `X-Twilio-Signature` over the public URL and form params.
    Twilio,
    /// Zoom: `x-zm-signature` over `v0:{ts}:{body}`; `endpoint.url_validation` handshake.
    Zoom,
    /// Meta (Facebook, Instagram, WhatsApp): `X-Hub-Signature-256`; GET verify-token handshake.
    Meta,
    /// HubSpot: `X-HubSpot-Signature-v3` over method, URI, body and timestamp.
    Hubspot,
    /// Discord: Ed25519 `X-Signature-Ed25519` over `{timestamp}{body}`; PING handshake.
    Discord,
    /// SendGrid Event Webhook: ECDSA P-256 over `{timestamp}{body}`.
    Sendgrid,
    /// Paddle Billing: `Paddle-Signature: ts=..;h1=..`.
    Paddle,
    /// Square: `x-square-hmacsha256-signature` over `{public_url}{body}`.
    Square,
    /// Linear: `Linear-Signature`, `webhookTimestamp` in the body.
    Linear,
    /// Intercom: `X-Hub-Signature` `sha1=`.
    Intercom,
    /// GitLab: `X-Gitlab-Token` equals a secret.
    Gitlab,
    /// Bitbucket Cloud: `X-Hub-Signature` `sha256=`.
    Bitbucket,
    /// PagerDuty v3: `X-PagerDuty-Signature: v1=..`.
    Pagerduty,
    /// Calendly: `Calendly-Webhook-Signature: t=..,v1=..`.
    Calendly,
    /// Typeform: `Typeform-Signature` `sha256=` base64.
    Typeform,
    /// DocuSign Connect: `X-DocuSign-Signature-N` base64.
    Docusign,
    /// Mailgun: `signature` object in the body (the body itself is not signed).
    Mailgun,
    /// Twitch EventSub: `Twitch-Eventsub-Message-Signature`; callback verification handshake.
    Twitch,
    /// X (Twitter) Account Activity: `x-twitter-webhooks-signature`; GET CRC handshake.
    X,
    /// Microsoft Graph change notifications: `clientState`; `validationToken` handshake.
    MicrosoftGraph,
    /// Dropbox: `X-Dropbox-Signature`; GET challenge handshake.
    Dropbox,
    /// Okta event hooks: a header equals a secret; GET verification challenge.
    Okta,
}

impl RouteKind {
    /// The snake_case name used in config, routing keys and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::SalesforceOm => "salesforce_om",
            RouteKind::Github => "github",
            RouteKind::Stripe => "stripe",
            RouteKind::Slack => "slack",
            RouteKind::Shopify => "shopify",
            RouteKind::StandardWebhooks => "standard_webhooks",
            RouteKind::GenericHmac => "generic_hmac",
            RouteKind::Twilio => "twilio",
            RouteKind::Zoom => "zoom",
            RouteKind::Meta => "meta",
            RouteKind::Hubspot => "hubspot",
            RouteKind::Discord => "discord",
            RouteKind::Sendgrid => "sendgrid",
            RouteKind::Paddle => "paddle",
            RouteKind::Square => "square",
            RouteKind::Linear => "linear",
            RouteKind::Intercom => "intercom",
            RouteKind::Gitlab => "gitlab",
            RouteKind::Bitbucket => "bitbucket",
            RouteKind::Pagerduty => "pagerduty",
            RouteKind::Calendly => "calendly",
            RouteKind::Typeform => "typeform",
            RouteKind::Docusign => "docusign",
            RouteKind::Mailgun => "mailgun",
            RouteKind::Twitch => "twitch",
            RouteKind::X => "x",
            RouteKind::MicrosoftGraph => "microsoft_graph",
            RouteKind::Dropbox => "dropbox",
            RouteKind::Okta => "okta",
        }
    }

    /// Every kind, in the order `hookgate providers` lists them.
    pub const ALL: [RouteKind; 29] = [
        RouteKind::SalesforceOm,
        RouteKind::Github,
        RouteKind::Stripe,
        RouteKind::Slack,
        RouteKind::Shopify,
        RouteKind::StandardWebhooks,
        RouteKind::GenericHmac,
        RouteKind::Twilio,
        RouteKind::Zoom,
        RouteKind::Meta,
        RouteKind::Hubspot,
        RouteKind::Discord,
        RouteKind::Sendgrid,
        RouteKind::Paddle,
        RouteKind::Square,
        RouteKind::Linear,
        RouteKind::Intercom,
        RouteKind::Gitlab,
        RouteKind::Bitbucket,
        RouteKind::Pagerduty,
        RouteKind::Calendly,
        RouteKind::Typeform,
        RouteKind::Docusign,
        RouteKind::Mailgun,
        RouteKind::Twitch,
        RouteKind::X,
        RouteKind::MicrosoftGraph,
        RouteKind::Dropbox,
        RouteKind::Okta,
    ];

    /// Whether the scheme signs a timestamp (so `tolerance_s` applies).
    pub(crate) fn signs_timestamp(self) -> bool {
        matches!(
            self,
            RouteKind::Stripe
                | RouteKind::Slack
                | RouteKind::StandardWebhooks
                | RouteKind::Zoom
                | RouteKind::Hubspot
                | RouteKind::Discord
                | RouteKind::Sendgrid
                | RouteKind::Paddle
                | RouteKind::Linear
                | RouteKind::Calendly
                | RouteKind::Mailgun
                | RouteKind::Twitch
        )
    }

    /// The kind's default `tolerance_s` in seconds: the provider's own
    /// window where its documentation or SDK names one, else
    /// [`DEFAULT_TOLERANCE_S`].
    pub(crate) fn default_tolerance_s(self) -> u64 {
        match self {
            RouteKind::Linear => 60,
            RouteKind::Paddle => 5,
            RouteKind::Twitch => 600,
            _ => DEFAULT_TOLERANCE_S,
        }
    }

    /// Whether the scheme's signature covers the body: not Mailgun's (it
    /// signs `{timestamp}{token}` only), whose messages carry
    /// `x-hookgate-body-signed: false`.
    pub(crate) fn signs_body(self) -> bool {
        !matches!(self, RouteKind::Mailgun)
    }

    /// Whether the kind's handshake comes as a GET (Meta, X, Dropbox,
    /// Okta): such routes admit GET as well as POST.
    pub fn answers_get(self) -> bool {
        matches!(
            self,
            RouteKind::Meta | RouteKind::X | RouteKind::Dropbox | RouteKind::Okta
        )
    }

    /// Whether the kind verifies with public keys (`public_keys`) instead
    /// of shared `secrets`.
    pub(crate) fn uses_public_keys(self) -> bool {
        matches!(self, RouteKind::Discord | RouteKind::Sendgrid)
    }

    /// Whether the kind signs the URL the provider calls, so `public_url`
    /// is required.
    pub(crate) fn needs_public_url(self) -> bool {
        matches!(
            self,
            RouteKind::Twilio | RouteKind::Hubspot | RouteKind::Square
        )
    }
}
