//! `/services/data/vNN.N/...`: authentication, usage and refusals, routing,
//! and the single-record calls (PATCH by Id, upsert by external id, GET by
//! Id). Collections are in [`super::collections`].
//!
//! Order for every data call: the route and body are read; no live token:
//! 401 (not counted); usage + 1; over the limit: 403; an injected refusal:
//! 503/403; then the route runs.

use http::{header, HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use super::percent::percent_decode;
use super::record::{get_field, is_identifier, Fields, RecordError};
use super::state::{Refusal, State};
use super::{bulk, collections, versions};
use super::{Reply, Shared, SimConfig, DATA_PREFIX};

/// A parsed request body: `None` when empty.
pub(super) type Body = Option<Result<Value, serde_json::Error>>;

/// What a data path asks for.
enum Route {
    GetOne {
        version: String,
        sobject: String,
        id: String,
    },
    UpdateOne {
        sobject: String,
        id: String,
    },
    UpsertOne {
        version: String,
        sobject: String,
        field: String,
        value: String,
    },
    /// `GET sobjects/{Obj}/describe`.
    Describe {
        sobject: String,
    },
    CollectionUpdate,
    CollectionUpsert {
        sobject: String,
        field: String,
    },
    /// `jobs/ingest...`: Bulk API 2.0 ([`bulk`]).
    Bulk(bulk::Route),
    /// `GET limits`.
    Limits,
    /// A known resource, another method.
    NotAllowed {
        allowed: &'static str,
    },
    NotFound,
}

impl Route {
    fn parse(method: &Method, path: &str) -> Route {
        let Some(rest) = path.strip_prefix(DATA_PREFIX) else {
            return Route::NotFound;
        };
        let (version, rest) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_version(version) || !versions::supported(&version[1..]) {
            return Route::NotFound;
        }
        let version = version.to_owned();
        let segments: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s, false))
            .collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let patch = method == Method::PATCH;
        match segs.as_slice() {
            ["sobjects", sobject, "describe"] if method == Method::GET => Route::Describe {
                sobject: sobject.to_string(),
            },
            ["sobjects", sobject, id] if method == Method::GET || method == Method::HEAD => {
                Route::GetOne {
                    version,
                    sobject: sobject.to_string(),
                    id: id.to_string(),
                }
            }
            ["sobjects", sobject, id] if patch => Route::UpdateOne {
                sobject: sobject.to_string(),
                id: id.to_string(),
            },
            ["sobjects", _, _] => Route::NotAllowed {
                allowed: "GET,HEAD,PATCH",
            },
            ["sobjects", sobject, field, value] if patch => Route::UpsertOne {
                version,
                sobject: sobject.to_string(),
                field: field.to_string(),
                value: value.to_string(),
            },
            ["sobjects", _, _, _] => Route::NotAllowed { allowed: "PATCH" },
            ["composite", "sobjects"] if patch => Route::CollectionUpdate,
            ["composite", "sobjects", sobject, field] if patch => Route::CollectionUpsert {
                sobject: sobject.to_string(),
                field: field.to_string(),
            },
            ["composite", "sobjects"] | ["composite", "sobjects", _, _] => {
                Route::NotAllowed { allowed: "PATCH" }
            }
            ["jobs", "ingest", rest @ ..] => {
                Route::Bulk(bulk::Route::parse(method, &version, rest))
            }
            ["limits"] if method == Method::GET => Route::Limits,
            ["limits"] => Route::NotAllowed { allowed: "GET" },
            _ => Route::NotFound,
        }
    }

    /// Whether the route writes (refused in read-only mode).
    fn writes(&self) -> bool {
        matches!(
            self,
            Route::UpdateOne { .. }
                | Route::UpsertOne { .. }
                | Route::CollectionUpdate
                | Route::CollectionUpsert { .. }
        ) || matches!(self, Route::Bulk(b) if b.creates())
    }

    /// `Some(upsert)` for an sObject Collections call.
    fn collection(&self) -> Option<bool> {
        match self {
            Route::CollectionUpdate => Some(false),
            Route::CollectionUpsert { .. } => Some(true),
            _ => None,
        }
    }

    /// Records the call carries, for the call log.
    fn records(&self, body: &Body) -> usize {
        match self {
            Route::UpdateOne { .. } | Route::UpsertOne { .. } => 1,
            Route::CollectionUpdate | Route::CollectionUpsert { .. } => match body {
                Some(Ok(v)) => v
                    .get("records")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len),
                _ => 0,
            },
            _ => 0,
        }
    }
}

pub(super) fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let route = Route::parse(method, path);
    let json: Body = (!body.is_empty()).then(|| serde_json::from_slice(body));
    let records = route.records(&json);
    let read_only = shared.org().read_only;
    let kind = match &route {
        Route::Bulk(b) => b.kind(&json),
        Route::Limits => Some("limits"),
        _ => None,
    };
    let mut st = shared.state();
    st.advance_bulk(&shared.config, read_only);
    let live = bearer(headers).is_some_and(|t| st.token_live(t, shared.config.token_ttl));
    let mut reply = if !live {
        Reply::error(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
    } else {
        st.usage += 1;
        st.per_app_usage += 1;
        let delay = st.take_slow();
        // Over the connected app's own allocation: refused like the org's
        // (REST API Developer Guide, "Limit Info Header" reports both; the
        // refusal's code for the per-app case is not documented: assumed).
        let per_app_over = shared
            .config
            .per_app_limit
            .is_some_and(|l| st.per_app_usage > l);
        let mut reply = if st.usage > shared.config.daily_limit || per_app_over {
            limit_exceeded()
        } else {
            match st.take_refusal(route.collection().is_some()) {
                Some(Refusal::RequestLimit) => limit_exceeded(),
                Some(Refusal::ServerError) => Reply::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVER_UNAVAILABLE",
                    "Server unavailable: please try again later",
                ),
                // REST API Developer Guide, "Status Codes and Error
                // Responses": 500 is "an error has occurred within
                // Lightning Platform"; its body carries UNKNOWN_EXCEPTION.
                Some(Refusal::UnknownException) => Reply::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN_EXCEPTION",
                    "An unexpected error occurred. Please include this ErrorId if you \
                     contact support: 1234567890-12345 (-1234567890)",
                ),
                None if read_only && route.writes() => {
                    super::org::read_only(route.collection(), records)
                }
                None => run(&mut st, &shared.config, route, headers, json, body),
            }
        };
        reply.delay = delay;
        reply
    };
    reply.usage = Some((st.usage, st.per_app_usage));
    reply.records = reply.records.max(records);
    reply.kind = kind;
    reply
}

fn limit_exceeded() -> Reply {
    Reply::error(
        StatusCode::FORBIDDEN,
        "REQUEST_LIMIT_EXCEEDED",
        "TotalRequests Limit exceeded.",
    )
}

fn run(
    st: &mut State,
    config: &SimConfig,
    route: Route,
    headers: &HeaderMap,
    json: Body,
    raw: &[u8],
) -> Reply {
    match route {
        Route::Bulk(b) => return bulk::run(st, config, b, headers, json, raw),
        Route::Limits => return bulk::limits(st, config),
        _ => {}
    }
    if let Err(reply) = check_media_type(headers) {
        return reply;
    }
    match route {
        Route::NotFound => not_found(),
        Route::NotAllowed { allowed } => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method not allowed. Allowed are {allowed}"),
        ),
        Route::GetOne {
            version,
            sobject,
            id,
        } => get_one(st, &version, &sobject, &id),
        Route::UpdateOne { sobject, id } => match object_body(json) {
            Ok(fields) => update_one(st, &sobject, &id, &fields),
            Err(reply) => reply,
        },
        Route::UpsertOne {
            version,
            sobject,
            field,
            value,
        } => match object_body(json) {
            Ok(fields) => upsert_one(st, &version, &sobject, &field, &value, &fields),
            Err(reply) => reply,
        },
        Route::Describe { sobject } => match st.schema(&sobject) {
            Some(schema) => Reply::json(StatusCode::OK, schema.describe()),
            None => not_found(),
        },
        Route::CollectionUpdate => collections::update(st, json, raw),
        Route::CollectionUpsert { sobject, field } => {
            collections::upsert(st, &sobject, &field, json, raw)
        }
        Route::Bulk(_) | Route::Limits => not_found(),
    }
}

fn get_one(st: &State, version: &str, sobject: &str, id: &str) -> Reply {
    if !st.object_exists(sobject) {
        return not_found();
    }
    let Some(canonical) = crate::id::to_18(id) else {
        return no_such_external_id(id);
    };
    let Some(fields) = st.fields(sobject, &canonical) else {
        return not_found();
    };
    let name = st.object_name(sobject);
    let mut out = serde_json::Map::new();
    out.insert(
        "attributes".into(),
        json!({
            "type": name,
            "url": format!("{DATA_PREFIX}{version}/sobjects/{name}/{canonical}"),
        }),
    );
    out.insert("Id".into(), Value::String(canonical));
    out.extend(fields.clone());
    Reply::json(StatusCode::OK, Value::Object(out))
}

fn update_one(st: &mut State, sobject: &str, id: &str, fields: &Fields) -> Reply {
    if !st.object_exists(sobject) {
        return not_found();
    }
    if crate::id::to_18(id).is_none() {
        return no_such_external_id(id);
    }
    if get_field(fields, "Id").is_some() {
        return record_error(
            RecordError::new(
                "INVALID_FIELD",
                "The Id field should not be specified in the sobject data.",
            )
            .on("Id"),
        );
    }
    match st.check_update(sobject, id, fields) {
        Ok(plan) => {
            st.apply(plan);
            Reply::empty(StatusCode::NO_CONTENT)
        }
        Err(e) => record_error(e),
    }
}

fn upsert_one(
    st: &mut State,
    version: &str,
    sobject: &str,
    field: &str,
    value: &str,
    fields: &Fields,
) -> Reply {
    if !st.object_exists(sobject) || !is_identifier(field) {
        return not_found();
    }
    if field.eq_ignore_ascii_case("Id") {
        // Upsert by Id: an update of an existing record.
        return match st.check_update(sobject, value, fields) {
            Ok(plan) => {
                let applied = st.apply(plan);
                upsert_result(StatusCode::OK, &applied.id, false)
            }
            Err(e) if e.code == "MALFORMED_ID" => no_such_external_id(value),
            Err(e) => record_error(e),
        };
    }
    for forbidden in ["Id", field] {
        if get_field(fields, forbidden).is_some() {
            return record_error(
                RecordError::new(
                    "INVALID_FIELD",
                    format!(
                        "{forbidden} must not be specified in the request body when upserting \
                         by external id field {field}"
                    ),
                )
                .on(forbidden),
            );
        }
    }
    let matches = st.find_by_external_id(sobject, field, value);
    if matches.len() > 1 {
        let name = st.object_name(sobject);
        let urls: Vec<String> = matches
            .iter()
            .map(|id| format!("{DATA_PREFIX}{version}/sobjects/{name}/{id}"))
            .collect();
        return Reply::json(StatusCode::MULTIPLE_CHOICES, json!(urls));
    }
    match st.check_upsert(sobject, field, value, fields) {
        Ok(plan) => {
            let applied = st.apply(plan);
            let status = if applied.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            upsert_result(status, &applied.id, applied.created)
        }
        Err(e) => record_error(e),
    }
}

fn upsert_result(status: StatusCode, id: &str, created: bool) -> Reply {
    Reply::json(
        status,
        json!({ "id": id, "success": true, "errors": [], "created": created }),
    )
}

/// A single-record call's error: `[{"message","errorCode","fields"}]`, 404
/// for a missing or deleted record, else 400.
fn record_error(e: RecordError) -> Reply {
    let status = match e.code.as_str() {
        "NOT_FOUND" | "ENTITY_IS_DELETED" => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    Reply::json(
        status,
        json!([{ "message": e.message, "errorCode": e.code, "fields": e.fields }]),
    )
}

pub(super) fn not_found() -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

/// What Salesforce says when the last segment is not an Id.
fn no_such_external_id(value: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("Provided external ID field does not exist or is not accessible: {value}"),
    )
}

pub(super) fn json_error(message: impl Into<String>) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", message)
}

/// The body as a JSON value, or the 400 Salesforce gives for it.
pub(super) fn body_value(json: Body) -> Result<Value, Reply> {
    match json {
        None => Err(json_error("No content to map due to end-of-input")),
        Some(Err(e)) => Err(json_error(format!("Unexpected character: {e}"))),
        Some(Ok(v)) => Ok(v),
    }
}

fn object_body(json: Body) -> Result<Fields, Reply> {
    match body_value(json)? {
        Value::Object(fields) => Ok(fields),
        other => Err(json_error(format!(
            "Cannot deserialize instance of SObject out of {} token",
            token_name(&other)
        ))),
    }
}

pub(super) fn token_name(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Null => "VALUE_NULL",
    }
}

/// JSON bodies only: a declared type other than JSON gets 415.
pub(super) fn check_media_type(headers: &HeaderMap) -> Result<(), Reply> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(Reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("MediaType of '{ct}' is not supported by this resource"),
        ))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then_some(token.trim())
}

/// `vNN.N`.
fn is_version(s: &str) -> bool {
    let Some((major, minor)) = s.strip_prefix('v').and_then(|v| v.split_once('.')) else {
        return false;
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}
