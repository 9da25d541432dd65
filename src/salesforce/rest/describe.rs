//! `GET /services/data/` (the versions an org serves) and
//! `GET /services/data/vNN.N/sobjects/{Obj}/describe` (an object's fields),
//! as `../shared/docs/SALESFORCE.md` section 7 describes them.

use serde::Deserialize;

use super::{ApiError, Client};

/// One entry of `GET /services/data/`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Version {
    /// `"62.0"`.
    pub(crate) version: String,
    /// `"Winter '25"`.
    #[serde(default)]
    pub(crate) label: String,
}

/// The parts of an sObject describe the worker uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Describe {
    /// The object's API name as the org spells it.
    pub(crate) name: String,
    /// Its fields.
    pub(crate) fields: Vec<Field>,
}

/// One `fields[]` entry of a describe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Field {
    /// API name.
    pub(crate) name: String,
    /// Lower-case field type: `string`, `boolean`, `int`, `double`,
    /// `currency`, `percent`, `date`, `datetime`, `reference`, ...
    #[serde(rename = "type")]
    pub(crate) field_type: String,
    /// Can be set on insert through the API.
    #[serde(default)]
    pub(crate) createable: bool,
    /// Can be set on update through the API.
    #[serde(default)]
    pub(crate) updateable: bool,
    /// Marked External ID.
    #[serde(default)]
    pub(crate) external_id: bool,
}

impl Describe {
    /// A field by name (field names are case-insensitive).
    pub(crate) fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

impl Client {
    /// The API versions the org serves (`GET /services/data/`, no token
    /// needed; sent to the instance the token names).
    ///
    /// # Errors
    /// [`ApiError`] for transport failures and non-200 answers.
    pub(crate) async fn versions(&self) -> Result<Vec<Version>, ApiError> {
        let (status, body) = self.get("/services/data/", false).await?;
        if status != 200 {
            return Err(super::client::top_error(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| invalid(&e))
    }

    /// The describe of `sobject`; `None` when the org has no such object
    /// (HTTP 404).
    ///
    /// # Errors
    /// [`ApiError`] for transport failures and other non-200 answers.
    pub(crate) async fn describe(&self, sobject: &str) -> Result<Option<Describe>, ApiError> {
        let path = format!(
            "/services/data/v{}/sobjects/{sobject}/describe",
            self.api_version()
        );
        let (status, body) = self.get(&path, true).await?;
        match status {
            200 => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| invalid(&e)),
            404 => Ok(None),
            _ => Err(super::client::top_error(status, &body)),
        }
    }
}

fn invalid(e: &serde_json::Error) -> ApiError {
    ApiError::new("INVALID_RESPONSE", e.to_string())
}
