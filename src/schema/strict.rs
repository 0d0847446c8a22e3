//! Which violations strict mode rejects.

use super::{Severity, Violation, ViolationKind};

/// Which [`Violation`]s make a body unacceptable in
/// [strict mode](crate::PartnerErrorsLayer::strict).
///
/// By default it rejects every [breach](Severity::Breach) and accepts every
/// [known deviation](Severity::KnownDeviation) (see [`ViolationKind::severity`]); single kinds
/// can be moved either way. Pure and `Copy`: the layer asks it, and so can anyone holding
/// violations.
///
/// # Example
///
/// ```
/// use partner_center_errors::schema::{self, Field, StrictPolicy, ViolationKind};
///
/// // What Partner Center really sends: a numeric code and no `source`.
/// let parsed = schema::parse(br#"{"code":3000,"description":"No such customer."}"#, None);
/// assert_eq!(parsed.violations.len(), 2);
/// assert!(!StrictPolicy::new().rejects_any(&parsed.violations));
///
/// // A user who needs `source` tightens that one kind.
/// let tight = StrictPolicy::new().reject(ViolationKind::Missing(Field::Source));
/// assert!(tight.rejects_any(&parsed.violations));
///
/// // An empty description is a breach, unless loosened.
/// let parsed = schema::parse(br#"{"code":"1","description":"","source":"PartnerFD"}"#, None);
/// assert!(StrictPolicy::new().rejects_any(&parsed.violations));
/// let loose = StrictPolicy::new().accept(ViolationKind::EmptyDescription);
/// assert!(!loose.rejects_any(&parsed.violations));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StrictPolicy {
    /// Kinds rejected whatever their severity.
    rejected: u64,
    /// Kinds accepted whatever their severity.
    accepted: u64,
}

impl StrictPolicy {
    /// Returns the default policy: breaches rejected, known deviations accepted.
    pub const fn new() -> Self {
        Self {
            rejected: 0,
            accepted: 0,
        }
    }

    /// Rejects violations of `kind`, whatever their severity.
    #[must_use]
    pub fn reject(mut self, kind: ViolationKind) -> Self {
        let bit = 1u64 << kind.bit();
        self.rejected |= bit;
        self.accepted &= !bit;
        self
    }

    /// Accepts violations of `kind`, whatever their severity.
    #[must_use]
    pub fn accept(mut self, kind: ViolationKind) -> Self {
        let bit = 1u64 << kind.bit();
        self.accepted |= bit;
        self.rejected &= !bit;
        self
    }

    /// Returns whether `violation` makes a body unacceptable.
    pub fn rejects(&self, violation: &Violation) -> bool {
        let kind = violation.kind();
        let bit = 1u64 << kind.bit();
        if self.rejected & bit != 0 {
            return true;
        }
        if self.accepted & bit != 0 {
            return false;
        }
        kind.severity() == Severity::Breach
    }

    /// Returns whether any of `violations` makes a body unacceptable.
    pub fn rejects_any(&self, violations: &[Violation]) -> bool {
        violations.iter().any(|violation| self.rejects(violation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Field, JsonType};

    #[test]
    fn every_kind_the_parser_produces_has_its_own_bit() {
        use Field::*;
        let mut kinds = vec![
            ViolationKind::EmptyBody,
            ViolationKind::NotJson,
            ViolationKind::NotObject,
            ViolationKind::ForeignEnvelope,
            ViolationKind::EmptyDescription,
            ViolationKind::DescriptionTooLong,
            ViolationKind::WrongEnvelope,
            ViolationKind::StatusMismatch,
            ViolationKind::NotProblemMediaType,
            ViolationKind::Encoded,
        ];
        let types = [
            JsonType::Bool,
            JsonType::Number,
            JsonType::String,
            JsonType::Array,
            JsonType::Object,
        ];
        for field in [Code, Description, Data, Source] {
            kinds.extend(types.map(|found| ViolationKind::WrongType(field, found)));
        }
        for field in [
            Code,
            Description,
            Data,
            Source,
            GraphError,
            GraphCode,
            GraphMessage,
        ] {
            kinds.push(ViolationKind::Missing(field));
            kinds.push(ViolationKind::Null(field));
        }
        let others = [
            GraphError,
            GraphCode,
            GraphMessage,
            GraphTarget,
            GraphDetails,
            GraphInnerError,
            ProblemType,
            ProblemTitle,
            ProblemStatus,
            ProblemDetail,
            ProblemInstance,
        ];
        kinds.extend(others.map(|field| ViolationKind::WrongType(field, JsonType::String)));
        let mut bits: Vec<u32> = kinds.iter().map(|kind| kind.bit()).collect();
        assert!(bits.iter().all(|&bit| bit < 63), "{bits:?}");
        bits.sort_unstable();
        bits.dedup();
        assert_eq!(bits.len(), kinds.len());
        // Kinds the parser never produces share bit 63: moving one moves no produced kind.
        let never = ViolationKind::Missing(ProblemTitle);
        assert_eq!(never.bit(), 63);
        assert_eq!(ViolationKind::Null(GraphTarget).bit(), 63);
        let tight = StrictPolicy::new().reject(never);
        for kind in &kinds {
            assert_ne!(kind.bit(), 63, "{kind:?}");
        }
        assert!(!tight.rejects(&Violation::NotProblemMediaType));
        // A wrong type of null is the field's null.
        let policy = StrictPolicy::new().accept(ViolationKind::Null(GraphCode));
        assert!(!policy.rejects(&Violation::WrongType {
            field: GraphCode,
            expected: JsonType::String,
            found: JsonType::Null
        }));
    }

    #[test]
    fn the_layer_settings_stay_small() {
        // Each response future carries the layer's settings: the policy adds two words.
        assert_eq!(std::mem::size_of::<StrictPolicy>(), 16);
    }
}
