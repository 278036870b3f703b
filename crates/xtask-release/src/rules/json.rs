//! What the tools' JSON has in common: a list with nothing in it is often `null` (Go's nil slice,
//! in trivy's reports, buildx's check results, SBOMs and `docker info`), read here as empty.

use serde::{Deserialize, Deserializer};

/// A JSON `null` read as an empty list (`#[serde(deserialize_with = "nullable")]`).
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct List {
        #[serde(default, deserialize_with = "super::nullable")]
        items: Vec<u8>,
    }

    #[test]
    fn null_and_missing_read_as_empty() {
        for (text, items) in [(r#"{"items":null}"#, vec![]), ("{}", vec![]), (r#"{"items":[1,2]}"#, vec![1, 2])] {
            assert_eq!(serde_json::from_str::<List>(text).unwrap().items, items, "{text}");
        }
        assert!(serde_json::from_str::<List>(r#"{"items":"x"}"#).is_err());
    }
}
