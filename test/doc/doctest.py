#!/usr/bin/env python3
"""Runs the SQL examples of the documentation and compares their output with the page.

    doctest.py [--update] PAGE.md ...

Each page runs top to bottom in a database of its own (created with pg_pulse installed, dropped
afterwards), as a superuser, with TimeZone = 'UTC', \\pset null '∅', no row-count footers and
no CONTEXT lines in error messages (\\set SHOW_CONTEXT never): the conventions the pages
state. A ```sql block runs as a whole; when the next block is a plain ``` block, it is the
expected output of the block's *last* statement (the statements before it run, their output is
not shown). Lines are compared with trailing blanks removed; psql's
"psql:file:line: " prefix of errors is dropped.

Directives, as HTML comments on the line before a block (invisible on the rendered page):

    <!-- doctest: skip (why) -->        the next sql block is not run (needs a Kafka broker,
                                        changes the server's configuration, ...)
    <!-- doctest: no-output -->         the next sql block runs; the block after it is not its
                                        output (an illustration)
    <!-- doctest: mask REGEX -->        in the next comparison, what REGEX matches (in both) is
                                        replaced by '…' (times, ids that vary from run to run)
    <!-- doctest: setup
    SQL ...
    -->                                 hidden SQL run at that point (roles, pinned data)

and, anywhere on a page:

    <!-- doctest: page skip (why) -->   the whole page is not run
    <!-- doctest: page no-extension --> the page's database starts without pg_pulse
    <!-- doctest: page extensions hll -->  more extensions created first

With --update, the expected blocks of the page are rewritten with the actual output (review the
diff before committing it). Exit status 0 when every page matches.
"""
import os
import re
import subprocess
import sys

MARK = "@@doctest@@"


def split_statements(sql):
    """Statements of a block: SQL split on ';' outside quotes, dollar quotes and comments;
    backslash meta-commands are statements of their own line."""
    out, cur, i, n = [], [], 0, len(sql)
    at_line_start = True
    while i < n:
        c = sql[i]
        if at_line_start and c == "\\" and not "".join(cur).strip():
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].strip())
            cur = []
            i = j + 1
            continue
        at_line_start = c == "\n" or (at_line_start and c in " \t")
        if c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            cur.append(sql[i:j])
            i = j
        elif c == "'":
            j = i + 1
            while j < n:
                if sql[j] == "'" and j + 1 < n and sql[j + 1] == "'":
                    j += 2
                elif sql[j] == "'":
                    break
                else:
                    j += 1
            cur.append(sql[i:j + 1])
            i = j + 1
        elif c == "$":
            m = re.match(r"\$[A-Za-z_0-9]*\$", sql[i:])
            if m:
                tag = m.group(0)
                j = sql.find(tag, i + len(tag))
                j = n if j < 0 else j + len(tag)
                cur.append(sql[i:j])
                i = j
            else:
                cur.append(c)
                i += 1
        elif c == ";":
            cur.append(";")
            out.append("".join(cur).strip())
            cur = []
            i += 1
            at_line_start = False
        else:
            cur.append(c)
            i += 1
    rest = "".join(cur).strip()
    # a trailing comment is no statement
    if rest and not all(l.strip().startswith("--") or not l.strip() for l in rest.splitlines()):
        out.append(rest)
    return [s for s in out if s and not all(l.strip().startswith("--") or not l.strip() for l in s.splitlines())]


class Block:
    def __init__(self, kind, text, start, end, directives):
        self.kind, self.text, self.start, self.end = kind, text, start, end
        self.directives = directives


def parse(page):
    """The fenced blocks of a page (kind 'sql' or 'out' or other) and the directives before each,
    plus the page directives and setup comments (as pseudo-blocks of kind 'setup')."""
    lines = page.split("\n")
    blocks, pending, i = [], [], 0
    page_directives = re.findall(r"<!-- doctest: page (.*?) -->", page)
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*<!-- doctest: setup\s*$", line)
        if m:
            j = i + 1
            while j < len(lines) and lines[j].strip() != "-->":
                j += 1
            blocks.append(Block("setup", "\n".join(lines[i + 1:j]), i, j, []))
            i = j + 1
            continue
        m = re.match(r"\s*<!-- doctest: (skip|no-output|mask)\b\s*(.*?)\s*-->\s*$", line)
        if m:
            pending.append((m.group(1), m.group(2)))
            i += 1
            continue
        m = re.match(r"^(\s*)```(\w*)\s*$", line)
        if m:
            indent, lang = m.group(1), m.group(2)
            j = i + 1
            while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
                j += 1
            body = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[i + 1:j]]
            kind = "sql" if lang == "sql" else ("out" if lang == "" else lang)
            blocks.append(Block(kind, "\n".join(body), i, j, pending))
            pending = []
            i = j + 1
            continue
        if line.strip():
            pending = [p for p in pending if p[0] == "mask"] if False else pending
        i += 1
    return blocks, page_directives


def psql(args, script):
    env = dict(os.environ)
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=0"] + args, input=script, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    return p.returncode, p.stdout


def clean(text):
    lines = [re.sub(r"^psql:[^:\n]*:\d+: ", "", l).rstrip() for l in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def run_page(path, update):
    page = open(path, encoding="utf-8").read()
    blocks, page_directives = parse(page)
    if any(d.startswith("skip") for d in page_directives):
        return 0, 0, []
    db = "doctest_" + re.sub(r"[^a-z0-9]+", "_", os.path.relpath(path).lower()).strip("_")
    psql(["-d", "postgres"], f"SET client_min_messages = warning;\nDROP DATABASE IF EXISTS {db};\nCREATE DATABASE {db};\n")
    pre = ["SET client_min_messages = warning;"]
    for d in page_directives:
        if d.startswith("extensions"):
            for e in d.split()[1:]:
                pre.append(f"CREATE EXTENSION IF NOT EXISTS {e};")
    if "no-extension" not in page_directives:
        pre.append("CREATE EXTENSION IF NOT EXISTS pg_pulse;")
    pre += ["RESET client_min_messages;", "SET TimeZone = 'UTC';", "\\pset null '∅'", "\\pset footer off",
            "\\set SHOW_CONTEXT never"]
    script = list(pre)
    checks = []  # (index of the sql block, index of its output block, masks)
    k = 0
    while k < len(blocks):
        b = blocks[k]
        if b.kind == "setup":
            script += ["\\o /dev/null", b.text, "\\o"]
        elif b.kind == "sql":
            kinds = [d[0] for d in b.directives]
            if "skip" in kinds:
                k += 1
                if k < len(blocks) and blocks[k].kind == "out":
                    k += 1
                continue
            stmts = split_statements(b.text)
            script.append(f"\\echo {MARK} block {k}")
            out = blocks[k + 1] if k + 1 < len(blocks) and blocks[k + 1].kind == "out" and blocks[k + 1].start == b.end + 1 else None
            if "no-output" in kinds:
                out = None
            if out is None:
                script += ["\\o /dev/null"] + stmts + ["\\o"]
            else:
                script += ["\\o /dev/null"] + stmts[:-1] + ["\\o", f"\\echo {MARK} {len(checks)}"] + stmts[-1:] + [f"\\echo {MARK} end"]
                masks = [d[1] for d in b.directives if d[0] == "mask"] + [d[1] for d in out.directives if d[0] == "mask"]
                checks.append((k, k + 1, masks))
        k += 1
    _, output = psql(["-d", db], "\n".join(script) + "\n")
    psql(["-d", "postgres"], f"SET client_min_messages = warning;\nDROP DATABASE IF EXISTS {db};\n")
    got = {}
    cur = None
    block = None
    errors = []  # (block index, error line): statements whose output is not shown must not fail
    for line in output.split("\n"):
        m = re.match(re.escape(MARK) + r" block (\d+)$", line)
        if m:
            block = int(m.group(1))
            continue
        m = re.match(re.escape(MARK) + r" (\S+)$", line)
        if m:
            cur = None if m.group(1) == "end" else int(m.group(1))
            if cur is not None:
                got[cur] = []
            continue
        if cur is not None:
            got[cur].append(line)
        elif re.match(r"^(psql:[^:]*:\d+: )?(ERROR|FATAL|PANIC):", line):
            errors.append((block, re.sub(r"^psql:[^:]*:\d+: ", "", line)))
    failures = []
    for bi, err in errors:
        blk = blocks[bi] if bi is not None else Block("sql", "(the page's set-up)", -1, -1, [])
        failures.append((blk, ["(no error)"], [err]))
    replacements = []
    for n, (si, oi, masks) in enumerate(checks):
        actual = clean("\n".join(got.get(n, ["(no output: the block did not run to its last statement)"])))
        expected = clean(blocks[oi].text)
        a, e = list(actual), list(expected)
        for rx in masks:
            a = [re.sub(rx, "…", l) for l in a]
            e = [re.sub(rx, "…", l) for l in e]
        if a != e:
            failures.append((blocks[si], expected, actual))
            replacements.append((blocks[oi], actual))
    if update and replacements:
        lines = page.split("\n")
        for blk, actual in sorted(replacements, key=lambda r: -r[0].start):
            indent = re.match(r"^(\s*)", lines[blk.start]).group(1)
            lines[blk.start + 1:blk.end] = [indent + l if l else l for l in actual]
        open(path, "w", encoding="utf-8").write("\n".join(lines))
    return len(checks) + len(errors), len(failures), failures


def main():
    args = sys.argv[1:]
    update = "--update" in args
    pages = [a for a in args if a != "--update"]
    total = bad = 0
    for path in pages:
        n, f, failures = run_page(path, update)
        total += n
        bad += f
        status = "ok" if f == 0 else f"{f} of {n} differ"
        print(f"{path}: {n} examples, {status}")
        for blk, expected, actual in failures:
            print(f"  --- {path}:{blk.start + 1}: the output of\n" + "\n".join("    " + l for l in blk.text.split("\n")[-6:]))
            print("  expected:\n" + "\n".join("    " + l for l in expected[:30]))
            print("  actual:\n" + "\n".join("    " + l for l in actual[:30]))
    print(f"doctest: {total} examples, {bad} differ")
    sys.exit(1 if bad else 0)


main()
