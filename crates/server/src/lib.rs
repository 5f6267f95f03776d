//! The careplan HTTP service: the JSON API under `/api/v1`, sign-in, health, readiness and
//! metrics. `app(state)` is the whole service as a `Router`; `serve` runs it; `openapi` is its
//! OpenAPI 3.1 document, served at `/api/v1/openapi.json`.
//!
//! Architecture invariant: no SQL here. Every read and write of plan data goes through
//! `careplan_store::handle::Handle`, which decides access, redacts, and audits.

mod api;
mod app;
mod attachments;
mod extract;
mod fhir;
pub mod json;
pub mod openapi;
mod problem;

pub use app::{AppState, BODY_LIMIT, app, routes, serve};
pub use attachments::carried_files;
pub use problem::Problem;
