#!/usr/bin/env bash
# Mint a campaign token with the project's token tool (docs/cli.md), for tests and for
# backends that can run a command. CAMPAIGN_TOKEN names the tool (default: campaign-token on
# PATH; from a checkout: cargo run -q -p campaign-token-cli --).
#
#   bash token-tool.sh PRIVATE_PEM KID CAMPAIGN_ID SUB      # prints the token
set -euo pipefail
key_file=$1 kid=$2 campaign_id=$3 sub=$4
# Word-split on purpose: CAMPAIGN_TOKEN may be a command with arguments.
# shellcheck disable=SC2086
${CAMPAIGN_TOKEN:-campaign-token} mint --key "$key_file" --kid "$kid" --alg ES256 \
  --campaign "$campaign_id" --sub "$sub" --ttl 5m \
  --cw true --label 'Día de spa pour deux' \
  --limit-nb 2 --can-play true \
  --form firstName=Ana --form email=ana@example.com \
  --optin newsletter=true \
  --custom orderId=A-1042 --custom tier=gold --custom points:=120
