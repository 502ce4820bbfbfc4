// Column types from the catalog (see type_class.h): the class of a type oid, limits from its
// typmod, arrays through their element type.
#include "pg/type_class.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace pulse::pg {
namespace {

// What column_type learns under the guard: plain values only, as an error may longjmp past it.
struct TypeFacts {
  TypeClass cls;
  bool is_array;
  int32 max_chars;
  int32 numeric_precision;
  int32 numeric_scale;
  char* pg_name;  // palloc'd
  Oid binary_oid;
  bool jsonb;
};

// The types whose values pg_pulse sends in binary COPY form (column_type.h: binary_oid).
bool binary_form(Oid typid) {
  switch (typid) {
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID:
    case FLOAT8OID:
    case FLOAT4OID:
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case BOOLOID:
    case TIMESTAMPTZOID:
    case TIMESTAMPOID:
    case DATEOID:
    case JSONOID:
    case JSONBOID:
    case UUIDOID:
    case BYTEAOID:
      return true;
    default:
      return false;
  }
}

// Whether typid is the type of the citext extension (named citext, a member of the extension).
bool is_citext(Oid typid) {
  HeapTuple tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
  if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for type %u", typid);
  bool named = strcmp(NameStr(((Form_pg_type)GETSTRUCT(tup))->typname), "citext") == 0;
  ReleaseSysCache(tup);
  if (!named) return false;
  Oid ext = get_extension_oid("citext", true);
  return OidIsValid(ext) && getExtensionOfObject(TypeRelationId, typid) == ext;
}

// The class of a type that is not an array (a domain is its own type: kOther).
TypeClass scalar_class(Oid typid) {
  switch (typid) {
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID:
    case NAMEOID:
      return TypeClass::kText;
    case FLOAT8OID:
      return TypeClass::kDouble;
    case FLOAT4OID:
      return TypeClass::kReal;
    case NUMERICOID:
      return TypeClass::kNumeric;
    case INT2OID:
      return TypeClass::kInt2;
    case INT4OID:
      return TypeClass::kInt4;
    case INT8OID:
      return TypeClass::kInt8;
    case BOOLOID:
      return TypeClass::kBool;
    case TIMESTAMPTZOID:
      return TypeClass::kTimestamptz;
    case TIMESTAMPOID:
      return TypeClass::kTimestamp;
    case DATEOID:
      return TypeClass::kDate;
    case JSONOID:
    case JSONBOID:
      return TypeClass::kJson;
    case UUIDOID:
      return TypeClass::kUuid;
    case BYTEAOID:
      return TypeClass::kBytea;
    default:
      return is_citext(typid) ? TypeClass::kText : TypeClass::kOther;
  }
}

// Fills f for a column of type typid with modifier typmod. Plain C: may raise.
void classify(Oid typid, int32 typmod, TypeFacts* f) {
  Oid elem = get_element_type(typid);  // true arrays only, as format_type prints "T[]"
  Oid base = OidIsValid(elem) ? elem : typid;
  f->cls = scalar_class(base);
  f->is_array = OidIsValid(elem);
  f->max_chars = -1;
  f->numeric_precision = -1;
  f->numeric_scale = 0;
  // the typmod encodings of varchar / bpchar (n + VARHDRSZ) and numeric (((p << 16) | s) +
  // VARHDRSZ, s in 11 bits with its sign), as their typmodout functions read them
  if ((base == VARCHAROID || base == BPCHAROID) && typmod > int32(VARHDRSZ)) f->max_chars = typmod - int32(VARHDRSZ);
  if (base == NUMERICOID && typmod >= int32(VARHDRSZ)) {
    int32 m = typmod - int32(VARHDRSZ);
    f->numeric_precision = (m >> 16) & 0xffff;
    f->numeric_scale = ((m & 0x7ff) ^ 1024) - 1024;
  }
  f->pg_name = format_type_with_typemod(typid, typmod);
  f->binary_oid = binary_form(base) ? base : InvalidOid;
  f->jsonb = base == JSONBOID;
}

}  // namespace

ColumnType column_type(Oid typid, int32 typmod) {
  TypeFacts f{};
  call([&] { classify(typid, typmod, &f); });
  ColumnType t;
  t.cls = f.cls;
  t.is_array = f.is_array;
  t.max_chars = f.max_chars;
  t.numeric_precision = f.numeric_precision;
  t.numeric_scale = f.numeric_scale;
  t.pg_name = f.pg_name;
  t.binary_oid = f.binary_oid;
  t.jsonb = f.jsonb;
  return t;
}

}  // namespace pulse::pg
