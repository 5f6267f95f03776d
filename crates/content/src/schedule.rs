//! The weekly schedule (CSP-7) as an accessible HTML table. The schedule itself, and its rules,
//! are the model's (`careplan_model::schedule`).

pub use careplan_model::schedule::{Cell, ClockTime, Day, ScheduleError, TimeSlot, WeeklySchedule};

use crate::escape::escape;

/// Renders a schedule as an accessible HTML table.
///
/// The table has a `<caption>` (`caption`, or "Weekly schedule" when it is blank), a header row
/// of `<th scope="col">` for "Time" and the seven days Monday to Sunday, and one row per slot
/// whose `<th scope="row">` gives its time (and label); each cell says what happens and, when
/// someone is named, "Who helps: …". Days with nothing in a slot are empty cells. Every piece of
/// text is escaped.
pub fn schedule_table(schedule: &WeeklySchedule, caption: &str) -> String {
    let caption = match caption.trim() {
        "" => "Weekly schedule",
        given => given,
    };
    let mut html = String::with_capacity(256 + schedule.slots().len() * 512);
    html.push_str("<table class=\"weekly-schedule\">\n");
    html.push_str(&format!("<caption>{}</caption>\n", escape(caption)));
    html.push_str("<thead>\n<tr><th scope=\"col\">Time</th>");
    for day in Day::ALL {
        html.push_str(&format!("<th scope=\"col\">{}</th>", day.name()));
    }
    html.push_str("</tr>\n</thead>\n<tbody>\n");
    for slot in schedule.slots() {
        html.push_str(&format!(
            "<tr><th scope=\"row\">{}",
            escape(&slot.time_range())
        ));
        if let Some(label) = &slot.label {
            html.push_str(&format!(
                "<br><span class=\"slot-label\">{}</span>",
                escape(label.as_str())
            ));
        }
        html.push_str("</th>");
        for day in Day::ALL {
            match slot.days.get(&day) {
                Some(cell) => {
                    html.push_str(&format!(
                        "<td><span class=\"what\">{}</span>",
                        escape(cell.what.as_str())
                    ));
                    if let Some(who) = &cell.who {
                        html.push_str(&format!(
                            "<br><span class=\"who\">Who helps: {}</span>",
                            escape(who.as_str())
                        ));
                    }
                    html.push_str("</td>");
                }
                None => html.push_str("<td></td>"),
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n");
    html
}
