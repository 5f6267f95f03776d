//! `GET /fhir/metadata`: the CapabilityStatement, built from the same tables the handlers use
//! (the search parameters, includes and writable types), so it states exactly what is served.

use axum::http::StatusCode;
use axum::response::Response;
use careplan_fhir::ResourceKind;
use serde_json::{Value, json};

use super::search::{REVINCLUDES, includes_of, search_params};
use super::write::WRITABLE;
use super::{check_format_uri, fhir_response};

/// The CapabilityStatement. Needs no sign-in: it describes the server, not anyone's data.
pub(crate) async fn metadata(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    match check_format_uri(&uri, &headers) {
        Ok(()) => fhir_response(StatusCode::OK, &capability_statement()),
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

pub(crate) fn capability_statement() -> Value {
    let resources: Vec<Value> = ResourceKind::ALL
        .iter()
        .map(|&kind| {
            let name = kind.as_str();
            let mut interactions = vec![
                json!({"code": "read"}),
                json!({"code": "vread"}),
                json!({"code": "history-instance"}),
                json!({"code": "history-type"}),
                json!({"code": "search-type"}),
            ];
            if WRITABLE.contains(&kind) {
                interactions.push(json!({"code": "create"}));
                interactions.push(json!({"code": "update"}));
            }
            let params: Vec<Value> = search_params(kind)
                .iter()
                .map(|(p, ty, doc)| json!({"name": p, "type": ty, "documentation": doc}))
                .collect();
            let mut r = json!({
                "type": name,
                "interaction": interactions,
                "versioning": "versioned",
                "readHistory": true,
                "updateCreate": false,
                "conditionalCreate": false,
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
                "searchParam": params,
            });
            let inc: Vec<String> = includes_of(kind)
                .iter()
                .map(|p| format!("{name}:{p}"))
                .collect();
            if !inc.is_empty() {
                r["searchInclude"] = json!(inc);
            }
            let rev: Vec<String> = REVINCLUDES
                .iter()
                .filter(|(_, _, target)| *target == kind)
                .map(|(source, p, _)| format!("{}:{p}", source.as_str()))
                .collect();
            if !rev.is_empty() {
                r["searchRevInclude"] = json!(rev);
            }
            match kind {
                ResourceKind::Patient => {
                    r["operation"] = json!([{
                        "name": "everything",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                        "documentation": "The person's whole plan as a Bundle, under their consent preferences; withheld sections are absent and an OperationOutcome entry says so"
                    }]);
                }
                ResourceKind::CarePlan => {
                    r["operation"] = json!([{
                        "name": "performer-view",
                        "definition": "https://careplan.example/fhir/OperationDefinition/CarePlan-performer-view",
                        "documentation": "CSP-10: GET CarePlan/{id}/$performer-view?performer=NAME: the CarePlan restricted to the goals and actions of one practitioner or organisation, with what they reference"
                    }, {
                        "name": "document",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Composition-document",
                        "documentation": "CSP-12, CSP-15: GET CarePlan/{id}/$document[?version=n]: the whole plan as it was at version n (default: now) as a document Bundle, a Composition first with the standard's sections; attested by whoever agreed exactly that version"
                    }]);
                }
                _ => {}
            }
            r
        })
        .chain(std::iter::once(json!({
            "type": "AuditEvent",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": super::audit::SEARCH_PARAMS
                .iter()
                .map(|(p, ty, doc)| json!({"name": p, "type": ty, "documentation": doc}))
                .collect::<Vec<_>>(),
            "documentation": "The audit trail (CSP-1): every read and write of plan data, and each override of the person's consent preferences (BTG as purposeOfEvent and the agent's purposeOfUse; the release itself with DICOM 110127). A data controller reads any of it; the person or their representative reads the entries about their own plan (search with patient=)."
        })))
        .chain(std::iter::once(json!({
            "type": "Binary",
            "interaction": [{"code": "read"}],
            "documentation": "An attached file's bytes (id = the attachment's DocumentReference id): the file itself, or with Accept: application/fhir+json a Binary with base64 data and securityContext naming the DocumentReference. Audited, under the person's consent preferences."
        })))
        .chain(["StructureDefinition", "CodeSystem"].map(|t| {
            json!({"type": t, "interaction": [{"code": "read"}, {"code": "search-type"}],
                   "documentation": "The profiles, extensions and code systems this server's resources use, at the paths of their canonical URLs"})
        }))
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-25",
        "publisher": "careplan",
        "kind": "instance",
        "software": {"name": "careplan", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "careplan: person-centred care and support plans (PRSB Core Information Standard)"},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "documentation": "Sign in with a bearer token (Authorization: Bearer cpt_...) or a session cookie with X-CSRF-Token on writes. Every read and write is under the person's consent preferences and audited. Unknown search parameters: 400 with Prefer: handling=strict, otherwise a warning in an OperationOutcome entry.",
            "security": {"cors": false, "description": "Bearer tokens or session cookies; consent-based access per plan and section (CSP-1)"},
            "resource": resources,
            "interaction": [{"code": "transaction", "documentation": "Creates a whole plan (a Patient entry with POST; its attachments may carry their files inline as base64 data, checked against their records) or changes one plan; all or nothing; up to 32 MiB"}],
        }],
    })
}
