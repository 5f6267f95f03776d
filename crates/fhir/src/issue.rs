//! Why a Bundle could not be imported, and the OperationOutcome that says so.

use std::fmt;

use serde_json::{Value, json};

/// How bad an issue is (FHIR `IssueSeverity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// What kind of issue it is (the FHIR `IssueType` codes we use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueType {
    /// The content is not FHIR as expected (wrong JSON type, unknown resource type).
    Structure,
    /// A required element is missing.
    Required,
    /// An element's value is not acceptable.
    Value,
    /// An element or extension that the care plan cannot hold.
    NotSupported,
    /// A reference names nothing in the Bundle.
    NotFound,
    /// The care plan's rules refuse the content (a goal with no need…).
    BusinessRule,
    /// Not a problem: something the reader should know.
    Informational,
}

impl IssueType {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::Structure => "structure",
            IssueType::Required => "required",
            IssueType::Value => "value",
            IssueType::NotSupported => "not-supported",
            IssueType::NotFound => "not-found",
            IssueType::BusinessRule => "business-rule",
            IssueType::Informational => "informational",
        }
    }
}

/// One issue: its severity and type, where it is (a FHIRPath expression such as
/// `Bundle.entry[3].resource.gender`), and a sentence a person understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirIssue {
    pub severity: Severity,
    pub code: IssueType,
    pub expression: String,
    pub message: String,
}

impl FhirIssue {
    pub fn error(
        code: IssueType,
        expression: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            code,
            expression: expression.into(),
            message: message.into(),
        }
    }

    pub fn information(expression: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Information,
            code: IssueType::Informational,
            expression: expression.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FhirIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.expression, self.message)
    }
}

/// The issues as a FHIR R4 OperationOutcome. With no issues it holds one `information` issue
/// saying so, because an OperationOutcome must have at least one.
pub fn operation_outcome(issues: &[FhirIssue]) -> Value {
    let list: Vec<Value> = if issues.is_empty() {
        vec![json!({
            "severity": "information",
            "code": "informational",
            "details": {"text": "No issues were found."},
        })]
    } else {
        issues
            .iter()
            .map(|i| {
                let mut o = json!({
                    "severity": i.severity.as_str(),
                    "code": i.code.as_str(),
                    "details": {"text": i.message},
                });
                if !i.expression.is_empty() {
                    o["expression"] = json!([i.expression]);
                }
                o
            })
            .collect()
    };
    json!({"resourceType": "OperationOutcome", "issue": list})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_outcome_lists_every_issue_with_its_expression() {
        let oo = operation_outcome(&[
            FhirIssue::error(
                IssueType::NotSupported,
                "Bundle.entry[0].resource.gender",
                "The care plan cannot hold Patient.gender",
            ),
            FhirIssue::information("Bundle.entry[9]", "Provenance is not imported"),
        ]);
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert_eq!(oo["issue"][0]["severity"], "error");
        assert_eq!(oo["issue"][0]["code"], "not-supported");
        assert_eq!(
            oo["issue"][0]["expression"][0],
            "Bundle.entry[0].resource.gender"
        );
        assert_eq!(oo["issue"][1]["severity"], "information");
        let empty = operation_outcome(&[]);
        assert_eq!(empty["issue"].as_array().unwrap().len(), 1);
    }
}
