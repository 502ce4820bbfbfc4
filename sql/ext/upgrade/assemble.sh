#!/usr/bin/env bash
# Prints the upgrade script from release FROM to the current release TO:
#
#   assemble.sh FROM TO < pg_pulse--TO.sql
#
# The steps FROM--X, X--Y, ..., --TO (each a sql/ext/upgrade/A--B.pre.sql and .post.sql) are
# followed from FROM; the script is every step's .pre.sql in order, then the code of TO
# (code.py over TO's install script, read from stdin), then every step's .post.sql in order.
# So each older release updates straight to the current code: no intermediate release's code is
# ever loaded (it could name library functions the current library no longer has).
set -euo pipefail
from=$1 to=$2
dir=$(dirname "${BASH_SOURCE[0]}")
steps=()
v=$from
while [ "$v" != "$to" ]; do
    next=$(cd "$dir" && ls -- "$v"--*.pre.sql 2>/dev/null | sed -E "s/^.*--(.*)\.pre\.sql$/\1/" | head -1)
    [ -n "$next" ] || { echo "assemble.sh: no upgrade step from $v (on the way from $from to $to)" >&2; exit 1; }
    steps+=("$v--$next")
    v=$next
done
for s in "${steps[@]}"; do cat "$dir/$s.pre.sql"; done
python3 "$dir/code.py"
for s in "${steps[@]}"; do cat "$dir/$s.post.sql"; done
