import type { Eligibility, ErrorCode } from './index.js';

export type { Eligibility, ErrorCode };

export interface SendTokenOptions {
  /** The campaign page's exact origin (scheme://host[:port]); "*" is refused. */
  targetOrigin: string;
  /** How long to wait for the page's answer; then resolves (never rejects) `{ ok: false, code: "timeout" }`. Default 10000. */
  timeoutMs?: number;
}

/** The page's codes (a rejected token: `expired`, `bad_signature`, …), or `"timeout"`: no answer within `timeoutMs`. */
export type SendTokenErrorCode = ErrorCode | "timeout";

export type SendTokenResult = { ok: true; eligibility: Eligibility } | { ok: false; code: SendTokenErrorCode };

/**
 * Sends `token` (with a random request `id`) to the campaign page in `iframe`, again whenever it
 * says it is ready, and resolves with its verdict on this token: only the `result` that echoes
 * the `id`, from the frame's window at `targetOrigin`. Resolves `{ ok: false, code: "timeout" }`
 * if none comes within `timeoutMs`. Rejects (code `invalid_config`) only if `targetOrigin` is
 * not an exact origin.
 */
export function sendToken(iframe: HTMLIFrameElement, token: string,
  options: SendTokenOptions): Promise<SendTokenResult>;
