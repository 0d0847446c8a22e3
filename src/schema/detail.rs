//! One item of an error's list of details, whatever the schema.

use super::text::{BodyStr, RawJson};
use super::JsonType;

/// One item of an error's list of details: a Graph `error.details` entry, a Partner Center
/// `data` entry, or one message of a problem details `errors` extension.
///
/// Every field refers into the body's bytes, as [`BodyStr`]s do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Detail {
    /// The item's `code`: a string as sent, a number as its text as sent.
    pub code: Option<BodyStr>,
    /// The item's `message` (or `description`), or the item itself when it is a string.
    pub message: Option<BodyStr>,
    /// The item's `target`, or the field a problem details validation message is about.
    pub target: Option<BodyStr>,
}

impl Detail {
    /// The details listed in `list`, a JSON array; empty when it is not one. Items that are
    /// neither strings nor objects are left out.
    pub(super) fn list(list: &RawJson) -> Vec<Self> {
        list.elements().iter().filter_map(Self::item).collect()
    }

    /// One item: a string is its message; an object gives its `code`, `message` (or
    /// `description`) and `target`.
    fn item(item: &RawJson) -> Option<Self> {
        match item.json_type() {
            JsonType::String => Some(Self {
                message: item.to_str(),
                ..Self::default()
            }),
            JsonType::Object => {
                let mut detail = Self::default();
                let mut description = None;
                for (key, value) in item.fields() {
                    let slot = match key.as_str() {
                        "code" if value.json_type() == JsonType::Number => {
                            detail.code = Some(value.number_text());
                            continue;
                        }
                        "code" => &mut detail.code,
                        "message" => &mut detail.message,
                        "description" => &mut description,
                        "target" => &mut detail.target,
                        _ => continue,
                    };
                    *slot = value.to_str();
                }
                detail.message = detail.message.or(description);
                Some(detail)
            }
            _ => None,
        }
    }
}
