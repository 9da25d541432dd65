//! TEMPORARY stub (replaced by the decoding module).
#[derive(Debug)]
pub(crate) struct Codec(apache_avro::Schema);
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DecodeError(String);
impl Codec {
    pub(crate) fn parse(s: &str) -> Result<Codec, DecodeError> {
        apache_avro::Schema::parse_str(s)
            .map(Codec)
            .map_err(|e| DecodeError(e.to_string()))
    }
    pub(crate) fn decode(&self, p: &[u8]) -> Result<serde_json::Value, DecodeError> {
        let v = apache_avro::from_avro_datum(&self.0, &mut &p[..], None)
            .map_err(|e| DecodeError(e.to_string()))?;
        serde_json::Value::try_from(v).map_err(|e| DecodeError(e.to_string()))
    }
}
