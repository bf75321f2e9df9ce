#!/usr/bin/env bash
# Local backing services for actionstream: a real Apache Kafka broker (KRaft, run from the Maven Central
# jars - no Docker, no Apache download site) and a redis-server, both as plain background processes
# owned by this script. Opt-in and separate: a Redis Cluster of 6 redis-server nodes (3 masters with
# one replica each) on REDIS_CLUSTER_PORT..REDIS_CLUSTER_PORT+5.
#
#   deploy/local/stack.sh up       start whatever is not running (idempotent), print the addresses
#   deploy/local/stack.sh down     stop the processes in our pid files, cluster nodes too (idempotent)
#   deploy/local/stack.sh status   exit 0 if both run, 3 otherwise
#   deploy/local/stack.sh security ARGS...   SCRAM users and ACLs (deploy/local/KafkaSecurity.java)
#   deploy/local/stack.sh cluster up       start the cluster nodes, create the cluster once (idempotent)
#   deploy/local/stack.sh cluster down     stop the cluster nodes, keep their data
#   deploy/local/stack.sh cluster reset    stop them and delete their data
#   deploy/local/stack.sh cluster status   one line per node; exit 0 if all 6 run and the cluster is ok
#
# See deploy/local/README.md for the environment knobs.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

STATE_DIR=${STATE_DIR:-$REPO_ROOT/.local/stack}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
# SASL_SSL (SCRAM over TLS) listener: 9094 next to the default 9092. A stack that moves KAFKA_PORT but
# leaves this unset (tests/support/stack.py only picks free ports for the older knobs) gets
# KAFKA_PORT+2 instead, so private stacks never all fight over 9094 with the default one.
if [[ -z ${KAFKA_SASL_SSL_PORT:-} ]]; then
    if [[ $KAFKA_PORT == 9092 ]]; then KAFKA_SASL_SSL_PORT=9094; else KAFKA_SASL_SSL_PORT=$((KAFKA_PORT + 2)); fi
fi
REDIS_PORT=${REDIS_PORT:-6379}
# First of the 6 consecutive Redis Cluster ports; each node's cluster bus is on its port + 10000.
REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-7001}
# Milliseconds a cluster node may be unreachable before it is marked failed and its replica is promoted.
# Redis' default is 15000; 2000 makes failover tests quick (a replica takes over a few seconds after
# its master dies) at the price of spurious failovers on a machine that stalls for 2 s.
REDIS_CLUSTER_NODE_TIMEOUT=${REDIS_CLUSTER_NODE_TIMEOUT:-2000}
KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
# slf4j -> log4j2 binding artifact; see pom.xml. Only needed if a Kafka version moves to slf4j 2.x.
KAFKA_SLF4J_BINDING=${KAFKA_SLF4J_BINDING:-log4j-slf4j-impl}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
REDIS_START_TIMEOUT=${REDIS_START_TIMEOUT:-20}
STOP_TIMEOUT=${STOP_TIMEOUT:-30}
ACTIONSTREAM_STACK=${ACTIONSTREAM_STACK:-}
# The SASL_SSL super user `up` creates. Fixed, local-only values: tests read them from secure.json.
KAFKA_ADMIN_USER=admin
KAFKA_ADMIN_PASSWORD=admin-secret
# Protects only the broker's keystore in $STATE_DIR/tls; must not vary (it is in server.properties).
KAFKA_KEYSTORE_PASSWORD=actionstream-local-keystore
SASL_MECHANISMS=SCRAM-SHA-512,SCRAM-SHA-256

log() { printf 'stack: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Relative paths would break once the background processes run from another cwd.
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
KAFKA_LIB_DIR=${KAFKA_LIB_DIR:-$STATE_DIR/kafka-lib}
KAFKA_CONF_DIR=$STATE_DIR/kafka
KAFKA_CONF=$KAFKA_CONF_DIR/server.properties
KAFKA_DATA_DIR=$STATE_DIR/kafka-data
KAFKA_PID=$STATE_DIR/kafka.pid
KAFKA_LOG=$STATE_DIR/logs/kafka.log
REDIS_DATA_DIR=$STATE_DIR/redis-data
REDIS_PID=$STATE_DIR/redis.pid
REDIS_LOG=$STATE_DIR/logs/redis.log
REDIS_CLUSTER_DIR=$STATE_DIR/redis-cluster
REDIS_CLUSTER_SIZE=6
MODE_FILE=$STATE_DIR/mode
TLS_DIR=$STATE_DIR/tls
SECURE_JSON=$STATE_DIR/secure.json
ADMIN_MARKER=$STATE_DIR/kafka-admin.marker

# ---------------------------------------------------------------------------------------------------
# helpers

# True if something accepts TCP connections on 127.0.0.1:$1. Pure bash, so it works without nc/redis-cli.
port_open() {
    # shellcheck disable=SC2016  # $1 is expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Print the pid stored in pid file $1 if that process is alive and still the one we started: its
# "comm cmdline" must contain every fixed string in $2... Guards against killing a recycled pid.
owned_pid() {
    local pidfile=$1 pid text needle
    shift
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    text="$(cat "/proc/$pid/comm" 2>/dev/null) $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
    for needle in "$@"; do
        [[ $text == *"$needle"* ]] || return 1
    done
    printf '%s\n' "$pid"
}

# Our java is identified by its main class plus the path of *this* stack's config, so a second stack
# (other STATE_DIR) is never mistaken for this one.
kafka_pid() { owned_pid "$KAFKA_PID" "java " "kafka.Kafka $KAFKA_CONF"; }
# redis-server retitles itself "redis-server 127.0.0.1:PORT" right after start.
redis_pid() { owned_pid "$REDIS_PID" "redis-server " "127.0.0.1:$REDIS_PORT"; }

kafka_up() { kafka_pid >/dev/null && port_open "$KAFKA_PORT"; }
redis_up() { redis_pid >/dev/null && port_open "$REDIS_PORT"; }

# Start "$@" detached from the calling shell: own session (setsid), no stdin, output to log $1.
# The pid is written by the child itself just before exec, so it is right even if setsid has to fork.
# The lock fd 9 is closed so the long-lived process does not hold the stack lock.
spawn() {
    local pidfile=$1 logfile=$2
    shift 2
    local starter=()
    command -v setsid >/dev/null && starter=(setsid)
    rm -f "$pidfile"
    # shellcheck disable=SC2016  # $$ and "$@" are expanded by the inner bash, on purpose
    "${starter[@]}" nohup bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
        </dev/null >>"$logfile" 2>&1 9>&- &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $pidfile ]] && return 0
        sleep 0.1
    done
    die "process did not start: $*"
}

# Keep the previous log for post-mortems, start the new one empty so readiness checks only see this run.
rotate_log() {
    if [[ -s $1 ]]; then mv -f "$1" "$1.1"; fi
    : >"$1"
}

# Serialise concurrent invocations (e.g. parallel test sessions calling `up`).
take_lock() {
    exec 9>"$STATE_DIR/.lock"
    if command -v flock >/dev/null; then
        flock -w 300 9 || die "timed out waiting for the lock $STATE_DIR/.lock"
    fi
}

# ---------------------------------------------------------------------------------------------------
# Kafka

java_ok() {
    command -v java >/dev/null || return 1
    local v
    v=$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p;T;q')
    [[ -n $v && $v -ge 17 ]]
}

# Version the running (or last) broker printed: "Kafka version: X" (AppInfoParser).
kafka_version_running() {
    sed -n 's/.*Kafka version: \([^ ]*\).*/\1/p;T;q' "$KAFKA_LOG" 2>/dev/null || true
}

# Fetch the broker jars once into $KAFKA_LIB_DIR. A marker records version + binding + pom checksum so a
# change refetches; the download goes to a temp dir first so an interrupted fetch never looks complete.
fetch_kafka_jars() {
    local want have=""
    want="$KAFKA_VERSION $KAFKA_SLF4J_BINDING $(cksum <"$SCRIPT_DIR/pom.xml" | cut -d' ' -f1)"
    [[ -f $KAFKA_LIB_DIR/.version ]] && have=$(<"$KAFKA_LIB_DIR/.version")
    [[ $have == "$want" ]] && return 0

    command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Kafka jars)"
    log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIB_DIR ..."
    local tmp=$KAFKA_LIB_DIR.tmp.$$
    rm -rf "$tmp"
    mkdir -p "$(dirname "$KAFKA_LIB_DIR")"
    # mvn's output goes to a log (Maven 3.8 prints stray ANSI resets even with -B -q); shown on failure.
    local mvn_log=$STATE_DIR/logs/mvn-fetch.log
    if ! mvn -B -q -f "$SCRIPT_DIR/pom.xml" dependency:copy-dependencies \
        -Dkafka.version="$KAFKA_VERSION" -Dslf4j.binding="$KAFKA_SLF4J_BINDING" \
        -DincludeScope=runtime -DoutputDirectory="$tmp" </dev/null >"$mvn_log" 2>&1; then
        tail -n 40 "$mvn_log" >&2
        rm -rf "$tmp"
        die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (full output: $mvn_log)"
    fi
    # The binding must match slf4j-api's major version, or the broker silently logs nothing and we
    # would wait for "Kafka Server started" in vain.
    if compgen -G "$tmp/slf4j-api-2.*.jar" >/dev/null && [[ $KAFKA_SLF4J_BINDING != log4j-slf4j2-impl ]]; then
        rm -rf "$tmp"
        die "Kafka $KAFKA_VERSION uses slf4j-api 2.x: rerun with KAFKA_SLF4J_BINDING=log4j-slf4j2-impl"
    fi
    printf '%s\n' "$want" >"$tmp/.version"
    rm -rf "$KAFKA_LIB_DIR"
    mv "$tmp" "$KAFKA_LIB_DIR"
    log "fetched $(find "$KAFKA_LIB_DIR" -name '*.jar' | wc -l) jars ($(du -sh "$KAFKA_LIB_DIR" | cut -f1))"
}

# TLS material for the SASL_SSL listener, made once with openssl and kept across restarts (delete
# $STATE_DIR/tls to get new ones): a local CA (ca.pem, ca.key), the broker's key and certificate
# (CN=localhost, SAN DNS:localhost + IP:127.0.0.1, so clients verifying 127.0.0.1 or localhost both
# pass) in broker.p12 for Kafka, and an unrelated CA (other-ca.pem) for "wrong CA" negative tests.
# Each piece is built in a temp dir and moved in last, so an interrupted run never looks complete.
ensure_tls() {
    local have_ca=0
    [[ -s $TLS_DIR/ca.pem && -s $TLS_DIR/ca.key ]] && have_ca=1
    if ((have_ca)) && [[ -s $TLS_DIR/broker.p12 && -s $TLS_DIR/other-ca.pem ]]; then
        return 0
    fi
    command -v openssl >/dev/null || die "openssl not found (needed once to make $TLS_DIR)"
    mkdir -p "$TLS_DIR"
    chmod 755 "$TLS_DIR" # the keys inside are 0600
    local tmp log=$STATE_DIR/logs/tls-gen.log
    tmp=$(mktemp -d "$TLS_DIR/.gen.XXXXXX")
    : >"$log"
    # Our own openssl config, so the extensions do not depend on the distribution's openssl.cnf.
    # SKI/AKI and keyUsage are there because strict verifiers (Python 3.13's default context sets
    # VERIFY_X509_STRICT) reject certificates without them.
    cat >"$tmp/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[broker]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
EOF
    ossl() {
        if ! (umask 077 && openssl "$@") >>"$log" 2>&1; then
            cat "$log" >&2
            rm -rf "$tmp"
            die "openssl $1 failed while making the TLS material in $TLS_DIR (log: $log)"
        fi
    }
    new_ca() { # $1 = file stem, $2 = CN
        ossl req -config "$tmp/openssl.cnf" -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
            -subj "/CN=$2" -extensions ca -keyout "$tmp/$1.key" -out "$tmp/$1.pem"
    }
    if ((!have_ca)); then
        log "generating a local CA in $TLS_DIR"
        new_ca ca "actionstream local CA"
        mv -f "$tmp/ca.key" "$TLS_DIR/ca.key"
        mv -f "$tmp/ca.pem" "$TLS_DIR/ca.pem"
        # A broker certificate from an earlier CA would no longer verify against ca.pem.
        rm -f "$TLS_DIR"/broker.*
    fi
    if [[ ! -s $TLS_DIR/broker.p12 ]]; then
        log "generating the broker's TLS key and certificate (CN=localhost, signed by $TLS_DIR/ca.pem)"
        ossl req -config "$tmp/openssl.cnf" -new -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout "$tmp/broker.key" -out "$tmp/broker.csr"
        ossl x509 -req -in "$tmp/broker.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
            -set_serial "0x$(openssl rand -hex 16)" -sha256 -days 825 \
            -extfile "$tmp/openssl.cnf" -extensions broker -out "$tmp/broker.pem"
        ossl verify -CAfile "$TLS_DIR/ca.pem" "$tmp/broker.pem"
        ossl pkcs12 -export -name broker -in "$tmp/broker.pem" -inkey "$tmp/broker.key" \
            -certfile "$TLS_DIR/ca.pem" -passout "pass:$KAFKA_KEYSTORE_PASSWORD" -out "$tmp/broker.p12"
        mv -f "$tmp/broker.key" "$TLS_DIR/broker.key"
        mv -f "$tmp/broker.pem" "$TLS_DIR/broker.pem"
        mv -f "$tmp/broker.p12" "$TLS_DIR/broker.p12" # last: its presence means "complete"
    fi
    if [[ ! -s $TLS_DIR/other-ca.pem ]]; then
        new_ca other-ca "unrelated CA (did not sign the broker)"
        mv -f "$tmp/other-ca.key" "$TLS_DIR/other-ca.key"
        mv -f "$tmp/other-ca.pem" "$TLS_DIR/other-ca.pem"
    fi
    # Certificates are public; keys and the keystore stay 0600 (umask above).
    chmod 644 "$TLS_DIR"/*.pem
    rm -rf "$tmp"
}

# Escape $1 for a sed replacement (we use | as delimiter).
sed_escape() { printf '%s' "$1" | sed 's/[\\|&]/\\&/g'; }

render_kafka_conf() {
    mkdir -p "$KAFKA_CONF_DIR"
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@KAFKA_SASL_SSL_PORT@|$KAFKA_SASL_SSL_PORT|g" \
        -e "s|@KAFKA_DATA_DIR@|$(sed_escape "$KAFKA_DATA_DIR")|g" \
        -e "s|@KAFKA_TLS_DIR@|$(sed_escape "$TLS_DIR")|g" \
        -e "s|@KAFKA_KEYSTORE_PASSWORD@|$(sed_escape "$KAFKA_KEYSTORE_PASSWORD")|g" \
        "$SCRIPT_DIR/server.properties.tmpl" >"$KAFKA_CONF.new"
    mv -f "$KAFKA_CONF.new" "$KAFKA_CONF"
}

storage_tool() {
    # The classpath wildcard is quoted on purpose: the JVM expands 'dir/*' itself.
    java -Xmx256m -Dlog4j2.configurationFile="$SCRIPT_DIR/tools-log4j2.yaml" \
        -cp "$KAFKA_LIB_DIR/*" kafka.tools.StorageTool "$@"
}

# Format the data dir once. The marker holds a fingerprint of everything the format depends on
# (rendered config + Kafka version); if it changed, the old format may be incompatible (node id, quorum,
# ports, metadata version), so wipe and format again - the data is disposable test state.
format_kafka_storage() {
    local want have="" cluster_id
    want="$KAFKA_VERSION $(cksum <"$KAFKA_CONF" | cut -d' ' -f1)"
    [[ -f $STATE_DIR/kafka-format.marker ]] && have=$(<"$STATE_DIR/kafka-format.marker")
    if [[ $have == "$want" && -f $KAFKA_DATA_DIR/meta.properties ]]; then
        return 0
    fi
    if [[ -d $KAFKA_DATA_DIR ]]; then
        log "Kafka config or version changed since the last format: wiping $KAFKA_DATA_DIR"
        rm -rf "$KAFKA_DATA_DIR"
    fi
    rm -f "$STATE_DIR/kafka-format.marker"
    cluster_id=$(storage_tool random-uuid | tail -n1)
    [[ -n $cluster_id ]] || die "kafka.tools.StorageTool random-uuid printed nothing"
    log "formatting $KAFKA_DATA_DIR (cluster id $cluster_id)"
    # Static quorum (controller.quorum.voters) => no --standalone. --ignore-formatted makes a rerun after
    # an interrupted format harmless.
    local format_log=$STATE_DIR/logs/kafka-format.log
    if ! storage_tool format --ignore-formatted -t "$cluster_id" -c "$KAFKA_CONF" >"$format_log" 2>&1; then
        cat "$format_log" >&2
        die "formatting the Kafka storage failed"
    fi
    printf '%s\n' "$want" >"$STATE_DIR/kafka-format.marker"
}

start_kafka() {
    if kafka_up; then
        return 0
    fi
    if kafka_pid >/dev/null; then
        # Alive but the port does not answer: probably still starting (another `up`) - just wait below.
        log "kafka (pid $(kafka_pid)) is running but not ready yet; waiting"
    else
        rm -f "$KAFKA_PID"
        java_ok || die "Java 17+ is required for the Kafka broker (found: $(java -version 2>&1 | head -n1 || echo none))"
        port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is in use by another process; set KAFKA_PORT"
        port_open "$KAFKA_CONTROLLER_PORT" \
            && die "port $KAFKA_CONTROLLER_PORT is in use by another process; set KAFKA_CONTROLLER_PORT"
        port_open "$KAFKA_SASL_SSL_PORT" \
            && die "port $KAFKA_SASL_SSL_PORT is in use by another process; set KAFKA_SASL_SSL_PORT"
        fetch_kafka_jars
        ensure_tls
        render_kafka_conf
        format_kafka_storage
        rotate_log "$KAFKA_LOG"
        log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (SASL_SSL :$KAFKA_SASL_SSL_PORT, controller :$KAFKA_CONTROLLER_PORT)"
        # JVM flags as in Kafka's kafka-run-class.sh / kafka-server-start.sh, with a small heap.
        # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS holds several flags
        spawn "$KAFKA_PID" "$KAFKA_LOG" \
            java $KAFKA_HEAP_OPTS -server \
            -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
            -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.yaml" \
            -cp "$KAFKA_LIB_DIR/*" kafka.Kafka "$KAFKA_CONF"
    fi
    wait_for_kafka
}

wait_for_kafka() {
    local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! kafka_pid >/dev/null; then
            log "kafka exited during startup; last 40 lines of $KAFKA_LOG:"
            tail -n 40 "$KAFKA_LOG" >&2 || true
            exit 1
        fi
        if port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$KAFKA_LOG" \
            && { ! sasl_configured || port_open "$KAFKA_SASL_SSL_PORT"; }; then
            log "kafka ready after $((SECONDS - deadline + KAFKA_START_TIMEOUT)) s (broker log: Kafka version: $(kafka_version_running))"
            return 0
        fi
        sleep 0.5
    done
    log "kafka not ready after ${KAFKA_START_TIMEOUT} s; last 40 lines of $KAFKA_LOG:"
    tail -n 40 "$KAFKA_LOG" >&2 || true
    # Don't leave a half-started broker behind: the next `up` starts from a clean slate.
    stop_one kafka "$KAFKA_PID" kafka_pid
    exit 1
}

# ---------------------------------------------------------------------------------------------------
# Kafka security: SCRAM users and ACLs (deploy/local/KafkaSecurity.java, over PLAINTEXT = super user)

# True if the config the broker was started from has our SASL_SSL listener. A broker started before
# this listener existed (or with another KAFKA_SASL_SSL_PORT) keeps running until the next down/up.
sasl_configured() {
    [[ -f $KAFKA_CONF ]] && grep -q "^listeners=.*SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT\b" "$KAFKA_CONF"
}

# Source launch: the JVM compiles KafkaSecurity.java in memory on every call; a call takes 1.5-2 s,
# ~0.8 s of it that compile. -XX:TieredStopAtLevel=1 (C1 only) saves another ~1 s: the JIT's
# C2 tier only costs CPU in a process this short-lived.
security_tool() {
    compgen -G "$KAFKA_LIB_DIR/kafka-clients-*.jar" >/dev/null \
        || die "no Kafka jars in $KAFKA_LIB_DIR yet: run \`$0 up\` first"
    java_ok || die "Java 17+ is required for $SCRIPT_DIR/KafkaSecurity.java"
    java -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$SCRIPT_DIR/tools-log4j2.yaml" \
        -cp "$KAFKA_LIB_DIR/*" "$SCRIPT_DIR/KafkaSecurity.java" --bootstrap "127.0.0.1:$KAFKA_PORT" "$@"
}

kafka_cluster_id() {
    sed -n 's/^cluster\.id=//p' "$KAFKA_DATA_DIR/meta.properties" 2>/dev/null || true
}

# The admin super user's SCRAM credentials live in the metadata log, i.e. in kafka-data/: create them
# once per format. The marker holds the cluster id, so a wiped and reformatted data dir (new id)
# gets them again, while a plain restart costs nothing.
ensure_admin_user() {
    local cluster_id
    cluster_id=$(kafka_cluster_id)
    [[ -n $cluster_id ]] || die "no cluster.id in $KAFKA_DATA_DIR/meta.properties"
    [[ -f $ADMIN_MARKER && $(<"$ADMIN_MARKER") == "$cluster_id" ]] && return 0
    log "creating the SCRAM super user $KAFKA_ADMIN_USER ($SASL_MECHANISMS)"
    security_tool user "$KAFKA_ADMIN_USER" "$KAFKA_ADMIN_PASSWORD" "$SASL_MECHANISMS" >&2 \
        || die "could not create the SCRAM user $KAFKA_ADMIN_USER"
    printf '%s\n' "$cluster_id" >"$ADMIN_MARKER"
}

# JSON string literal of $1 (paths may contain \ or ").
json_str() {
    local v=${1//\\/\\\\}
    v=${v//\"/\\\"}
    printf '"%s"' "$v"
}

# What a client needs for the SASL_SSL listener, for the tests to read instead of hard-coding it.
write_secure_json() {
    {
        printf '{\n'
        printf '  "bootstrap": %s,\n' "$(json_str "127.0.0.1:$KAFKA_SASL_SSL_PORT")"
        printf '  "ca": %s,\n' "$(json_str "$TLS_DIR/ca.pem")"
        printf '  "other_ca": %s,\n' "$(json_str "$TLS_DIR/other-ca.pem")"
        printf '  "admin": {"username": %s, "password": %s},\n' \
            "$(json_str "$KAFKA_ADMIN_USER")" "$(json_str "$KAFKA_ADMIN_PASSWORD")"
        printf '  "mechanisms": ["SCRAM-SHA-512", "SCRAM-SHA-256", "OAUTHBEARER"],\n'
        printf '  "client_auth": "requested"\n'
        printf '}\n'
    } >"$SECURE_JSON.new"
    mv -f "$SECURE_JSON.new" "$SECURE_JSON"
}

# After the broker is up: admin user + secure.json, or - for a broker still running an older config -
# no secure.json at all, so nothing mistakes it for a broker with a SASL_SSL listener.
setup_kafka_security() {
    if sasl_configured; then
        ensure_admin_user
        write_secure_json
    else
        rm -f "$SECURE_JSON"
        log "warning: the running broker was started without a SASL_SSL listener on :$KAFKA_SASL_SSL_PORT" \
            "(older config); run \`$0 down\` then \`$0 up\` to get it"
    fi
}

# ---------------------------------------------------------------------------------------------------
# Redis

ensure_redis_installed() {
    command -v redis-server >/dev/null && return 0
    if [[ $(id -u) -ne 0 ]]; then
        die "redis-server is not installed; run: sudo apt-get install -y redis-server (then rerun this script)"
    fi
    log "installing redis-server with apt-get"
    # DPkg::Lock::Timeout: if another apt is running, wait for it instead of failing.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq redis-server >&2
    # On hosts with systemd the package starts its own redis on 6379; we run our own, so stop that one.
    if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
        log "stopping the redis-server.service the package just started (we run our own instance)"
        systemctl stop redis-server || true
        systemctl disable redis-server >/dev/null 2>&1 || true
    fi
}

redis_version() {
    redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'
}

redis_ping() {
    if command -v redis-cli >/dev/null; then
        [[ $(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
    else
        # RESP inline command over bash's /dev/tcp.
        # shellcheck disable=SC2016  # expanded by the inner bash
        timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "PING\r\n" >&3; read -r r <&3; [[ $r == "+PONG"* ]]' \
            _ "$REDIS_PORT" 2>/dev/null
    fi
}

start_redis() {
    if redis_up; then
        return 0
    fi
    if ! redis_pid >/dev/null; then
        rm -f "$REDIS_PID"
        ensure_redis_installed
        port_open "$REDIS_PORT" && die "port $REDIS_PORT is in use by another process; set REDIS_PORT"
        mkdir -p "$REDIS_DATA_DIR"
        rotate_log "$REDIS_LOG"
        log "starting redis-server $(redis_version) on 127.0.0.1:$REDIS_PORT"
        # No config file: everything on the command line. Append-only persistence, as production
        # needs: idempotency records must survive a Redis restart or a redelivery runs twice.
        spawn "$REDIS_PID" "$REDIS_LOG" \
            redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DATA_DIR" \
            --daemonize no --save "" --appendonly yes --appendfsync everysec --logfile ""
    fi
    local deadline=$((SECONDS + REDIS_START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! redis_pid >/dev/null; then
            # redis needs a moment to retitle itself; only give up if the process is really gone.
            local pid
            pid=$(cat "$REDIS_PID" 2>/dev/null || true)
            if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
                log "redis-server exited during startup; last 40 lines of $REDIS_LOG:"
                tail -n 40 "$REDIS_LOG" >&2 || true
                exit 1
            fi
        fi
        redis_ping && return 0
        sleep 0.2
    done
    log "redis-server not answering PING after ${REDIS_START_TIMEOUT} s; last 40 lines of $REDIS_LOG:"
    tail -n 40 "$REDIS_LOG" >&2 || true
    stop_one redis "$REDIS_PID" redis_pid
    exit 1
}

# ---------------------------------------------------------------------------------------------------
# Redis Cluster: $REDIS_CLUSTER_SIZE nodes, 3 masters + 3 replicas, each a plain redis-server with its own
# data dir $REDIS_CLUSTER_DIR/<port>/ (nodes.conf + appendonlydir) and pid file $REDIS_CLUSTER_DIR/<port>.pid.

cluster_ports() {
    local i
    for ((i = 0; i < REDIS_CLUSTER_SIZE; i++)); do
        printf '%s\n' $((REDIS_CLUSTER_PORT + i))
    done
}

# Ports of the nodes that have a pid file, whatever REDIS_CLUSTER_PORT says now: `down` must find a
# cluster that was started with another REDIS_CLUSTER_PORT.
cluster_pidfile_ports() {
    local f port
    for f in "$REDIS_CLUSTER_DIR"/*.pid; do
        [[ -e $f ]] || continue
        port=${f##*/}
        port=${port%.pid}
        [[ $port =~ ^[0-9]+$ ]] && printf '%s\n' "$port"
    done
}

cluster_node_conf() { printf '%s\n' "$REDIS_CLUSTER_DIR/$1/nodes.conf"; }

# The nodes.conf path is in the command line we start with and, through --proc-title-template, in the
# title redis-server gives itself right after start: it names this stack's node before and after that.
cluster_node_pid() { owned_pid "$REDIS_CLUSTER_DIR/$1.pid" "redis-server " "$(cluster_node_conf "$1")"; }

cluster_cli() {
    local port=$1
    shift
    timeout 5 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
}

# Field $2 of `CLUSTER INFO` on node $1 (empty if the node does not answer).
cluster_info_field() {
    { cluster_cli "$1" cluster info || true; } | tr -d '\r' | sed -n "s/^$2://p"
}

# master or replica, as the node itself reports it (empty if it does not answer).
cluster_node_role() {
    local role
    role=$({ cluster_cli "$1" info replication || true; } | tr -d '\r' | sed -n 's/^role://p')
    case $role in
    master) echo master ;;
    slave) echo replica ;;
    esac
}

check_cluster_ports() {
    [[ $REDIS_CLUSTER_PORT =~ ^[0-9]+$ ]] || die "REDIS_CLUSTER_PORT must be a number, got $REDIS_CLUSTER_PORT"
    ((REDIS_CLUSTER_PORT >= 1024 && REDIS_CLUSTER_PORT + REDIS_CLUSTER_SIZE - 1 + 10000 <= 65535)) \
        || die "REDIS_CLUSTER_PORT=$REDIS_CLUSTER_PORT: the nodes' cluster bus ports (port + 10000) must stay below 65536"
    [[ $REDIS_CLUSTER_NODE_TIMEOUT =~ ^[0-9]+$ ]] \
        || die "REDIS_CLUSTER_NODE_TIMEOUT must be milliseconds, got $REDIS_CLUSTER_NODE_TIMEOUT"
}

start_cluster_node() {
    local port=$1 dir=$REDIS_CLUSTER_DIR/$1 log=$STATE_DIR/logs/redis-cluster-$1.log conf
    conf=$(cluster_node_conf "$1")
    rm -f "$REDIS_CLUSTER_DIR/$port.pid"
    port_open "$port" && die "port $port is in use by another process; set REDIS_CLUSTER_PORT"
    port_open $((port + 10000)) \
        && die "cluster bus port $((port + 10000)) is in use by another process; set REDIS_CLUSTER_PORT"
    mkdir -p "$dir"
    rotate_log "$log"
    if [[ -s $dir/nodes.conf ]]; then
        log "redis-cluster: restarting node 127.0.0.1:$port (rejoins from $dir/nodes.conf)"
    else
        log "redis-cluster: starting new node 127.0.0.1:$port"
    fi
    # Same persistence as the single redis (see start_redis). The title template is where the
    # nodes.conf path gets into the process title; "{" is its only special character ("{{" = "{").
    # cluster-require-full-coverage no: while a dead master's replica is being promoted, the other
    # masters keep serving their slots (with the default, every node answers CLUSTERDOWN then).
    # repl-diskless-sync-delay 0: a node that rejoins as a replica syncs at once, not after 5 s (claims
    # with ACTIONSTREAM_REDIS__CLAIM_REPLICAS=1 wait for it when its master has no other replica).
    spawn "$REDIS_CLUSTER_DIR/$port.pid" "$log" \
        redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize no --logfile "" \
        --cluster-enabled yes --cluster-config-file "$conf" \
        --cluster-node-timeout "$REDIS_CLUSTER_NODE_TIMEOUT" --cluster-require-full-coverage no \
        --repl-diskless-sync-delay 0 \
        --appendonly yes --appendfsync everysec --save "" \
        --proc-title-template "{title} {listen-addr} {server-mode} ${conf//\{/\{\{}"
}

# Wait until every node answers PING; a node that died on the way gets its log shown.
wait_cluster_nodes() {
    local deadline=$((SECONDS + REDIS_START_TIMEOUT)) port pid pending
    while ((SECONDS < deadline)); do
        pending=0
        for port in $(cluster_ports); do
            [[ $(cluster_cli "$port" ping) == PONG ]] && continue
            pending=1
            pid=$(cat "$REDIS_CLUSTER_DIR/$port.pid" 2>/dev/null || true)
            if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
                log "redis-cluster node 127.0.0.1:$port exited during startup; last 40 lines of $STATE_DIR/logs/redis-cluster-$port.log:"
                tail -n 40 "$STATE_DIR/logs/redis-cluster-$port.log" >&2 || true
                stop_cluster_nodes
                exit 1
            fi
        done
        ((pending)) || return 0
        sleep 0.2
    done
    log "redis-cluster nodes not answering PING after ${REDIS_START_TIMEOUT} s (logs: $STATE_DIR/logs/redis-cluster-*.log)"
    stop_cluster_nodes
    exit 1
}

# "new" if no node knows another one and none has slots (fresh data dirs: create the cluster), "known"
# if every node knows all $REDIS_CLUSTER_SIZE (restarted from nodes.conf: they rejoin by themselves),
# anything else is a half-made cluster we do not try to repair.
cluster_formation() {
    local port known slots fresh=0 full=0
    for port in $(cluster_ports); do
        known=$(cluster_info_field "$port" cluster_known_nodes)
        slots=$(cluster_info_field "$port" cluster_slots_assigned)
        [[ $known == 1 && $slots == 0 ]] && ((fresh += 1))
        [[ $known == "$REDIS_CLUSTER_SIZE" ]] && ((full += 1))
    done
    if ((fresh == REDIS_CLUSTER_SIZE)); then
        echo new
    elif ((full == REDIS_CLUSTER_SIZE)); then
        echo known
    else
        echo partial
    fi
}

# cluster_formation, with "partial" only believed once it held for 10 s. A reading can be off for
# a moment on a busy machine (a node's CLUSTER INFO not answered within 5 s reads as empty; a node
# still shaking hands with a peer counts one node more): CI once failed a second `cluster up` on
# a cluster the first had just reported ready.
settled_cluster_formation() {
    local deadline=$((SECONDS + 10)) formation
    while true; do
        formation=$(cluster_formation)
        [[ $formation == partial ]] && ((SECONDS < deadline)) || break
        sleep 0.5
    done
    echo "$formation"
}

create_cluster() {
    local addrs=() port create_log=$STATE_DIR/logs/redis-cluster-create.log
    for port in $(cluster_ports); do addrs+=("127.0.0.1:$port"); done
    log "redis-cluster: creating the cluster (3 masters, 3 replicas) on ${addrs[*]}"
    if ! timeout "$REDIS_START_TIMEOUT" redis-cli --cluster create "${addrs[@]}" \
        --cluster-replicas 1 --cluster-yes </dev/null >"$create_log" 2>&1; then
        tail -n 40 "$create_log" >&2 || true
        die "redis-cli --cluster create failed (full output: $create_log; \`$0 cluster reset\` starts over)"
    fi
}

# Ready = every node says cluster_state:ok, they count 3 masters and 3 replicas between them, and
# `redis-cli --cluster check` finds all slots covered and every node agreeing on who serves them
# (a restarted old master reports ok for a moment before it learns it was replaced).
cluster_ready() {
    local port role masters=0 replicas=0
    for port in $(cluster_ports); do
        [[ $(cluster_info_field "$port" cluster_state) == ok ]] || return 1
        role=$(cluster_node_role "$port")
        case $role in
        master) ((masters += 1)) ;;
        replica) ((replicas += 1)) ;;
        *) return 1 ;;
        esac
    done
    ((masters == 3 && replicas == 3)) || return 1
    timeout 10 redis-cli --cluster check "127.0.0.1:$REDIS_CLUSTER_PORT" >/dev/null 2>&1
}

wait_cluster_ready() {
    local deadline=$((SECONDS + REDIS_START_TIMEOUT)) start=$SECONDS
    while ((SECONDS < deadline)); do
        if cluster_ready; then
            log "redis-cluster ready after $((SECONDS - start)) s"
            return 0
        fi
        sleep 0.5
    done
    log "redis-cluster not ok after ${REDIS_START_TIMEOUT} s; what the nodes say:"
    cluster_status_lines >&2 || true
    timeout 10 redis-cli --cluster check "127.0.0.1:$REDIS_CLUSTER_PORT" >&2 || true
    # Unlike a half-started broker, the nodes stay up: their view is what needs looking at.
    log "the nodes keep running (logs: $STATE_DIR/logs/redis-cluster-*.log); \`$0 cluster reset\` starts over"
    exit 1
}

# Stop every node with a pid file; replicas first, so that no master waits for replicas to catch up on
# SIGTERM and no replica is promoted while its master is going down.
stop_cluster_nodes() {
    local ports=() port first=() last=()
    mapfile -t ports < <(cluster_pidfile_ports)
    if ((${#ports[@]} == 0)); then
        log "redis-cluster: not running"
        return 0
    fi
    for port in "${ports[@]}"; do
        if [[ $(cluster_node_role "$port") == master ]]; then last+=("$port"); else first+=("$port"); fi
    done
    for port in "${first[@]}" "${last[@]}"; do
        stop_one "redis-cluster 127.0.0.1:$port" "$REDIS_CLUSTER_DIR/$port.pid" cluster_node_pid "$port"
    done
}

# One line per node, then the cluster_state the live nodes agree on. Returns 3 unless all
# $REDIS_CLUSTER_SIZE nodes answer and every one says cluster_state:ok.
cluster_status_lines() {
    local port pid role state states="" up=0
    for port in $(cluster_ports); do
        if pid=$(cluster_node_pid "$port") && role=$(cluster_node_role "$port") && [[ -n $role ]]; then
            echo "127.0.0.1:$port $role pid $pid"
            ((up += 1))
            state=$(cluster_info_field "$port" cluster_state)
            [[ " $states " == *" ${state:-unknown} "* ]] || states+=${states:+ }${state:-unknown}
        elif pid=$(cluster_node_pid "$port"); then
            echo "127.0.0.1:$port not answering (pid $pid)"
        else
            echo "127.0.0.1:$port not running"
        fi
    done
    echo "cluster_state: ${states:-unknown} ($up of $REDIS_CLUSTER_SIZE nodes up)"
    ((up == REDIS_CLUSTER_SIZE)) && [[ $states == ok ]] || return 3
}

print_cluster_address() {
    local port joined="" masters=0 replicas=0
    for port in $(cluster_ports); do
        joined+=${joined:+,}127.0.0.1:$port
        case $(cluster_node_role "$port") in
        master) ((masters += 1)) ;;
        replica) ((replicas += 1)) ;;
        esac
    done
    echo "redis-cluster: $joined ($masters masters, $replicas replicas, redis-server $(redis_version))"
}

cmd_cluster_up() {
    take_lock
    check_cluster_ports
    mkdir -p "$STATE_DIR/logs" "$REDIS_CLUSTER_DIR"
    ensure_redis_installed
    command -v redis-cli >/dev/null || die "redis-cli is not installed (Debian: apt-get install redis-tools)"
    local port started=0
    for port in $(cluster_ports); do
        cluster_node_pid "$port" >/dev/null && continue # running (or still starting: waited for below)
        start_cluster_node "$port"
        started=1
    done
    ((started)) || log "redis-cluster: all $REDIS_CLUSTER_SIZE nodes already running"
    wait_cluster_nodes
    case $(settled_cluster_formation) in
    new) create_cluster ;;
    known) ;;
    *)
        cluster_status_lines >&2 || true
        die "the nodes on ports $REDIS_CLUSTER_PORT..$((REDIS_CLUSTER_PORT + REDIS_CLUSTER_SIZE - 1)) are neither a fresh set nor one cluster of $REDIS_CLUSTER_SIZE; \`$0 cluster reset\` starts over"
        ;;
    esac
    wait_cluster_ready
    print_cluster_address
}

cmd_cluster_down() {
    take_lock
    stop_cluster_nodes
}

cmd_cluster_reset() {
    take_lock
    stop_cluster_nodes
    log "redis-cluster: deleting $REDIS_CLUSTER_DIR"
    rm -rf "$REDIS_CLUSTER_DIR"
}

cmd_cluster_status() {
    check_cluster_ports
    local ok=0
    cluster_status_lines || ok=3
    echo "state: $REDIS_CLUSTER_DIR"
    return "$ok"
}

cmd_cluster() {
    case ${1:-} in
    up) cmd_cluster_up ;;
    down) cmd_cluster_down ;;
    reset) cmd_cluster_reset ;;
    status) cmd_cluster_status ;;
    *)
        usage
        exit 2
        ;;
    esac
}

# ---------------------------------------------------------------------------------------------------
# Docker route (only when a docker daemon answers and either it is asked for or there is no Java).

docker_ok() { command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1; }

want_docker() {
    if [[ $ACTIONSTREAM_STACK == docker ]]; then
        docker_ok || die "ACTIONSTREAM_STACK=docker but no docker daemon answers"
        return 0
    fi
    ! java_ok && docker_ok
}

docker_up() {
    log "using docker compose ($REPO_ROOT/docker-compose.yml)"
    docker compose -f "$REPO_ROOT/docker-compose.yml" up -d kafka redis >&2
    echo docker >"$MODE_FILE"
    local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    until port_open "$KAFKA_PORT" && port_open "$REDIS_PORT"; do
        ((SECONDS < deadline)) || die "docker services did not open ports $KAFKA_PORT/$REDIS_PORT"
        sleep 1
    done
    echo "kafka: 127.0.0.1:$KAFKA_PORT (docker compose service kafka)"
    echo "redis: redis://127.0.0.1:$REDIS_PORT/0 (docker compose service redis)"
}

docker_mode() { [[ -f $MODE_FILE && $(<"$MODE_FILE") == docker ]]; }

# ---------------------------------------------------------------------------------------------------
# commands

print_addresses() {
    local v
    v=$(kafka_version_running)
    echo "kafka: 127.0.0.1:$KAFKA_PORT (Apache Kafka ${v:-$KAFKA_VERSION})"
    if sasl_configured; then
        echo "kafka-sasl-ssl: 127.0.0.1:$KAFKA_SASL_SSL_PORT (SCRAM-SHA-512/SCRAM-SHA-256/OAUTHBEARER, client certificates from CA $TLS_DIR/ca.pem requested; details in $SECURE_JSON)"
    fi
    echo "redis: redis://127.0.0.1:$REDIS_PORT/0 (redis-server $(redis_version))"
}

cmd_up() {
    take_lock
    mkdir -p "$STATE_DIR/logs"
    if ! kafka_up || ! redis_up; then
        if want_docker; then
            # The compose broker has no SASL_SSL listener.
            rm -f "$SECURE_JSON"
            docker_up
            return 0
        fi
        rm -f "$MODE_FILE"
        start_kafka
        start_redis
    fi
    setup_kafka_security
    print_addresses
}

cmd_security() {
    [[ $# -gt 0 ]] || { security_tool --help; exit 2; }
    # Not under the stack lock: the tool only talks to the broker, and `up` runs it with the lock held.
    kafka_up || docker_mode || die "kafka is not running on 127.0.0.1:$KAFKA_PORT; run \`$0 up\` first"
    security_tool "$@"
}

# True while pid $1 runs. A zombie counts as gone: our daemons are reparented to pid 1 once `up` exits,
# and a slow reaper there would otherwise add seconds to every stop.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [[ $(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) != Z ]]
}

# SIGTERM (Kafka does a controlled shutdown in its shutdown hook), then SIGKILL after $STOP_TIMEOUT s.
stop_one() {
    local name=$1 pidfile=$2 pid
    shift 2
    if ! pid=$("$@"); then
        if [[ -e $pidfile ]]; then
            log "$name: not running (removing stale $pidfile)"
            rm -f "$pidfile"
        else
            log "$name: not running"
        fi
        return 0
    fi
    log "$name: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if alive "$pid"; then
        log "$name: still running after ${STOP_TIMEOUT} s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
    fi
    rm -f "$pidfile"
    log "$name: stopped"
}

cmd_down() {
    take_lock
    if docker_mode; then
        if docker_ok; then
            docker compose -f "$REPO_ROOT/docker-compose.yml" stop kafka redis >&2
        else
            log "stack was started with docker, but no docker daemon answers now"
        fi
        rm -f "$MODE_FILE"
    fi
    stop_one kafka "$KAFKA_PID" kafka_pid
    stop_one redis "$REDIS_PID" redis_pid
    # Only says something if a cluster was started in this STATE_DIR.
    if [[ -n $(cluster_pidfile_ports) ]]; then stop_cluster_nodes; fi
}

cmd_status() {
    local ok=0 pid
    if docker_mode; then
        if port_open "$KAFKA_PORT"; then echo "kafka: 127.0.0.1:$KAFKA_PORT (docker)"; else echo "kafka: not running (docker)"; ok=3; fi
        if port_open "$REDIS_PORT"; then echo "redis: redis://127.0.0.1:$REDIS_PORT/0 (docker)"; else echo "redis: not running (docker)"; ok=3; fi
        return "$ok"
    fi
    if kafka_up; then
        pid=$(kafka_pid)
        echo "kafka: 127.0.0.1:$KAFKA_PORT (Apache Kafka $(kafka_version_running)) pid $pid"
        if ! sasl_configured; then
            echo "kafka-sasl-ssl: not configured (broker started with an older config: down, then up)"
        elif port_open "$KAFKA_SASL_SSL_PORT"; then
            echo "kafka-sasl-ssl: 127.0.0.1:$KAFKA_SASL_SSL_PORT (CA $TLS_DIR/ca.pem)"
        else
            echo "kafka-sasl-ssl: 127.0.0.1:$KAFKA_SASL_SSL_PORT not answering"
            ok=3
        fi
    elif pid=$(kafka_pid); then
        echo "kafka: starting (pid $pid, port $KAFKA_PORT not answering yet)"
        ok=3
    else
        echo "kafka: not running"
        ok=3
    fi
    if redis_up; then
        pid=$(redis_pid)
        echo "redis: redis://127.0.0.1:$REDIS_PORT/0 (redis-server $(redis_version)) pid $pid"
    else
        echo "redis: not running"
        ok=3
    fi
    echo "state: $STATE_DIR"
    return "$ok"
}

usage() {
    cat >&2 <<EOF
usage: $0 up|down|status
       $0 security user NAME PASSWORD [SCRAM-SHA-512|SCRAM-SHA-256]
       $0 security acl allow PRINCIPAL OPERATION RESOURCE_TYPE NAME [LITERAL|PREFIXED]
       $0 security acls clear PRINCIPAL | acls list [PRINCIPAL]
       $0 cluster up|down|reset|status
  env: STATE_DIR=$STATE_DIR
       KAFKA_PORT=$KAFKA_PORT KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT REDIS_PORT=$REDIS_PORT
       KAFKA_SASL_SSL_PORT=$KAFKA_SASL_SSL_PORT
       REDIS_CLUSTER_PORT=$REDIS_CLUSTER_PORT (..+5, bus ports +10000) REDIS_CLUSTER_NODE_TIMEOUT=$REDIS_CLUSTER_NODE_TIMEOUT ms
       KAFKA_VERSION=$KAFKA_VERSION ACTIONSTREAM_STACK=${ACTIONSTREAM_STACK:-(unset)}
EOF
}

main() {
    case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    security)
        shift
        cmd_security "$@"
        ;;
    cluster)
        shift
        cmd_cluster "$@"
        ;;
    -h | --help | help) usage ;;
    *)
        usage
        exit 2
        ;;
    esac
}

main "$@"
