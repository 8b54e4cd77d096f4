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
    name: &'t str,
    fallback: Option<&'t str>,
}

/// The prize placeholders of `text`, in order.
fn placeholders(text: &str) -> impl Iterator<Item = Placeholder<'_>> {
    all_placeholders(text).filter(|p| p.name == PRIZE_VARIABLE)
}

/// Whether `name` is a variable the page fills: `gift.label`, or one member of `form` or
/// `custom` (`form.firstName`, `custom.tier`). Never a whole object, never a deeper path.
pub fn is_variable(name: &str) -> bool {
    let name = name.trim();
    if name == PRIZE_VARIABLE {
        return true;
    }
    match name.split_once('.') {
        Some(("form" | "custom", member)) => !member.is_empty() && !member.contains('.'),
        _ => false,
    }
}

/// Whether `text` contains at least one placeholder of a variable the page fills
/// ([`is_variable`]).
pub fn has_variable(text: &str) -> bool {
    all_placeholders(text).next().is_some()
}

/// Replaces every placeholder of a variable the page fills ([`is_variable`]) in `text`.
///
/// The same rule as [`render`], for each variable: its value from `value` (given the trimmed
/// name) when the token gives one; otherwise the placeholder's own fallback; otherwise, for
/// `gift.label` only, `default_label`; otherwise nothing. The output is text, never markup.
pub fn render_with<'t>(
    text: &'t str,
    value: impl Fn(&str) -> Option<String>,
    default_label: Option<&str>,
) -> Cow<'t, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    for p in all_placeholders(text) {
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buf.push_str(text.get(copied..p.start).unwrap_or_default());
        let default = if p.name == PRIZE_VARIABLE {
            default_label
        } else {
            None
        };
        match value(p.name) {
            Some(v) => buf.push_str(&v),
            None => buf.push_str(p.fallback.or(default).unwrap_or_default()),
        }
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

/// The text a variable shows for a verified token: `gift.label` is the prize label the
/// eligibility table allows; `form.*` and `custom.*` are the member's string, number or
/// boolean as text. `None` when the token does not give it (the fallback applies).
pub fn value_of(verified: &crate::Verified, name: &str) -> Option<String> {
    let name = name.trim();
    if name == PRIZE_VARIABLE {
        return verified.prize_label.clone();
    }
    let (object, member) = match name.split_once('.') {
        Some(("form", member)) => (verified.form.as_ref()?, member),
        Some(("custom", member)) => (verified.custom.as_ref()?, member),
        _ => return None,
    };
    match object.get(member)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Where the two-byte ASCII `pattern` (`{{`, `}}`) first occurs in `text` (a char boundary).
/// A plain scan rather than `str::find`, whose general substring search (`StrSearcher`,
/// two-way) is kilobytes of code the page would compile at its first verification.
fn find(text: &str, pattern: &str) -> Option<usize> {
    text.as_bytes()
        .windows(2)
        .position(|pair| pair == pattern.as_bytes())
}

/// Where `pattern` last occurs in `text` (see [`find`]).
fn rfind(text: &str, pattern: &str) -> Option<usize> {
    text.as_bytes()
        .windows(2)
        .rposition(|pair| pair == pattern.as_bytes())
}

/// Every placeholder of a variable the page fills, in order.
fn all_placeholders(text: &str) -> impl Iterator<Item = Placeholder<'_>> {
    let mut from = 0;
    core::iter::from_fn(move || loop {
        let rest = text.get(from..)?;
        let open = from + find(rest, OPEN)?;
        let inner_start = open + OPEN.len();
        let close = inner_start + find(text.get(inner_start..)?, CLOSE)?;
        let inner = text.get(inner_start..close)?;
        // A `{{` inside means the first one was literal text: restart at the inner one.
        if let Some(nested) = rfind(inner, OPEN) {
            from = inner_start + nested;
            continue;
        }
        from = close + CLOSE.len();
        let (name, fallback) = match inner.split_once('|') {
            Some((name, fallback)) => (name, Some(fallback.trim())),
            None => (inner, None),
        };
        if is_variable(name) {
            return Some(Placeholder {
                start: open,
                end: from,
                name: name.trim(),
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
    fn form_and_custom_members_with_their_fallbacks() {
        let value = |name: &str| match name {
            "form.firstName" => Some("<b>Ada</b>".to_owned()),
            "custom.tier" => Some("gold".to_owned()),
            _ => None,
        };
        let t = "Hi {{form.firstName|there}} ({{ custom.tier }}), {{form.city|}}{{form|x}}{{custom.a.b}}";
        assert_eq!(
            render_with(t, value, Some("d")),
            "Hi <b>Ada</b> (gold), {{form|x}}{{custom.a.b}}"
        );
        assert_eq!(
            render_with(t, |_| None, Some("d")),
            "Hi there (), {{form|x}}{{custom.a.b}}"
        );
        assert_eq!(render_with("{{gift.label}}", |_| None, Some("d")), "d");
        assert!(is_variable("form.email") && !is_variable("form") && !is_variable("optin.x"));
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
        // The two-byte scans (`find`, `rfind`) around multi-byte characters and at the ends.
        assert_eq!(render("é{{gift.label}}é", Some("x"), None), "éxé");
        assert_eq!(render("{{gift.label}}", Some("€"), None), "€");
        assert_eq!(
            render("{é{gift.label}}", Some("x"), None),
            "{é{gift.label}}"
        );
        assert_eq!(
            render("{{ é {{gift.label}} }}", Some("x"), None),
            "{{ é x }}"
        );
        assert_eq!(render("{", Some("x"), None), "{");
        assert_eq!(render("}}{{", Some("x"), None), "}}{{");
    }

    #[test]
    fn no_placeholder_borrows() {
        assert!(matches!(render("plain", Some("x"), None), Cow::Borrowed(_)));
    }
}
