//! The careplan HTTP service: the JSON API under `/api/v1`, sign-in, health, readiness and
//! metrics. `app(state)` is the whole service as a `Router`; `serve` runs it.
//!
//! Architecture invariant: no SQL here. Every read and write of plan data goes through
//! `careplan_store::handle::Handle`, which decides access, redacts, and audits.

mod api;
mod app;
mod extract;
pub mod json;
mod problem;

pub use app::{AppState, BODY_LIMIT, app, serve};
pub use problem::Problem;
