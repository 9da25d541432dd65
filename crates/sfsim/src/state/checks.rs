//! The checks of one write, in the order Salesforce applies them (which
//! error a record with several problems gets): the record, its access, an
//! injected rejection, then a pending `UNABLE_TO_LOCK_ROW`.

use serde_json::Value;

use super::State;
use crate::id;
use crate::record::{check_field_names, get_field, Fields, Plan, RecordError};
use crate::schema::standard_prefix;

impl State {
    /// Checks an update of record `raw_id` of `sobject` (the order of checks
    /// decides which error a record with several problems gets).
    pub fn check_update(
        &mut self,
        sobject: &str,
        raw_id: &str,
        fields: &Fields,
    ) -> Result<Plan, RecordError> {
        if !self.object_exists(sobject) {
            return Err(RecordError::invalid_type(sobject));
        }
        let id = id::to_18(raw_id).ok_or_else(|| RecordError::malformed_id(sobject, raw_id))?;
        let expected = self
            .objects
            .get(&sobject.to_ascii_lowercase())
            .map(|o| o.prefix.as_str())
            .or_else(|| standard_prefix(sobject));
        if expected.is_some_and(|p| !id.starts_with(p)) {
            return Err(RecordError::malformed_id(sobject, raw_id));
        }
        check_field_names(sobject, fields)?;
        self.check_access(sobject, fields, false)?;
        match self.record(sobject, &id) {
            None => {
                return Err(RecordError::new(
                    "NOT_FOUND",
                    "The requested resource does not exist",
                ))
            }
            Some(r) if r.deleted => {
                return Err(RecordError::new("ENTITY_IS_DELETED", "entity is deleted"))
            }
            Some(_) => {}
        }
        self.admit(Some(&id), None)?;
        Ok(Plan::Update {
            object: sobject.to_owned(),
            id,
            fields: fields.clone(),
        })
    }

    /// Checks an upsert of `sobject` by `field` = `value`; `fields` may hold
    /// the external id field itself (collections) or not (single record).
    pub fn check_upsert(
        &mut self,
        sobject: &str,
        field: &str,
        value: &str,
        fields: &Fields,
    ) -> Result<Plan, RecordError> {
        let matches = self.find_by_external_id(sobject, field, value);
        self.check_upsert_among(sobject, field, value, fields, &matches)
    }

    /// [`State::check_upsert`] with the records `field` = `value` already
    /// found (`matches`, sorted ids): for a Bulk job's many rows.
    pub fn check_upsert_among(
        &mut self,
        sobject: &str,
        field: &str,
        value: &str,
        fields: &Fields,
        matches: &[String],
    ) -> Result<Plan, RecordError> {
        if !self.object_exists(sobject) {
            return Err(RecordError::invalid_type(sobject));
        }
        check_field_names(sobject, fields)?;
        match matches {
            [] => {
                self.check_access(sobject, fields, true)?;
                self.admit(None, Some(value))?;
                let mut fields = fields.clone();
                if get_field(&fields, field).is_none() {
                    fields.insert(field.to_owned(), Value::String(value.to_owned()));
                }
                Ok(Plan::Create {
                    object: sobject.to_owned(),
                    fields,
                })
            }
            [id] => {
                let mut set = fields.clone();
                set.retain(|k, _| !k.eq_ignore_ascii_case(field));
                self.check_access(sobject, &set, false)?;
                self.admit(Some(id), Some(value))?;
                Ok(Plan::Update {
                    object: sobject.to_owned(),
                    id: id.clone(),
                    fields: fields.clone(),
                })
            }
            many => Err(RecordError::new(
                "DUPLICATE_EXTERNAL_ID",
                format!(
                    "{field}: more than one record found for external id field: [{}]",
                    many.join(", ")
                ),
            )
            .on(field)),
        }
    }

    /// The last checks of a write that is otherwise valid: an injected
    /// rejection, then a pending `UNABLE_TO_LOCK_ROW`.
    pub(crate) fn admit(
        &mut self,
        id: Option<&str>,
        value: Option<&str>,
    ) -> Result<(), RecordError> {
        if let Some(e) = self.rejection(id, value) {
            return Err(e);
        }
        if self.take_lock_row() {
            return Err(RecordError::new(
                "UNABLE_TO_LOCK_ROW",
                format!(
                    "unable to obtain exclusive access to this record or 1 records: {}",
                    id.unwrap_or("")
                ),
            ));
        }
        Ok(())
    }
}
