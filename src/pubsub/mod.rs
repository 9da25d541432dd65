//! Salesforce Pub/Sub API (gRPC) subscriber pieces, see docs/SALESFORCE.md section 9.
//!
//! - [`decode`]: an event's Avro payload (raw datum, writer schema fetched by
//!   `schema_id`) to type-keeping JSON; change events get their header
//!   bitmaps spelled out as field names. Bytes in, values out, no I/O.
//! - [`bitmap`]: Change Data Capture header bitmaps (`changedFields`,
//!   `nulledFields`, `diffFields`) to field names, per the event's schema.

pub mod bitmap;
pub mod decode;
