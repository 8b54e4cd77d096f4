import type { Eligibility, ErrorCode } from './index.js';

export type { Eligibility, ErrorCode };

export interface SendTokenOptions {
  /** The campaign page's exact origin (scheme://host[:port]); "*" is refused. */
  targetOrigin: string;
  /** How long to wait for the page's answer; then resolves `{ ok: false, code: "timeout" }`. Default 10000. */
  timeoutMs?: number;
}

export type SendTokenResult = { ok: true; eligibility: Eligibility } | { ok: false; code: ErrorCode };

/**
 * Sends `token` to the campaign page in `iframe` once it is ready, and resolves with its verdict.
 * Rejects (code `invalid_config`) if `targetOrigin` is not an exact origin.
 */
export function sendToken(iframe: HTMLIFrameElement, token: string,
  options: SendTokenOptions): Promise<SendTokenResult>;
