// Mint a campaign token in Node with jose (`npm install jose`).
//
//   node node-jose.mjs PRIVATE_PEM KID CAMPAIGN_ID SUB      # prints the token
//
// PRIVATE_PEM is the PKCS#8 key from `campaign-token keygen --alg ES256` (it stays on your
// backend); KID is the `kid` of the public key in the jwks.json the page and server trust.
import { readFileSync } from 'node:fs';
import { SignJWT, importPKCS8 } from 'jose';

const [keyFile, kid, campaignId, sub] = process.argv.slice(2);
const privateKey = await importPKCS8(readFileSync(keyFile, 'utf8'), 'ES256');

const token = await new SignJWT({
  campaignId,                                            // the campaign this visitor plays
  gift: { cw: true, label: 'Día de spa pour deux' },     // may win; the prize name the page shows
  limit: { nb: 2, canPlay: true },                       // two participations with this token
  form: { firstName: 'Ana', email: 'ana@example.com' },  // prefills the participation form
  optin: { newsletter: true },                           // prefills the opt-ins
  custom: { orderId: 'A-1042', tier: 'gold', points: 120 }, // your own data for the page
})
  .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid }) // kid: which key, for rotation
  .setSubject(sub)                                       // your id for the visitor
  .setIssuedAt()
  .setExpirationTime('5m')                               // short: the token may sit in a URL
  .sign(privateKey);

console.log(token);
