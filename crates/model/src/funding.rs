//! CSP-13 Care funding source: the source only, never amounts or funding details.

use serde::{Deserialize, Serialize};

use crate::meta::ItemMeta;
use crate::values::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FundingSourceKind {
    PersonalBudget,
    PersonalHealthBudget,
    DirectPayment,
    NhsContinuingHealthcare,
    LocalAuthority,
    SelfFunded,
    Joint,
    Other,
}

impl FundingSourceKind {
    pub fn label(self) -> &'static str {
        match self {
            FundingSourceKind::PersonalBudget => "personal budget",
            FundingSourceKind::PersonalHealthBudget => "personal health budget",
            FundingSourceKind::DirectPayment => "direct payment",
            FundingSourceKind::NhsContinuingHealthcare => "NHS continuing healthcare",
            FundingSourceKind::LocalAuthority => "local authority",
            FundingSourceKind::SelfFunded => "self-funded",
            FundingSourceKind::Joint => "joint funding",
            FundingSourceKind::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundingSource {
    pub meta: ItemMeta,
    pub source: FundingSourceKind,
    /// Where the funding details are held (a document or system reference), never the details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details_held_at: Option<Text>,
}

/// True when text looks like it states an amount of money (£120, 1,200.00 GBP, 45 pounds).
/// Funding amounts belong in the documents the reference points to, not in the plan.
pub fn mentions_money(text: &str) -> bool {
    let lower = text.to_lowercase();
    if lower.contains('£') || lower.contains('€') || lower.contains('$') {
        return true;
    }
    let words: Vec<&str> = lower.split_whitespace().collect();
    words.windows(2).any(|w| {
        w[0].trim_matches(|c: char| c == ',' || c == '.')
            .chars()
            .any(|c| c.is_ascii_digit())
            && w[0]
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
            && matches!(
                w[1].trim_end_matches(['.', ',', ';']),
                "gbp" | "pounds" | "pound" | "pence"
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp13_money_is_recognised() {
        assert!(mentions_money("£240 a week"));
        assert!(mentions_money("1,200.00 GBP per month"));
        assert!(mentions_money("45 pounds"));
        assert!(!mentions_money(
            "Support plan document SP-2291, Leeds City Council"
        ));
        assert!(!mentions_money("case 12345 on the council's system"));
    }
}
