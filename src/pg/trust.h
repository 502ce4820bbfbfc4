// Which database objects pg_pulse's privileged code may run, and running code as a project role.
//
// The rule (docs/security.md): code chosen by a project role only ever runs with that role's
// privileges or less. A type, function, operator, view or collation is *trusted* when a project
// role cannot have chosen its code: it lives in pg_catalog, or it is owned by a superuser, and it
// is not a temporary object. SECURITY DEFINER code and the read paths of other roles only ever
// use trusted objects; everything else a project role picks runs as that role (as_role).
#pragma once

#include <string>

#include "pg/guard.h"

extern "C" {
#include "nodes/parsenodes.h"
#include "utils/guc.h"
}

namespace pulse::pg {

// Why type typid (with its element, base, range and column types) is not trusted; empty when it
// is. Plain C inside: call under pg::call or from code that may raise.
std::string untrusted_type(Oid typid);

// The first untrusted object a query uses (functions, operators, aggregates, types of every
// expression, collations, views, temporary relations), described for an error message; empty
// when there is none. Sub-queries, CTEs and functions in FROM are walked too.
std::string untrusted_in_query(Query* query);

// The role as_role runs code as (InvalidOid outside as_role).
extern Oid g_acting_role;

// Runs f with the privileges of role (and as a security-restricted operation: f cannot change
// role or create temporary objects). The role, and every setting f changes (set_config(...,
// false) included: it would otherwise outlive f in the session that ran it, the scheduler's or a
// superuser's, whose next statements would resolve names through a search_path f chose), are
// restored on every exit, as REFRESH MATERIALIZED VIEW does. Inside, pg_pulse's functions take
// role for their caller (caller_role).
template <class F>
void as_role(Oid role, F&& f) {
  Oid save_uid;
  int save_sec;
  GetUserIdAndSecContext(&save_uid, &save_sec);
  Oid save_acting = g_acting_role;
  int nest = 0;
  call([&] { nest = NewGUCNestLevel(); });
  SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
  g_acting_role = role;
  auto restore = [&] {
    g_acting_role = save_acting;
    SetUserIdAndSecContext(save_uid, save_sec);
    AtEOXact_GUC(false, nest);  // (raises nothing)
  };
  try {
    f();
  } catch (...) {
    restore();
    throw;
  }
  restore();
}

// The role whose privileges pg_pulse's SECURITY DEFINER functions check, their caller: inside
// as_role, the role it runs code as (a project role's query, run by the scheduler or by a
// superuser's refresh, that calls pg_pulse acts as that project role, never as the scheduler's
// or the superuser's session); else the session's current role (GetOuterUserId: SET ROLE
// counts, and a SECURITY DEFINER function in between does not hide it). Inside any other
// security-restricted operation (an index expression evaluated by VACUUM, ANALYZE or REINDEX, a
// materialized view's refresh, ...) the role that chose the code is not known: raises 42501.
// Plain C inside: call under pg::call.
Oid caller_role();

// The oid of a role by name (raises 42704 when it does not exist).
Oid role_oid(const std::string& role);

// Whether the current role may see project p's status rows (metrics, progress): a member of
// <p>_reader, a member of pg_monitor, or a superuser.
bool current_role_sees(const char* project);

}  // namespace pulse::pg
