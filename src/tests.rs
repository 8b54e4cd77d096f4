//! The web layer in a real browser (headless Chromium, via wasm-bindgen-test-runner):
//! what a campaign page relies on. Run by `scripts/test-package.sh`.
//!
//! The module is synchronous and hands its I/O (WebCrypto, fetch) to the JS driver as steps;
//! these tests drive it through the driver that ships (`js/driver.js`, imported below), as
//! `js/index.js` does: `JsVerifier` and `Session` here are thin wrappers that create the
//! module's objects and run their steps with it, so verifying, `setToken` and a posted token
//! are asynchronous (a posted token is applied in a later task: the tests wait for its change
//! event, or long enough for a change that must not happen).

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{Document, Element, MessageEvent, MessageEventInit, Node, Window};

use crate::fixtures::*;

/// The shipped step driver (see its module doc), as `js/index.js` uses it.
#[wasm_bindgen(module = "/js/driver.js")]
extern "C" {
    fn prepare(verifier: crate::JsVerifier, stop_if_lacking: bool) -> Promise;
    #[wasm_bindgen(js_name = verify)]
    fn driver_verify(verifier: crate::JsVerifier, token: JsValue) -> Promise;
    fn receive(session: crate::session::Session, token: JsValue) -> Promise;
    fn start(session: crate::session::Session, url_token: Option<String>) -> Promise;
}

/// `createVerifier` of `js/index.js` on this module: created, then set up by the driver.
struct JsVerifier(crate::JsVerifier);

impl JsVerifier {
    async fn create(options: JsValue) -> Result<JsVerifier, JsValue> {
        let verifier = crate::JsVerifier::create(options)?;
        JsFuture::from(prepare(verifier.clone(), false)).await?;
        Ok(JsVerifier(verifier))
    }

    fn verify(&self, token: JsValue) -> Promise {
        driver_verify(self.0.clone(), token)
    }
}

/// `init` of `js/index.js` on this module: a verifier set up by the driver, the session, its
/// message listener and the URL's token applied, by the driver.
struct Session {
    session: crate::session::Session,
    stop: Function,
}

impl Session {
    async fn create(
        options: JsValue,
        on_change: Option<Function>,
        url_token: Option<String>,
    ) -> Result<Session, JsValue> {
        let verifier = JsVerifier::create(options.clone()).await?;
        let url_token = url_token.filter(|t| !t.is_empty());
        let session =
            crate::session::Session::create(options, on_change, url_token.is_some(), &verifier.0)?;
        let stop = JsFuture::from(start(session.clone(), url_token)).await?;
        Ok(Session {
            session,
            stop: stop.unchecked_into(),
        })
    }

    fn set_token(&self, token: JsValue) -> Promise {
        receive(self.session.clone(), token)
    }

    fn destroy(&mut self) {
        let _ = self.stop.call0(&JsValue::NULL);
        self.session.destroy();
    }
}

impl std::ops::Deref for Session {
    type Target = crate::session::Session;

    fn deref(&self) -> &Self::Target {
        &self.session
    }
}

wasm_bindgen_test_configure!(run_in_browser);

const CHANGE_EVENT: &str = "campaign-token:change";
const ELIGIBILITY_ATTRIBUTE: &str = "data-token-eligibility";

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
    list.iter().map(|o| js(o)).collect::<Array>().into()
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
        .get_attribute(ELIGIBILITY_ATTRIBUTE)
}

async fn verifier(extra: &[(&str, JsValue)]) -> JsVerifier {
    JsVerifier::create(options(extra)).await.unwrap()
}

/// `verifier.verify(token)`, awaited: the `VerifiedToken` or the rejection.
async fn verify(v: &JsVerifier, token: &JsValue) -> Result<JsValue, JsValue> {
    JsFuture::from(v.verify(token.clone())).await
}

/// A session with `options(extra)` and no callback (the options are read now, so the
/// future borrows nothing).
fn session(extra: &[(&str, JsValue)]) -> impl Future<Output = Session> {
    let options = options(extra);
    async move { Session::create(options, None, None).await.unwrap() }
}

/// `session.setToken(token)`, awaited: the `{result, error}` state of that token.
async fn set_token(s: &Session, token: &str) -> JsValue {
    JsFuture::from(s.set_token(js(token))).await.unwrap()
}

fn error_code(thrown: &JsValue) -> String {
    get_str(thrown, "code").unwrap()
}

/// Resolves after `ms` milliseconds (a macrotask later at least).
async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _reject| {
        window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Waits long enough for a posted token to be verified and applied (a WebCrypto `verify`
/// takes well under a millisecond): after this, a change that did not happen will not.
async fn settle() {
    sleep(50).await;
}

/// The detail of the next `campaign-token:change` event. The listener is added now, so call
/// this before doing what should cause the change, then await it.
fn next_change() -> impl Future<Output = JsValue> {
    let mut listener: Option<Function> = None;
    let promise = Promise::new(&mut |resolve, _reject| {
        document()
            .add_event_listener_with_callback(CHANGE_EVENT, &resolve)
            .unwrap();
        listener = Some(resolve);
    });
    let listener = listener.unwrap();
    async move {
        let event = JsFuture::from(promise).await.unwrap();
        document()
            .remove_event_listener_with_callback(CHANGE_EVENT, &listener)
            .unwrap();
        get(&event, "detail")
    }
}

/// Each state a change callback was called with, and the eligibility attribute then.
type CallLog = Rc<RefCell<Vec<(JsValue, Option<String>)>>>;

/// A change callback that records every state it is called with, and the eligibility
/// attribute at that moment.
struct Calls {
    seen: CallLog,
    closure: Closure<dyn FnMut(JsValue)>,
}

impl Calls {
    fn new() -> Calls {
        let seen = CallLog::default();
        let sink = Rc::clone(&seen);
        let closure = Closure::<dyn FnMut(JsValue)>::new(move |state: JsValue| {
            sink.borrow_mut().push((state, eligibility_attribute()))
        });
        Calls { seen, closure }
    }

    fn function(&self) -> Option<Function> {
        Some(self.closure.as_ref().unchecked_ref::<Function>().clone())
    }
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
async fn verifier_returns_the_verified_token_as_a_plain_object() {
    let v = verifier(&[]).await;
    let r = verify(&v, &js(GIVEN_PRIZE)).await.unwrap();
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

    let standard = verify(&v, &js(STANDARD)).await.unwrap();
    assert!(get(&standard, "gift").is_null());
    assert!(get(&standard, "prizeLabel").is_null());
}

#[wasm_bindgen_test]
async fn rejections_are_errors_with_a_code_and_the_claim() {
    let v = verifier(&[]).await;
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
        let err = verify(&v, &token).await.unwrap_err();
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
    let late = verifier(&[("now", JsValue::from_f64(2_000_000_061.0))]).await;
    assert_eq!(
        error_code(&verify(&late, &js(GIVEN_PRIZE)).await.unwrap_err()),
        "expired"
    );
}

/// The fixture's JWK with `y` replaced by `x`: the right lengths, but not a point of P-256.
fn off_curve_jwks() -> JsValue {
    let mut jwks: serde_json::Value = serde_json::from_str(PUBLIC_JWKS).unwrap();
    jwks["keys"][0]["y"] = jwks["keys"][0]["x"].clone();
    js_sys::JSON::parse(&jwks.to_string()).unwrap()
}

/// The code `verifyToken`'s verifier is refused with for these options.
async fn thrown(extra: &[(&str, JsValue)]) -> String {
    let err = JsVerifier::create(options(extra))
        .await
        .err()
        .expect("refused");
    error_code(&err)
}

#[wasm_bindgen_test]
async fn bad_configuration_is_refused_with_a_code() {
    assert_eq!(
        thrown(&[("keys", JsValue::UNDEFINED)]).await,
        "invalid_config"
    );
    assert_eq!(thrown(&[("keys", js("not a key"))]).await, "invalid_key");
    assert_eq!(
        thrown(&[("keys", JsValue::from_f64(1.0))]).await,
        "invalid_config"
    );
    assert_eq!(thrown(&[("campaignId", js(""))]).await, "invalid_config");
    assert_eq!(
        thrown(&[("campaignId", JsValue::NULL)]).await,
        "invalid_config"
    );
    assert_eq!(
        thrown(&[("clockToleranceSeconds", JsValue::from_f64(601.0))]).await,
        "invalid_config"
    );
    assert_eq!(
        thrown(&[("clockToleranceSeconds", JsValue::from_f64(1.5))]).await,
        "invalid_config"
    );
    assert_eq!(
        thrown(&[("maxTokenBytes", js("8k"))]).await,
        "invalid_config"
    );
    assert_eq!(
        thrown(&[("issuers", js("https://brand"))]).await,
        "invalid_config"
    );
    let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
    assert_eq!(thrown(&[("keys", js(private))]).await, "invalid_key");
    // WebCrypto checks the point when the key is imported, at creation.
    assert_eq!(thrown(&[("keys", off_curve_jwks())]).await, "invalid_key");

    async fn session_error(extra: &[(&str, JsValue)]) -> String {
        let err = Session::create(options(extra), None, None)
            .await
            .err()
            .expect("refused");
        error_code(&err)
    }
    for bad in [
        "*",
        "https://brand.example/",
        "https://brand.example/path",
        "null",
        "brand.example",
    ] {
        assert_eq!(
            session_error(&[("allowedOrigins", origins(&[bad]))]).await,
            "invalid_config",
            "{bad}"
        );
    }
    assert_eq!(
        session_error(&[("root", js("#no-such-element"))]).await,
        "invalid_config"
    );
    assert_eq!(
        session_error(&[("keys", off_curve_jwks())]).await,
        "invalid_key"
    );
}

#[wasm_bindgen_test]
async fn a_bad_jwks_url_or_time_url_is_refused_as_invalid_config() {
    let no_keys = ("keys", JsValue::UNDEFINED);
    for bad in [
        "http://keys.brand.example/jwks.json", // clear text off loopback
        "/jwks.json",                          // not absolute
        "keys.brand.example/jwks.json",
        "ftp://keys.brand.example/jwks.json",
        "javascript:alert(1)",
        "data:application/json,{}",
        "https://user:secret@keys.brand.example/jwks.json",
        "https://",
        "",
    ] {
        assert_eq!(
            thrown(&[no_keys.clone(), ("jwksUrl", js(bad))]).await,
            "invalid_config",
            "{bad}"
        );
    }
    assert_eq!(
        thrown(&[no_keys.clone(), ("jwksUrl", JsValue::from_f64(1.0))]).await,
        "invalid_config"
    );
    // Never both: the key set is the one published at the URL.
    assert_eq!(
        thrown(&[("jwksUrl", js("https://keys.brand.example/jwks.json"))]).await,
        "invalid_config"
    );
    for bad in [
        "ftp://time.example/",
        "javascript:1",
        "https://u:p@time.example/",
    ] {
        assert_eq!(
            thrown(&[("timeUrl", js(bad))]).await,
            "invalid_config",
            "{bad}"
        );
    }
    assert_eq!(
        thrown(&[("timeUrl", JsValue::TRUE)]).await,
        "invalid_config"
    );
    // Accepted, and nothing is fetched until a token needs keys.
    for good in [
        "https://keys.brand.example/.well-known/jwks.json",
        "http://127.0.0.1:9/jwks.json",
        "http://localhost:9/jwks.json",
        "http://[::1]:9/jwks.json",
    ] {
        JsVerifier::create(options(&[no_keys.clone(), ("jwksUrl", js(good))]))
            .await
            .unwrap_or_else(|_| panic!("{good} refused"));
    }
}

#[wasm_bindgen_test]
async fn without_a_reachable_jwks_a_token_is_unknown_key_not_a_crash() {
    // Port 9 (discard) on loopback: the connection is refused at once.
    let v = JsVerifier::create(options(&[
        ("keys", JsValue::UNDEFINED),
        ("jwksUrl", js("http://127.0.0.1:9/jwks.json")),
    ]))
    .await
    .unwrap();
    for _ in 0..3 {
        let err = verify(&v, &js(GIVEN_PRIZE)).await.unwrap_err();
        assert_eq!(error_code(&err), "unknown_key");
    }
}

#[wasm_bindgen_test]
async fn a_jwks_given_as_an_object_or_as_text_is_accepted() {
    let object = js_sys::JSON::parse(PUBLIC_JWKS).unwrap();
    for keys in [object, js(PUBLIC_JWKS)] {
        let v = verifier(&[("keys", keys)]).await;
        let r = verify(&v, &js(GIVEN_PRIZE)).await.unwrap();
        assert_eq!(get_str(&r, "eligibility").as_deref(), Some("given-prize"));
        assert_eq!(
            error_code(&verify(&v, &js(FORGED)).await.unwrap_err()),
            "bad_signature"
        );
    }
    let secret = js_sys::JSON::parse(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).unwrap();
    let err = JsVerifier::create(options(&[("keys", secret)]))
        .await
        .err()
        .unwrap();
    assert_eq!(
        error_code(&err),
        "invalid_key",
        "a shared secret is refused"
    );
}

#[wasm_bindgen_test]
async fn an_es512_token_verifies_with_its_p521_key_as_pem_and_as_jwks() {
    for keys in [ES512_PUBLIC_PEM, ES512_PUBLIC_JWKS] {
        let v = verifier(&[("keys", js(keys))]).await;
        let r = verify(&v, &js(ES512_GIVEN_PRIZE)).await.unwrap();
        assert_eq!(get_str(&r, "alg").as_deref(), Some("ES512"));
        assert_eq!(get_str(&r, "prizeLabel").as_deref(), Some("a spa day"));
        assert_eq!(
            error_code(&verify(&v, &js(ES512_FORGED)).await.unwrap_err()),
            "bad_signature"
        );
        // A P-256 token against the P-521 key names another key type.
        assert_eq!(
            error_code(&verify(&v, &js(GIVEN_PRIZE)).await.unwrap_err()),
            "unsupported_algorithm"
        );
    }
    // And the P-256 key refuses the ES512 token the same way.
    let v = verifier(&[]).await;
    assert_eq!(
        error_code(&verify(&v, &js(ES512_GIVEN_PRIZE)).await.unwrap_err()),
        "unsupported_algorithm"
    );
}

#[wasm_bindgen_test]
async fn placeholders_show_fallbacks_then_the_label_then_fallbacks_again() {
    let root = page(MARKUP);
    let mut s = session(&[
        ("root", root.clone().into()),
        ("defaultPrizeLabel", js("a prize")),
    ])
    .await;
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

    let state = set_token(&s, GIVEN_PRIZE).await;
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
    set_token(&s, OTHER_PRIZE).await;
    assert_eq!(text_of(&root, "#inline"), "Win a bike today!");
    assert_eq!(text_of(&root, "#marked"), "a bike");

    // An invalid token puts every fallback back, markup included.
    let state = set_token(&s, FORGED).await;
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

    set_token(&s, GIVEN_PRIZE).await;
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    s.destroy();
    assert_eq!(eligibility_attribute(), None);
    assert_eq!(text_of(&root, "#inline"), "Win a surprise prize today!");
    root.remove();
}

#[wasm_bindgen_test]
async fn a_label_with_markup_is_shown_as_text_and_runs_nothing() {
    let root = page(MARKUP);
    let mut s = session(&[("root", root.clone().into())]).await;
    set_token(&s, HTML_LABEL).await;
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
    // An image's error handler would run in a later task.
    settle().await;
    assert!(get(&window(), "__pwned").is_undefined());
    s.destroy();
    root.remove();
}

#[wasm_bindgen_test]
async fn every_eligibility_is_exposed_on_the_html_element() {
    let root = page(MARKUP);
    let mut s = session(&[("root", root.clone().into())]).await;
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
        let state = set_token(&s, token).await;
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
            .add_event_listener_with_callback(CHANGE_EVENT, listener.as_ref().unchecked_ref())
            .unwrap();
        ChangeEvents { seen, listener }
    }
}

impl Drop for ChangeEvents {
    fn drop(&mut self) {
        let _ = document().remove_event_listener_with_callback(
            CHANGE_EVENT,
            self.listener.as_ref().unchecked_ref(),
        );
    }
}

/// A session on a fresh page whose change events and `onChange` calls are both recorded.
async fn observed_session() -> (Element, ChangeEvents, Calls, Session) {
    let root = page(MARKUP);
    let events = ChangeEvents::listen();
    let calls = Calls::new();
    let s = Session::create(
        options(&[("root", root.clone().into())]),
        calls.function(),
        None,
    )
    .await
    .unwrap();
    (root, events, calls, s)
}

#[wasm_bindgen_test]
async fn each_token_dispatches_a_change_event_and_calls_back() {
    let (root, events, calls, mut s) = observed_session().await;
    assert_eq!(events.seen.borrow().len(), 0, "no token, no change");
    assert_eq!(calls.seen.borrow().len(), 0, "no token, no call");

    set_token(&s, ANY_PRIZE).await;
    set_token(&s, EXPIRED).await;
    let seen = events.seen.borrow();
    assert_eq!(seen.len(), 2);
    assert_eq!(calls.seen.borrow().len(), 2);
    let first = get(&seen[0], "result");
    assert_eq!(get_str(&first, "eligibility").as_deref(), Some("any-prize"));
    assert_eq!(error_code(&get(&seen[1], "error")), "expired");
    assert_eq!(
        get_str(&get(&seen[1], "error"), "claim").as_deref(),
        Some("exp")
    );
    // The callback gets the same state objects as the events, in the same order.
    for (i, (state, _)) in calls.seen.borrow().iter().enumerate() {
        assert!(Object::is(state, &seen[i]), "call {i}");
    }
    drop(seen);
    s.destroy();
    root.remove();
}

// The token leaving the address bar is the JS entry's step (js/index.js, `takeUrlToken`),
// tested end to end (tests/e2e/page-safety.test.mjs, url-token.test.mjs); the session is
// handed the token it took.

#[wasm_bindgen_test]
async fn the_token_the_js_entry_took_from_the_url_is_verified_and_kept_for_participation() {
    let root = page(MARKUP);
    let o = options(&[("root", root.clone().into())]);
    let mut s = Session::create(o, None, Some(GIVEN_PRIZE.to_owned()))
        .await
        .unwrap();
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    assert_eq!(text_of(&root, "#marked"), "a spa day");
    assert!(s.token().is_some_and(|t| t == GIVEN_PRIZE));
    s.destroy();

    // An invalid one is shown as invalid and never kept for participation; an empty one is
    // no token.
    let o = options(&[("root", root.clone().into())]);
    let mut s = Session::create(o, None, Some(FORGED.to_owned()))
        .await
        .unwrap();
    assert_eq!(eligibility_attribute().as_deref(), Some("invalid"));
    assert!(s.token().is_none());
    s.destroy();
    let o = options(&[("root", root.clone().into())]);
    let mut s = Session::create(o, None, Some(String::new())).await.unwrap();
    assert_eq!(eligibility_attribute().as_deref(), Some("none"));
    s.destroy();
    root.remove();
}

// `MutationObserver`, bound here (web-sys's binding is behind features the crate does not
// enable): records every change the session makes to the page.
#[wasm_bindgen]
extern "C" {
    type MutationObserver;
    #[wasm_bindgen(constructor)]
    fn new(callback: &Function) -> MutationObserver;
    #[wasm_bindgen(method)]
    fn observe(this: &MutationObserver, target: &Node, options: &JsValue);
    #[wasm_bindgen(method, js_name = takeRecords)]
    fn take_records(this: &MutationObserver) -> Array;
    #[wasm_bindgen(method)]
    fn disconnect(this: &MutationObserver);
}

/// The mutation records of the whole document (text, child lists, the eligibility
/// attribute, with old values) from `observe` on.
struct Mutations {
    observer: MutationObserver,
    records: Rc<RefCell<Vec<JsValue>>>,
    _callback: Closure<dyn FnMut(Array)>,
}

impl Mutations {
    fn observe() -> Mutations {
        let records = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&records);
        let callback = Closure::<dyn FnMut(Array)>::new(move |list: Array| {
            sink.borrow_mut().extend(list.iter())
        });
        let observer = MutationObserver::new(callback.as_ref().unchecked_ref());
        let init = Object::new();
        for flag in [
            "subtree",
            "childList",
            "characterData",
            "characterDataOldValue",
            "attributes",
            "attributeOldValue",
        ] {
            Reflect::set(&init, &js(flag), &JsValue::TRUE).unwrap();
        }
        Reflect::set(
            &init,
            &js("attributeFilter"),
            &Array::of1(&js(ELIGIBILITY_ATTRIBUTE)),
        )
        .unwrap();
        observer.observe(&document().document_element().unwrap(), &init);
        Mutations {
            observer,
            records,
            _callback: callback,
        }
    }

    /// The records so far of `kind` whose target is `target`.
    fn of(&self, kind: &str, target: &JsValue) -> Vec<JsValue> {
        let pending = self.observer.take_records();
        self.records.borrow_mut().extend(pending.iter());
        self.records
            .borrow()
            .iter()
            .filter(|r| get_str(r, "type").as_deref() == Some(kind))
            .filter(|r| Object::is(&get(r, "target"), target))
            .cloned()
            .collect()
    }
}

impl Drop for Mutations {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

#[wasm_bindgen_test]
async fn a_url_token_is_shown_once_without_the_fallbacks_first() {
    for (token, eligibility, inline, marked) in [
        (
            GIVEN_PRIZE,
            "given-prize",
            "Win a spa day today!",
            "a spa day",
        ),
        (
            FORGED,
            "invalid",
            "Win a surprise prize today!",
            "our grand prize",
        ),
    ] {
        let root = page(MARKUP);
        let html: JsValue = document().document_element().unwrap().into();
        let inline_text: JsValue = root
            .query_selector("#inline")
            .unwrap()
            .unwrap()
            .first_child()
            .unwrap()
            .into();
        let marked_element: JsValue = root.query_selector("#marked").unwrap().unwrap().into();
        assert_eq!(eligibility_attribute(), None, "no session left over");
        let events = ChangeEvents::listen();
        let calls = Calls::new();
        let mutations = Mutations::observe();

        let mut s = Session::create(
            options(&[("root", root.clone().into())]),
            calls.function(),
            Some(token.to_owned()),
        )
        .await
        .unwrap();

        // Shown once, with the token's verdict; never "none" nor the fallbacks first.
        let seen_calls = calls.seen.borrow();
        assert_eq!(seen_calls.len(), 1, "{eligibility}: one call");
        let (state, attribute_then) = &seen_calls[0];
        assert_eq!(attribute_then.as_deref(), Some(eligibility));
        assert!(Object::is(state, &s.state()));
        if eligibility == "invalid" {
            assert!(get(state, "result").is_null());
            assert_eq!(error_code(&get(state, "error")), "bad_signature");
        } else {
            assert!(get(state, "error").is_null());
            assert_eq!(
                get_str(&get(state, "result"), "eligibility").as_deref(),
                Some(eligibility)
            );
        }
        assert_eq!(events.seen.borrow().len(), 1, "{eligibility}: one event");
        assert!(Object::is(&events.seen.borrow()[0], state));

        // The attribute went from absent to the verdict in one step.
        let attribute = mutations.of("attributes", &html);
        assert_eq!(
            attribute.len(),
            1,
            "{eligibility}: the attribute was set once"
        );
        assert!(get(&attribute[0], "oldValue").is_null());
        assert_eq!(eligibility_attribute().as_deref(), Some(eligibility));

        // The variables went from the page's own text to the verdict's in one step.
        let text = mutations.of("characterData", &inline_text);
        assert_eq!(text.len(), 1, "{eligibility}: the text was rendered once");
        assert_eq!(
            get_str(&text[0], "oldValue").as_deref(),
            Some("Win {{gift.label|a surprise prize}} today!")
        );
        assert_eq!(text_of(&root, "#inline"), inline);
        // (For an invalid token the element shows its fallback all along; rendering it puts
        // the original nodes back, which takes two records and changes nothing visible.)
        if eligibility != "invalid" {
            let children = mutations.of("childList", &marked_element);
            assert_eq!(
                children.len(),
                1,
                "{eligibility}: the element was rendered once"
            );
        }
        assert_eq!(text_of(&root, "#marked"), marked);

        drop(seen_calls);
        drop(mutations);
        drop(events);
        s.destroy();
        root.remove();
    }
}

#[wasm_bindgen_test]
async fn only_the_latest_of_two_tokens_set_back_to_back_is_shown() {
    let (root, events, calls, mut s) = observed_session().await;

    // A valid token then an invalid one: the invalid one is shown.
    let a = s.set_token(js(GIVEN_PRIZE));
    let b = s.set_token(js(EXPIRED));
    let a = JsFuture::from(a).await.unwrap();
    let b = JsFuture::from(b).await.unwrap();
    assert_eq!(
        get_str(&get(&a, "result"), "eligibility").as_deref(),
        Some("given-prize"),
        "each promise resolves to its own token's state"
    );
    assert!(get(&a, "error").is_null());
    assert!(get(&b, "result").is_null());
    assert_eq!(error_code(&get(&b, "error")), "expired");
    assert!(
        Object::is(&s.state(), &b),
        "the session's state is the latest"
    );
    assert_eq!(eligibility_attribute().as_deref(), Some("invalid"));
    assert_eq!(text_of(&root, "#inline"), "Win a surprise prize today!");
    assert!(s.token().is_none(), "no valid token to participate with");
    settle().await;
    assert!(Object::is(&s.state(), &b), "and stays so");
    assert_eq!(eligibility_attribute().as_deref(), Some("invalid"));
    {
        // With WebCrypto the first check is still pending when the second token arrives, so
        // only the latest verdict is published. The pure-Rust backend finishes the first
        // before the second starts: both are published, in order, the latest last.
        let published = if cfg!(feature = "pure-rust") { 2 } else { 1 };
        let seen = events.seen.borrow();
        assert_eq!(
            seen.len(),
            published,
            "only the latest verdict is published"
        );
        assert!(Object::is(&seen[published - 1], &b));
        assert_eq!(calls.seen.borrow().len(), published);
        assert!(Object::is(&calls.seen.borrow()[published - 1].0, &b));
    }

    // An invalid token then a valid one: the valid one is shown, and participates.
    let a = s.set_token(js(EXPIRED));
    let b = s.set_token(js(OTHER_PRIZE));
    let a = JsFuture::from(a).await.unwrap();
    let b = JsFuture::from(b).await.unwrap();
    assert_eq!(error_code(&get(&a, "error")), "expired");
    assert_eq!(
        get_str(&get(&b, "result"), "prizeLabel").as_deref(),
        Some("a bike")
    );
    assert!(Object::is(&s.state(), &b));
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    assert_eq!(text_of(&root, "#inline"), "Win a bike today!");
    assert!(s.token().is_some_and(|t| t == OTHER_PRIZE));
    settle().await;
    assert!(Object::is(&s.state(), &b));
    assert_eq!(text_of(&root, "#inline"), "Win a bike today!");
    {
        // One more publication for the pure-Rust backend's first pair (see above).
        let published = if cfg!(feature = "pure-rust") { 4 } else { 2 };
        let seen = events.seen.borrow();
        assert_eq!(seen.len(), published);
        assert!(Object::is(&seen[published - 1], &b));
        assert_eq!(calls.seen.borrow().len(), published);
    }

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

/// Dispatches a synthetic `message` event on the window. The session's listener runs at
/// once but verifies in a later task: await `next_change()` or `settle()` after it.
fn send(data: &JsValue, origin: &str) {
    window()
        .dispatch_event(&message(data, origin, None))
        .unwrap();
}

/// The embedding page's origin the message tests allow.
const ALLOWED: &str = "https://brand.example";

/// A session on a fresh page that accepts postMessage tokens from `allowed`, with its change
/// events recorded.
async fn listening_session(allowed: &str) -> (Element, ChangeEvents, Session) {
    let root = page(MARKUP);
    let events = ChangeEvents::listen();
    let s = session(&[
        ("root", root.clone().into()),
        ("allowedOrigins", origins(&[allowed])),
    ])
    .await;
    (root, events, s)
}

#[wasm_bindgen_test]
async fn messages_from_other_origins_or_of_other_shapes_change_nothing() {
    let (root, events, mut s) = listening_session(ALLOWED).await;
    let allowed = ALLOWED;
    for origin in [
        "https://evil.example",
        "https://brand.example.evil.example",
        "http://brand.example",
        "https://brand.example:8443",
        "null",
    ] {
        send(&token_message(GIVEN_PRIZE), origin);
        settle().await;
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
        settle().await;
        assert_eq!(eligibility_attribute().as_deref(), Some("none"), "{data:?}");
    }
    assert_eq!(text_of(&root, "#inline"), "Win a surprise prize today!");
    assert_eq!(events.seen.borrow().len(), 0, "no change at all");
    assert!(get(&s.state(), "result").is_null());
    assert!(get(&s.state(), "error").is_null());

    // The allowed origin, right shape: applied.
    let change = next_change();
    send(&token_message(GIVEN_PRIZE), allowed);
    let state = change.await;
    assert_eq!(
        get_str(&get(&state, "result"), "eligibility").as_deref(),
        Some("given-prize")
    );
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    assert_eq!(text_of(&root, "#inline"), "Win a spa day today!");
    assert_eq!(events.seen.borrow().len(), 1);

    // After destroy the listener is gone.
    s.destroy();
    send(&token_message(ANY_PRIZE), allowed);
    settle().await;
    assert_eq!(eligibility_attribute(), None);
    assert_eq!(text_of(&root, "#inline"), "Win a surprise prize today!");
    assert_eq!(events.seen.borrow().len(), 1);
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
    ])
    .await;
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
async fn a_request_id_that_is_not_a_short_string_makes_the_message_malformed() {
    let (root, events, mut s) = listening_session(ALLOWED).await;
    let allowed = ALLOWED;
    let too_long = "x".repeat(65);
    for id in [
        JsValue::NULL,
        JsValue::from_f64(7.0),
        js(&too_long),
        Object::new().into(),
        JsValue::TRUE,
    ] {
        send(&token_message_with_id(GIVEN_PRIZE, &id), allowed);
        settle().await;
        assert_eq!(eligibility_attribute().as_deref(), Some("none"), "{id:?}");
    }
    assert_eq!(events.seen.borrow().len(), 0, "no change at all");
    // 64 characters (not bytes) is the limit.
    let longest = "é".repeat(64);
    let change = next_change();
    send(&token_message_with_id(GIVEN_PRIZE, &js(&longest)), allowed);
    change.await;
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    assert_eq!(events.seen.borrow().len(), 1);
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
    ])
    .await;
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

// Issue 13: form and custom variables, form prefill, `data-token-access`.

const PERSONAL_MARKUP: &str = r#"
  <p id="hi">Hello {{form.firstName|there}}, {{custom.tier|member}} {{custom.visits}}{{form}}</p>
  <span id="tier" data-token-var="custom.tier"><em>member</em></span>
  <span id="whole" data-token-var="form">whole</span>
  <input id="email" data-token-field="form.email">
  <select id="country" data-token-field="form.country"><option value="">-</option><option value="FR">FR</option><option value="DE">DE</option></select>
  <textarea id="first" data-token-field="form.firstName"></textarea>
  <input id="news" type="checkbox" data-token-field="optin.newsletter">
  <input id="other" data-token-field="custom.tier" value="as written">
"#;

fn access_attribute() -> Option<String> {
    document()
        .document_element()
        .unwrap()
        .get_attribute("data-token-access")
}

fn field(root: &Element, selector: &str) -> Element {
    root.query_selector(selector).unwrap().unwrap()
}

fn prop(el: &Element, name: &str) -> JsValue {
    Reflect::get(el, &js(name)).unwrap()
}

/// What the visitor does: sets the property, then the event a browser fires (bubbling).
fn visitor_sets(el: &Element, name: &str, value: &JsValue, event: &str) {
    Reflect::set(el, &js(name), value).unwrap();
    let dispatch = Function::new_with_args(
        "el, type",
        "el.dispatchEvent(new Event(type, { bubbles: true }))",
    );
    dispatch.call2(&JsValue::NULL, el, &js(event)).unwrap();
}

#[wasm_bindgen_test]
async fn form_and_custom_variables_render_as_text_with_their_fallbacks() {
    let root = page(PERSONAL_MARKUP);
    let mut s = session(&[("root", root.clone().into())]).await;
    assert_eq!(text_of(&root, "#hi"), "Hello there, member {{form}}");
    assert_eq!(field(&root, "#tier").inner_html(), "<em>member</em>");

    set_token(&s, PERSONAL).await;
    assert_eq!(text_of(&root, "#hi"), "Hello Ada, gold 3{{form}}");
    assert_eq!(text_of(&root, "#tier"), "gold");
    // Never a whole object.
    assert_eq!(text_of(&root, "#whole"), "whole");

    // Markup in a value stays characters.
    set_token(&s, PERSONAL_HTML).await;
    assert_eq!(
        text_of(&root, "#hi"),
        "Hello <b>Eve</b>, <img src=x onerror=\"window.__pwned=1\"> {{form}}"
    );
    assert!(root
        .query_selector("#hi b, #hi img, #tier img")
        .unwrap()
        .is_none());
    assert_eq!(
        text_of(&root, "#tier"),
        "<img src=x onerror=\"window.__pwned=1\">"
    );
    s.destroy();
    assert_eq!(text_of(&root, "#hi"), "Hello there, member {{form}}");
    root.remove();
}

#[wasm_bindgen_test]
async fn fields_are_prefilled_and_a_later_token_leaves_what_the_visitor_changed() {
    let root = page(PERSONAL_MARKUP);
    let mut s = session(&[("root", root.clone().into())]).await;
    let state = set_token(&s, PERSONAL).await;
    let result = get(&state, "result");
    assert_eq!(
        get_str(&get(&result, "form"), "firstName").as_deref(),
        Some("Ada")
    );
    assert_eq!(
        get(&get(&result, "optin"), "newsletter").as_bool(),
        Some(true)
    );
    assert_eq!(
        get_str(&get(&result, "custom"), "tier").as_deref(),
        Some("gold")
    );

    let email = field(&root, "#email");
    let news = field(&root, "#news");
    assert_eq!(
        prop(&email, "value").as_string().as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(
        prop(&field(&root, "#country"), "value")
            .as_string()
            .as_deref(),
        Some("FR")
    );
    assert_eq!(
        prop(&field(&root, "#first"), "value")
            .as_string()
            .as_deref(),
        Some("Ada")
    );
    assert_eq!(prop(&news, "checked").as_bool(), Some(true));
    // Only `value`/`checked`: no attribute written, and only form.* / optin.* paths.
    assert!(email.get_attribute("value").is_none());
    assert_eq!(
        prop(&field(&root, "#other"), "value")
            .as_string()
            .as_deref(),
        Some("as written")
    );

    // The visitor types an address and unticks the newsletter: theirs from now on.
    visitor_sets(&email, "value", &js("me@example.org"), "input");
    visitor_sets(&news, "checked", &JsValue::TRUE, "change");
    visitor_sets(&news, "checked", &JsValue::FALSE, "change");
    set_token(&s, PERSONAL_HTML).await;
    assert_eq!(
        prop(&email, "value").as_string().as_deref(),
        Some("me@example.org")
    );
    assert_eq!(prop(&news, "checked").as_bool(), Some(false));
    // The untouched ones follow the new token, as text.
    assert_eq!(
        prop(&field(&root, "#country"), "value")
            .as_string()
            .as_deref(),
        Some("DE")
    );
    assert_eq!(
        prop(&field(&root, "#first"), "value")
            .as_string()
            .as_deref(),
        Some("<b>Eve</b>")
    );
    s.destroy();
    root.remove();
}

#[wasm_bindgen_test]
async fn can_play_false_is_data_token_access_denied() {
    let root = page(MARKUP);
    let mut s = session(&[("root", root.clone().into())]).await;
    assert_eq!(access_attribute(), None);
    let state = set_token(&s, GIVEN_PRIZE).await;
    assert_eq!(access_attribute().as_deref(), Some("allowed"));
    assert_eq!(
        get_str(&get(&state, "result"), "access").as_deref(),
        Some("allowed")
    );
    assert!(get(&get(&state, "result"), "limit").is_null());

    let state = set_token(&s, DENIED).await;
    let result = get(&state, "result");
    assert_eq!(access_attribute().as_deref(), Some("denied"));
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    assert_eq!(get_str(&result, "access").as_deref(), Some("denied"));
    assert_eq!(
        get(&get(&result, "limit"), "canPlay").as_bool(),
        Some(false)
    );
    assert_eq!(get(&get(&result, "limit"), "nb").as_f64(), Some(1.0));

    // An invalid token: no access at all.
    set_token(&s, FORGED).await;
    assert_eq!(access_attribute(), None);
    set_token(&s, DENIED).await;
    s.destroy();
    assert_eq!(access_attribute(), None);
    root.remove();
}

/// Replaces `console.warn` while alive, recording each call's arguments.
struct Warnings {
    seen: Rc<RefCell<Vec<Array>>>,
    original: JsValue,
    _hook: Closure<dyn FnMut(JsValue)>,
}

impl Warnings {
    fn record() -> Warnings {
        let console = get(&js_sys::global(), "console");
        let original = get(&console, "warn");
        let seen: Rc<RefCell<Vec<Array>>> = Rc::default();
        let sink = Rc::clone(&seen);
        let hook = Closure::<dyn FnMut(JsValue)>::new(move |args: JsValue| {
            sink.borrow_mut().push(args.into());
        });
        // A rest-parameter wrapper, so the hook sees every argument as one array.
        let wrap = Function::new_with_args("hook", "return (...args) => hook(args)");
        let warn = wrap.call1(&JsValue::NULL, hook.as_ref()).unwrap();
        Reflect::set(&console, &js("warn"), &warn).unwrap();
        Warnings {
            seen,
            original,
            _hook: hook,
        }
    }
}

impl Drop for Warnings {
    fn drop(&mut self) {
        let console = get(&js_sys::global(), "console");
        let _ = Reflect::set(&console, &js("warn"), &self.original);
    }
}

#[wasm_bindgen_test]
async fn script_style_and_other_raw_text_elements_are_never_filled_and_warned_about_once() {
    // Each element marked `refused` must keep its text; `filled` ones show the token's.
    let root = page(
        r#"
  <script data-token-var="gift.label" class="refused"></script>
  <style data-token-var="gift.label" class="refused"></style>
  <style class="refused">{{gift.label}}</style>
  <xmp data-token-var="gift.label" class="refused">xmp</xmp>
  <iframe data-token-var="gift.label" class="refused">iframe</iframe>
  <noembed data-token-var="gift.label" class="refused">noembed</noembed>
  <noframes data-token-var="gift.label" class="refused">noframes</noframes>
  <noscript data-token-var="gift.label" class="refused">noscript</noscript>
  <template data-token-var="gift.label" class="refused"><b>template</b></template>
  <title data-token-var="gift.label" class="refused">title</title>
  <textarea data-token-var="form.firstName" class="refused">textarea</textarea>
  <script data-token-field="form.firstName" class="refused"></script>
  <svg>
    <script data-token-var="gift.label" class="refused"></script>
    <style class="refused">{{gift.label}}</style>
    <title data-token-var="gift.label" id="svg-title">an SVG title is text</title>
  </svg>
  <span data-token-var="gift.label" id="filled"></span>
  <textarea data-token-field="form.firstName" id="field"></textarea>
"#,
    );
    // <plaintext> swallows the rest of any markup after it: made, not parsed.
    let plaintext = document().create_element("plaintext").unwrap();
    plaintext
        .set_attribute("data-token-var", "gift.label")
        .unwrap();
    plaintext.set_attribute("class", "refused").unwrap();
    plaintext.set_text_content(Some("plaintext"));
    root.append_child(&plaintext).unwrap();

    let refused = root.query_selector_all(".refused").unwrap();
    let before: Vec<_> = (0..refused.length())
        .map(|i| refused.item(i).unwrap().text_content())
        .collect();
    assert_eq!(before.len(), 15);

    let warnings = Warnings::record();
    let mut s = Session::create(
        options(&[("root", root.clone().into())]),
        None,
        Some(PERSONAL.to_owned()),
    )
    .await
    .unwrap();
    assert_eq!(eligibility_attribute().as_deref(), Some("given-prize"));
    assert_eq!(text_of(&root, "#filled"), "a spa day");
    assert_eq!(text_of(&root, "#svg-title"), "a spa day");
    assert_eq!(
        prop(&field(&root, "#field"), "value")
            .as_string()
            .as_deref(),
        Some("Ada")
    );
    for i in 0..refused.length() {
        let el = refused.item(i).unwrap();
        assert_eq!(el.text_content(), before[i as usize], "refused element {i}");
    }
    // A later token changes none of them either.
    set_token(&s, OTHER_PRIZE).await;
    assert_eq!(text_of(&root, "#filled"), "a bike");
    for i in 0..refused.length() {
        assert_eq!(refused.item(i).unwrap().text_content(), before[i as usize]);
    }

    // One warning for the session, naming every element left alone.
    let seen = warnings.seen.borrow();
    assert_eq!(seen.len(), 1, "one warning");
    let args = &seen[0];
    assert!(args
        .get(0)
        .as_string()
        .is_some_and(|m| m.contains("15 marked elements left alone")));
    assert_eq!(args.length(), 16);
    for i in 0..refused.length() {
        let el: JsValue = refused.item(i).unwrap().into();
        assert!(
            args.iter().skip(1).any(|a| Object::is(&a, &el)),
            "element {i} named"
        );
    }
    drop(seen);
    drop(warnings);
    s.destroy();
    root.remove();
}
