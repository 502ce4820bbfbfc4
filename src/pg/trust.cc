// Trusted-object checks (see trust.h). Plain C flow inside: every walker runs under Postgres
// and records the first problem instead of throwing.
#include "pg/trust.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_database.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/ruleutils.h"
#include "utils/fmgroids.h"
}

namespace pulse::pg {
namespace {

// Trusted owner and namespace: pg_catalog, or a superuser's object outside temporary schemas.
// Returns nullptr or a palloc'd description of what is wrong.
char* owner_problem(const char* what, const char* name, Oid nsp, Oid owner) {
  if (isAnyTempNamespace(nsp)) return psprintf("the temporary %s %s", what, name);
  if (nsp == PG_CATALOG_NAMESPACE || superuser_arg(owner)) return nullptr;
  return psprintf("the %s %s, owned by role %s, which is not a superuser", what, name,
                  GetUserNameFromId(owner, true) ? GetUserNameFromId(owner, true) : "?");
}

char* type_problem(Oid typid, int depth) {
  if (!OidIsValid(typid)) return nullptr;
  if (depth > 32) return psprintf("the type %s (nested too deeply)", format_type_be(typid));
  HeapTuple tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
  if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for type %u", typid);
  Form_pg_type t = (Form_pg_type)GETSTRUCT(tup);
  Oid nsp = t->typnamespace, owner = t->typowner, elem = t->typelem, base = t->typbasetype, rel = t->typrelid;
  char kind = t->typtype;
  bool true_array = IsTrueArrayType(t);
  ReleaseSysCache(tup);
  if (char* p = owner_problem("type", format_type_be(typid), nsp, owner)) return p;
  if (true_array) return type_problem(elem, depth + 1);
  if (kind == TYPTYPE_DOMAIN) return type_problem(base, depth + 1);
  if (kind == TYPTYPE_RANGE) return type_problem(get_range_subtype(typid), depth + 1);
  if (kind == TYPTYPE_MULTIRANGE) return type_problem(get_multirange_range(typid), depth + 1);
  if (kind == TYPTYPE_COMPOSITE && OidIsValid(rel)) {
    for (AttrNumber a = 1;; a++) {
      HeapTuple at = SearchSysCache2(ATTNUM, ObjectIdGetDatum(rel), Int16GetDatum(a));
      if (!HeapTupleIsValid(at)) break;
      Form_pg_attribute att = (Form_pg_attribute)GETSTRUCT(at);
      Oid atype = att->attisdropped ? InvalidOid : att->atttypid;
      ReleaseSysCache(at);
      if (char* p = type_problem(atype, depth + 1)) return p;
    }
  }
  return nullptr;
}

// A role that is a superuser, or pg_database_owner standing for a superuser database owner.
bool superuser_role(Oid role) {
  if (role == ROLE_PG_DATABASE_OWNER) {
    HeapTuple db = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
    if (!HeapTupleIsValid(db)) return false;
    Oid dba = ((Form_pg_database)GETSTRUCT(db))->datdba;
    ReleaseSysCache(db);
    return superuser_arg(dba);
  }
  return superuser_arg(role);
}

// True when a role other than superusers may create objects in schema nsp (its owner, or a
// grant of CREATE, to PUBLIC included). A view's stored SQL names its functions and operators
// by schema and name and is parsed again when it runs: an overload created there later (an
// exact-type one beats a polymorphic or variadic original) would run instead of the function
// that was checked.
bool schema_open_to_others(Oid nsp) {
  if (nsp == PG_CATALOG_NAMESPACE) return false;
  HeapTuple tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
  if (!HeapTupleIsValid(tup)) return true;
  Form_pg_namespace n = (Form_pg_namespace)GETSTRUCT(tup);
  bool open = !superuser_role(n->nspowner);
  bool isnull = false;
  Datum acl_datum = SysCacheGetAttr(NAMESPACEOID, tup, Anum_pg_namespace_nspacl, &isnull);
  if (!open && !isnull) {
    Acl* acl = DatumGetAclPCopy(acl_datum);
    AclItem* items = ACL_DAT(acl);
    for (int k = 0; k < ACL_NUM(acl) && !open; k++)
      if ((ACLITEM_GET_PRIVS(items[k]) & ACL_CREATE) &&
          (items[k].ai_grantee == ACL_ID_PUBLIC || !superuser_role(items[k].ai_grantee)))
        open = true;
  }
  ReleaseSysCache(tup);
  return open;
}

// A function or operator: trusted owner and namespace, and a schema where no one else can add
// an overload of its name.
char* overloadable_problem(const char* what, char* name, Oid nsp, Oid owner) {
  if (char* p = owner_problem(what, name, nsp, owner)) return p;
  if (schema_open_to_others(nsp))
    return psprintf("the %s %s, in schema %s, where roles other than superusers may create objects", what, name,
                    quote_identifier(get_namespace_name(nsp)));
  return nullptr;
}

char* function_problem(Oid funcid) {
  HeapTuple tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
  if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for function %u", funcid);
  Form_pg_proc p = (Form_pg_proc)GETSTRUCT(tup);
  Oid nsp = p->pronamespace, owner = p->proowner;
  ReleaseSysCache(tup);
  return overloadable_problem("function", format_procedure(funcid), nsp, owner);
}

char* operator_problem(Oid opno) {
  HeapTuple tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
  if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for operator %u", opno);
  Form_pg_operator o = (Form_pg_operator)GETSTRUCT(tup);
  Oid nsp = o->oprnamespace, owner = o->oprowner, code = o->oprcode;
  ReleaseSysCache(tup);
  if (char* p = overloadable_problem("operator", format_operator(opno), nsp, owner)) return p;
  return OidIsValid(code) ? function_problem(code) : nullptr;
}

char* collation_problem(Oid collid) {
  if (!OidIsValid(collid) || collid == DEFAULT_COLLATION_OID) return nullptr;
  HeapTuple tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(collid));
  if (!HeapTupleIsValid(tup)) return nullptr;
  Oid nsp = ((Form_pg_collation)GETSTRUCT(tup))->collnamespace;
  ReleaseSysCache(tup);
  if (isAnyTempNamespace(nsp)) return psprintf("the temporary collation %s", generate_collation_name(collid));
  return nullptr;
}

// Relations: temporary ones are the session's own; a view carries its owner's query (run with
// the reader's privileges when it is read), so only superusers' views are trusted.
char* relation_problem(Oid relid) {
  HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
  if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for relation %u", relid);
  Form_pg_class c = (Form_pg_class)GETSTRUCT(tup);
  char persistence = c->relpersistence, kind = c->relkind;
  Oid owner = c->relowner;
  ReleaseSysCache(tup);
  char* name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
  if (persistence == RELPERSISTENCE_TEMP) return psprintf("the temporary relation %s", name);
  if (kind == RELKIND_VIEW && !superuser_arg(owner))
    return psprintf("the view %s, owned by role %s, which is not a superuser", name, GetUserNameFromId(owner, true));
  return nullptr;
}

// A constant naming an object (regclass, regproc, ...): a function given it may use that object
// (pulse.last_event_time reads the relation), so it must be trusted like one used directly.
// A name that matches nothing is no problem here.
char* reg_constant_problem(Oid type, Datum value) {
  Oid oid = DatumGetObjectId(value);
  if (!OidIsValid(oid)) return nullptr;
  switch (type) {
    case REGCLASSOID:
      return SearchSysCacheExists1(RELOID, ObjectIdGetDatum(oid)) ? relation_problem(oid) : nullptr;
    case REGPROCOID:
    case REGPROCEDUREOID:
      return SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(oid)) ? function_problem(oid) : nullptr;
    case REGOPEROID:
    case REGOPERATOROID:
      return SearchSysCacheExists1(OPEROID, ObjectIdGetDatum(oid)) ? operator_problem(oid) : nullptr;
    case REGTYPEOID:
      return SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(oid)) ? type_problem(oid, 0) : nullptr;
    case REGCOLLATIONOID:
      return collation_problem(oid);
    default:
      return nullptr;
  }
}

struct Ctx {
  char* problem = nullptr;
};

bool function_cb(Oid funcid, void* arg) {
  Ctx* c = static_cast<Ctx*>(arg);
  c->problem = function_problem(funcid);
  return c->problem != nullptr;
}

// exprType of the expression nodes that have one (the walker meets other nodes too).
bool typed_expression(Node* n) {
  switch (nodeTag(n)) {
    case T_Var:
    case T_Const:
    case T_Param:
    case T_Aggref:
    case T_WindowFunc:
    case T_FuncExpr:
    case T_OpExpr:
    case T_DistinctExpr:
    case T_NullIfExpr:
    case T_ScalarArrayOpExpr:
    case T_SubscriptingRef:
    case T_FieldSelect:
    case T_FieldStore:
    case T_RelabelType:
    case T_CoerceViaIO:
    case T_ArrayCoerceExpr:
    case T_ConvertRowtypeExpr:
    case T_CollateExpr:
    case T_CaseExpr:
    case T_ArrayExpr:
    case T_RowExpr:
    case T_CoalesceExpr:
    case T_MinMaxExpr:
    case T_CoerceToDomain:
    case T_CoerceToDomainValue:
    case T_CaseTestExpr:
    case T_SetToDefault:
    case T_GroupingFunc:
    case T_XmlExpr:
    case T_NullTest:
    case T_BooleanTest:
    case T_BoolExpr:
      return true;
    default:
      return false;
  }
}

bool sort_clauses_problem(List* clauses, Ctx* c) {
  ListCell* lc;
  foreach (lc, clauses) {
    SortGroupClause* s = lfirst_node(SortGroupClause, lc);
    if (OidIsValid(s->eqop) && (c->problem = operator_problem(s->eqop))) return true;
    if (OidIsValid(s->sortop) && (c->problem = operator_problem(s->sortop))) return true;
  }
  return false;
}

bool trust_walker(Node* node, void* arg) {
  Ctx* c = static_cast<Ctx*>(arg);
  if (node == nullptr) return false;
  if (IsA(node, Query)) {
    Query* q = (Query*)node;
    ListCell* lc;
    foreach (lc, q->rtable) {
      RangeTblEntry* rte = lfirst_node(RangeTblEntry, lc);
      if (rte->rtekind == RTE_RELATION && (c->problem = relation_problem(rte->relid))) return true;
      if (rte->rtekind == RTE_FUNCTION) {
        ListCell* lf;
        foreach (lf, rte->functions) {
          RangeTblFunction* f = lfirst_node(RangeTblFunction, lf);
          ListCell* lt;
          foreach (lt, f->funccoltypes) {
            if ((c->problem = type_problem(lfirst_oid(lt), 0))) return true;
          }
        }
      }
    }
    if (sort_clauses_problem(q->sortClause, c) || sort_clauses_problem(q->groupClause, c) ||
        sort_clauses_problem(q->distinctClause, c))
      return true;
    return query_tree_walker(q, reinterpret_cast<bool (*)()>(reinterpret_cast<void*>(trust_walker)), arg, 0);
  }
  if (check_functions_in_node(node, function_cb, c)) return true;
  switch (nodeTag(node)) {
    case T_OpExpr:
    case T_DistinctExpr:
    case T_NullIfExpr:
      if ((c->problem = operator_problem(((OpExpr*)node)->opno))) return true;
      break;
    case T_ScalarArrayOpExpr:
      if ((c->problem = operator_problem(((ScalarArrayOpExpr*)node)->opno))) return true;
      break;
    case T_RowCompareExpr: {
      ListCell* lc;
      foreach (lc, ((RowCompareExpr*)node)->opnos) {
        if ((c->problem = operator_problem(lfirst_oid(lc)))) return true;
      }
      break;
    }
    case T_CollateExpr:
      if ((c->problem = collation_problem(((CollateExpr*)node)->collOid))) return true;
      break;
    case T_Const: {
      Const* k = (Const*)node;
      if (!k->constisnull && (c->problem = reg_constant_problem(k->consttype, k->constvalue))) return true;
      break;
    }
    default:
      break;
  }
  if (typed_expression(node)) {
    if ((c->problem = type_problem(exprType(node), 0))) return true;
    if ((c->problem = collation_problem(exprCollation(node)))) return true;
  }
  return expression_tree_walker(node, reinterpret_cast<bool (*)()>(reinterpret_cast<void*>(trust_walker)), arg);
}

}  // namespace

std::string untrusted_type(Oid typid) {
  char* p = nullptr;
  call([&] { p = type_problem(typid, 0); });
  return p ? std::string(p) : std::string();
}

std::string untrusted_in_query(Query* query) {
  Ctx c;
  call([&] { (void)trust_walker((Node*)query, &c); });
  return c.problem ? std::string(c.problem) : std::string();
}

Oid g_acting_role = InvalidOid;

Oid caller_role() {
  if (OidIsValid(g_acting_role)) return g_acting_role;
  if (InSecurityRestrictedOperation())
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("pg_pulse functions cannot be called from a security-restricted operation"),
                    errdetail("An index expression run by VACUUM, ANALYZE or REINDEX, a materialized view's refresh or "
                              "another maintenance command runs code its owner chose as that owner; the caller "
                              "whose privileges pg_pulse would check is not known there."),
                    errhint("Call pg_pulse's functions from a query of your own.")));
  return GetOuterUserId();
}

Oid role_oid(const std::string& role) {
  Oid r = InvalidOid;
  call([&] { r = get_role_oid(role.c_str(), false); });
  return r;
}

bool current_role_sees(const char* project) {
  bool yes = false;
  call([&] {
    if (superuser() || has_privs_of_role(GetUserId(), ROLE_PG_MONITOR)) {
      yes = true;
      return;
    }
    char role[2 * NAMEDATALEN];
    snprintf(role, sizeof role, "%s_reader", project);
    Oid reader = get_role_oid(role, true);
    yes = OidIsValid(reader) && has_privs_of_role(GetUserId(), reader);
  });
  return yes;
}

}  // namespace pulse::pg
