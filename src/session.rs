//! One campaign page's session: verifies the token the JS entry took from the URL (js/index.js,
//! `takeUrlToken`: it leaves the address bar before the module loads), listens for tokens
//! posted by the allowed origins, verifies each, renders the prize variables, sets
//! `data-token-eligibility` on `<html>`, dispatches `campaign-token:change`, and answers the
//! embedding page.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local};
use web_sys::{CustomEvent, CustomEventInit, Document, MessageEvent, Window};

use campaign_token_core::{Error, ErrorCode, Verified};

use crate::dom::Variables;
use crate::errors::{self, set};
use crate::fields::Fields;
use crate::{access, options, raw_text, Checker};

/// The attribute on `<html>` that exposes the eligibility to style sheets and tests.
const ELIGIBILITY_ATTRIBUTE: &str = "data-token-eligibility";
const CHANGE_EVENT: &str = "campaign-token:change";
const MESSAGE_TYPE: &str = "campaign-token";
const READY_TYPE: &str = "campaign-token:ready";
const RESULT_TYPE: &str = "campaign-token:result";
/// The longest request `id` echoed back; a longer one makes the message malformed.
const MAX_ID_CHARS: usize = 64;

/// A campaign page's token session (see the module doc).
#[wasm_bindgen]
pub struct Session {
    inner: Rc<Inner>,
    listener: Option<Closure<dyn FnMut(MessageEvent)>>,
}

struct Inner {
    checker: Checker,
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
    /// Starts a session from `InitOptions` and `url_token`, the token the JS entry took out of
    /// the page URL (if any); rejects `invalid_config` / `invalid_key`.
    /// Resolves once the URL's token, if any, is verified and shown (unless a token posted
    /// meanwhile superseded it: the latest token to arrive is the one shown).
    ///
    /// `on_change(state)` is called after each token, before the DOM event is dispatched
    /// and before the embedding page is answered.
    pub async fn create(
        options: JsValue,
        on_change: Option<Function>,
        url_token: Option<String>,
    ) -> Result<Session, JsValue> {
        Session::start(&options, on_change, url_token.filter(|t| !t.is_empty()))
            .await
            .map_err(|e| errors::to_js(&e))
    }

    /// The current `{result, error}`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        self.inner.state.borrow().clone()
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

    /// Verifies and applies `token` as if it had just arrived; resolves to the state after
    /// it. Never rejects on a bad token: the error is in the state.
    #[wasm_bindgen(js_name = setToken)]
    pub fn set_token(&self, token: JsValue) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let (state, shown) = inner.receive(&token).await;
            if shown {
                inner.announce(&state);
            }
            Ok(state)
        })
    }

    /// Stops listening, puts the fallbacks back and removes the eligibility attribute.
    pub fn destroy(&mut self) {
        if let Some(listener) = self.listener.take() {
            let _ = self
                .inner
                .window
                .remove_event_listener_with_callback("message", listener.as_ref().unchecked_ref());
        }
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

impl Session {
    async fn start(
        options: &JsValue,
        on_change: Option<Function>,
        url_token: Option<String>,
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
        let checker = Checker::new(options, true).await?;

        let mut left_alone = Vec::new();
        let variables = Variables::scan(&document, &page.root, page.default_label, &mut left_alone);
        let fields = Fields::scan(&page.root, &mut left_alone);
        raw_text::warn_left_alone("marked elements", &left_alone);
        // With a token to verify, the page keeps its variables and its `.personal` parts
        // hidden until the verdict, so that the visitor never sees the fallback flash before
        // the prize.
        if url_token.is_none() {
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

        // Listen before verifying the URL's token and before saying ready, so no token is
        // missed.
        let listener = if inner.allowed_origins.is_empty() {
            None
        } else {
            let for_listener = Rc::clone(&inner);
            let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let inner = Rc::clone(&for_listener);
                spawn_local(async move { inner.on_message(&event).await });
            });
            inner
                .window
                .add_event_listener_with_callback("message", listener.as_ref().unchecked_ref())
                .map_err(|_| {
                    Error::new(
                        ErrorCode::InvalidConfig,
                        "cannot listen for postMessage tokens",
                    )
                })?;
            let ready = Object::new();
            set(&ready, "type", &JsValue::from_str(READY_TYPE));
            inner.post_to_parent(&ready);
            Some(listener)
        };

        if let Some(token) = url_token {
            let (state, shown) = inner.receive(&JsValue::from_str(&token)).await;
            if shown {
                inner.announce(&state);
            }
        }
        Ok(Session { inner, listener })
    }
}

impl Inner {
    /// A message from the embedding page. Anything but `{type: "campaign-token", token, id?}`
    /// (`id` a string of at most 64 characters) from an allowed origin is ignored, and
    /// changes nothing. The answer goes to the sender only (`event.source`, at the origin
    /// just checked), carrying the request's `id` when it had one, so that each request
    /// gets its own answer.
    async fn on_message(&self, event: &MessageEvent) {
        let origin = event.origin();
        if !self.allowed_origins.contains(&origin) {
            return;
        }
        let data = event.data();
        // Structured-clone data: plain objects, so reading members runs no page code.
        if !data.is_object()
            || Reflect::get(&data, &JsValue::from_str("type"))
                .ok()
                .and_then(|t| t.as_string())
                .is_none_or(|t| t != MESSAGE_TYPE)
        {
            return;
        }
        let token = Reflect::get(&data, &JsValue::from_str("token")).unwrap_or_default();
        if token.as_string().is_none() {
            return;
        }
        let id = Reflect::get(&data, &JsValue::from_str("id")).unwrap_or_default();
        let id = if id.is_undefined() {
            None
        } else {
            match id.as_string() {
                Some(id) if id.chars().count() <= MAX_ID_CHARS => Some(id),
                _ => return,
            }
        };
        let source = event.source();
        let (state, _) = self.receive(&token).await;
        if !self.live.get() {
            return;
        }
        if let Some(source) = source {
            let reply = reply(&state);
            if let Some(id) = &id {
                set(&reply, "id", &JsValue::from_str(id));
            }
            let _ = source
                .unchecked_ref::<Window>()
                .post_message(&reply, &origin);
        }
    }

    /// Verifies `token` and, unless a later token arrived meanwhile, publishes the new
    /// state; returns the state of this token either way, and whether it was published.
    async fn receive(&self, token: &JsValue) -> (JsValue, bool) {
        let arrival = self.arrivals.get().wrapping_add(1);
        self.arrivals.set(arrival);
        let outcome = self.checker.verify(token).await;
        let state = match &outcome {
            Ok((_, result)) => state_object(result, &JsValue::NULL),
            Err(e) => state_object(&JsValue::NULL, &errors::to_js(e)),
        };
        let latest = self.arrivals.get() == arrival;
        if latest {
            self.publish(token, &outcome, &state);
        }
        (state, latest)
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
            self.post_to_parent(&reply(state));
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
fn reply(state: &JsValue) -> Object {
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
