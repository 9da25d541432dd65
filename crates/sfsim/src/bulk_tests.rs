//! Bulk API 2.0 ingest against a real socket.
