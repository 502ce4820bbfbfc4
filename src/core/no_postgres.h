// Included first by every header in src/core: the pure C++ layer must never see Postgres
// headers (their macros - Max, Min, snprintf, gettext - break the standard library and tie
// unit tests to a server build).
#pragma once
#if defined(POSTGRES_H) || defined(PG_VERSION_NUM)
static_assert(false, "src/core must not include postgres.h: move Postgres code to src/pg");
#endif
