//! The web layer in a real browser (headless Chromium, via wasm-bindgen-test-runner):
//! what a campaign page relies on. Run by `scripts/test-package.sh`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{Document, Element, MessageEvent, MessageEventInit, Window};

use super::fixtures::*;
use super::session::Session;
use super::JsVerifier;

wasm_bindgen_test_configure!(run_in_browser);

fn window() -> Window {
    web_sys::window().unwrap()
}

fn document() -> Document {
    window().document().unwrap()
}

fn js(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &js(key)).unwrap()
}

fn get_str(target: &JsValue, key: &str) -> Option<String> {
    get(target, key).as_string()
}

/// Options for the fixture key and campaign at the fixed time, plus `extra`.
fn options(extra: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in [
        ("campaignId", js(CAMPAIGN)),
        ("keys", js(PUBLIC_PEM)),
        ("now", JsValue::from_f64(NOW as f64)),
    ]
    .iter()
    .chain(extra)
    {
        Reflect::set(&o, &js(k), v).unwrap();
    }
    o.into()
}

fn origins(list: &[&str]) -> JsValue {
    list.iter().map(|o| js(o)).collect::<js_sys::Array>().into()
}

/// A fresh root element holding `html` (the test's own markup), attached to the body.
fn page(html: &str) -> Element {
    let root = document().create_element("div").unwrap();
    root.set_inner_html(html);
    document().body().unwrap().append_child(&root).unwrap();
    root
}

fn text_of(root: &Element, selector: &str) -> String {
    root.query_selector(selector)
        .unwrap()
        .unwrap()
        .text_content()
        .unwrap_or_default()
}

fn eligibility_attribute() -> Option<String> {
    document()
        .document_element()
        .unwrap()
        .get_attribute("data-token-eligibility")
}

fn session(extra: &[(&str, JsValue)]) -> Session {
    Session::new(&options(extra), None).unwrap()
}

fn error_code(thrown: &JsValue) -> String {
    get_str(thrown, "code").unwrap()
}

const MARKUP: &str = r#"
  <p id="inline">Win {{gift.label|a surprise prize}} today!</p>
  <p id="bare">Your prize: {{gift.label}}.</p>
  <p id="other">Hello {{user.name}}</p>
  <span id="marked" data-token-var="gift.label"><em>our grand prize</em></span>
  <span id="empty" data-token-var="gift.label"></span>
  <script type="text/plain" id="script">{{gift.label}}</script>
"#;

#[wasm_bindgen_test]
fn verifier_returns_the_verified_token_as_a_plain_object() {
    let v = JsVerifier::new(&options(&[])).unwrap();
    let r = v.verify(&js(GIVEN_PRIZE)).unwrap();
    assert_eq!(get_str(&r, "sub").as_deref(), Some("participant-1"));
    assert_eq!(get_str(&r, "campaignId").as_deref(), Some(CAMPAIGN));
    assert_eq!(get_str(&r, "eligibility").as_deref(), Some("given-prize"));
    assert_eq!(get_str(&r, "prizeLabel").as_deref(), Some("a spa day"));
    assert_eq!(get_str(&r, "alg").as_deref(), Some("ES256"));
    assert_eq!(get(&r, "exp").as_f64(), Some(2_000_000_000.0));
    assert_eq!(get(&r, "iat").as_f64(), Some(1_700_000_000.0));
    // Absent values are null (not undefined), and gift is a plain object, not a Map.
    for absent in ["nbf", "iss", "kid"] {
        assert!(get(&r, absent).is_null(), "{absent} should be null");
    }
    let gift = get(&r, "gift");
    assert_eq!(
        Object::get_prototype_of(&gift),
        Object::get_prototype_of(&Object::new())
    );
    assert_eq!(get(&gift, "cw").as_bool(), Some(true));

    let standard = v.verify(&js(STANDARD)).unwrap();
    assert!(get(&standard, "gift").is_null());
    assert!(get(&standard, "prizeLabel").is_null());
}

#[wasm_bindgen_test]
fn rejections_are_errors_with_a_code_and_the_claim() {
    let v = JsVerifier::new(&options(&[])).unwrap();
    let cases: [(JsValue, &str, Option<&str>); 7] = [
        (js(EXPIRED), "expired", Some("exp")),
        (js(WRONG_CAMPAIGN), "wrong_campaign", Some("campaignId")),
        (js(FORGED), "bad_signature", None),
        (js("not.a.token"), "malformed", None),
        (js(""), "no_token", None),
        (JsValue::UNDEFINED, "no_token", None),
        (JsValue::from_f64(42.0), "malformed", None),
    ];
    for (token, code, claim) in cases {
        let err = v.verify(&token).unwrap_err();
        assert!(
            err.is_instance_of::<js_sys::Error>(),
            "{code}: a real Error"
        );
        assert_eq!(get_str(&err, "name").as_deref(), Some("CampaignTokenError"));
        assert_eq!(error_code(&err), code);
        assert_eq!(get_str(&err, "claim").as_deref(), claim, "{code}");
        assert!(!get_str(&err, "message").unwrap_or_default().is_empty());
    }
    // The same token passes at a time it is valid and fails once expired.
    let late = JsVerifier::new(&options(&[("now", JsValue::from_f64(2_000_000_061.0))])).unwrap();
    assert_eq!(
        error_code(&late.verify(&js(GIVEN_PRIZE)).unwrap_err()),
        "expired"
    );
}

#[wasm_bindgen_test]
fn bad_configuration_is_refused_with_a_code() {
    let thrown = |extra: &[(&str, JsValue)]| {
        let err = JsVerifier::new(&options(extra)).err().expect("refused");
        error_code(&err)
    };
    assert_eq!(thrown(&[("keys", JsValue::UNDEFINED)]), "invalid_config");
    assert_eq!(thrown(&[("keys", js("not a key"))]), "invalid_key");
    assert_eq!(
        thrown(&[("keys", JsValue::from_f64(1.0))]),
        "invalid_config"
    );
    assert_eq!(thrown(&[("campaignId", js(""))]), "invalid_config");
    assert_eq!(thrown(&[("campaignId", JsValue::NULL)]), "invalid_config");
    assert_eq!(
        thrown(&[("clockToleranceSeconds", JsValue::from_f64(601.0))]),
        "invalid_config"
    );
    assert_eq!(
        thrown(&[("clockToleranceSeconds", JsValue::from_f64(1.5))]),
        "invalid_config"
    );
    assert_eq!(thrown(&[("maxTokenBytes", js("8k"))]), "invalid_config");
    assert_eq!(
        thrown(&[("issuers", js("https://brand"))]),
        "invalid_config"
    );
    let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
    assert_eq!(thrown(&[("keys", js(private))]), "invalid_key");

    let session_error = |extra: &[(&str, JsValue)]| {
        let err = Session::new(&options(extra), None).err().expect("refused");
        error_code(&err)
    };
    for bad in [
        "*",
        "https://brand.example/",
        "https://brand.example/path",
        "null",
        "brand.example",
    ] {
        assert_eq!(
            session_error(&[("allowedOrigins", origins(&[bad]))]),
            "invalid_config",
            "{bad}"
        );
    }
    assert_eq!(
        session_error(&[("root", js("#no-such-element"))]),
        "invalid_config"
    );
    assert_eq!(session_error(&[("tokenParam", js(""))]), "invalid_config");
}

#[wasm_bindgen_test]
fn a_jwks_given_as_an_object_or_as_text_is_accepted() {
    let object = js_sys::JSON::parse(PUBLIC_JWKS).unwrap();
    for keys in [object, js(PUBLIC_JWKS)] {
        let v = JsVerifier::new(&options(&[("keys", keys)])).unwrap();
        let r = v.verify(&js(GIVEN_PRIZE)).unwrap();
        assert_eq!(get_str(&r, "eligibility").as_deref(), Some("given-prize"));
        assert_eq!(
            error_code(&v.verify(&js(FORGED)).unwrap_err()),
            "bad_signature"
        );
    }
    let secret = js_sys::JSON::parse(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).unwrap();
    let err = JsVerifier::new(&options(&[("keys", secret)]))
        .err()
        .unwrap();
    assert_eq!(
        error_code(&err),
        "invalid_key",
        "a shared secret is refused"
    );
}

#[wasm_bindgen_test]
fn placeholders_show_fallbacks_then_the_label_then_fallbacks_again() {
    let root = page(MARKUP);
    let mut s = session(&[
        ("root", root.clone().into()),
        ("defaultPrizeLabel", js("a prize")),
    ]);
    // No token yet: fallbacks everywhere, the page's own variables untouched.
    assert_eq!(eligibility_attribute().as_deref(), Some("none"));
    assert_eq!(text_of(&root, "#inline"), "Win a surprise prize today!");
    assert_eq!(text_of(&root, "#bare"), "Your prize: a prize.");
    assert_eq!(text_of(&root, "#other"), "Hello {{user.name}}");
    assert_eq!(
        root.query_selector("#marked")
            .unwrap()
            .unwrap()
            .inner_html(),
        "<em>our grand prize</em>"
    );
    assert_eq!(text_of(&root, "#empty"), "a prize");

    let state = s.set_token(&js(GIVEN_PRIZE));
    assert!(get(&state, "error").is_null());
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    assert_eq!(text_of(&root, "#inline"), "Win a spa day today!");
    assert_eq!(text_of(&root, "#bare"), "Your prize: a spa day.");
    assert_eq!(text_of(&root, "#marked"), "a spa day");
    assert_eq!(text_of(&root, "#empty"), "a spa day");
    assert_eq!(text_of(&root, "#other"), "Hello {{user.name}}");
    // Never script source.
    assert_eq!(text_of(&root, "#script"), "{{gift.label}}");

    // A later token renders from the original text, not from the previous label.
    s.set_token(&js(OTHER_PRIZE));
    assert_eq!(text_of(&root, "#inline"), "Win a bike today!");
    assert_eq!(text_of(&root, "#marked"), "a bike");

    // An invalid token puts every fallback back, markup included.
    let state = s.set_token(&js(FORGED));
    assert!(get(&state, "result").is_null());
    assert_eq!(error_code(&get(&state, "error")), "bad_signature");
    assert_eq!(eligibility_attribute().as_deref(), Some("invalid"));
    assert_eq!(text_of(&root, "#inline"), "Win a surprise prize today!");
    assert_eq!(text_of(&root, "#bare"), "Your prize: a prize.");
    assert_eq!(
        root.query_selector("#marked")
            .unwrap()
            .unwrap()
            .inner_html(),
        "<em>our grand prize</em>"
    );

    s.set_token(&js(GIVEN_PRIZE));
    s.destroy();
    assert_eq!(eligibility_attribute(), None);
    assert_eq!(text_of(&root, "#inline"), "Win a surprise prize today!");
    root.remove();
}

#[wasm_bindgen_test]
fn a_label_with_markup_is_shown_as_text_and_runs_nothing() {
    let root = page(MARKUP);
    let mut s = session(&[("root", root.clone().into())]);
    s.set_token(&js(HTML_LABEL));
    let label = r#"<img src=x onerror="window.__pwned=1">"#;
    assert_eq!(text_of(&root, "#marked"), label);
    assert_eq!(text_of(&root, "#inline"), format!("Win {label} today!"));
    assert!(
        root.query_selector("img").unwrap().is_none(),
        "no element was created"
    );
    assert_eq!(
        root.query_selector("#marked")
            .unwrap()
            .unwrap()
            .child_element_count(),
        0
    );
    assert!(get(&window(), "__pwned").is_undefined());
    s.destroy();
    root.remove();
}

#[wasm_bindgen_test]
fn every_eligibility_is_exposed_on_the_html_element() {
    let root = page(MARKUP);
    let mut s = session(&[("root", root.clone().into())]);
    for (token, expected, inline) in [
        (GIVEN_PRIZE, "given-prize", "Win a spa day today!"),
        (ANY_PRIZE, "any-prize", "Win a surprise prize today!"),
        // The label of a cannot-win token is ignored.
        (CANNOT_WIN, "cannot-win", "Win a surprise prize today!"),
        (STANDARD, "standard", "Win a surprise prize today!"),
        (EXPIRED, "invalid", "Win a surprise prize today!"),
        (WRONG_CAMPAIGN, "invalid", "Win a surprise prize today!"),
        ("", "none", "Win a surprise prize today!"),
    ] {
        let state = s.set_token(&js(token));
        assert_eq!(
            eligibility_attribute().as_deref(),
            Some(expected),
            "{token}"
        );
        assert_eq!(text_of(&root, "#inline"), inline, "{expected}");
        if let Some(result) = Some(get(&state, "result")).filter(|r| !r.is_null()) {
            assert_eq!(get_str(&result, "eligibility").as_deref(), Some(expected));
        }
    }
    s.destroy();
    root.remove();
}

/// Collects the `detail` of each `campaign-token:change` event until dropped.
struct ChangeEvents {
    seen: Rc<RefCell<Vec<JsValue>>>,
    listener: Closure<dyn FnMut(web_sys::CustomEvent)>,
}

impl ChangeEvents {
    fn listen() -> ChangeEvents {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&seen);
        let listener =
            Closure::<dyn FnMut(web_sys::CustomEvent)>::new(move |e: web_sys::CustomEvent| {
                sink.borrow_mut().push(e.detail())
            });
        document()
            .add_event_listener_with_callback(
                "campaign-token:change",
                listener.as_ref().unchecked_ref(),
            )
            .unwrap();
        ChangeEvents { seen, listener }
    }
}

impl Drop for ChangeEvents {
    fn drop(&mut self) {
        let _ = document().remove_event_listener_with_callback(
            "campaign-token:change",
            self.listener.as_ref().unchecked_ref(),
        );
    }
}

#[wasm_bindgen_test]
fn each_token_dispatches_a_change_event_and_calls_back() {
    let root = page(MARKUP);
    let events = ChangeEvents::listen();
    let called = Rc::new(RefCell::new(0));
    let counter = Rc::clone(&called);
    let on_change =
        Closure::<dyn FnMut(JsValue)>::new(move |_state: JsValue| *counter.borrow_mut() += 1);
    let mut s = Session::new(
        &options(&[("root", root.clone().into())]),
        Some(
            on_change
                .as_ref()
                .unchecked_ref::<js_sys::Function>()
                .clone(),
        ),
    )
    .unwrap();
    assert_eq!(events.seen.borrow().len(), 0, "no token, no change");

    s.set_token(&js(ANY_PRIZE));
    s.set_token(&js(EXPIRED));
    let seen = events.seen.borrow();
    assert_eq!(seen.len(), 2);
    assert_eq!(*called.borrow(), 2);
    let first = get(&seen[0], "result");
    assert_eq!(get_str(&first, "eligibility").as_deref(), Some("any-prize"));
    assert_eq!(error_code(&get(&seen[1], "error")), "expired");
    assert_eq!(
        get_str(&get(&seen[1], "error"), "claim").as_deref(),
        Some("exp")
    );
    drop(seen);
    s.destroy();
    root.remove();
}

/// Runs `f` with the page URL temporarily set to `url` (same origin), then puts it back.
fn with_url<T>(url: &str, f: impl FnOnce() -> T) -> (T, String) {
    let history = window().history().unwrap();
    let original = window().location().href().unwrap();
    history
        .replace_state_with_url(&JsValue::NULL, "", Some(url))
        .unwrap();
    let out = f();
    let after = window().location().href().unwrap();
    history
        .replace_state_with_url(&JsValue::NULL, "", Some(&original))
        .unwrap();
    (out, after)
}

#[wasm_bindgen_test]
fn a_token_in_the_query_is_used_and_removed_from_the_address_bar() {
    let root = page(MARKUP);
    let url = format!("?utm=mail&token={GIVEN_PRIZE}#section");
    let (mut s, after) = with_url(&url, || session(&[("root", root.clone().into())]));
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    assert_eq!(text_of(&root, "#marked"), "a spa day");
    assert!(!after.contains("token="), "{after}");
    assert!(!after.contains(GIVEN_PRIZE), "{after}");
    assert!(
        after.contains("utm=mail") && after.ends_with("#section"),
        "{after}"
    );
    assert!(s.token().is_some_and(|t| t == GIVEN_PRIZE));
    s.destroy();
    root.remove();
}

#[wasm_bindgen_test]
fn a_token_in_the_fragment_under_a_custom_name_is_used_and_removed() {
    let root = page(MARKUP);
    let url = format!("?keep=1#t={CANNOT_WIN}");
    let (mut s, after) = with_url(&url, || {
        session(&[("root", root.clone().into()), ("tokenParam", js("t"))])
    });
    assert_eq!(eligibility_attribute().as_deref(), Some("cannot-win"));
    assert!(
        !after.contains('#'),
        "an emptied fragment goes entirely: {after}"
    );
    assert!(after.ends_with("?keep=1"), "{after}");
    s.destroy();

    // An invalid token in the URL is removed too.
    let url = format!("#token={FORGED}");
    let (mut s, after) = with_url(&url, || session(&[("root", root.clone().into())]));
    assert_eq!(eligibility_attribute().as_deref(), Some("invalid"));
    assert!(!after.contains(FORGED));
    assert!(
        s.token().is_none(),
        "an invalid token is never kept for participation"
    );
    s.destroy();
    root.remove();
}

fn message(data: &JsValue, origin: &str, source: Option<&Window>) -> MessageEvent {
    let init = MessageEventInit::new();
    init.set_data(data);
    init.set_origin(origin);
    init.set_source(source.map(|w| w.unchecked_ref::<Object>()));
    MessageEvent::new_with_event_init_dict("message", &init).unwrap()
}

fn token_message(token: &str) -> JsValue {
    let o = Object::new();
    Reflect::set(&o, &js("type"), &js("campaign-token")).unwrap();
    Reflect::set(&o, &js("token"), &js(token)).unwrap();
    o.into()
}

#[wasm_bindgen_test]
fn messages_from_other_origins_or_of_other_shapes_change_nothing() {
    let root = page(MARKUP);
    let allowed = "https://brand.example";
    let mut s = session(&[
        ("root", root.clone().into()),
        ("allowedOrigins", origins(&[allowed])),
    ]);
    let send = |data: &JsValue, origin: &str| {
        // dispatchEvent runs the listener synchronously: no waiting needed.
        window()
            .dispatch_event(&message(data, origin, None))
            .unwrap();
    };
    for origin in [
        "https://evil.example",
        "https://brand.example.evil.example",
        "http://brand.example",
        "https://brand.example:8443",
        "null",
    ] {
        send(&token_message(GIVEN_PRIZE), origin);
        assert_eq!(eligibility_attribute().as_deref(), Some("none"), "{origin}");
    }
    let wrong_type = Object::new();
    Reflect::set(&wrong_type, &js("type"), &js("campaign-token:ready")).unwrap();
    Reflect::set(&wrong_type, &js("token"), &js(GIVEN_PRIZE)).unwrap();
    let numeric_token = Object::new();
    Reflect::set(&numeric_token, &js("type"), &js("campaign-token")).unwrap();
    Reflect::set(&numeric_token, &js("token"), &JsValue::from_f64(1.0)).unwrap();
    for data in [
        js(GIVEN_PRIZE),
        wrong_type.into(),
        numeric_token.into(),
        JsValue::NULL,
    ] {
        send(&data, allowed);
        assert_eq!(eligibility_attribute().as_deref(), Some("none"));
    }
    assert_eq!(text_of(&root, "#inline"), "Win a surprise prize today!");

    // The allowed origin, right shape: applied.
    send(&token_message(GIVEN_PRIZE), allowed);
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    assert_eq!(text_of(&root, "#inline"), "Win a spa day today!");

    // After destroy the listener is gone.
    s.destroy();
    send(&token_message(ANY_PRIZE), allowed);
    assert_eq!(eligibility_attribute(), None);
    root.remove();
}

/// A message listener kept alive until removed.
type ListenerSlot = Rc<RefCell<Option<Closure<dyn FnMut(MessageEvent)>>>>;

/// Resolves with the data of the next `campaign-token:result` message this window receives.
fn next_result_message() -> (Promise, ListenerSlot) {
    let slot: ListenerSlot = Rc::new(RefCell::new(None));
    let keep = Rc::clone(&slot);
    let promise = Promise::new(&mut |resolve, _reject| {
        let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if get_str(&e.data(), "type").as_deref() == Some("campaign-token:result") {
                let _ = resolve.call1(&JsValue::NULL, &e.data());
            }
        });
        window()
            .add_event_listener_with_callback("message", listener.as_ref().unchecked_ref())
            .unwrap();
        *keep.borrow_mut() = Some(listener);
    });
    (promise, slot)
}

fn stop_listening(slot: &ListenerSlot) {
    if let Some(listener) = slot.borrow_mut().take() {
        let _ = window()
            .remove_event_listener_with_callback("message", listener.as_ref().unchecked_ref());
    }
}

#[wasm_bindgen_test]
async fn a_real_postmessage_from_an_allowed_origin_is_applied_and_answered() {
    let root = page(MARKUP);
    let own = window().location().origin().unwrap();
    let mut s = session(&[
        ("root", root.clone().into()),
        ("allowedOrigins", origins(&[&own])),
    ]);
    // A sender that is not the parent (here: this window itself) gets the answer directly,
    // addressed to its origin.
    let (answer, slot) = next_result_message();
    window()
        .post_message(&token_message(ANY_PRIZE), &own)
        .unwrap();
    let reply = JsFuture::from(answer).await.unwrap();
    stop_listening(&slot);
    assert_eq!(get(&reply, "ok").as_bool(), Some(true));
    assert_eq!(get_str(&reply, "eligibility").as_deref(), Some("any-prize"));
    assert_eq!(eligibility_attribute().as_deref(), Some("any-prize"));

    let (answer, slot) = next_result_message();
    window()
        .post_message(&token_message(EXPIRED), &own)
        .unwrap();
    let reply = JsFuture::from(answer).await.unwrap();
    stop_listening(&slot);
    assert_eq!(get(&reply, "ok").as_bool(), Some(false));
    assert_eq!(get_str(&reply, "code").as_deref(), Some("expired"));
    assert_eq!(eligibility_attribute().as_deref(), Some("invalid"));
    s.destroy();
    root.remove();
}

fn token_message_with_id(token: &str, id: &JsValue) -> JsValue {
    let o = token_message(token);
    Reflect::set(&o, &js("id"), id).unwrap();
    o
}

#[wasm_bindgen_test]
fn a_request_id_that_is_not_a_short_string_makes_the_message_malformed() {
    let root = page(MARKUP);
    let allowed = "https://brand.example";
    let mut s = session(&[
        ("root", root.clone().into()),
        ("allowedOrigins", origins(&[allowed])),
    ]);
    let too_long = "x".repeat(65);
    for id in [
        JsValue::NULL,
        JsValue::from_f64(7.0),
        js(&too_long),
        Object::new().into(),
        JsValue::TRUE,
    ] {
        window()
            .dispatch_event(&message(
                &token_message_with_id(GIVEN_PRIZE, &id),
                allowed,
                None,
            ))
            .unwrap();
        assert_eq!(eligibility_attribute().as_deref(), Some("none"), "{id:?}");
    }
    // 64 characters (not bytes) is the limit.
    let longest = "é".repeat(64);
    window()
        .dispatch_event(&message(
            &token_message_with_id(GIVEN_PRIZE, &js(&longest)),
            allowed,
            None,
        ))
        .unwrap();
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    s.destroy();
    root.remove();
}

#[wasm_bindgen_test]
async fn the_answer_to_a_message_echoes_its_request_id() {
    let root = page(MARKUP);
    let own = window().location().origin().unwrap();
    let mut s = session(&[
        ("root", root.clone().into()),
        ("allowedOrigins", origins(&[&own])),
    ]);
    let id = "a".repeat(64);
    let (answer, slot) = next_result_message();
    window()
        .post_message(&token_message_with_id(ANY_PRIZE, &js(&id)), &own)
        .unwrap();
    let reply = JsFuture::from(answer).await.unwrap();
    stop_listening(&slot);
    assert_eq!(get_str(&reply, "id"), Some(id));
    assert_eq!(get_str(&reply, "eligibility").as_deref(), Some("any-prize"));

    // Without an id (an integrator of the first protocol version): no id in the answer.
    let (answer, slot) = next_result_message();
    window()
        .post_message(&token_message(EXPIRED), &own)
        .unwrap();
    let reply = JsFuture::from(answer).await.unwrap();
    stop_listening(&slot);
    assert!(get(&reply, "id").is_undefined());
    assert_eq!(get_str(&reply, "code").as_deref(), Some("expired"));
    s.destroy();
    root.remove();
}
