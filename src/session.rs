//! One campaign page's session: verifies the token the JS entry took from the URL (js/index.js,
//! `takeUrlToken`: it leaves the address bar before the module loads), listens for tokens
//! posted by the allowed origins, verifies each, renders the prize variables, sets
//! `data-token-eligibility` on `<html>`, dispatches `campaign-token:change`, and answers the
//! embedding page.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{CustomEvent, CustomEventInit, Document, MessageEvent, Window};

use campaign_token_core::{Error, ErrorCode, Verified};

use crate::dom::Variables;
use crate::errors::{self, set};
use crate::fields::Fields;
use crate::step::{self, Out, Step};
use crate::{access, options, raw_text, to_js_value, Checker, JsVerifier, Resumed};

/// The attribute on `<html>` that exposes the eligibility to style sheets and tests.
const ELIGIBILITY_ATTRIBUTE: &str = "data-token-eligibility";
const CHANGE_EVENT: &str = "campaign-token:change";
const MESSAGE_TYPE: &str = "campaign-token";
const READY_TYPE: &str = "campaign-token:ready";
const RESULT_TYPE: &str = "campaign-token:result";
/// The longest request `id` echoed back; a longer one makes the message malformed.
const MAX_ID_CHARS: usize = 64;

/// A campaign page's token session (see the module doc). Cloning shares it.
#[wasm_bindgen]
#[derive(Clone)]
pub struct Session {
    inner: Rc<Inner>,
}

struct Inner {
    checker: Rc<Checker>,
    window: Window,
    document: Document,
    variables: Variables,
    /// The form fields the tokens prefill.
    fields: Fields,
    allowed_origins: Vec<String>,
    on_change: Option<Function>,
    /// The `{result, error}` object last published.
    state: RefCell<JsValue>,
    /// The last token that verified, for participation.
    token: RefCell<Option<String>>,
    live: Cell<bool>,
    /// Tokens arrive in order but their signature checks finish in any order: each gets the
    /// next number, and only the latest one's verdict is shown (every sender still gets the
    /// answer about its own token).
    arrivals: Cell<u64>,
}

#[wasm_bindgen]
impl Session {
    /// Starts a session from `InitOptions` with `verifier` (made from the same options and
    /// set up); throws `invalid_config`. `has_url_token`: the JS entry took a token out of
    /// the page URL, which it hands to `receive` next; the page then keeps its variables and
    /// `.personal` parts hidden until that verdict.
    ///
    /// With allowed origins, `listening` is true: the JS entry passes each `message` event to
    /// `message(event)` (it adds its listener right after this, in the same task, so no token
    /// is missed), and the embedding page is told the session is ready.
    ///
    /// `on_change(state)` is called after each token shown, before the DOM event is
    /// dispatched and before the embedding page is answered.
    pub fn create(
        options: JsValue,
        on_change: Option<Function>,
        has_url_token: bool,
        verifier: &JsVerifier,
    ) -> Result<Session, JsValue> {
        Session::start(&options, on_change, has_url_token, verifier.checker())
            .map_err(|e| errors::to_js(&e))
    }

    /// The current `{result, error}`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        self.inner.state.borrow().clone()
    }

    /// Whether postMessage tokens are accepted (`allowedOrigins` is not empty).
    #[wasm_bindgen(getter)]
    pub fn listening(&self) -> bool {
        !self.inner.allowed_origins.is_empty()
    }

    /// The estimated offset of the visitor's clock (server minus visitor, milliseconds) that
    /// tokens are checked with, or `undefined` when no `Date` header gave one and the visitor's
    /// own clock is used (`clock.rs`).
    #[wasm_bindgen(getter, js_name = clockOffsetMs)]
    pub fn clock_offset_ms(&self) -> Option<f64> {
        crate::clock::offset().map(|ms| ms as f64)
    }

    /// The last token that verified (the one a participation sends), if any.
    #[wasm_bindgen(getter)]
    pub fn token(&self) -> Option<String> {
        self.inner.token.borrow().clone()
    }

    /// Takes `token` as if it had just arrived (the URL's, or `setToken`'s): a step for the
    /// driver, or `{kind: "done", value: state}`. Its verdict, if still the latest when it
    /// comes, is shown and announced to the embedding page. Never throws: a bad token's error
    /// is in the state.
    pub fn receive(&self, token: JsValue) -> JsValue {
        let mut reply = Reply::Announce;
        self.inner.start(&token, &mut reply)
    }

    /// A `message` event from the page's window. Anything but `{type: "campaign-token",
    /// token, id?}` (`id` a string of at most 64 characters) from an allowed origin, posted by
    /// the browser, is ignored (`undefined`), and changes nothing. Otherwise a step as
    /// `receive` gives; the answer goes to the sender only (`event.source`, at the origin just
    /// checked), carrying the request's `id` when it had one, so that each request gets its
    /// own answer.
    pub fn message(&self, event: MessageEvent) -> JsValue {
        let inner = &self.inner;
        if !inner.live.get() || !trusted(&event) {
            return JsValue::UNDEFINED;
        }
        let origin = event.origin();
        if !inner.allowed_origins.contains(&origin) {
            return JsValue::UNDEFINED;
        }
        let data = event.data();
        // Structured-clone data: plain objects, so reading members runs no page code.
        if !data.is_object()
            || Reflect::get(&data, &JsValue::from_str("type"))
                .ok()
                .and_then(|t| t.as_string())
                .is_none_or(|t| t != MESSAGE_TYPE)
        {
            return JsValue::UNDEFINED;
        }
        let token = Reflect::get(&data, &JsValue::from_str("token")).unwrap_or_default();
        if token.as_string().is_none() {
            return JsValue::UNDEFINED;
        }
        let id = Reflect::get(&data, &JsValue::from_str("id")).unwrap_or_default();
        if !id.is_undefined()
            && id
                .as_string()
                .is_none_or(|id| id.chars().count() > MAX_ID_CHARS)
        {
            return JsValue::UNDEFINED;
        }
        let mut reply = Reply::To {
            source: event.source().map_or(JsValue::UNDEFINED, JsValue::from),
            origin: JsValue::from_str(&origin),
            id,
        };
        inner.start(&token, &mut reply)
    }

    /// Goes on after the driver performed `step`: the next step, or `{kind: "done", value:
    /// state}` once the token's verdict is applied and answered. Never throws.
    pub fn resume(&self, step: JsValue, outcome: JsValue) -> JsValue {
        let step: &Step = step.unchecked_ref();
        let outcome = self
            .inner
            .checker
            .resume(step, &outcome)
            .and_then(|r| match r {
                Resumed::Token(out) => Ok(out),
                // A session's steps are its tokens' only.
                Resumed::SetUp => Err(Error::new(ErrorCode::Malformed, "not a token's step")),
            });
        let mut reply = Reply::read(step);
        let arrival = step.arrival().unwrap_or(0.0) as u64;
        let token = step.token();
        self.inner.after(outcome, arrival, &token, &mut reply)
    }

    /// Stops answering messages, puts the fallbacks back and removes the eligibility
    /// attribute (the JS entry removes its `message` listener).
    pub fn destroy(&self) {
        if self.inner.live.replace(false) {
            self.inner.variables.render(None);
            if let Some(html) = self.inner.document.document_element() {
                let _ = html.remove_attribute(ELIGIBILITY_ATTRIBUTE);
            }
            access::set(&self.inner.document, None);
            self.inner.fields.detach();
        }
    }
}

/// Whom a token's verdict is told to.
enum Reply {
    /// The embedding page, when shown (a token that did not come from it).
    Announce,
    /// The sender of a message.
    To {
        source: JsValue,
        origin: JsValue,
        id: JsValue,
    },
}

impl Reply {
    fn write(&self, step: &JsValue) {
        match self {
            Reply::Announce => set(step, "announce", &JsValue::TRUE),
            Reply::To { source, origin, id } => {
                set(step, "source", source);
                set(step, "origin", origin);
                set(step, "id", id);
            }
        }
    }

    fn read(step: &JsValue) -> Reply {
        if step::flag(step, "announce") {
            Reply::Announce
        } else {
            Reply::To {
                source: step::get(step, "source"),
                origin: step::get(step, "origin"),
                id: step::get(step, "id"),
            }
        }
    }
}

impl Session {
    fn start(
        options: &JsValue,
        on_change: Option<Function>,
        has_url_token: bool,
        checker: Rc<Checker>,
    ) -> Result<Session, Error> {
        let allowed_origins = options::allowed_origins(options)?;
        let window = web_sys::window().ok_or(Error::new(
            ErrorCode::InvalidConfig,
            "init needs a browser page (use verifyToken elsewhere)",
        ))?;
        let document = window.document().ok_or(Error::new(
            ErrorCode::InvalidConfig,
            "init needs a browser page (use verifyToken elsewhere)",
        ))?;
        let page = options::Page::read(options, &document)?;

        let mut left_alone = Vec::new();
        let variables = Variables::scan(&document, &page.root, page.default_label, &mut left_alone);
        let fields = Fields::scan(&page.root, &mut left_alone);
        raw_text::warn_left_alone("marked elements", &left_alone);
        // With a token to verify, the page keeps its variables and its `.personal` parts
        // hidden until the verdict, so that the visitor never sees the fallback flash before
        // the prize.
        if !has_url_token {
            variables.render(None);
            set_eligibility(&document, "none");
        }

        let inner = Rc::new(Inner {
            checker,
            window,
            document,
            variables,
            fields,
            allowed_origins,
            on_change,
            state: RefCell::new(state_object(&JsValue::NULL, &JsValue::NULL)),
            token: RefCell::new(None),
            live: Cell::new(true),
            arrivals: Cell::new(0),
        });
        if !inner.allowed_origins.is_empty() {
            let ready = Object::new();
            set(&ready, "type", &JsValue::from_str(READY_TYPE));
            inner.post_to_parent(&ready);
        }
        Ok(Session { inner })
    }
}

impl Inner {
    /// A token arrives: it gets the next number, and its check begins.
    fn start(&self, token: &JsValue, reply: &mut Reply) -> JsValue {
        let arrival = self.arrivals.get().wrapping_add(1);
        self.arrivals.set(arrival);
        let outcome = self.checker.begin(token);
        self.after(outcome, arrival, token, reply)
    }

    /// A step of the token numbered `arrival` (which carries that number and whom to
    /// answer), or its verdict: unless a later token arrived meanwhile, published; then
    /// answered. `{kind: "done", value: state}` with this token's state either way.
    fn after(
        &self,
        outcome: Result<Out, Error>,
        arrival: u64,
        token: &JsValue,
        reply: &mut Reply,
    ) -> JsValue {
        let outcome = match outcome {
            Ok(Out::Step(step)) => {
                step.set_arrival(arrival as f64);
                reply.write(&step);
                return step.into();
            }
            Ok(Out::Done(verified)) => {
                let js = to_js_value(&verified);
                Ok((verified, js))
            }
            Err(e) => Err(e),
        };
        let state = match &outcome {
            Ok((_, result)) => state_object(result, &JsValue::NULL),
            Err(e) => state_object(&JsValue::NULL, &errors::to_js(e)),
        };
        let latest = self.arrivals.get() == arrival;
        if latest {
            self.publish(token, &outcome, &state);
        }
        match reply {
            Reply::Announce => {
                if latest {
                    self.announce(&state);
                }
            }
            Reply::To { source, origin, id } => {
                if self.live.get() && source.is_object() {
                    let answer = reply_message(&state);
                    if !id.is_undefined() {
                        set(&answer, "id", id);
                    }
                    let origin = origin.as_string().unwrap_or_default();
                    let _ = source
                        .unchecked_ref::<Window>()
                        .post_message(&answer, &origin);
                }
            }
        }
        step::done(&state)
    }

    /// Makes `state` the session's: participation token, variables, attribute, listeners,
    /// DOM event.
    fn publish(
        &self,
        token: &JsValue,
        outcome: &Result<(Verified, JsValue), Error>,
        state: &JsValue,
    ) {
        let (shown, eligibility) = match outcome {
            Ok((verified, _)) => (Some(verified), verified.eligibility.as_str()),
            Err(e) if e.code() == ErrorCode::NoToken => (None, "none"),
            Err(_) => (None, "invalid"),
        };
        *self.token.borrow_mut() = match (outcome, token.as_string()) {
            (Ok(_), Some(t)) => Some(t),
            _ => None,
        };
        *self.state.borrow_mut() = state.clone();
        if !self.live.get() {
            return;
        }
        self.variables.render(shown);
        if let Some(verified) = shown {
            self.fields.fill(verified);
        }
        set_eligibility(&self.document, eligibility);
        access::set(&self.document, shown);
        if let Some(on_change) = &self.on_change {
            let _ = on_change.call1(&JsValue::NULL, state);
        }
        let init = CustomEventInit::new();
        init.set_detail(state);
        if let Ok(event) = CustomEvent::new_with_event_init_dict(CHANGE_EVENT, &init) {
            let _ = self.document.dispatch_event(&event);
        }
    }

    /// Tells the embedding page the verdict on a token that did not come from it (the URL's,
    /// or `setToken`'s) and is now shown: a `result` without `id`, which no pending
    /// `sendToken` takes.
    fn announce(&self, state: &JsValue) {
        if self.live.get() {
            self.post_to_parent(&reply_message(state));
        }
    }

    /// The embedding window, if this page is framed.
    fn parent(&self) -> Option<Window> {
        let parent = self.window.parent().ok().flatten()?;
        (!Object::is(&parent, &self.window)).then_some(parent)
    }

    /// The parent's origin, where the browser tells it (`location.ancestorOrigins`, not in
    /// every browser; "null" when the frame's referrer policy hides it).
    fn parent_origin(&self) -> Option<String> {
        let location = Reflect::get(&self.window, &JsValue::from_str("location")).ok()?;
        let ancestors = Reflect::get(&location, &JsValue::from_str("ancestorOrigins")).ok()?;
        if !ancestors.is_object() {
            return None;
        }
        let first = Reflect::get(&ancestors, &JsValue::from_f64(0.0))
            .ok()?
            .as_string()?;
        (first != "null").then_some(first)
    }

    /// Posts `message` to the parent, addressed to its origin when the browser tells it
    /// (nothing is sent if that origin is not allowed), else once per allowed origin, each
    /// named explicitly: the browser delivers only the one that matches. Never to "*".
    fn post_to_parent(&self, message: &JsValue) {
        let Some(parent) = self.parent() else {
            return;
        };
        match self.parent_origin() {
            Some(origin) => {
                if self.allowed_origins.contains(&origin) {
                    let _ = parent.post_message(message, &origin);
                }
            }
            None => {
                for origin in &self.allowed_origins {
                    let _ = parent.post_message(message, origin);
                }
            }
        }
    }
}

/// `{type: "campaign-token:result", ok: true, eligibility}` or `{…, ok: false, code}` for a
/// `{result, error}` state.
fn reply_message(state: &JsValue) -> Object {
    let reply = Object::new();
    set(&reply, "type", &JsValue::from_str(RESULT_TYPE));
    let result = Reflect::get(state, &JsValue::from_str("result")).unwrap_or_default();
    if result.is_object() {
        set(&reply, "ok", &JsValue::TRUE);
        let eligibility =
            Reflect::get(&result, &JsValue::from_str("eligibility")).unwrap_or_default();
        set(&reply, "eligibility", &eligibility);
    } else {
        set(&reply, "ok", &JsValue::FALSE);
        let error = Reflect::get(state, &JsValue::from_str("error")).unwrap_or_default();
        let code = Reflect::get(&error, &JsValue::from_str("code")).unwrap_or_default();
        set(&reply, "code", &code);
    }
    reply
}

fn state_object(result: &JsValue, error: &JsValue) -> JsValue {
    let state = Object::new();
    set(&state, "result", result);
    set(&state, "error", error);
    state.into()
}

fn set_eligibility(document: &Document, value: &str) {
    if let Some(html) = document.document_element() {
        let _ = html.set_attribute(ELIGIBILITY_ATTRIBUTE, value);
    }
}

/// Whether the browser dispatched `event` (a `postMessage` from another window, whose origin
/// the browser sets), rather than a script on this page (`new MessageEvent("message",
/// {origin})`, which can claim any origin and any `source`). A page script is already trusted
/// in other ways, but the allowlist is a statement about origins, and only the browser's
/// events carry a true one. The wasm-bindgen tests (`src/tests.rs`) dispatch synthetic events
/// to play other origins, so their build skips this one check; `tests/e2e/postmessage.test.mjs`
/// checks it in the shipped module.
fn trusted(event: &MessageEvent) -> bool {
    cfg!(test) || event.is_trusted()
}
