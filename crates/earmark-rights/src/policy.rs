//! A track's sharing policy and its text form in `TrackMeta::policy`.
//!
//! The stored text is either a plain action word (`allow`, `block`, `monitor`), which
//! is what older catalogs hold, or a compact JSON object when the policy is limited:
//! `{"action":"block","territories":["DE","FR"],"from":"2024-01-01T00:00:00Z","until":"2025-01-01T00:00:00Z"}`.
//! [`Policy::encode`] writes the plain word whenever it says everything.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::timestamp::{format_rfc3339, parse_timestamp};

/// What a policy does with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Sharing is allowed.
    Allow,
    /// Sharing is refused.
    Block,
    /// Sharing is allowed, and the decision is reported to the rights holder.
    Monitor,
}

impl Action {
    /// The action's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
            Action::Monitor => "monitor",
        }
    }

    fn from_word(word: &str) -> Option<Self> {
        match word.trim().to_ascii_lowercase().as_str() {
            "allow" => Some(Action::Allow),
            "block" => Some(Action::Block),
            "monitor" => Some(Action::Monitor),
            _ => None,
        }
    }
}

/// A track's policy: an action, optionally limited to territories and to a validity
/// window `[from, until)`. Outside its limits a policy does not apply and the catalog
/// default decides.
///
/// It serialises as the JSON object form (times as RFC 3339) and deserialises from
/// either form, with times as RFC 3339 text or unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyRepr", into = "PolicyObject")]
pub struct Policy {
    /// What the policy does where and when it applies.
    pub action: Action,
    /// ISO 3166-1 alpha-2 codes, upper case, where the policy applies; `None`: everywhere.
    pub territories: Option<Vec<String>>,
    /// First second (unix) the policy applies; `None`: since always.
    pub from_unix_s: Option<i64>,
    /// First second (unix) the policy no longer applies; `None`: for ever.
    pub until_unix_s: Option<i64>,
}

/// Whether a policy applies to a request, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applicability {
    /// The policy applies.
    Applies,
    /// The request's territory is not among the policy's.
    OutsideTerritory,
    /// The policy is limited to territories and the request names none.
    TerritoryUnknown,
    /// The request is before the policy's `from`.
    NotYetValid,
    /// The request is at or after the policy's `until`.
    Expired,
}

impl Policy {
    /// An unlimited policy.
    pub fn new(action: Action) -> Self {
        Self {
            action,
            territories: None,
            from_unix_s: None,
            until_unix_s: None,
        }
    }

    /// Parses the stored text: a plain action word or the JSON object form.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`], [`Error::InvalidTerritory`] or
    /// [`Error::InvalidTimestamp`].
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.starts_with('{') || text.starts_with('"') {
            let repr: PolicyRepr =
                serde_json::from_str(text).map_err(|e| Error::InvalidPolicy {
                    reason: e.to_string(),
                })?;
            Policy::try_from(repr)
        } else {
            Action::from_word(text)
                .map(Policy::new)
                .ok_or_else(|| Error::InvalidPolicy {
                    reason: format!("unknown action {text:?}: expected allow, block or monitor"),
                })
        }
    }

    /// The text to store: the plain word when unlimited, else the compact JSON object.
    pub fn encode(&self) -> String {
        if self.territories.is_none() && self.from_unix_s.is_none() && self.until_unix_s.is_none() {
            return self.action.as_str().to_owned();
        }
        // A struct of strings and options always serialises.
        serde_json::to_string(&PolicyObject::from(self.clone())).unwrap_or_default()
    }

    /// Whether the policy applies in `territory` at `at_unix_s`.
    pub fn applies(&self, territory: Option<&str>, at_unix_s: i64) -> Applicability {
        if self.from_unix_s.is_some_and(|from| at_unix_s < from) {
            return Applicability::NotYetValid;
        }
        if self.until_unix_s.is_some_and(|until| at_unix_s >= until) {
            return Applicability::Expired;
        }
        match (&self.territories, territory) {
            (None, _) => Applicability::Applies,
            (Some(_), None) => Applicability::TerritoryUnknown,
            (Some(list), Some(t)) => {
                if list.iter().any(|c| c.eq_ignore_ascii_case(t)) {
                    Applicability::Applies
                } else {
                    Applicability::OutsideTerritory
                }
            }
        }
    }

    fn validated(mut self) -> Result<Self> {
        if let Some(list) = self.territories.as_mut() {
            if list.is_empty() {
                return Err(Error::InvalidPolicy {
                    reason: "territories is empty: omit it to apply everywhere".into(),
                });
            }
            for code in list.iter_mut() {
                *code = normalize_territory(code)?;
            }
            list.sort();
            list.dedup();
        }
        if let (Some(from), Some(until)) = (self.from_unix_s, self.until_unix_s)
            && from >= until
        {
            return Err(Error::InvalidPolicy {
                reason: "from must be before until".into(),
            });
        }
        Ok(self)
    }
}

/// Checks and upper-cases an ISO 3166-1 alpha-2 territory code.
///
/// # Errors
/// [`Error::InvalidTerritory`] unless the code is two ASCII letters.
pub fn normalize_territory(code: &str) -> Result<String> {
    let code = code.trim();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(Error::InvalidTerritory(code.to_owned()))
    }
}

/// A time in the JSON form: RFC 3339 text or unix seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum TimeRepr {
    Secs(i64),
    Text(String),
}

impl TimeRepr {
    fn secs(self) -> Result<i64> {
        match self {
            TimeRepr::Secs(s) => Ok(s),
            TimeRepr::Text(t) => parse_timestamp(&t),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyIn {
    action: String,
    #[serde(default)]
    territories: Option<Vec<String>>,
    #[serde(default)]
    from: Option<TimeRepr>,
    #[serde(default)]
    until: Option<TimeRepr>,
}

/// Any accepted JSON form: a word or an object.
#[derive(Deserialize)]
#[serde(untagged)]
enum PolicyRepr {
    Word(String),
    Object(PolicyIn),
}

impl TryFrom<PolicyRepr> for Policy {
    type Error = Error;
    fn try_from(repr: PolicyRepr) -> Result<Self> {
        match repr {
            PolicyRepr::Word(word) => {
                Action::from_word(&word)
                    .map(Policy::new)
                    .ok_or_else(|| Error::InvalidPolicy {
                        reason: format!(
                            "unknown action {word:?}: expected allow, block or monitor"
                        ),
                    })
            }
            PolicyRepr::Object(obj) => {
                let action =
                    Action::from_word(&obj.action).ok_or_else(|| Error::InvalidPolicy {
                        reason: format!(
                            "unknown action {:?}: expected allow, block or monitor",
                            obj.action
                        ),
                    })?;
                Policy {
                    action,
                    territories: obj.territories,
                    from_unix_s: obj.from.map(TimeRepr::secs).transpose()?,
                    until_unix_s: obj.until.map(TimeRepr::secs).transpose()?,
                }
                .validated()
            }
        }
    }
}

/// The object form as written.
#[derive(Serialize)]
struct PolicyObject {
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    territories: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<String>,
}

impl From<Policy> for PolicyObject {
    fn from(p: Policy) -> Self {
        Self {
            action: p.action,
            territories: p.territories,
            from: p.from_unix_s.map(format_rfc3339),
            until: p.until_unix_s.map(format_rfc3339),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_round_trip() {
        for (word, action) in [
            ("allow", Action::Allow),
            ("block", Action::Block),
            ("monitor", Action::Monitor),
            (" Block ", Action::Block),
            ("\"monitor\"", Action::Monitor),
        ] {
            let p = Policy::parse(word).expect(word);
            assert_eq!(p, Policy::new(action));
            assert_eq!(p.encode(), action.as_str());
        }
    }

    #[test]
    fn object_form_round_trips_and_normalises() {
        let p = Policy::parse(
            r#"{"action":"block","territories":["fr","DE","fr"],"from":"2024-01-01T00:00:00Z","until":1735689600}"#,
        )
        .expect("valid");
        assert_eq!(p.action, Action::Block);
        assert_eq!(p.territories, Some(vec!["DE".to_owned(), "FR".to_owned()]));
        assert_eq!(p.from_unix_s, Some(1_704_067_200));
        assert_eq!(p.until_unix_s, Some(1_735_689_600));
        let text = p.encode();
        assert_eq!(
            text,
            r#"{"action":"block","territories":["DE","FR"],"from":"2024-01-01T00:00:00Z","until":"2025-01-01T00:00:00Z"}"#
        );
        assert_eq!(Policy::parse(&text).expect("reparse"), p);
        // serde uses the same forms.
        let json = serde_json::to_string(&p).expect("serialise");
        assert_eq!(serde_json::from_str::<Policy>(&json).expect("back"), p);
        assert_eq!(
            serde_json::from_str::<Policy>("\"allow\"").expect("word"),
            Policy::new(Action::Allow)
        );
    }

    #[test]
    fn object_without_limits_encodes_as_word() {
        let p = Policy::parse(r#"{"action":"monitor"}"#).expect("valid");
        assert_eq!(p.encode(), "monitor");
    }

    #[test]
    fn rejects_bad_policies() {
        for bad in [
            "",
            "deny",
            "{",
            r#"{"action":"nope"}"#,
            r#"{"action":"block","territories":[]}"#,
            r#"{"action":"block","extra":1}"#,
            r#"{"action":"block","from":10,"until":10}"#,
        ] {
            assert!(
                matches!(Policy::parse(bad), Err(Error::InvalidPolicy { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Policy::parse(r#"{"action":"block","territories":["DEU"]}"#),
            Err(Error::InvalidTerritory(_))
        ));
        assert!(matches!(
            Policy::parse(r#"{"action":"block","from":"soon"}"#),
            Err(Error::InvalidTimestamp(_))
        ));
    }

    #[test]
    fn applicability() {
        let p = Policy {
            action: Action::Block,
            territories: Some(vec!["DE".into()]),
            from_unix_s: Some(100),
            until_unix_s: Some(200),
        };
        assert_eq!(p.applies(Some("de"), 100), Applicability::Applies);
        assert_eq!(p.applies(Some("DE"), 199), Applicability::Applies);
        assert_eq!(p.applies(Some("DE"), 99), Applicability::NotYetValid);
        assert_eq!(p.applies(Some("DE"), 200), Applicability::Expired);
        assert_eq!(p.applies(Some("FR"), 150), Applicability::OutsideTerritory);
        assert_eq!(p.applies(None, 150), Applicability::TerritoryUnknown);
        assert_eq!(
            Policy::new(Action::Allow).applies(None, i64::MIN),
            Applicability::Applies
        );
    }
}

/// The JSON schema of [`Policy`]: its serde forms are hand-written (a word or an
/// object, times as text or seconds), so its schema is too, next to them.
#[cfg(feature = "openapi")]
mod schema {
    use utoipa::openapi::schema::{
        AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat,
        Type,
    };
    use utoipa::openapi::{RefOr, Schema};
    use utoipa::{PartialSchema, ToSchema};

    use super::{Action, Policy};

    fn action_ref() -> RefOr<Schema> {
        RefOr::Ref(utoipa::openapi::Ref::from_schema_name(Action::name()))
    }

    fn time() -> OneOfBuilder {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("unix seconds")),
            )
    }

    impl PartialSchema for Policy {
        fn schema() -> RefOr<Schema> {
            let object = ObjectBuilder::new()
                .property("action", action_ref())
                .required("action")
                .property(
                    "territories",
                    ArrayBuilder::new()
                        .items(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .pattern(Some("^[A-Za-z]{2}$")),
                        )
                        .description(Some(
                            "ISO 3166-1 alpha-2 codes where the policy applies; absent: everywhere",
                        )),
                )
                .property(
                    "from",
                    time().description(Some("first moment the policy applies")),
                )
                .property(
                    "until",
                    time().description(Some("first moment the policy no longer applies")),
                )
                .additional_properties(Some(AdditionalProperties::FreeForm(false)));
            OneOfBuilder::new()
                .item(action_ref())
                .item(object)
                .description(Some(
                    "An action word, or the object form limited to territories and a window \
                     [from, until). Answers always use the object form, times as RFC 3339.",
                ))
                .into()
        }
    }

    impl ToSchema for Policy {
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((Action::name().into_owned(), Action::schema()));
        }
    }
}
