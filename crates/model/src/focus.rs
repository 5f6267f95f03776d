//! CSP-10: the goals and actions that are one professional's or organisation's focus, so that
//! their own care plan system can take just its part of the person's plan.

use crate::plan::Plan;
use crate::values::ItemId;

/// The active actions a performer carries out, and the goals those actions work towards (in the
/// person's order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Focus {
    pub goals: Vec<ItemId>,
    pub actions: Vec<ItemId>,
}

/// The focus of `performer`: actions whose performer's name or organisation is `performer`
/// (ignoring case and surrounding space), and their goals.
pub fn focus_of(plan: &Plan, performer: &str) -> Focus {
    let wanted = performer.trim().to_lowercase();
    let matches = |text: Option<&crate::values::Text>| {
        text.is_some_and(|t| t.as_str().to_lowercase() == wanted)
    };
    let actions: Vec<ItemId> = plan
        .actions
        .iter()
        .filter(|(_, a)| a.meta.is_active())
        .filter(|(_, a)| {
            matches(a.performer.name.as_ref()) || matches(a.performer.organisation.as_ref())
        })
        .map(|(id, _)| id.clone())
        .collect();
    let goals = plan
        .goals_in_order()
        .into_iter()
        .filter(|(gid, _)| actions.iter().any(|a| plan.actions[a].goal == **gid))
        .map(|(gid, _)| gid.clone())
        .collect();
    Focus { goals, actions }
}
