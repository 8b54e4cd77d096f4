//! Who may win, from the token's `gift` claim: the table of the product brief.
//!
//! | `gift.cw` | `gift.label` | eligibility  | label shown |
//! |-----------|--------------|--------------|-------------|
//! | `true`    | present      | `given-prize`| the label   |
//! | `true`    | absent       | `any-prize`  | none        |
//! | `false`   | either       | `cannot-win` | none        |
//! | absent    | present      | `given-prize`| the label   |
//! | absent    | absent       | `standard`   | none        |
//!
//! Eligibility says who *may* win; stock and the prize calendar decide on the server.

use crate::claims::Gift;

/// What a verified token allows its holder to win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Eligibility {
    /// May win the prize the token names (`gift.label`).
    GivenPrize,
    /// May win any prize of the campaign.
    AnyPrize,
    /// May take part but never wins.
    CannotWin,
    /// No say from the brand: the campaign runs as usual.
    Standard,
}

impl Eligibility {
    /// The eligibility and the prize label to show for a `gift` claim (absent: `None`).
    pub(crate) fn of(gift: Option<&Gift>) -> (Eligibility, Option<&str>) {
        let (cw, label) = gift.map_or((None, None), |g| (g.cw, g.label.as_deref()));
        match (cw, label) {
            (Some(false), _) => (Eligibility::CannotWin, None),
            (_, Some(label)) => (Eligibility::GivenPrize, Some(label)),
            (Some(true), None) => (Eligibility::AnyPrize, None),
            (None, None) => (Eligibility::Standard, None),
        }
    }

    /// The kebab-case name used in JSON, in `data-token-eligibility` and by the server.
    pub const fn as_str(self) -> &'static str {
        match self {
            Eligibility::GivenPrize => "given-prize",
            Eligibility::AnyPrize => "any-prize",
            Eligibility::CannotWin => "cannot-win",
            Eligibility::Standard => "standard",
        }
    }

    /// Whether a prize may be allocated at all.
    pub const fn may_win(self) -> bool {
        !matches!(self, Eligibility::CannotWin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gift(cw: Option<bool>, label: Option<&str>) -> Gift {
        Gift {
            cw,
            label: label.map(str::to_owned),
        }
    }

    #[test]
    fn every_row_of_the_table() {
        let l = Some("spa day");
        assert_eq!(
            Eligibility::of(Some(&gift(Some(true), l))),
            (Eligibility::GivenPrize, l)
        );
        assert_eq!(
            Eligibility::of(Some(&gift(Some(true), None))),
            (Eligibility::AnyPrize, None)
        );
        assert_eq!(
            Eligibility::of(Some(&gift(Some(false), l))),
            (Eligibility::CannotWin, None)
        );
        assert_eq!(
            Eligibility::of(Some(&gift(Some(false), None))),
            (Eligibility::CannotWin, None)
        );
        assert_eq!(
            Eligibility::of(Some(&gift(None, l))),
            (Eligibility::GivenPrize, l)
        );
        assert_eq!(
            Eligibility::of(Some(&gift(None, None))),
            (Eligibility::Standard, None)
        );
        assert_eq!(Eligibility::of(None), (Eligibility::Standard, None));
    }

    #[test]
    fn names_are_kebab_case_in_json_too() {
        for e in [
            Eligibility::GivenPrize,
            Eligibility::AnyPrize,
            Eligibility::CannotWin,
            Eligibility::Standard,
        ] {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
    }
}
