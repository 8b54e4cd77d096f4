# A throwaway PostgreSQL cluster on a free loopback port, for tests and benchmarks.
# Source it after lib.sh, then: pg_start (exports PG_URL), pg_stop.
# Runs the server as the `postgres` user: PostgreSQL refuses to run as root.

pg_start() {
  ensure_postgres
  PG_DIR=$(mktemp -d /tmp/campaign-token-pg.XXXXXX)
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local run=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PG_DIR"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  "${run[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=200 -c fsync=on" start >/dev/null \
    || { cat "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
  export PG_DIR PG_PORT
  export PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  log "PostgreSQL running at $PG_URL"
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ] || return 0
  local run=()
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}

# A second throwaway cluster that accepts TLS connections only, with a self-signed CA made
# here (openssl): for the server's database_tls tests. Exports PG_TLS_URL and PG_TLS_CA
# (the CA's PEM); pg_tls_stop removes it.
pg_tls_start() {
  ensure_postgres
  command -v openssl >/dev/null 2>&1 || ensure_apt openssl openssl
  PG_TLS_DIR=$(mktemp -d /tmp/campaign-token-pgtls.XXXXXX)
  PG_TLS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local d=$PG_TLS_DIR run=()
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=campaign-token test CA" -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 \
    || die "openssl could not make the test CA"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/san.ext" -out "$d/server.crt" >/dev/null 2>&1 \
    || die "openssl could not sign the test server certificate"
  chmod 600 "$d/server.key"
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres:postgres "$d"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$PG_BIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 >"$d/initdb.log" 2>&1 \
    || { cat "$d/initdb.log" >&2; die "initdb failed (TLS cluster)"; }
  # TLS only: plain connections are rejected.
  printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 reject\n' \
    >"$d/data/pg_hba.conf"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$d/data/pg_hba.conf"
  "${run[@]}" "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_TLS_PORT -k $d -c ssl=on -c ssl_cert_file=$d/server.crt -c ssl_key_file=$d/server.key" \
    start >/dev/null || { cat "$d/server.log" >&2; die "PostgreSQL (TLS) did not start"; }
  export PG_TLS_DIR PG_TLS_PORT
  export PG_TLS_URL="postgres://postgres@localhost:$PG_TLS_PORT/postgres"
  export PG_TLS_CA="$d/ca.pem"
  log "PostgreSQL with TLS only at $PG_TLS_URL (CA $PG_TLS_CA)"
}

pg_tls_stop() {
  [ -n "${PG_TLS_DIR:-}" ] && [ -d "$PG_TLS_DIR/data" ] || return 0
  local run=()
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$PG_BIN/pg_ctl" -D "$PG_TLS_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_TLS_DIR"
}
