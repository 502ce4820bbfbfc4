// Column types as src/core sees them (core/column_type.h), read from Postgres' catalog: a
// column's type oid and typmod give its class, its array-ness and its limits. The one place
// that knows which Postgres types pg_pulse checks itself; src/core never parses a type name.
#pragma once

#include "core/column_type.h"
#include "pg/guard.h"

namespace pulse::pg {

// The ColumnType of a column of type typid with modifier typmod (atttypmod, -1 for none), under
// its own guard. text, varchar(n), char(n) (bpchar), name and the citext extension's type are
// text, n characters at most; float8, float4, numeric(p,s), int2, int4, int8, bool,
// timestamptz, timestamp, date, json, jsonb, uuid and bytea have classes of their own (any
// precision); a true array type is an array of its element's class, its typmod applying to the
// element. Every other type is kOther, domains included: Postgres checks their values (and
// constraints) itself, never pg_pulse by their base type. pg_name is format_type's text.
ColumnType column_type(Oid typid, int32 typmod);

}  // namespace pulse::pg
