import type { ErrorCode } from './index.js';

export type { ErrorCode };

/**
 * Every rejection, from either entry (`campaign-token`, `campaign-token/integrator`): a token,
 * a key, the configuration, or the participation server. Match on `code`; `message` may change.
 */
export class CampaignTokenError extends Error {
  constructor(message: string, details?: { code?: ErrorCode; claim?: string; status?: number });
  name: "CampaignTokenError";
  code: ErrorCode;
  /** The claim concerned (claim errors: `exp` for expired, `campaignId` for wrong_campaign, …). */
  claim?: string;
  /** HTTP status, for errors of `participate()`. */
  status?: number;
  /** For `load_failed` (the wasm module could not be loaded): the browser's own error. */
  cause?: unknown;
}
