//! Salesforce REST API simulator (being written).
