#!/usr/bin/env bash
# Run every test suite of pg_pulse, from the repo root, as root (like CI):
#
#   bash test/run_all.sh                 all stages
#   bash test/run_all.sh regress pgtap   only these (of: unit regress pgtap security
#                                        integration); the extension is built and installed,
#                                        and the cluster started, whenever a stage other than
#                                        unit is asked for
#
# Stages: unit (cmake + ctest), build (make && make install), cluster (test/cluster.sh
# start + createdb pulse_test), regress (pg_regress over $(REGRESS)), pgtap (pg_prove per
# test/pgtap/*.sql), security (pg_prove per test/security/NN_*.sql: hostile login roles),
# integration (each executable test/integration/*.sh). The cluster is
# always stopped at the end (PULSE_KEEP_CLUSTER=1 leaves it running for debugging).
#
# The last line is `N passed, N failed` (ctest tests + regress tests + pgTAP files + security
# files + integration scripts, +1 failed for each stage that could not run). Exit 0 iff nothing
# failed and something passed. Build logs go to build/logs/.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
# shellcheck source=test/lib.sh
. "$REPO/test/lib.sh"

LOGDIR=$REPO/build/logs
mkdir -p "$LOGDIR"
REGRESS_IN=$PULSE_TEST_DIR/regress_in
REGRESS_OUT=$PULSE_TEST_DIR/regress
PG_REGRESS=${PG_REGRESS:-$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress}
TEST_DB=pulse_test

# ---------------------------------------------------------------- bookkeeping
TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()          # one printable line per stage
STAGE_T0=0

stage_begin() {
    STAGE_T0=$(now)
    echo
    echo "=== $1 ==="
}

# stage_end NAME PASSED FAILED [NOTE]
stage_end() {
    local secs
    secs=$(elapsed "$STAGE_T0" "$(now)")
    TOTAL_PASS=$((TOTAL_PASS + $2))
    TOTAL_FAIL=$((TOTAL_FAIL + $3))
    SUMMARY+=("$(printf '  %-12s %4d passed, %d failed  (%ss)%s' "$1:" "$2" "$3" "$secs" "${4:+  $4}")")
}

# stage_note NAME TEXT: a stage that counts nothing (build, cluster, skipped stages)
stage_note() {
    local secs
    secs=$(elapsed "$STAGE_T0" "$(now)")
    SUMMARY+=("$(printf '  %-12s %s  (%ss)' "$1:" "$2" "$secs")")
}

finish() {
    stop_cluster
    echo
    echo "=== summary ==="
    printf '%s\n' "${SUMMARY[@]}"
    echo "  total time: $(elapsed "$RUN_T0" "$(now)")s"
    echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
    if [ "$TOTAL_FAIL" -eq 0 ] && [ "$TOTAL_PASS" -gt 0 ]; then
        exit 0
    fi
    exit 1
}

CLUSTER_STARTED=0
stop_cluster() {
    if [ "$CLUSTER_STARTED" = 1 ]; then
        CLUSTER_STARTED=0
        if [ "${PULSE_KEEP_CLUSTER:-0}" = 1 ]; then
            echo "(cluster left running: PULSE_KEEP_CLUSTER=1; stop with: bash test/cluster.sh stop)"
        else
            bash "$REPO/test/cluster.sh" stop || echo "warning: cluster stop failed" >&2
        fi
    fi
}
trap stop_cluster EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

# show_tail FILE [LINES]: for a failed step, the first error lines of its log, then its end
show_tail() {
    if grep -qE 'error|Error' "$1"; then
        echo "--- first errors in $1 ---"
        grep -E -m 15 'error|Error' "$1"
    fi
    echo "--- last ${2:-80} lines of $1 ---"
    tail -n "${2:-80}" "$1"
    echo "--- end of $1 ---"
}

# ---------------------------------------------------------------- which stages
WANT_FORMAT=1 WANT_UNIT=1 WANT_REGRESS=1 WANT_PGTAP=1 WANT_SECURITY=1 WANT_DOCS=1 WANT_INTEGRATION=1
if [ $# -gt 0 ]; then
    WANT_FORMAT=0 WANT_UNIT=0 WANT_REGRESS=0 WANT_PGTAP=0 WANT_SECURITY=0 WANT_DOCS=0 WANT_INTEGRATION=0
    for a in "$@"; do
        case "$a" in
            format) WANT_FORMAT=1 ;;
            unit) WANT_UNIT=1 ;;
            regress) WANT_REGRESS=1 ;;
            pgtap) WANT_PGTAP=1 ;;
            security) WANT_SECURITY=1 ;;
            docs) WANT_DOCS=1 ;;
            integration) WANT_INTEGRATION=1 ;;
            *) echo "usage: $0 [format] [unit] [regress] [pgtap] [security] [docs] [integration]" >&2; exit 2 ;;
        esac
    done
fi
NEED_SERVER=$((WANT_REGRESS + WANT_PGTAP + WANT_SECURITY + WANT_DOCS + WANT_INTEGRATION))

RUN_T0=$(now)
echo "pg_pulse: running tests in $REPO"

# ---------------------------------------------------------------- format (.clang-format)
run_format() {
    stage_begin "C++ format (clang-format --dry-run --Werror, .clang-format)"
    local files out
    if ! command -v clang-format >/dev/null; then
        echo "clang-format is not installed (Debian package clang-format)"
        stage_end format 0 1 "clang-format missing"
        return
    fi
    mapfile -t files < <(find src test/unit -name '*.cc' -o -name '*.h' | sort)
    if out=$(clang-format --dry-run --Werror "${files[@]}" 2>&1); then
        echo "${#files[@]} files formatted as .clang-format says"
        stage_end format 1 0
    else
        echo "$out" | grep -E "^[^ ].*(warning|error):" | head -20
        echo "format: run clang-format -i on the files above"
        stage_end format 0 1 "not formatted: $(echo "$out" | grep -cE '^[^ ].*(warning|error):') places"
    fi
}

# ---------------------------------------------------------------- a. unit tests
run_unit() {
    stage_begin "unit tests (cmake + ctest)"
    if [ ! -f CMakeLists.txt ]; then
        echo "no CMakeLists.txt; skipped"
        stage_note unit "skipped (no CMakeLists.txt)"
        return
    fi
    if ! cmake -S . -B build/unit -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$LOGDIR/unit-configure.log" 2>&1; then
        show_tail "$LOGDIR/unit-configure.log" 60
        echo "unit: cmake configure FAILED"
        stage_end unit 0 1 "cmake configure failed"
        return
    fi
    if ! cmake --build build/unit -j2 >"$LOGDIR/unit-build.log" 2>&1; then
        show_tail "$LOGDIR/unit-build.log" 40
        echo "unit: build FAILED"
        stage_end unit 0 1 "build failed"
        return
    fi
    echo "built (log: build/logs/unit-build.log)"
    local rc line failed total
    ctest --test-dir build/unit --output-on-failure --timeout 300 2>&1 | tee "$LOGDIR/ctest.log"
    rc=${PIPESTATUS[0]}
    line=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$LOGDIR/ctest.log" | tail -n 1)
    if [ -n "$line" ]; then
        failed=$(echo "$line" | awk '{print $1}')
        total=$(echo "$line" | awk '{print $NF}')
        if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
            stage_end unit "$total" 1 "ctest exit $rc"
        else
            stage_end unit $((total - failed)) "$failed"
        fi
    elif grep -q 'No tests were found' "$LOGDIR/ctest.log" && [ "$rc" -eq 0 ]; then
        stage_end unit 0 0 "no tests found"
    else
        stage_end unit 0 1 "ctest exit $rc, no result line"
    fi
}

# ---------------------------------------------------------------- b. build + install
run_build() {
    stage_begin "build and install the extension (make && make install)"
    if ! make -j2 PG_CONFIG="$PG_CONFIG" >"$LOGDIR/make.log" 2>&1; then
        show_tail "$LOGDIR/make.log" 40
        echo "build: make FAILED"
        stage_end build 0 1 "make failed (build/logs/make.log)"
        finish
    fi
    if ! make install PG_CONFIG="$PG_CONFIG" >"$LOGDIR/make-install.log" 2>&1; then
        show_tail "$LOGDIR/make-install.log" 40
        echo "build: make install FAILED"
        stage_end build 0 1 "make install failed (build/logs/make-install.log)"
        finish
    fi
    echo "built and installed into $("$PG_CONFIG" --pkglibdir) (logs: build/logs/make*.log)"
    stage_note build "ok"
}

# ---------------------------------------------------------------- c. cluster
run_cluster() {
    stage_begin "throwaway cluster (test/cluster.sh start, createdb $TEST_DB)"
    CLUSTER_STARTED=1
    if ! bash "$REPO/test/cluster.sh" start; then
        echo "cluster: start FAILED"
        stage_end cluster 0 1 "start failed (see $PULSE_TEST_LOG)"
        finish
    fi
    pulse_client_env
    if ! "$PGBIN/createdb" "$TEST_DB"; then
        echo "cluster: createdb $TEST_DB FAILED"
        stage_end cluster 0 1 "createdb failed"
        finish
    fi
    echo "running on $PULSE_TEST_DIR port $PULSE_TEST_PORT; database $TEST_DB created"
    stage_note cluster "ok"
}

# ---------------------------------------------------------------- d. pg_regress
regress_tests() {
    local out rc
    out=$(make -s --no-print-directory print-regress PG_CONFIG="$PG_CONFIG" 2>/dev/null)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "$out" | tr -s ' \t' '\n' | sed '/^$/d'
    else
        echo "(no print-regress target in the Makefile; using sql/*.sql)" >&2
        find sql -maxdepth 1 -name '*.sql' -printf '%f\n' 2>/dev/null | sed 's/\.sql$//' | sort
    fi
}

run_regress() {
    stage_begin "regression tests (pg_regress)"
    local tests
    mapfile -t tests < <(regress_tests)
    if [ "${#tests[@]}" -eq 0 ]; then
        echo "no regression tests; skipped"
        stage_note regress "skipped (no tests)"
        return
    fi
    # pg_regress runs as the postgres OS user, who may not read the repo: copy its inputs.
    rm -rf "$REGRESS_IN" "$REGRESS_OUT"
    mkdir -p "$REGRESS_IN"
    local d
    for d in sql expected input output data; do
        [ -d "$d" ] && cp -r "$d" "$REGRESS_IN/"
    done
    mkdir -p "$REGRESS_IN/expected"
    # A test without expected output would make pg_regress abort the whole run: give it an
    # empty one instead, so it fails alone and its diff shows the full output.
    local t
    for t in "${tests[@]}"; do
        if [ ! -f "expected/$t.out" ] && [ ! -f "output/$t.source" ]; then
            echo "note: expected/$t.out is missing; the test will fail (its output: $REGRESS_OUT/results/$t.out)"
            : >"$REGRESS_IN/expected/$t.out"
        fi
    done
    if [ "$(id -u)" -eq 0 ]; then
        chown -R "$PULSE_PG_USER:$PULSE_PG_USER" "$REGRESS_IN"
    fi
    pg_owned_dir "$REGRESS_OUT" 0755

    local rc
    as_pg timeout 1200 "$PG_REGRESS" \
        --bindir="$PGBIN" \
        --inputdir="$REGRESS_IN" \
        --outputdir="$REGRESS_OUT" \
        --host="$PULSE_TEST_DIR" --port="$PULSE_TEST_PORT" --user=postgres \
        --dbname=contrib_regression \
        "${tests[@]}" 2>&1 | tee "$LOGDIR/regress.log"
    rc=${PIPESTATUS[0]}

    # PG15: "test name   ... ok   12 ms", "     name ... FAILED   12 ms",
    # "... failed (ignored)" (counted as passed, like pg_regress does).
    local passed failed
    passed=$(grep -Ec '^(test +| +)?[^ ]+ +\.\.\. +(ok|failed \(ignored\))' "$LOGDIR/regress.log")
    failed=$(grep -Ec '^(test +| +)?[^ ]+ +\.\.\. +FAILED' "$LOGDIR/regress.log")
    if [ -f "$REGRESS_OUT/regression.diffs" ] && [ -s "$REGRESS_OUT/regression.diffs" ]; then
        echo "--- regression.diffs (first 300 lines; full file: $REGRESS_OUT/regression.diffs) ---"
        head -n 300 "$REGRESS_OUT/regression.diffs"
        echo "--- end of regression.diffs (results in $REGRESS_OUT/results) ---"
    fi
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        if [ "$rc" -eq 124 ]; then
            stage_end regress "$passed" 1 "pg_regress timed out"
        else
            stage_end regress "$passed" 1 "pg_regress exit $rc"
        fi
    else
        stage_end regress "$passed" "$failed"
    fi
}

# ---------------------------------------------------------------- e. pgTAP
run_pgtap() {
    stage_begin "pgTAP (pg_prove, one run per file)"
    local files f rc passed=0 failed=0 bad=()
    mapfile -t files < <(find test/pgtap -maxdepth 1 -name '*.sql' 2>/dev/null | sort)
    if [ "${#files[@]}" -eq 0 ]; then
        echo "no test/pgtap/*.sql; skipped"
        stage_note pgtap "skipped (no files)"
        return
    fi
    if ! command -v pg_prove >/dev/null; then
        echo "pg_prove not found (package libtap-parser-sourcehandler-pgtap-perl)"
        stage_end pgtap 0 "${#files[@]}" "pg_prove missing"
        return
    fi
    for f in "${files[@]}"; do
        timeout 600 pg_prove --psql-bin "$PGBIN/psql" -h "$PULSE_TEST_DIR" -p "$PULSE_TEST_PORT" \
            -U postgres -d "$TEST_DB" "$f" </dev/null
        rc=$?
        if [ "$rc" -eq 0 ]; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            bad+=("$(basename "$f")")
            [ "$rc" -eq 124 ] && echo "$f: timed out after 600s"
        fi
    done
    stage_end pgtap "$passed" "$failed" "${bad[*]:+failed: ${bad[*]}}"
}

# ---------------------------------------------------------------- f. security
# test/security/NN_*.sql: pgTAP files run as a superuser that open real login sessions of
# hostile project roles (dblink) and assert that none of them gains anything.
run_security() {
    stage_begin "security suite (test/security, hostile login roles)"
    local files f rc passed=0 failed=0 bad=()
    mapfile -t files < <(find test/security -maxdepth 1 -name '[0-9]*.sql' 2>/dev/null | sort)
    if [ "${#files[@]}" -eq 0 ]; then
        stage_note security "skipped (no files)"
        return
    fi
    for f in "${files[@]}"; do
        timeout 600 pg_prove --psql-bin "$PGBIN/psql" -h "$PULSE_TEST_DIR" -p "$PULSE_TEST_PORT" \
            -U postgres -d "$TEST_DB" "$f" </dev/null
        rc=$?
        if [ "$rc" -eq 0 ]; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            bad+=("$(basename "$f")")
        fi
    done
    stage_end security "$passed" "$failed" "${bad[*]:+failed: ${bad[*]}}"
}

# ---------------------------------------------------------------- docs (every example checked)
run_docs() {
    stage_begin "documentation examples (test/doc/doctest.py over README.md and docs/*.md)"
    local out line n bad
    out=$(timeout 600 python3 test/doc/doctest.py README.md docs/*.md 2>&1)
    echo "$out" | tail -n 60
    line=$(echo "$out" | grep -E '^doctest: [0-9]+ examples, [0-9]+ differ$' | tail -1)
    if [ -z "$line" ]; then
        stage_end docs 0 1 "the runner did not finish"
        return
    fi
    n=$(echo "$line" | sed -E 's/^doctest: ([0-9]+) examples.*/\1/')
    bad=$(echo "$line" | sed -E 's/.* ([0-9]+) differ$/\1/')
    stage_end docs "$((n - bad))" "$bad" "$([ "$bad" -gt 0 ] && echo "$bad examples differ from their page")"
}

# ---------------------------------------------------------------- g. integration
run_integration() {
    stage_begin "integration scripts (test/integration/*.sh)"
    local files f rc passed=0 failed=0 bad=() t0
    mapfile -t files < <(find test/integration -maxdepth 1 -name '*.sh' 2>/dev/null | sort)
    local runnable=()
    for f in "${files[@]}"; do
        if [ -x "$f" ]; then
            runnable+=("$f")
        else
            echo "WARNING: $f is not executable and is not run (chmod +x it if it is a test)"
        fi
    done
    if [ "${#runnable[@]}" -eq 0 ]; then
        echo "no executable test/integration/*.sh; skipped"
        stage_note integration "skipped (no scripts)"
        return
    fi
    # The partitioned variants: these scripts run a second time with every collection they
    # create partitioned by day (pulse.partition_by, set for the whole server so that the Kafka
    # and view workers see it too); each checks that its collections are partitioned then.
    local variants=(views_refresher views_stress kafka_json kafka_avro cancels)
    local jobs=() v
    for f in "${runnable[@]}"; do jobs+=("$f|"); done
    for v in "${variants[@]}"; do
        [ -x "test/integration/$v.sh" ] && jobs+=("test/integration/$v.sh|day")
    done
    local job part name
    for job in "${jobs[@]}"; do
        f=${job%%|*}
        part=${job#*|}
        name=$(basename "$f")${part:+ (partitioned by $part)}
        echo "--- $f${part:+ (collections partitioned by $part)} ---"
        t0=$(now)
        if [ -n "$part" ]; then
            psql -qXAt -h "$PULSE_TEST_DIR" -p "$PULSE_TEST_PORT" -U postgres -d postgres \
                -c "ALTER SYSTEM SET pulse.partition_by = '$part'" -c "SELECT pg_reload_conf()" >/dev/null
            sleep 0.5
        fi
        env PGHOST="$PULSE_TEST_DIR" PGPORT="$PULSE_TEST_PORT" PGUSER=postgres \
            PGDATABASE="$TEST_DB" PULSE_REPO="$REPO" PGBIN="$PGBIN" PG_CONFIG="$PG_CONFIG" \
            PULSE_TEST_DIR="$PULSE_TEST_DIR" PULSE_TEST_PGDATA="$PULSE_TEST_PGDATA" \
            PULSE_TEST_PORT="$PULSE_TEST_PORT" PULSE_TEST_LOG="$PULSE_TEST_LOG" \
            PULSE_TEST_PARTITION_BY="$part" \
            timeout 600 "$f" </dev/null
        rc=$?
        if [ -n "$part" ]; then
            psql -qXAt -h "$PULSE_TEST_DIR" -p "$PULSE_TEST_PORT" -U postgres -d postgres \
                -c "ALTER SYSTEM RESET pulse.partition_by" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
        fi
        if [ "$rc" -eq 0 ]; then
            passed=$((passed + 1))
            echo "--- $f${part:+ (partitioned by $part)}: ok ($(elapsed "$t0" "$(now)")s) ---"
        else
            failed=$((failed + 1))
            bad+=("$name")
            if [ "$rc" -eq 124 ]; then
                echo "--- $name: FAILED (timed out after 600s) ---"
            else
                echo "--- $name: FAILED (exit $rc, $(elapsed "$t0" "$(now)")s) ---"
            fi
        fi
        # A script may stop or crash the server: bring it back (same data) for the next one.
        if ! bash "$REPO/test/cluster.sh" status >/dev/null 2>&1; then
            echo "(server is down after $f; restarting it)"
            bash "$REPO/test/cluster.sh" restart || echo "warning: restart failed" >&2
        fi
    done
    stage_end integration "$passed" "$failed" "${bad[*]:+failed: ${bad[*]}}"
}

# A backend killed by a signal that no test sent (a crash), an exception or a PANIC in the
# server log fails the run. Tests that kill a backend on purpose append its pid to
# $PULSE_TEST_DIR/killed_pids.
check_server_log() {
    stage_begin "server log (crashes no test caused)"
    [ -f "$PULSE_TEST_LOG" ] || { stage_note "server log" "no log"; return 0; }
    local killed="$PULSE_TEST_DIR/killed_pids" line pid bad=0 expected=0
    touch "$killed"
    while IFS= read -r line; do
        pid=$(echo "$line" | grep -oE '\(PID [0-9]+\)' | grep -oE '[0-9]+')
        if [ -n "$pid" ] && grep -qx "$pid" "$killed" && [[ "$line" == *"terminated by signal 9"* ]]; then
            expected=$((expected + 1))
        else
            echo "crash: $line"
            bad=$((bad + 1))
        fi
    done < <(grep -E 'terminated by signal|was terminated by exception|PANIC:' "$PULSE_TEST_LOG")
    if [ "$bad" -gt 0 ]; then
        stage_end "server log" 0 1 "$bad crash(es) no test caused"
    else
        stage_end "server log" 1 0 "$expected expected kill(s)"
    fi
}

# ---------------------------------------------------------------- main
[ "$WANT_FORMAT" = 1 ] && run_format
[ "$WANT_UNIT" = 1 ] && run_unit
if [ "$NEED_SERVER" -gt 0 ]; then
    run_build
    run_cluster
    [ "$WANT_REGRESS" = 1 ] && run_regress
    [ "$WANT_PGTAP" = 1 ] && run_pgtap
    [ "$WANT_SECURITY" = 1 ] && run_security
    [ "$WANT_DOCS" = 1 ] && run_docs
    [ "$WANT_INTEGRATION" = 1 ] && run_integration
    check_server_log
fi
finish
