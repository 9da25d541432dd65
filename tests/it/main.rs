//! Integration tests: the real gateway on ephemeral ports, a real TLS client,
//! the machine's real RabbitMQ (unique exchange and queue per test, deleted
//! afterwards).

mod attacks;
mod cli;
mod cluster;
mod connections;
mod contracts;
mod durability;
mod edge;
mod fleet;
mod hardening;
mod ops_page;
mod outage;
mod providers_handshakes;
mod providers_hmac;
mod providers_keys;
mod pubsub;
mod pubsub_fleet;
mod rate_limit;
mod reload;
mod resilience;
mod salesforce;
mod slow_clients;
mod spool;
mod support;
mod trace;
mod webhooks;
mod worker;
mod worker_batches;
mod worker_bulk;
mod worker_orgs;
mod worker_pause;
