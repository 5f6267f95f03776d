//! Rich content for a care and support plan (CSP-7), as pure functions from values to text.
//!
//! - [`render_markdown`] turns what a person wrote (CommonMark with tables) into HTML that is safe
//!   to put in a page, and [`plain_text`] into plain text for summaries and the CLI. Stored text
//!   stays exactly as written; these only render it.
//! - [`WeeklySchedule`] is a structured week (Monday to Sunday × time slots, each cell saying what
//!   happens and who helps), validated when it is built or deserialised; [`schedule_table`]
//!   renders it as an accessible HTML table.
//! - [`ProgressSeries`] holds dated progress records on a [`ChartScale`]; [`progress_svg`] draws
//!   them as a standalone SVG 1.1 chart and [`progress_table`] gives the same data as an HTML table
//!   for screen readers (CSP-3).
//!
//! ```
//! use careplan_content::render_markdown;
//!
//! let html = render_markdown("**Walk** to the [shop](javascript:alert(1)) <script>x</script>");
//! assert_eq!(
//!     html,
//!     "<p><strong>Walk</strong> to the shop &lt;script&gt;x&lt;/script&gt;</p>\n"
//! );
//! ```
//!
//! Nothing here does I/O, reads a clock or runs scripts; every piece of text that reaches the
//! output is escaped or sanitised.

mod escape;
mod markdown;
mod progress;
mod schedule;

pub use markdown::{plain_text, render_markdown};
pub use progress::{
    ChartError, ChartScale, ProgressPoint, ProgressSeries, progress_svg, progress_table,
};
pub use schedule::{Cell, ClockTime, Day, ScheduleError, TimeSlot, WeeklySchedule, schedule_table};
