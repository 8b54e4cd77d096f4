'use client';
// A Next.js client page using the package's main entry, with no configuration. The module
// changes the text of #label itself, so React renders the markup once and never owns what the
// module writes (no state is set from the results).
import { useEffect } from 'react';
import { init, verifyToken } from 'campaign-token';
import { run } from '../page.js';

export default function Page() {
  useEffect(() => {
    run({ init, verifyToken });
  }, []);
  return (
    <>
      <main id="campaign">
        <p>Your prize: <strong id="label" data-token-var="gift.label">a surprise prize</strong></p>
      </main>
      <pre id="result"></pre>
      <pre id="fallback"></pre>
    </>
  );
}
