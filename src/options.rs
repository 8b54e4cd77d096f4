//! Reading the JS options object, strictly: a wrongly typed option is `invalid_config`, never
//! silently replaced by a default, because a page that means `allowedOrigins: "https://a"`
//! and gets "no origin" would fail in a way that is hard to see.

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element};

use campaign_token_core::{Error, ErrorCode, KeySet, Policy};

// The key set embedded at build time, if any (see build.rs): `const EMBEDDED_KEYS`.
include!(concat!(env!("OUT_DIR"), "/embedded_keys.rs"));

const fn config(message: &'static str) -> Error {
    Error::new(ErrorCode::InvalidConfig, message)
}

/// `VerifyOptions`: what `verifyToken` and `init` share.
pub(crate) struct Verify {
    pub(crate) policy: Policy,
    pub(crate) keys: Keys,
    /// A fixed clock for tests; `None` reads the honest clock (`clock.rs`) at each verification.
    pub(crate) now: Option<u64>,
    /// Where to read the server's time from (`timeUrl`), resolved against the page's URL.
    pub(crate) time_url: Option<String>,
}

/// Where the trusted keys come from.
pub(crate) enum Keys {
    /// The `keys` option, or the set embedded at build time.
    Given(KeySet),
    /// The brand's JWKS URL (`jwksUrl`), fetched when tokens need it (`jwks.rs`).
    #[cfg(not(embedded_keys))]
    Url(String),
}

impl Verify {
    pub(crate) fn read(options: &JsValue) -> Result<Verify, Error> {
        if !options.is_object() {
            return Err(config("options must be an object"));
        }
        let campaign_id = string(options, "campaignId", "campaignId must be a string")?
            .ok_or(config("campaignId is required"))?;
        let mut policy = Policy::new(campaign_id)?;
        if let Some(issuers) = strings(options, "issuers", "issuers must be an array of strings")? {
            policy = policy.with_issuers(issuers);
        }
        if let Some(secs) = integer(
            options,
            "clockToleranceSeconds",
            "clockToleranceSeconds must be a whole number of seconds from 0 to 600",
        )? {
            // The maximum is the core's rule (`Policy::with_clock_tolerance`), not repeated here.
            policy = policy.with_clock_tolerance(secs)?;
        }
        if let Some(bytes) = integer(
            options,
            "maxTokenBytes",
            "maxTokenBytes must be a whole number of bytes from 256 to 65536",
        )? {
            let bytes = usize::try_from(bytes)
                .map_err(|_| config("maxTokenBytes must be from 256 to 65536"))?;
            policy = policy.with_max_token_bytes(bytes)?;
        }
        let now = match get(options, "now") {
            v if v.is_undefined() || v.is_null() => None,
            v => match v.as_f64() {
                Some(n) if n.is_finite() && n >= 0.0 => Some(n as u64),
                _ => return Err(config("now must be a number of seconds since 1970")),
            },
        };
        let keys = keys(options)?;
        let time_url = string(options, "timeUrl", "timeUrl must be a string")?
            .map(|url| time_url(&url))
            .transpose()?;
        Ok(Verify {
            policy,
            keys,
            now,
            time_url,
        })
    }
}

/// The trusted keys: exactly one of the `keys` option, the `jwksUrl` option and the key set
/// embedded at build time. They do not combine: a module built with a key pins the trust to it
/// (a page's options cannot widen it), and a page that names a JWKS URL means the brand's
/// published set, rotations included, not that set plus a key someone left in the options.
fn keys(options: &JsValue) -> Result<Keys, Error> {
    let url = string(options, "jwksUrl", "jwksUrl must be a string")?;
    let given = get(options, "keys");
    match url {
        None => given_keys(&given).map(Keys::Given),
        Some(_) if !(given.is_undefined() || given.is_null()) => Err(config(
            "pass either keys or jwksUrl, not both: the key set is the one at jwksUrl",
        )),
        Some(url) => remote_keys(&url),
    }
}

#[cfg(not(embedded_keys))]
fn remote_keys(url: &str) -> Result<Keys, Error> {
    jwks_url(url).map(Keys::Url)
}

/// A module with an embedded key has no code to fetch keys (build.rs's `embedded_keys`).
#[cfg(embedded_keys)]
fn remote_keys(_url: &str) -> Result<Keys, Error> {
    Err(config(
        "this module trusts a key embedded at build time: do not pass jwksUrl",
    ))
}

#[cfg(not(embedded_keys))]
/// `jwksUrl`: an absolute URL whose keys the core allows to be fetched (`https:`, or `http:`
/// on loopback), without user name or password; returned normalised.
fn jwks_url(text: &str) -> Result<String, Error> {
    const WRONG: &str = "jwksUrl must be an absolute https: URL (http: only on localhost), \
                         without user name or password";
    let url = web_sys::Url::new(text).map_err(|_| config(WRONG))?;
    if !campaign_token_core::jwks::url_allowed(&url.protocol(), &url.hostname())
        || !url.username().is_empty()
        || !url.password().is_empty()
    {
        return Err(config(WRONG));
    }
    Ok(url.href())
}

/// `timeUrl`: an `http:` or `https:` URL, relative to the page's own when there is a page;
/// returned absolute.
fn time_url(text: &str) -> Result<String, Error> {
    const WRONG: &str = "timeUrl must be an http: or https: URL (relative to the page's)";
    let base = Reflect::get(&js_sys::global(), &JsValue::from_str("location"))
        .ok()
        .and_then(|location| Reflect::get(&location, &JsValue::from_str("href")).ok())
        .and_then(|href| href.as_string());
    let url = match base {
        Some(base) => web_sys::Url::new_with_base(text, &base),
        None => web_sys::Url::new(text),
    }
    .map_err(|_| config(WRONG))?;
    if !matches!(url.protocol().as_str(), "http:" | "https:")
        || !url.username().is_empty()
        || !url.password().is_empty()
    {
        return Err(config(WRONG));
    }
    Ok(url.href())
}

/// The `keys` option, or the key set embedded at build time, never both.
fn given_keys(given: &JsValue) -> Result<KeySet, Error> {
    let text = if given.is_undefined() || given.is_null() {
        None
    } else if let Some(text) = given.as_string() {
        Some(text)
    } else if given.is_object() {
        // A JWKS or JWK given as an object; the core parses text (strictly, once).
        let json = js_sys::JSON::stringify(given)
            .map_err(|_| config("keys must be a PEM string or a JWKS/JWK"))?;
        json.as_string()
    } else {
        return Err(config("keys must be a PEM string or a JWKS/JWK"));
    };
    match (text, EMBEDDED_KEYS) {
        (Some(_), Some(_)) => Err(config(
            "this module trusts a key embedded at build time: do not pass keys",
        )),
        (Some(text), None) => KeySet::parse(&text),
        (None, Some(embedded)) => KeySet::parse(embedded),
        (None, None) => Err(config(
            "keys or jwksUrl is required (a PEM public key or a JWKS, or the JWKS's URL)",
        )),
    }
}

/// What only `init` needs. (`tokenParam` is the JS entry's: it takes the token out of the URL
/// before this module loads.)
pub(crate) struct Page {
    pub(crate) root: Element,
    pub(crate) default_label: Option<String>,
}

impl Page {
    pub(crate) fn read(options: &JsValue, document: &Document) -> Result<Page, Error> {
        let default_label = string(
            options,
            "defaultPrizeLabel",
            "defaultPrizeLabel must be a string",
        )?;
        Ok(Page {
            root: root(options, document)?,
            default_label,
        })
    }
}

/// The exact origins postMessage tokens are accepted from (none: no listener at all).
pub(crate) fn allowed_origins(options: &JsValue) -> Result<Vec<String>, Error> {
    let origins = strings(
        options,
        "allowedOrigins",
        "allowedOrigins must be an array of origins",
    )?
    .unwrap_or_default();
    for origin in &origins {
        check_origin(origin)?;
    }
    Ok(origins)
}

/// An allowed origin must be exactly what `MessageEvent.origin` will say: no wildcard, no
/// path, no trailing slash, and not the opaque `null` (any sandboxed frame has that one).
/// The rule is the core's (`campaign_token_core::origin`), shared with the server and the integrator.
fn check_origin(origin: &str) -> Result<(), Error> {
    if origin == "*" {
        return Err(config(
            "allowedOrigins must list exact origins: \"*\" would accept tokens from any site",
        ));
    }
    if campaign_token_core::origin::is_exact_origin(origin) {
        Ok(())
    } else {
        Err(config(
            "each allowed origin must be exactly scheme://host[:port], without a path or trailing slash",
        ))
    }
}

fn root(options: &JsValue, document: &Document) -> Result<Element, Error> {
    let value = get(options, "root");
    if value.is_undefined() || value.is_null() {
        return document
            .body()
            .map(Element::from)
            .or_else(|| document.document_element())
            .ok_or(config("the document has no element to render"));
    }
    if let Some(selector) = value.as_string() {
        return match document.query_selector(&selector) {
            Ok(Some(el)) => Ok(el),
            Ok(None) => Err(config("root: no element matches the selector")),
            Err(_) => Err(config("root: not a valid CSS selector")),
        };
    }
    value
        .dyn_into::<Element>()
        .map_err(|_| config("root must be an Element or a CSS selector"))
}

fn get(options: &JsValue, key: &str) -> JsValue {
    Reflect::get(options, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// An optional string option (`undefined` and `null` are absent).
fn string(options: &JsValue, key: &str, wrong: &'static str) -> Result<Option<String>, Error> {
    let v = get(options, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or(config(wrong))
}

/// An optional array of strings.
fn strings(
    options: &JsValue,
    key: &str,
    wrong: &'static str,
) -> Result<Option<Vec<String>>, Error> {
    let v = get(options, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if !Array::is_array(&v) {
        return Err(config(wrong));
    }
    Array::from(&v)
        .iter()
        .map(|item| item.as_string().ok_or(config(wrong)))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// An optional non-negative whole number (a JS safe integer: one a number holds exactly).
fn integer(options: &JsValue, key: &str, wrong: &'static str) -> Result<Option<u64>, Error> {
    let v = get(options, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n >= 0.0 && js_sys::Number::is_safe_integer(&v) => Ok(Some(n as u64)),
        _ => Err(config(wrong)),
    }
}
