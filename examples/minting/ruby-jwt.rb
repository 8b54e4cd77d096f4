#!/usr/bin/env ruby
# Mint a campaign token in Ruby with ruby-jwt; ES256 uses Ruby's own openssl library.
#
# Debian: apt-get install ruby ruby-jwt        (RubyGems: gem install jwt)
#
#   ruby ruby-jwt.rb PRIVATE_PEM KID CAMPAIGN_ID SUB      # prints the token
#
# PRIVATE_PEM is the PKCS#8 key from `campaign-token keygen --alg ES256` (it stays on your
# backend); KID is the `kid` of the public key in the jwks.json the page and server trust.
require 'jwt'
require 'openssl'

key_file, kid, campaign_id, sub = ARGV
private_key = OpenSSL::PKey.read(File.read(key_file))

now = Time.now.to_i
claims = {
  sub: sub,                                          # your id for the visitor
  campaignId: campaign_id,                           # the campaign this visitor plays
  iat: now,
  exp: now + 300,                                    # short: the token may sit in a URL
  gift: { cw: true, label: 'Día de spa pour deux' }, # may win; the prize name the page shows
  limit: { nb: 2, canPlay: true },                   # two participations with this token
  form: { firstName: 'Ana', email: 'ana@example.com' }, # prefills the participation form
  optin: { newsletter: true },                       # prefills the opt-ins
  custom: { orderId: 'A-1042', tier: 'gold', points: 120 } # your own data for the page
}
# kid: which key, for rotation.
puts JWT.encode(claims, private_key, 'ES256', { kid: kid, typ: 'JWT' })
