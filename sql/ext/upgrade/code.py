#!/usr/bin/env python3
"""Prints the code statements of an extension install script, made re-runnable, for an upgrade
script: every function, aggregate and view as CREATE OR REPLACE, grants and revokes on
functions, comments and the final wake-up call. Tables, types, indexes, policies, roles and
pg_extension_config_dump calls are left out: an upgrade script changes those by hand (see the
.pre.sql / .post.sql files next to this one).

    code.py < pg_pulse--0.2.0.sql

Statements are split on ';' outside quotes, dollar quotes and comments.
"""
import re
import sys


def statements(text):
    out, cur, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            cur.append(text[i:j])
            i = j
        elif c == "'":
            j = i + 1
            while j < n:
                if text[j] == "'" and j + 1 < n and text[j + 1] == "'":
                    j += 2
                elif text[j] == "'":
                    break
                else:
                    j += 1
            cur.append(text[i:j + 1])
            i = j + 1
        elif c == "$":
            m = re.match(r"\$[A-Za-z_0-9]*\$", text[i:])
            if m:
                tag = m.group(0)
                j = text.find(tag, i + len(tag))
                j = n if j < 0 else j + len(tag)
                cur.append(text[i:j])
                i = j
            else:
                cur.append(c)
                i += 1
        elif c == ";":
            out.append("".join(cur).strip())
            cur = []
            i += 1
        else:
            cur.append(c)
            i += 1
    rest = "".join(cur).strip()
    if rest:
        out.append(rest)
    return out


def code(stmt):
    # the statement without its leading comments (those inside it stay)
    lines = stmt.splitlines()
    while lines and (not lines[0].strip() or lines[0].strip().startswith("--")):
        lines.pop(0)
    body = "\n".join(lines).strip()
    head = " ".join(body.split()[:4]).upper()
    if head.startswith("\\ECHO"):
        return None
    for kind in ("FUNCTION", "AGGREGATE", "VIEW"):
        if head.startswith("CREATE " + kind):
            return re.sub(r"^CREATE\s+" + kind, "CREATE OR REPLACE " + kind, body, count=1)
    if re.match(r"^(GRANT|REVOKE)\b.*\bON\s+(ALL\s+)?FUNCTIONS?\b", body, re.S | re.I):
        return body
    if head.startswith("COMMENT ON"):
        return body
    if body.upper().startswith("SELECT PULSE._WAKE()"):
        return body
    return None


def main():
    for s in statements(sys.stdin.read()):
        c = code(s)
        if c:
            print(c + ";\n")


main()
