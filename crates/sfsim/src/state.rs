//! The simulator's mutable state: live tokens, API usage, pending faults,
//! records and the call log. One `Mutex` guards all of it, so a request sees
//! and changes a consistent org (a collections call is planned and applied
//! under one lock, which is what makes `allOrNone` atomic).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::record::{
    external_value, get_field, is_identifier, merge, Applied, Fields, Plan, RecordError,
};
use super::rng::Rng;
use super::schema::{self, ends_with_ignore_case, standard_prefix, ObjectSchema};
use super::{Call, Fault};
use crate::id;

mod checks;

/// Digits of generated ids and tokens.
pub(super) const BASE62: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a data call is refused before it is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    ServerError,
    RequestLimit,
    UnknownException,
}

pub(super) struct Record {
    pub fields: Fields,
    pub writes: u64,
    pub deleted: bool,
}

/// A record as the summary reports it.
pub(super) struct RecordInfo {
    pub sobject: String,
    pub id: String,
    pub writes: u64,
    pub fields: Fields,
}

struct Object {
    /// The name as first seen (object names are case-insensitive).
    name: String,
    prefix: String,
    records: HashMap<String, Record>,
}

struct Reject {
    key: String,
    error: RecordError,
}

/// Everything that changes while the simulator runs.
pub(super) struct State {
    /// Access token -> issue time.
    tokens: HashMap<String, Instant>,
    /// API requests in the (simulated) rolling 24 h.
    pub usage: u64,
    /// The connected app's requests in the rolling 24 h.
    pub per_app_usage: u64,
    pub calls: Vec<Call>,
    pub api_calls: u64,
    pub token_requests: u64,
    /// `ServerError`/`RequestLimit` faults with their remaining counts, in
    /// order of arrival.
    refusals: VecDeque<(Refusal, u32)>,
    slow: VecDeque<(Duration, u32)>,
    lock_rows: u64,
    rejects: Vec<Reject>,
    transient: Option<(f64, Rng)>,
    /// [`Fault::CollectionsUnknownException`].
    unknown: Option<(f64, Rng)>,
    /// Keyed by lower-case object name.
    objects: HashMap<String, Object>,
    /// Typed objects, keyed by lower-case name ([`schema`]).
    schemas: HashMap<String, ObjectSchema>,
    custom_objects: usize,
    next_id: u64,
    /// For tokens only (never for faults: those must be reproducible).
    pub rng: Rng,
    /// Bulk API 2.0 ingest jobs ([`crate::bulk`]).
    pub bulk: crate::bulk::Jobs,
}

impl State {
    pub fn new() -> State {
        State {
            tokens: HashMap::new(),
            usage: 0,
            per_app_usage: 0,
            calls: Vec::new(),
            api_calls: 0,
            token_requests: 0,
            refusals: VecDeque::new(),
            slow: VecDeque::new(),
            lock_rows: 0,
            rejects: Vec::new(),
            transient: None,
            unknown: None,
            objects: HashMap::new(),
            schemas: schema::defaults()
                .into_iter()
                .map(|o| (o.name.to_ascii_lowercase(), o))
                .collect(),
            custom_objects: 0,
            next_id: 0,
            rng: Rng::from_entropy(),
            bulk: crate::bulk::Jobs::default(),
        }
    }

    pub fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::ServerError { count } if count > 0 => {
                self.refusals.push_back((Refusal::ServerError, count))
            }
            Fault::RequestLimit { count } if count > 0 => {
                self.refusals.push_back((Refusal::RequestLimit, count))
            }
            Fault::UnknownException { count } if count > 0 => {
                self.refusals.push_back((Refusal::UnknownException, count))
            }
            Fault::ServerError { .. }
            | Fault::RequestLimit { .. }
            | Fault::UnknownException { .. } => {}
            Fault::LockRow { count } => self.lock_rows += u64::from(count),
            Fault::Slow { delay, count } if count > 0 => self.slow.push_back((delay, count)),
            Fault::Slow { .. } => {}
            Fault::ExpireTokens => self.tokens.clear(),
            Fault::RejectRecord {
                key,
                status_code,
                message,
                fields,
            } => self.rejects.push(Reject {
                key,
                error: RecordError {
                    code: status_code,
                    message,
                    fields,
                },
            }),
            Fault::TransientRatio { ratio, seed } => {
                self.transient = (ratio > 0.0).then(|| (ratio.min(1.0), Rng::new(seed)));
            }
            Fault::CollectionsUnknownException { ratio, seed } => {
                self.unknown = (ratio > 0.0).then(|| (ratio.min(1.0), Rng::new(seed)));
            }
            Fault::BulkJobFails { .. } | Fault::BulkJobAborted { .. } => self.bulk.inject(fault),
        }
    }

    // === tokens ===

    pub fn issue_token(&mut self, token: String) {
        self.tokens.insert(token, Instant::now());
    }

    pub fn token_live(&self, token: &str, ttl: Duration) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|issued| issued.elapsed() < ttl)
    }

    // === faults ===

    pub fn take_slow(&mut self) -> Option<Duration> {
        let (delay, left) = self.slow.front_mut()?;
        let delay = *delay;
        *left -= 1;
        if *left == 0 {
            self.slow.pop_front();
        }
        Some(delay)
    }

    /// The next queued refusal, else a draw of the transient ratio, else
    /// (`collection`: an sObject Collections call) a draw of the
    /// `UNKNOWN_EXCEPTION` ratio.
    pub fn take_refusal(&mut self, collection: bool) -> Option<Refusal> {
        if let Some((kind, left)) = self.refusals.front_mut() {
            let kind = *kind;
            *left -= 1;
            if *left == 0 {
                self.refusals.pop_front();
            }
            return Some(kind);
        }
        if let Some((ratio, rng)) = self.transient.as_mut() {
            if rng.unit() < *ratio {
                return Some(Refusal::ServerError);
            }
        }
        let (ratio, rng) = self.unknown.as_mut().filter(|_| collection)?;
        (rng.unit() < *ratio).then_some(Refusal::UnknownException)
    }

    fn take_lock_row(&mut self) -> bool {
        if self.lock_rows == 0 {
            return false;
        }
        self.lock_rows -= 1;
        true
    }

    /// The injected rejection of the record with this canonical `id` or
    /// external id `value`.
    fn rejection(&self, id: Option<&str>, value: Option<&str>) -> Option<RecordError> {
        self.rejects.iter().find_map(|r| {
            let by_id = id.is_some_and(|id| id::to_18(&r.key).as_deref() == Some(id));
            let by_value = value.is_some_and(|v| v.eq_ignore_ascii_case(&r.key));
            (by_id || by_value).then(|| r.error.clone())
        })
    }

    // === records ===

    /// Standard objects, `__c` custom objects, defined and seeded objects
    /// exist.
    pub fn object_exists(&self, sobject: &str) -> bool {
        is_identifier(sobject)
            && (standard_prefix(sobject).is_some()
                || ends_with_ignore_case(sobject, "__c")
                || self.schema(sobject).is_some()
                || self.objects.contains_key(&sobject.to_ascii_lowercase()))
    }

    /// The schema of a typed object.
    pub fn schema(&self, sobject: &str) -> Option<&ObjectSchema> {
        self.schemas.get(&sobject.to_ascii_lowercase())
    }

    /// Adds or replaces an object's schema.
    pub fn define(&mut self, schema: ObjectSchema) {
        self.schemas
            .insert(schema.name.to_ascii_lowercase(), schema);
    }

    /// [`ObjectSchema::check_access`] of a typed object.
    pub(super) fn check_access(
        &self,
        sobject: &str,
        fields: &Fields,
        create: bool,
    ) -> Result<(), RecordError> {
        self.schema(sobject)
            .map_or(Ok(()), |s| s.check_access(fields, create))
    }

    fn object_mut(&mut self, sobject: &str, seeded_prefix: Option<&str>) -> &mut Object {
        let custom_objects = &mut self.custom_objects;
        self.objects
            .entry(sobject.to_ascii_lowercase())
            .or_insert_with(|| {
                let prefix = match (standard_prefix(sobject), seeded_prefix) {
                    (Some(p), _) | (None, Some(p)) => p.to_owned(),
                    (None, None) => {
                        let n = *custom_objects;
                        *custom_objects += 1;
                        let hi = BASE62[(n / 62) % 62] as char;
                        let lo = BASE62[n % 62] as char;
                        format!("a{hi}{lo}")
                    }
                };
                Object {
                    name: sobject.to_owned(),
                    prefix,
                    records: HashMap::new(),
                }
            })
    }

    fn record(&self, sobject: &str, id: &str) -> Option<&Record> {
        self.objects
            .get(&sobject.to_ascii_lowercase())?
            .records
            .get(id)
    }

    pub fn seed(&mut self, sobject: &str, id: &str, fields: Fields) {
        let id =
            id::to_18(id).unwrap_or_else(|| panic!("seed: {id:?} is not a 15- or 18-character id"));
        let object = self.object_mut(sobject, Some(&id[..3]));
        object.records.insert(
            id,
            Record {
                fields,
                writes: 0,
                deleted: false,
            },
        );
    }

    /// Marks a record deleted; `false` when there is none.
    pub fn delete(&mut self, sobject: &str, id: &str) -> bool {
        let Some(id) = id::to_18(id) else {
            return false;
        };
        let key = sobject.to_ascii_lowercase();
        match self
            .objects
            .get_mut(&key)
            .and_then(|o| o.records.get_mut(&id))
        {
            Some(r) => {
                r.deleted = true;
                true
            }
            None => false,
        }
    }

    /// A live (not deleted) record's fields.
    pub fn fields(&self, sobject: &str, id: &str) -> Option<&Fields> {
        let id = id::to_18(id)?;
        self.record(sobject, &id)
            .filter(|r| !r.deleted)
            .map(|r| &r.fields)
    }

    pub fn writes(&self, sobject: &str, id: &str) -> u64 {
        id::to_18(id)
            .and_then(|id| self.record(sobject, &id).map(|r| r.writes))
            .unwrap_or(0)
    }

    /// Ids of live records whose `field` equals `value` (case-insensitive,
    /// like a default external id field).
    pub fn find_by_external_id(&self, sobject: &str, field: &str, value: &str) -> Vec<String> {
        let Some(object) = self.objects.get(&sobject.to_ascii_lowercase()) else {
            return Vec::new();
        };
        // `caseSensitive` external id fields match exactly ("Field
        // Properties"); the others ignore case.
        let exact = self
            .schema(sobject)
            .and_then(|s| s.field(field))
            .is_some_and(|f| f.case_sensitive);
        let mut ids: Vec<String> = object
            .records
            .iter()
            .filter(|(_, r)| !r.deleted)
            .filter(|(_, r)| {
                get_field(&r.fields, field)
                    .and_then(external_value)
                    .is_some_and(|v| {
                        if exact {
                            v == value
                        } else {
                            v.eq_ignore_ascii_case(value)
                        }
                    })
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Live records of `sobject` by their `field` value, ids sorted: what
    /// [`State::find_by_external_id`] finds, for many look-ups at once. The
    /// key is [`State::external_key`] of the value.
    pub fn external_index(&self, sobject: &str, field: &str) -> HashMap<String, Vec<String>> {
        let mut index: HashMap<String, Vec<String>> = HashMap::new();
        let Some(object) = self.objects.get(&sobject.to_ascii_lowercase()) else {
            return index;
        };
        for (id, r) in object.records.iter().filter(|(_, r)| !r.deleted) {
            if let Some(v) = get_field(&r.fields, field).and_then(external_value) {
                index
                    .entry(self.external_key(sobject, field, &v))
                    .or_default()
                    .push(id.clone());
            }
        }
        index.values_mut().for_each(|ids| ids.sort());
        index
    }

    /// How `field` values compare: exactly for a `caseSensitive` field,
    /// else ignoring ASCII case (as [`State::find_by_external_id`]).
    pub fn external_key(&self, sobject: &str, field: &str, value: &str) -> String {
        let exact = self
            .schema(sobject)
            .and_then(|s| s.field(field))
            .is_some_and(|f| f.case_sensitive);
        if exact {
            value.to_owned()
        } else {
            value.to_ascii_lowercase()
        }
    }

    pub fn apply(&mut self, plan: Plan) -> Applied {
        match plan {
            Plan::Update { object, id, fields } => {
                if let Some(r) = self
                    .objects
                    .get_mut(&object.to_ascii_lowercase())
                    .and_then(|o| o.records.get_mut(&id))
                {
                    merge(&mut r.fields, fields);
                    r.writes += 1;
                }
                Applied { id, created: false }
            }
            Plan::Create { object, fields } => {
                let id = loop {
                    let prefix = self.object_mut(&object, None).prefix.clone();
                    let id = self.new_id(&prefix);
                    if self.record(&object, &id).is_none() {
                        break id;
                    }
                };
                self.object_mut(&object, None).records.insert(
                    id.clone(),
                    Record {
                        fields,
                        writes: 1,
                        deleted: false,
                    },
                );
                Applied { id, created: true }
            }
        }
    }

    /// An 18-character id: the prefix, then 12 base-62 digits of a scrambled
    /// counter (mixed case, so clients must not mangle the case), then the
    /// checksum.
    pub(super) fn new_id(&mut self, prefix: &str) -> String {
        const SPACE: u64 = 62u64.pow(9);
        self.next_id += 1;
        // 1_000_003 is prime and coprime to 62: a bijection on 0..SPACE.
        let mut n = (self.next_id % SPACE).wrapping_mul(1_000_003) % SPACE;
        let mut digits = [b'0'; 12];
        for d in digits[3..].iter_mut().rev() {
            *d = BASE62[(n % 62) as usize];
            n /= 62;
        }
        let mut id15 = prefix.to_owned();
        id15.extend(digits.iter().map(|&b| b as char));
        id::to_18(&id15).unwrap_or(id15)
    }

    /// Every record (deleted ones too), sorted by object and Id.
    pub fn records(&self) -> Vec<RecordInfo> {
        let mut out: Vec<RecordInfo> = self
            .objects
            .values()
            .flat_map(|o| {
                o.records.iter().map(|(id, r)| RecordInfo {
                    sobject: o.name.clone(),
                    id: id.clone(),
                    writes: r.writes,
                    fields: r.fields.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.sobject, &a.id).cmp(&(&b.sobject, &b.id)));
        out
    }

    pub fn object_name(&self, sobject: &str) -> String {
        self.objects
            .get(&sobject.to_ascii_lowercase())
            .map_or_else(|| sobject.to_owned(), |o| o.name.clone())
    }
}
