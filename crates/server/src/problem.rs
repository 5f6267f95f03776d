//! Every error the API returns, as RFC 9457 `application/problem+json` with a sentence a person
//! understands, and the model's issues (code, path, message) when there are any.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use careplan_model::Issue;
use careplan_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// A problem details document. `type` is a relative URI naming the kind of problem; `issues`
/// and `current_version` are extension members.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/sign-in-required", "title": "Sign-in required", "status": 401,
    "detail": "Sign in, or send a bearer token in the Authorization header"
}))]
pub struct Problem {
    /// A relative URI naming the kind of problem, such as `/problems/version-conflict`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    #[schema(value_type = String)]
    pub title: &'static str,
    /// The HTTP status code.
    #[serde(serialize_with = "status_code")]
    #[schema(value_type = u16)]
    pub status: StatusCode,
    /// What went wrong, in a sentence a person understands.
    pub detail: String,
    /// The rules of the plan a change breaks: each with a code, the path of the item and a
    /// message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub issues: Vec<Issue>,
    /// On a version conflict: the plan's version now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    pub current_version: Option<u64>,
}

fn status_code<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            kind,
            title,
            status,
            detail: detail.into(),
            issues: Vec::new(),
            current_version: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "/problems/bad-request",
            "The request could not be read",
            detail,
        )
    }

    pub fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "/problems/sign-in-required",
            "Sign-in required",
            "Sign in, or send a bearer token in the Authorization header",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::FORBIDDEN,
            "/problems/forbidden",
            "Not allowed",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "/problems/not-found",
            "Not found",
            detail,
        )
    }

    pub fn precondition_required() -> Problem {
        Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "/problems/if-match-required",
            "If-Match required",
            "Send If-Match with the version of the plan your change is based on, as returned in the ETag of the plan",
        )
    }

    pub fn too_many_requests(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "/problems/too-many-attempts",
            "Too many attempts",
            detail,
        )
    }

    pub fn internal() -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "/problems/internal",
            "Something went wrong",
            "The service could not complete this request; nothing was changed. Please try again, and tell the service desk if it keeps happening",
        )
    }
}

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Problem {
        match err {
            StoreError::NotFound(_) | StoreError::NoSuchVersion { .. } => {
                Problem::not_found(err.to_string())
            }
            StoreError::Conflict { current, .. } => Problem {
                current_version: Some(current.get()),
                ..Problem::new(
                    StatusCode::PRECONDITION_FAILED,
                    "/problems/version-conflict",
                    "The plan has changed",
                    err.to_string(),
                )
            },
            StoreError::Rejected(issues) => Problem {
                detail: careplan_model::issue::sentences(&issues),
                issues,
                ..Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "/problems/rejected",
                    "The change breaks a rule of the plan",
                    "",
                )
            },
            StoreError::DuplicatePerson(_) => Problem::new(
                StatusCode::CONFLICT,
                "/problems/duplicate-person",
                "Already exists",
                err.to_string(),
            ),
            StoreError::Forbidden(sentence) => Problem::forbidden(sentence),
            StoreError::Unauthenticated => Problem::unauthorized(),
            StoreError::NoSuchAccount(_) | StoreError::NoSuchPerson(_) => {
                Problem::not_found(err.to_string())
            }
            StoreError::DuplicateAccount(_) => Problem::new(
                StatusCode::CONFLICT,
                "/problems/duplicate-account",
                "Already exists",
                err.to_string(),
            ),
            StoreError::Config(_)
            | StoreError::Corrupt(_)
            | StoreError::Database(_)
            | StoreError::Migrate(_)
            | StoreError::Secret(_)
            | StoreError::Stale
            | StoreError::Audit(_) => {
                tracing::error!(error = %err, "store failure");
                Problem::internal()
            }
            other => {
                tracing::warn!(error = %other, "store error");
                Problem::bad_request(other.to_string())
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, Problem>;
