// A typed campaign page and integrator using both entries of the package. Only type-checked
// (tsc -p tests/types); it documents how the declarations are meant to be used.
import {
  init,
  verifyToken,
  createVerifier,
  CampaignTokenError,
  type Eligibility,
  type ErrorCode,
  type Session,
  type SessionState,
  type VerifiedToken,
  type TokenVerifier,
  type ParticipationResult,
} from 'campaign-token';
import { sendToken } from 'campaign-token/integrator';
import * as inline from 'campaign-token/inline';
import { CampaignTokenError as SharedError, type ErrorCode as SharedCode } from 'campaign-token/errors';

const PUBLIC_KEY = '-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----';

export async function campaignPage(): Promise<Session> {
  const session = await init({
    campaignId: 'summer-2026',
    keys: PUBLIC_KEY,
    allowedOrigins: ['https://brand.example'],
    root: '#campaign',
    defaultPrizeLabel: 'a surprise prize',
    endpoint: '/api/campaigns/summer-2026/participations',
  });
  const show = ({ result, error }: SessionState): string =>
    result ? `${result.eligibility}: ${result.prizeLabel ?? 'no label'}` : error?.code ?? 'none';
  const unsubscribe: () => void = session.subscribe((state) => console.log(show(state)));
  const state: SessionState = await session.setToken('eyJ…');
  console.log(show(state), session.result?.sub, session.error?.claim);
  try {
    const r: ParticipationResult = await session.participate({ answer: 42 });
    if (r.outcome === 'won' && r.prize) console.log(r.prize.label, r.replayed);
  } catch (err) {
    if (err instanceof CampaignTokenError) console.log(err.code, err.status);
  }
  unsubscribe();
  const offset: number | null = session.clockOffsetMs;
  console.log(offset === null ? "visitor's clock" : `server time is Date.now() + ${offset} ms`);
  return session;
}

export async function rotatingKeys(token: string): Promise<string | null> {
  const v: VerifiedToken = await verifyToken(token, {
    campaignId: 'summer-2026',
    jwksUrl: 'https://keys.brand.example/.well-known/jwks.json',
    timeUrl: '/api/time',
  });
  return v.kid;
}

export async function many(tokens: string[], jwks: object): Promise<Eligibility[]> {
  const verifier: TokenVerifier = await createVerifier({ campaignId: 'summer-2026', keys: jwks });
  const verified: VerifiedToken[] = await Promise.all(tokens.map((t) => verifier.verify(t)));
  return verified.map((v) => v.eligibility);
}

export async function serverSide(token: string, jwks: object): Promise<Eligibility | ErrorCode> {
  try {
    const v: VerifiedToken = await verifyToken(token, {
      campaignId: 'summer-2026',
      keys: jwks,
      issuers: ['https://brand.example'],
      clockToleranceSeconds: 30,
      maxTokenBytes: 4096,
      now: 1_800_000_000,
    });
    const label: string | null = v.prizeLabel;
    const cw: boolean | undefined = v.gift?.cw;
    console.log(label, cw, v.iat, v.nbf, v.iss, v.kid, v.alg, v.exp);
    return v.eligibility;
  } catch (err) {
    if (!(err instanceof CampaignTokenError)) throw err;
    switch (err.code) {
      case 'expired':
      case 'bad_signature':
        return err.code;
      case 'load_failed': {
        // The browser's own error (a TypeError, a CompileError) is the cause.
        const cause: unknown = err.cause;
        console.log(cause);
        return err.code;
      }
      default:
        return err.code;
    }
  }
}

export async function integratorPage(iframe: HTMLIFrameElement, token: string): Promise<string> {
  try {
    const answer = await sendToken(iframe, token, { targetOrigin: 'https://campaign.example', timeoutMs: 5000 });
    return answer.ok ? answer.eligibility : answer.code;
  } catch (err) {
    // campaign-token/errors is the class of both entries, without loading the wasm entry.
    if (err instanceof SharedError) {
      const code: SharedCode = err.code;
      return code;
    }
    throw err;
  }
}

// One class, whichever entry it is imported from.
const sameClass: typeof CampaignTokenError = SharedError;
void sameClass;
const made: CampaignTokenError = new SharedError('bad origin', { code: 'invalid_config' });
void made;

// The inline entry (for esbuild, Rollup) has the main entry's API and types.
const inlineInit: typeof init = inline.init;
const inlineVerify: typeof verifyToken = inline.verifyToken;
const inlineCreate: typeof createVerifier = inline.createVerifier;
const inlineError: typeof CampaignTokenError = inline.CampaignTokenError;
void inlineInit; void inlineVerify; void inlineCreate; void inlineError;

// @ts-expect-error: campaignId is required
void verifyToken('t', { keys: PUBLIC_KEY });
// @ts-expect-error: the eligibility is one of four names
const wrong: Eligibility = 'winner';
void wrong;
