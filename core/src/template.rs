//! Dynamic variables in rich text: `{{gift.label}}` and `{{gift.label|fallback}}`.
//!
//! A pure string function. The output is text to be inserted as text (a DOM text node's
//! data), never parsed as HTML; this module neither escapes nor interprets markup, so a
//! label of `<img onerror=…>` stays those characters.
//!
//! Other `{{…}}` variables (the page's own) are left exactly as they are.

use std::borrow::Cow;

/// The variable this product fills.
pub const PRIZE_VARIABLE: &str = "gift.label";

const OPEN: &str = "{{";
const CLOSE: &str = "}}";

/// Whether `text` contains at least one `{{gift.label…}}` placeholder.
pub fn has_placeholder(text: &str) -> bool {
    placeholders(text).next().is_some()
}

/// Replaces every `{{gift.label}}` / `{{gift.label|fallback}}` in `text`.
///
/// The value shown is `label` when the token gives one; otherwise the placeholder's own
/// fallback; otherwise `default_label`; otherwise nothing.
pub fn render<'t>(text: &'t str, label: Option<&str>, default_label: Option<&str>) -> Cow<'t, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    for p in placeholders(text) {
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buf.push_str(text.get(copied..p.start).unwrap_or_default());
        buf.push_str(label.or(p.fallback).or(default_label).unwrap_or_default());
        copied = p.end;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut buf) => {
            buf.push_str(text.get(copied..).unwrap_or_default());
            Cow::Owned(buf)
        }
    }
}

struct Placeholder<'t> {
    start: usize,
    end: usize,
    fallback: Option<&'t str>,
}

/// The prize placeholders of `text`, in order.
fn placeholders(text: &str) -> impl Iterator<Item = Placeholder<'_>> {
    let mut from = 0;
    core::iter::from_fn(move || loop {
        let rest = text.get(from..)?;
        let open = from + rest.find(OPEN)?;
        let inner_start = open + OPEN.len();
        let close = inner_start + text.get(inner_start..)?.find(CLOSE)?;
        let inner = text.get(inner_start..close)?;
        // A `{{` inside means the first one was literal text: restart at the inner one.
        if let Some(nested) = inner.rfind(OPEN) {
            from = inner_start + nested;
            continue;
        }
        from = close + CLOSE.len();
        let (name, fallback) = match inner.split_once('|') {
            Some((name, fallback)) => (name, Some(fallback.trim())),
            None => (inner, None),
        };
        if name.trim() == PRIZE_VARIABLE {
            return Some(Placeholder {
                start: open,
                end: from,
                fallback: fallback.filter(|f| !f.is_empty()),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_replaces_the_placeholder() {
        assert_eq!(
            render("Win {{gift.label}}!", Some("a spa day"), None),
            "Win a spa day!"
        );
        assert_eq!(render("{{ gift.label }}", Some("x"), None), "x");
    }

    #[test]
    fn fallback_then_default_then_nothing() {
        let t = "Win {{gift.label|a surprise prize}}!";
        assert_eq!(render(t, Some("a bike"), Some("d")), "Win a bike!");
        assert_eq!(render(t, None, Some("d")), "Win a surprise prize!");
        assert_eq!(
            render("Win {{gift.label}}!", None, Some("our prize")),
            "Win our prize!"
        );
        assert_eq!(render("Win {{gift.label}}!", None, None), "Win !");
        assert_eq!(render("Win {{gift.label|}}!", None, Some("d")), "Win d!");
    }

    #[test]
    fn several_placeholders_and_other_variables() {
        let t = "{{user.name}}, {{gift.label}} or {{gift.label|b}}?";
        assert_eq!(render(t, None, Some("a")), "{{user.name}}, a or b?");
        assert_eq!(render(t, Some("z"), None), "{{user.name}}, z or z?");
    }

    #[test]
    fn markup_in_a_label_is_just_characters() {
        let evil = "<img src=x onerror=alert(1)>";
        assert_eq!(render("{{gift.label}}", Some(evil), None), evil);
    }

    #[test]
    fn a_label_that_looks_like_a_placeholder_is_not_expanded_again() {
        assert_eq!(
            render("{{gift.label}}", Some("{{gift.label|x}}"), None),
            "{{gift.label|x}}"
        );
    }

    #[test]
    fn unterminated_and_nested_braces() {
        assert_eq!(render("a {{gift.label", Some("x"), None), "a {{gift.label");
        assert_eq!(render("{{ {{gift.label}}", Some("x"), None), "{{ x");
        assert_eq!(render("{{{{gift.label}}}}", Some("x"), None), "{{x}}");
        assert!(!has_placeholder("nothing {{here}}"));
        assert!(has_placeholder("{{gift.label|é}}"));
    }

    #[test]
    fn no_placeholder_borrows() {
        assert!(matches!(render("plain", Some("x"), None), Cow::Borrowed(_)));
    }
}
