#!/usr/bin/env python3
"""Mint a campaign token in Python with PyJWT.

Debian: apt-get install python3-jwt python3-cryptography   (pip: pip install "PyJWT[crypto]")

    python3 pyjwt.py PRIVATE_PEM KID CAMPAIGN_ID SUB      # prints the token

PRIVATE_PEM is the PKCS#8 key from `campaign-token keygen --alg ES256` (it stays on your
backend); KID is the `kid` of the public key in the jwks.json the page and server trust.
"""
import sys
import time

import jwt  # PyJWT; ES256 needs the cryptography package

key_file, kid, campaign_id, sub = sys.argv[1:5]
with open(key_file, "rb") as f:
    private_key = f.read()

now = int(time.time())
claims = {
    "sub": sub,                                          # your id for the visitor
    "campaignId": campaign_id,                           # the campaign this visitor plays
    "iat": now,
    "exp": now + 300,                                    # short: the token may sit in a URL
    "gift": {"cw": True, "label": "Día de spa pour deux"},  # may win; the prize name shown
    "limit": {"nb": 2, "canPlay": True},                 # two participations with this token
    "form": {"firstName": "Ana", "email": "ana@example.com"},  # prefills the form
    "optin": {"newsletter": True},                       # prefills the opt-ins
    "custom": {"orderId": "A-1042", "tier": "gold", "points": 120},  # your own data
}
# kid: which key, for rotation. PyJWT writes ES256 signatures as JWS requires (r || s).
print(jwt.encode(claims, private_key, algorithm="ES256", headers={"kid": kid, "typ": "JWT"}))
