//! The stored shapes: items and commands as versioned JSON text.
//!
//! Format 1 is the model's serde shape. Old versions must stay readable for ever, so a change to
//! a stored shape adds a new format number and a reader for the old one here, never an edit of
//! the model's serde attributes alone.

use careplan_model::{Command, Item, ItemKind, ItemRef, Timestamp, deserialize_item};

use crate::StoreError;

pub const ITEM_FORMAT: i64 = 1;
pub const COMMAND_FORMAT: i64 = 1;

pub fn encode_item(item: ItemRef<'_>) -> Result<String, StoreError> {
    serde_json::to_string(&item)
        .map_err(|e| StoreError::Corrupt(format!("an item could not be written: {e}")))
}

pub fn decode_item(kind: &str, format: i64, body: &str) -> Result<(ItemKind, Item), StoreError> {
    let kind = ItemKind::parse(kind).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if format != ITEM_FORMAT {
        return Err(StoreError::Corrupt(format!(
            "item format {format} is newer than this program"
        )));
    }
    let mut de = serde_json::Deserializer::from_str(body);
    let item = deserialize_item(kind, &mut de).map_err(|e| {
        StoreError::Corrupt(format!("a stored {} could not be read: {e}", kind.as_str()))
    })?;
    Ok((kind, item))
}

pub fn encode_command(command: &Command) -> Result<String, StoreError> {
    serde_json::to_string(command)
        .map_err(|e| StoreError::Corrupt(format!("a command could not be written: {e}")))
}

pub fn decode_command(format: i64, body: &str) -> Result<Command, StoreError> {
    if format != COMMAND_FORMAT {
        return Err(StoreError::Corrupt(format!(
            "command format {format} is newer than this program"
        )));
    }
    serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("a stored command could not be read: {e}")))
}

pub fn decode_time(text: &str) -> Result<Timestamp, StoreError> {
    Timestamp::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn to_i64(v: u64) -> i64 {
    i64::try_from(v).expect("version numbers stay below 2^63")
}
