// campaign-token/errors: the package's one error class, shared by both entries (the wasm entry
// `campaign-token` and the wasm-free `campaign-token/integrator`), so that `instanceof
// CampaignTokenError` holds whichever entry threw. Importing it loads no wasm.

/**
 * A rejected token, key or configuration, or a module that could not load (`load_failed`, with
 * the browser's error as `cause`); `code` is stable, `message` is for humans.
 */
export class CampaignTokenError extends Error {
  constructor(message, { code, claim, status } = {}) {
    super(message);
    this.name = 'CampaignTokenError';
    this.code = code;
    if (claim !== undefined) this.claim = claim;
    if (status !== undefined) this.status = status;
  }
}
