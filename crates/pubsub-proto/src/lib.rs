//! Salesforce Pub/Sub API v1 (`package eventbus.v1`, `service PubSub`), generated at
//! build time from the vendored `proto/pubsub_api.proto` (forcedotcom/pub-sub-api,
//! CC0 1.0; commit in `proto/README.md`).
//!
//! Feature `client` builds `pub_sub_client::PubSubClient` (hookgate's subscriber);
//! feature `server` builds `pub_sub_server::{PubSub, PubSubServer}` (the simulator).
// Generated code: its comments are the proto's, not rustdoc.
#![allow(missing_docs, clippy::all, clippy::pedantic)]
#![allow(
    rustdoc::bare_urls,
    rustdoc::invalid_html_tags,
    rustdoc::broken_intra_doc_links
)]

/// Messages and services of `package eventbus.v1`.
pub mod eventbus {
    /// Version 1 of the Pub/Sub API.
    pub mod v1 {
        tonic::include_proto!("eventbus.v1");
    }
}

pub use eventbus::v1::*;
