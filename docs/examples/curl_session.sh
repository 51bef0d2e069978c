#!/usr/bin/env bash
# One cashier session through posad's HIS API with nothing but curl: identify the patient by
# the resident ID number (no card needed), open an inpatient stay, upload the bill, estimate,
# settle at discharge, and save the printable settlement statement. Every call and answer is
# printed. Written against a posad started by scripts/demo-run (docs/his-api.md describes
# each endpoint):
#
#   scripts/demo-run &                  # sandbox + posad on 127.0.0.1:8470 and ./var/posa.sock
#   docs/examples/curl_session.sh       # from the top of the source tree
#
# Environment: POSA_URL (default http://127.0.0.1:8470), or POSA_SOCKET=./var/posa.sock to
# talk over the Unix socket instead (its file permissions are the auth there);
# POSA_TOKEN, a bearer token, when [his] clients in posad.conf configures tokens for TCP;
# POSA_CACERT, the CA file that signed posad's certificate, for an https:// POSA_URL (a LAN
# listener with TLS; a certificate of a public CA needs none);
# POSA_DESK (default D01), the desk the patient is identified at;
# BILL (default docs/examples/bill.json); STATEMENT (default var/statement-curl.html).
# Needs curl and /usr/bin/python3 (only to pick fields out of the JSON answers).
set -euo pipefail

url=${POSA_URL:-http://127.0.0.1:8470}
desk=${POSA_DESK:-D01} # the desk the patient stands at (a token for several desks must say)
bill=${BILL:-docs/examples/bill.json}
statement=${STATEMENT:-var/statement-curl.html}
run=$(date +%Y%m%d%H%M%S)-$$   # makes this run's Idempotency-Keys and HIS visit id unique

curl_args=(--silent --show-error --max-time 60)
if [ -n "${POSA_SOCKET:-}" ]; then
    curl_args+=(--unix-socket "$POSA_SOCKET")
    url=http://posad     # the host name is ignored on a Unix socket
fi
if [ -n "${POSA_TOKEN:-}" ]; then
    curl_args+=(-H "Authorization: Bearer $POSA_TOKEN")
fi
if [ -n "${POSA_CACERT:-}" ]; then
    curl_args+=(--cacert "$POSA_CACERT")
fi

# call METHOD PATH [BODY [IDEMPOTENCY-KEY]]: prints the exchange; the answer's body goes to
# $answer and its HTTP status to $status. Every POST that changes state carries an
# Idempotency-Key: if the network drops the answer, sending the same call again with the
# same key returns the first answer instead of doing it twice.
call() {
    local method=$1 path=$2 body=${3:-} key=${4:-} out
    local args=("${curl_args[@]}" -X "$method" -w '\n%{http_code}')
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    if [ -n "$key" ]; then
        args+=(-H "Idempotency-Key: $key")
    fi
    echo ">>> $method $path${key:+   (Idempotency-Key: $key)}"
    out=$(curl "${args[@]}" "$url$path")
    status=${out##*$'\n'}
    answer=${out%$'\n'*}
    echo "<<< HTTP $status"
    if [ ${#answer} -gt 1500 ]; then
        printf '%s ... (%d characters)\n\n' "${answer:0:1500}" ${#answer}
    else
        printf '%s\n\n' "$answer"
    fi
}

# expect STATUS...: stops the session (exit 1) unless the last call answered one of them.
# An error answer is {"error":{"code","message","retryable","details"}}.
expect() {
    local s
    for s in "$@"; do
        [ "$status" = "$s" ] && return 0
    done
    echo "!!! expected HTTP $*, got $status: stopping" >&2
    exit 1
}

# pick EXPR: a field of the last answer, e.g. pick '["person"]["name"]'.
pick() {
    printf '%s' "$answer" | /usr/bin/python3 -c \
        'import json, sys; print(eval("json.load(sys.stdin)" + sys.argv[1]))' "$1"
}

echo "== 0. posad's health: the platform must be online"
call GET /v1/health
expect 200
echo "   upstream: $(pick '["upstream"]["state"]'), queue depth $(pick '["queue"]["depth"]')"
echo

echo "== 1. identify by resident ID number (mdtrt_cert_type 02): 张建国, insured in Wuxi"
# source "card" reads the desk's reader instead: {"source":"card","desk":"D01","wait_ms":20000}
call POST /v1/identify "{\"source\":\"id\",\"certno\":\"320211195603120157\",\"psn_name\":\"张建国\",\"desk\":\"$desk\"}" \
    "id-$run"
expect 200
token=$(pick '["identity_token"]')   # good for 30 minutes, needed to open the visit
insutype=$(pick '["insurance"][0]["insutype"]')
echo "   $(pick '["person"]["name"]'), cross-province: $(pick '["cross_province"]'), filing: $(pick '["filing"]["status"]')"
echo

echo "== 2. open the inpatient stay: a femoral neck fracture, trauma without a third party"
# An S/T diagnosis makes posad suggest the trauma flag; the HIS confirms it here and says
# the commitment (annex 11) is signed. The answer lists each flag with its reason.
# Beijing time (posad's and the platform's), whatever this machine's zone: POSIX "UTC-8".
begin=$(TZ=UTC-8 date -d '-5 days' '+%Y-%m-%d 08:30:00')
call POST /v1/visits "{
  \"identity_token\": \"$token\", \"kind\": \"inpatient\", \"insutype\": \"$insutype\",
  \"med_type\": \"22\", \"his_visit_id\": \"ZY$run\",
  \"dept_code\": \"GK01\", \"dept_name\": \"骨科\", \"doctor_code\": \"D0042\", \"doctor_name\": \"王医生\",
  \"begin_time\": \"$begin\",
  \"diagnoses\": [{\"code\": \"S72.001\", \"name\": \"股骨颈骨折\", \"main\": true}],
  \"trauma\": {\"present\": true, \"third_party\": false, \"commitment_signed\": true}
}" "visit-$run"
expect 201
visit=$(pick '["visit_id"]')
echo "   visit $visit, mdtrt_id $(pick '["mdtrt_id"]')"
echo

echo "== 3. upload the bill ($bill): split locally by the treating region's catalog"
# Money, prices and quantities are JSON strings ("450.00"), never numbers. Right after
# posad starts, its catalog may still be loading: 503 UPSTREAM_OFFLINE (retryable), so the
# same call is sent again, with the same key, until it is ready.
for _ in $(seq 1 25); do
    # the bill's lines charged on the admission day, not before it
    call POST "/v1/visits/$visit/fees" "$(sed "s/\"time\": \"[0-9-]*/\"time\": \"${begin%% *}/" "$bill")" "fees-$run"
    [ "$status" != 503 ] && break
    sleep 0.4
done
expect 200
echo "   total $(pick '["totals"]["amount"]'): in scope $(pick '["totals"]["inscp_scp_amt"]'), fully self-paid $(pick '["totals"]["fulamt_ownpay_amt"]'); upload $(pick '["upload"]["state"]')"
echo

echo "== 4. presettle: the platform's estimate, nothing is settled"
call POST "/v1/visits/$visit/presettle" '{}'
expect 200
echo "   fund pays $(pick '["amounts"]["fund_pay_sumamt"]'), patient pays $(pick '["amounts"]["psn_part_amt"]')"
echo

echo "== 5. settle at discharge"
# 200 settled; 202 when the platform's answer was lost (state "unknown"): never settle
# again, look the settlement up until posad has resolved it.
settle_body="{\"discharge\": {\"time\": \"$(TZ=UTC-8 date '+%Y-%m-%d %H:%M:%S')\", \"reason\": \"1\"}}"
call POST "/v1/visits/$visit/settle" "$settle_body" "settle-$run"
expect 200 202
settlement=$(pick '["settlement_id"]')
echo "   settlement $settlement: $(pick '["state"]')"
echo

echo "== 5b. the same settle again with the same key and body: the first answer, not a second settlement"
call POST "/v1/visits/$visit/settle" "$settle_body" "settle-$run"
expect 200 202
[ "$(pick '["settlement_id"]')" = "$settlement" ] || { echo "!!! a second settlement" >&2; exit 1; }
echo

echo "== 6. the settlement as posad keeps it (state, amounts, history)"
call GET "/v1/settlements/$settlement"
expect 200
echo

echo "== 7. the printable settlement statement (HTML, A4; open it in a browser and print)"
mkdir -p "$(dirname "$statement")"
code=$(curl "${curl_args[@]}" -o "$statement" -w '%{http_code}' \
    "$url/v1/documents/settlement/$settlement")
echo ">>> GET /v1/documents/settlement/$settlement"
echo "<<< HTTP $code, saved $statement ($(wc -c <"$statement") bytes)"
[ "$code" = 200 ] || exit 1
echo
echo "done: visit $visit settled as $settlement"
