export type Eligibility = "given-prize" | "any-prize" | "cannot-win" | "standard";

export type ErrorCode = "no_token" | "malformed" | "too_large" | "unsupported_algorithm"
  | "unknown_key" | "bad_signature" | "expired" | "not_yet_valid" | "issued_in_future"
  | "missing_claim" | "invalid_claim" | "wrong_campaign" | "wrong_issuer"
  | "unsupported_critical_header" | "invalid_key" | "invalid_config"
  // load_failed: init/verifyToken/createVerifier could not load the wasm module (not found,
  // network error, a CSP without 'wasm-unsafe-eval', not a wasm module).
  | "load_failed"
  // participate() also rejects with not_allowed before any request when the token says
  // limit.canPlay false (the server's 403 for the same token).
  | (string & {}); // server codes (participation) pass through

export interface VerifiedToken {
  sub: string;
  campaignId: string;
  exp: number;
  iat: number | null;
  nbf: number | null;
  iss: string | null;
  /** The `gift` claim exactly as sent. */
  gift: { cw?: boolean; label?: string; [k: string]: unknown } | null;
  eligibility: Eligibility;
  /** The label to show, or null where the eligibility table says none. */
  prizeLabel: string | null;
  /** "denied" when the token says `limit.canPlay: false` (also `data-token-access` on <html>). */
  access: "allowed" | "denied";
  /** The `limit` claim: participations allowed and whether the visitor may take part. */
  limit: { nb: number | null; canPlay: boolean | null } | null;
  /** The `form` claim: values that prefill `data-token-field="form.*"` fields and `{{form.*}}`. */
  form: { [k: string]: string | number | boolean } | null;
  /** The `optin` claim: booleans that prefill `data-token-field="optin.*"` checkboxes. */
  optin: { [k: string]: boolean } | null;
  /** The `custom` claim: the brand's data for `{{custom.*}}` variables. */
  custom: { [k: string]: string | number | boolean } | null;
  alg: string;
  kid: string | null;
}

/** Every rejection: a token, a key, the configuration, or the participation server. */
import { CampaignTokenError } from './errors.js';
export { CampaignTokenError };

export interface VerifyOptions {
  campaignId: string;
  /** PEM SPKI, or JWKS/JWK (object or JSON text); optional if a key is embedded at build time. */
  keys?: string | object;
  /**
   * The brand's JWKS URL, instead of `keys` (never both; refused by a module with an embedded
   * key): https:, or http: on localhost only. Fetched with CORS, no cookies, no Referer; fresh
   * for its Cache-Control max-age within [1 min, 1 day]; a token with an unknown `kid` refetches
   * at most once a minute; the last good set is kept when a fetch fails. No usable set:
   * `unknown_key`.
   */
  jwksUrl?: string;
  /**
   * A URL (relative to the page) whose response's `Date` header gives the server's time for the
   * honest clock; preferred over the module's and the JWKS's `Date`. Cross-origin, it must expose
   * `Date` (Access-Control-Expose-Headers).
   */
  timeUrl?: string;
  issuers?: string[];
  /** Default 60, at most 600. */
  clockToleranceSeconds?: number;
  /** Default 8192, from 256 to 65536. */
  maxTokenBytes?: number;
  /** Seconds; default the honest clock: Date.now() corrected by the server's `Date` (tests). */
  now?: number;
  /**
   * Who checks signatures. "auto" (default): WebCrypto, or the pure-Rust fallback module where
   * WebCrypto is missing (plain http:) or lacks a configured key's algorithm. "webcrypto" or
   * "pure-rust" force one.
   */
  backend?: Backend;
  /** Where to load the module from (default: next to the JS). */
  wasm?: string | URL | BufferSource | WebAssembly.Module;
  /** Where to load the pure-Rust fallback module from, if needed (default: next to the JS). */
  fallbackWasm?: string | URL | BufferSource | WebAssembly.Module;
  /**
   * Where to load the module with the PEM parser from (default: next to the JS). It is loaded
   * instead of `wasm` when `keys` is a PEM string rather than a JWK/JWKS.
   */
  pemWasm?: string | URL | BufferSource | WebAssembly.Module;
}

/** The signature backend of a verifier or session. */
export type Backend = "auto" | "webcrypto" | "pure-rust";

export interface InitOptions extends VerifyOptions {
  /**
   * Default "token". Taken out of the query and the fragment (history.replaceState) the
   * moment init is called, before anything can fail or wait; the rest of the URL stays byte
   * for byte.
   */
  tokenParam?: string;
  /** Exact postMessage origins; "*" is refused (invalid_config). */
  allowedOrigins?: string[];
  /** Default document.body (or documentElement). */
  root?: Element | string;
  defaultPrizeLabel?: string;
  /** Participation URL, e.g. "/api/campaigns/demo/participations". */
  endpoint?: string;
}

export interface SessionState {
  result: VerifiedToken | null;
  error: CampaignTokenError | null;
}

export interface ParticipationResult {
  participationId: string;
  outcome: "won" | "lost" | "entered-draw" | "not-eligible";
  prize: { id: string; label: string } | null;
  eligibility: Eligibility;
  replayed: boolean;
}

export interface Session extends SessionState {
  /** The backend that checks this session's signatures. */
  readonly backend: Exclude<Backend, "auto">;
  /**
   * The estimated offset of the visitor's clock, server minus visitor (ms): tokens' `exp`, `nbf`
   * and `iat` are checked at `Date.now() + clockOffsetMs`. Null when no `Date` header gave an
   * estimate (the visitor's clock is used).
   */
  readonly clockOffsetMs: number | null;
  /** Calls `listener` at once with the current state, then after every token; returns the unsubscribe function. */
  subscribe(listener: (state: SessionState) => void): () => void;
  /** Verifies, renders, notifies; resolves to the state after this token (never rejects on a bad token). */
  setToken(token: string): Promise<SessionState>;
  /** Rejects CampaignTokenError (server code, .status). */
  participate(answers?: unknown): Promise<ParticipationResult>;
  /** Removes listeners, restores fallbacks. */
  destroy(): void;
}

export function init(options: InitOptions): Promise<Session>;

/** One configuration's verifier: options read and keys imported once. */
export interface TokenVerifier {
  /** Rejects CampaignTokenError. */
  verify(token: string): Promise<VerifiedToken>;
  /** The backend that checks its signatures. */
  readonly backend: Exclude<Backend, "auto">;
}

/** Reads the options and imports the keys once; rejects CampaignTokenError (invalid_config, invalid_key). */
export function createVerifier(options: VerifyOptions): Promise<TokenVerifier>;

/** Rejects CampaignTokenError. */
export function verifyToken(token: string, options: VerifyOptions): Promise<VerifiedToken>;
