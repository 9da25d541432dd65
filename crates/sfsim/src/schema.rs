//! The org's schema: sObjects with typed fields, as `describe` reports
//! them and as a write is checked against them.
//!
//! Sources (`../shared/docs/SALESFORCE.md` section 7):
//! - Field keys and their meaning (`name`, `type`, `soapType`, `createable`,
//!   `updateable`, `nillable`, `externalId`, `idLookup`, `caseSensitive`,
//!   `length`, `precision`, `scale`): REST API Developer Guide, "sObject
//!   Describe" (resources-sobject-describe.html) and Object Reference,
//!   "Field Properties" (access-for-fields.html); type names in lower case as
//!   the JSON describe spells them (DisplayType enum, apex-enum-schema-displaytype).
//! - Setup objects: Apex Developer Guide, "sObjects That Can't Be Used
//!   Together in DML Operations" (apex-dml-non-mix-sobjects.html).
//!
//! Objects with no schema here (the other standard objects, custom objects
//! a test does not define) stay open: any field name is accepted and values
//! are not typed; they are not described (404).

use serde_json::{json, Value};

use super::record::{Fields, RecordError};
use super::Simulator;

// === the test API ===

impl Simulator {
    /// sObject Collections calls (`composite/sobjects`), failed ones
    /// included.
    pub fn collections_calls(&self) -> usize {
        self.shared
            .state()
            .calls
            .iter()
            .filter(|c| c.path.contains("/composite/sobjects"))
            .count()
    }

    /// Adds or replaces an sObject's schema (fields, types, access): its
    /// writes are then type-checked and it can be described.
    pub fn define(&self, schema: ObjectSchema) {
        self.shared.state().define(schema);
    }
}

/// A field type, spelled as `describe` spells it in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Id,
    String,
    Textarea,
    Email,
    Picklist,
    Reference,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    Datetime,
}

impl FieldType {
    /// The `type` key of describe.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::String => "string",
            FieldType::Textarea => "textarea",
            FieldType::Email => "email",
            FieldType::Picklist => "picklist",
            FieldType::Reference => "reference",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
        }
    }

    /// The `soapType` key of describe ("Field Properties", SOAPType enum).
    pub fn soap_type(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::Int => "xsd:int",
            FieldType::Double | FieldType::Currency | FieldType::Percent => "xsd:double",
            FieldType::Date => "xsd:date",
            FieldType::Datetime => "xsd:dateTime",
            _ => "xsd:string",
        }
    }
}

/// One field of an sObject.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSchema {
    /// API name (matched case-insensitively, like Salesforce field names).
    pub name: String,
    pub field_type: FieldType,
    /// Can be set on insert through the API.
    pub createable: bool,
    /// Can be set on update through the API.
    pub updateable: bool,
    /// Marked External ID (usable as the upsert key).
    pub external_id: bool,
    /// Values compare case-sensitively (matters for external id matching).
    pub case_sensitive: bool,
}

impl FieldSchema {
    /// A createable and updateable field.
    pub fn new(name: &str, field_type: FieldType) -> FieldSchema {
        FieldSchema {
            name: name.to_owned(),
            field_type,
            createable: true,
            updateable: true,
            external_id: false,
            case_sensitive: false,
        }
    }

    /// Set by the system only (`Id`, `CreatedDate`).
    pub fn read_only(mut self) -> FieldSchema {
        self.createable = false;
        self.updateable = false;
        self
    }

    /// Marked External ID.
    pub fn external_id(mut self) -> FieldSchema {
        self.external_id = true;
        self
    }

    /// Case-sensitive values.
    pub fn case_sensitive(mut self) -> FieldSchema {
        self.case_sensitive = true;
        self
    }

    /// Can be set on insert only.
    pub fn create_only(mut self) -> FieldSchema {
        self.updateable = false;
        self
    }

    fn describe(&self) -> Value {
        let id_lookup = self.external_id || self.field_type == FieldType::Id;
        let (length, precision, scale) = match self.field_type {
            FieldType::Currency => (0, 18, 2),
            FieldType::Double | FieldType::Percent => (0, 18, 4),
            FieldType::Int | FieldType::Boolean | FieldType::Date | FieldType::Datetime => {
                (0, 0, 0)
            }
            FieldType::Id | FieldType::Reference => (18, 0, 0),
            FieldType::Textarea => (32_768, 0, 0),
            _ => (255, 0, 0),
        };
        json!({
            "name": self.name,
            "label": self.name.trim_end_matches("__c").replace('_', " "),
            "type": self.field_type.name(),
            "soapType": self.field_type.soap_type(),
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.field_type != FieldType::Id && self.field_type != FieldType::Boolean,
            "externalId": self.external_id,
            "idLookup": id_lookup,
            "unique": self.external_id,
            "caseSensitive": self.case_sensitive,
            "custom": self.name.ends_with("__c"),
            "length": length,
            "precision": precision,
            "scale": scale,
            "digits": if self.field_type == FieldType::Int { 9 } else { 0 },
        })
    }
}

/// An sObject with its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSchema {
    pub name: String,
    pub fields: Vec<FieldSchema>,
}

impl ObjectSchema {
    /// An object with `Id`, `Name` and `CreatedDate`, plus `fields`.
    pub fn new(name: &str, fields: Vec<FieldSchema>) -> ObjectSchema {
        let mut all = vec![
            FieldSchema::new("Id", FieldType::Id).read_only(),
            FieldSchema::new("Name", FieldType::String),
            FieldSchema::new("CreatedDate", FieldType::Datetime).read_only(),
        ];
        all.extend(fields);
        ObjectSchema {
            name: name.to_owned(),
            fields: all,
        }
    }

    /// A field by case-insensitive name.
    pub fn field(&self, name: &str) -> Option<&FieldSchema> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The fields that cannot be set on insert (`create`) or update:
    /// `INVALID_FIELD_FOR_INSERT_UPDATE` ("Field Properties": `createable`,
    /// `updateable`).
    pub(super) fn check_access(&self, fields: &Fields, create: bool) -> Result<(), RecordError> {
        let refused: Vec<String> = fields
            .keys()
            .filter(|k| {
                self.field(k)
                    .is_some_and(|f| if create { !f.createable } else { !f.updateable })
            })
            .cloned()
            .collect();
        if refused.is_empty() {
            return Ok(());
        }
        let mut e = RecordError::new(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to {} fields: {}. Please check the security settings of this field and \
                 verify that it is read/write for your profile or permission set.",
                if create { "create" } else { "update" },
                refused.join(", ")
            ),
        );
        e.fields = refused;
        Err(e)
    }

    /// The `describe` body: the object's metadata with its `fields` array
    /// ("sObject Describe", resources-sobject-describe.html).
    pub fn describe(&self) -> Value {
        json!({
            "name": self.name,
            "label": self.name.trim_end_matches("__c").replace('_', " "),
            "custom": self.name.ends_with("__c"),
            "createable": true,
            "updateable": true,
            "queryable": true,
            "fields": self.fields.iter().map(FieldSchema::describe).collect::<Vec<_>>(),
        })
    }
}

/// Setup objects: DML on them cannot be mixed with DML on other objects in
/// one transaction (Apex Developer Guide, "sObjects That Can't Be Used
/// Together in DML Operations"; the list there is "not exhaustive").
const SETUP_OBJECTS: &[&str] = &[
    "AuthSession",
    "ContentWorkspace",
    "FieldPermissions",
    "ForecastingShare",
    "Group",
    "GroupMember",
    "ObjectPermissions",
    "ObjectTerritory2AssignmentRule",
    "ObjectTerritory2AssignmentRuleItem",
    "PermissionSet",
    "PermissionSetAssignment",
    "QueueSObject",
    "RuleTerritory2Association",
    "SetupEntityAccess",
    "Territory",
    "Territory2",
    "Territory2Model",
    "User",
    "UserPackageLicense",
    "UserRole",
    "UserTerritory",
    "UserTerritory2Association",
];

/// Whether `sobject` is a setup object.
pub fn is_setup(sobject: &str) -> bool {
    SETUP_OBJECTS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(sobject))
}

/// The schemas every simulated org starts with: the objects of the README
/// demo and the worker tests (tests may define more or replace these).
pub fn defaults() -> Vec<ObjectSchema> {
    use FieldType as T;
    let status = || FieldSchema::new("Integration_Status__c", T::String);
    let synced = || FieldSchema::new("Last_Synced__c", T::Datetime);
    vec![
        ObjectSchema::new(
            "Account",
            vec![
                status(),
                synced(),
                FieldSchema::new("AnnualRevenue", T::Currency),
                FieldSchema::new("NumberOfEmployees", T::Int),
                FieldSchema::new("Description", T::Textarea),
                FieldSchema::new("Active__c", T::Boolean),
                FieldSchema::new("Customer_Since__c", T::Date),
                FieldSchema::new("Account_Key__c", T::String).external_id(),
            ],
        ),
        ObjectSchema::new(
            "Contact",
            vec![
                status(),
                synced(),
                FieldSchema::new("LastName", T::String),
                FieldSchema::new("Email", T::Email),
                FieldSchema::new("Contact_Key__c", T::String).external_id(),
            ],
        ),
        ObjectSchema::new(
            "User",
            vec![
                status(),
                synced(),
                FieldSchema::new("IsActive", T::Boolean),
                FieldSchema::new("Title", T::String),
                FieldSchema::new("Username", T::String).create_only(),
            ],
        ),
        ObjectSchema::new(
            "Payment__c",
            vec![
                FieldSchema::new("Stripe_Id__c", T::String)
                    .external_id()
                    .case_sensitive(),
                FieldSchema::new("Amount__c", T::Currency),
                FieldSchema::new("Paid__c", T::Boolean),
                FieldSchema::new("Paid_On__c", T::Date),
                FieldSchema::new("Paid_At__c", T::Datetime),
                FieldSchema::new("Source__c", T::String),
                FieldSchema::new("Status__c", T::Picklist),
                FieldSchema::new("Legacy_Key__c", T::String),
                FieldSchema::new("Origin__c", T::String).create_only(),
            ],
        ),
    ]
}

/// Why a value does not fit a field: the Jackson token name and the
/// target type, for the `JSON_PARSER_ERROR` message.
pub fn check_value(field_type: FieldType, value: &Value) -> Result<(), &'static str> {
    let ok = match (field_type, value) {
        (_, Value::Null) => true,
        // An empty string clears the field like null (how Salesforce reads
        // "" for non-text fields is n/f in SALESFORCE.md: tolerated).
        (_, Value::String(s)) if s.is_empty() => true,
        (_, Value::Array(_) | Value::Object(_)) => false,
        (FieldType::Boolean, Value::Bool(_)) => true,
        (FieldType::Boolean, Value::String(s)) => {
            s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")
        }
        (FieldType::Boolean, _) => false,
        (FieldType::Int, Value::Number(n)) => n.is_i64(),
        (FieldType::Int, Value::String(s)) => s.trim().parse::<i64>().is_ok(),
        (FieldType::Double | FieldType::Currency | FieldType::Percent, Value::Number(_)) => true,
        (FieldType::Double | FieldType::Currency | FieldType::Percent, Value::String(s)) => {
            s.trim().parse::<f64>().is_ok_and(f64::is_finite)
        }
        (FieldType::Date, Value::String(s)) => is_date(s),
        (FieldType::Datetime, Value::String(s)) => is_datetime(s),
        (FieldType::Date | FieldType::Datetime, _) => false,
        (_, Value::Bool(_)) => !matches!(
            field_type,
            FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent
        ),
        // Text-like fields take strings and numbers (coerced to text).
        (_, Value::String(_) | Value::Number(_)) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(field_type.name())
    }
}

/// `yyyy-MM-dd`, a real calendar date.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|p| p.parse::<u32>().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// ISO 8601 `yyyy-MM-ddTHH:mm:ss[.fff][Z|+hh:mm|+hhmm]`.
pub fn is_datetime(s: &str) -> bool {
    let (Some(date), Some(rest)) = (s.get(..10), s.get(11..)) else {
        return false;
    };
    if !is_date(date) || s.as_bytes()[10] != b'T' || rest.len() < 8 {
        return false;
    }
    let (time, mut zone) = rest.split_at(8);
    let t = time.as_bytes();
    let two = |i: usize, max: u32| {
        time.get(i..i + 2)
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|v| v <= max)
    };
    if t[2] != b':' || t[5] != b':' || !two(0, 23) || !two(3, 59) || !two(6, 59) {
        return false;
    }
    if let Some(frac) = zone.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        zone = &frac[digits..];
    }
    match zone {
        "" | "Z" => true,
        z => {
            let z = z.as_bytes();
            (z[0] == b'+' || z[0] == b'-')
                && matches!(z.len(), 5 | 6)
                && z[1..].iter().filter(|c| c.is_ascii_digit()).count() == 4
        }
    }
}

/// Key prefixes of the standard objects the simulator accepts. Any name
/// ending in `__c` is a custom object (prefix assigned `a00`, `a01`, ...).
const STANDARD_OBJECTS: &[(&str, &str)] = &[
    ("Account", "001"),
    ("Contact", "003"),
    ("User", "005"),
    ("Opportunity", "006"),
    ("Lead", "00Q"),
    ("Task", "00T"),
    ("Event", "00U"),
    ("Product2", "01t"),
    ("Asset", "02i"),
    ("Case", "500"),
    ("Campaign", "701"),
    ("Contract", "800"),
    ("Order", "801"),
];

pub(super) fn standard_prefix(sobject: &str) -> Option<&'static str> {
    STANDARD_OBJECTS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(sobject))
        .map(|(_, p)| *p)
}

pub(super) fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() > suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}
