// See data_files.h; also pulse.enrichment_files() (the pulse.enrichment_status view) and
// pulse.enrichment_default_inputs(enricher).
#include "enrich/data_files.h"

#include <dirent.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include "pg/gucs.h"
#include "pg/guard.h"
#include "pg/spi.h"

extern "C" {
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/copydir.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/array.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

namespace pulse::enrich {

namespace {

// One data file as this backend last saw it.
struct DataFile {
  std::string path;      // as loaded (the GUC may change)
  bool checked = false;  // stat'ed at least once
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  struct timespec mtime = {0, 0};
  bool loaded = false;
  TimestampTz loaded_at = 0;
  std::string details;  // what was loaded (database type, rule counts)
  std::string error;    // why it is not loaded; empty when loaded
  std::string warned;   // the last problem a WARNING reported (one per distinct problem)
};

struct State {
  DataFile files[3];  // geoip, user_agent, referrer
  GeoDb geo;
  UaParser ua;
  RefererParser referrer;
  LruCache<UaColumns> ua_cache;
  LruCache<RefererInfo> referrer_cache;
};

SkipListener g_listener = nullptr;
void* g_listener_arg = nullptr;

State& state() {
  static State* s = new State();  // lives as long as the backend
  return *s;
}

const char* guc_name(int kind) {
  static const char* const kGucs[] = {"pulse.geoip_database", "pulse.user_agent_regexes", "pulse.referrer_data"};
  return kGucs[kind];
}

const char* guc_value(int kind) {
  const char* v = kind == kEnrichGeo         ? pulse_geoip_database
                  : kind == kEnrichUserAgent ? pulse_user_agent_regexes
                                             : pulse_referrer_data;
  return v ? v : "";
}

// A database's build time as YYYY-MM-DD (UTC).
std::string build_date(uint64_t epoch) {
  time_t t = time_t(epoch);
  struct tm tm;
  char buf[32];
  if (!gmtime_r(&t, &tm) || strftime(buf, sizeof buf, "%Y-%m-%d", &tm) == 0) return std::to_string(epoch);
  return buf;
}

// The MaxMind database is memory-mapped, and a mapped file that someone rewrites in place (rather
// than replacing it) changes under the readers: a page past its new end raises SIGBUS, which
// would crash the backend. So backends map a private copy that nothing else writes: one per
// version of the file (device, inode, size, mtime), in the cluster's temporary directory
// base/pgsql_tmp (left out of base backups, emptied at server start), shared by every backend
// through the page cache. A new version removes the older copies; a backend still mapping one
// keeps its pages until it moves on (an unlinked file stays readable).
constexpr const char* kGeoCopyPrefix = "pgsql_tmp_pulse_geoip_";

bool geo_copy(const std::string& path, const struct stat& st, std::string* copy, std::string* error) {
  std::string dir = std::string(DataDir) + "/base/" + PG_TEMP_FILES_DIR;
  if (mkdir(dir.c_str(), S_IRWXU) != 0 && errno != EEXIST) {
    *error = "cannot create \"" + dir + "\": " + strerror(errno);
    return false;
  }
  char name[200];
  snprintf(name, sizeof name, "%s%lx_%lx_%lld_%lld_%ld.mmdb", kGeoCopyPrefix, (unsigned long)st.st_dev,
           (unsigned long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
  *copy = dir + "/" + name;
  struct stat cst;
  if (stat(copy->c_str(), &cst) == 0 && cst.st_size == st.st_size) return true;  // another backend made it
  std::string tmp = *copy + ".part" + std::to_string(getpid());
  (void)unlink(tmp.c_str());  // a part left by a backend that had this pid
  // Postgres' own file copy (storage/copydir.h), then an atomic rename into place
  try {
    // (a subtransaction: a failed copy's open files are closed by its abort)
    pg::in_subtransaction(
        [&] { pg::call([&] { copy_file(const_cast<char*>(path.c_str()), const_cast<char*>(tmp.c_str())); }); });
  } catch (pg::PgError& e) {
    if (pg::is_abort_error(e.sqlerrcode())) throw;
    *error = e.edata && e.edata->message ? e.edata->message : "cannot copy \"" + path.substr(0, 300) + "\"";
    (void)unlink(tmp.c_str());
    return false;
  }
  if (rename(tmp.c_str(), copy->c_str()) != 0) {
    *error = "cannot rename \"" + tmp + "\": " + strerror(errno);
    (void)unlink(tmp.c_str());
    return false;
  }
  // the older copies go (the file of another version, or parts of one that never finished)
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* e = readdir(d)) {
      if (strncmp(e->d_name, kGeoCopyPrefix, strlen(kGeoCopyPrefix)) != 0 || strcmp(e->d_name, name) == 0) continue;
      std::string other = dir + "/" + e->d_name;
      struct stat ost;
      // another backend's copy in progress is left alone for a minute
      if (strstr(e->d_name, ".part") && stat(other.c_str(), &ost) == 0 && time(nullptr) - ost.st_mtime < 60) continue;
      (void)unlink(other.c_str());
    }
    closedir(d);
  }
  return true;
}

// Loads the file of kind into the state's engine; false with *error set.
bool load(State& s, int kind, const std::string& path, const struct stat& st, std::string* details,
          std::string* error) {
  std::string copy;
  switch (kind) {
    case kEnrichGeo:
      if (!geo_copy(path, st, &copy, error) || !s.geo.open(copy, error)) return false;
      *details = s.geo.database_type() + " built " + build_date(s.geo.build_epoch());
      return true;
    case kEnrichUserAgent: {
      if (!s.ua.load(path, error)) return false;
      *details = std::to_string(s.ua.rules()) + " rules";
      if (s.ua.skipped()) *details += ", " + std::to_string(s.ua.skipped()) + " refused by RE2";
      s.ua_cache.clear();
      return true;
    }
    default:
      if (!s.referrer.load(path, error)) return false;
      *details = std::to_string(s.referrer.entries()) + " hosts";
      s.referrer_cache.clear();
      return true;
  }
}

// Checks the file of kind against the disk and (re)loads it when its path or identity
// changed. True when its engine is usable.
bool refresh(State& s, int kind) {
  DataFile& f = s.files[kind];
  std::string path = guc_value(kind);
  struct stat st;
  bool exists = !path.empty() && stat(path.c_str(), &st) == 0;
  int stat_errno = errno;
  bool same = f.checked && f.path == path && f.exists == exists &&
              (!exists || (f.dev == st.st_dev && f.ino == st.st_ino && f.size == st.st_size &&
                           f.mtime.tv_sec == st.st_mtim.tv_sec && f.mtime.tv_nsec == st.st_mtim.tv_nsec));
  if (same) return f.loaded;
  // the old data goes first: a file rewritten in place must not be read through an old mapping
  if (kind == kEnrichGeo) s.geo.close();
  f.checked = true;
  f.path = path;
  f.exists = exists;
  f.loaded = false;
  f.details.clear();
  if (exists) {
    f.dev = st.st_dev;
    f.ino = st.st_ino;
    f.size = st.st_size;
    f.mtime = st.st_mtim;
  }
  if (path.empty()) {
    f.error = std::string(guc_name(kind)) + " is empty";
  } else if (!exists) {
    f.error = "cannot open \"" + path.substr(0, 300) + "\": " + strerror(stat_errno);
  } else {
    f.error.clear();
    f.loaded = load(s, kind, path, st, &f.details, &f.error);
    malloc_trim(0);  // the YAML parser's transient tree (tens of MB) goes back to the system
  }
  if (f.loaded) {
    f.loaded_at = GetCurrentTimestamp();
    f.warned.clear();
    return true;
  }
  f.error = pg::clip_message(f.error);
  std::string msg = std::string("enrichment \"") + enricher_name(kind) + "\" is skipped: " + f.error;
  if (g_listener) g_listener(g_listener_arg, msg.c_str());
  if (f.error != f.warned) {
    f.warned = f.error;
    std::string hint =
        std::string("Set ") + guc_name(kind) + " to a readable file; pulse.enrichment_status shows the state.";
    pg::call([&] {
      ereport(WARNING, (errcode(ERRCODE_UNDEFINED_FILE), errmsg("%s", msg.c_str()), errhint("%s", hint.c_str())));
    });
  }
  return false;
}

}  // namespace

void set_skip_listener(SkipListener listener, void* arg) {
  g_listener = listener;
  g_listener_arg = arg;
}

EnrichEngines current_engines(const bool wanted[kEnricherKinds]) {
  State& s = state();
  size_t cap = size_t(pulse_enrichment_cache_entries);
  s.ua_cache.set_capacity(cap);
  s.referrer_cache.set_capacity(cap);
  s.geo.set_cache_capacity(cap);
  EnrichEngines e;
  if (wanted[kEnrichGeo] && refresh(s, kEnrichGeo)) e.geo = &s.geo;
  if (wanted[kEnrichUserAgent] && refresh(s, kEnrichUserAgent)) {
    e.ua = &s.ua;
    e.ua_cache = &s.ua_cache;
  }
  if (wanted[kEnrichReferrer] && refresh(s, kEnrichReferrer)) {
    e.referrer = &s.referrer;
    e.referrer_cache = &s.referrer_cache;
  }
  return e;
}

}  // namespace pulse::enrich

using namespace pulse;

// pulse.enrichment_files(): per enricher, this backend's view of its data file (checked
// and loaded now, like an ingestion would).
PULSE_SQL_FUNCTION(pulse_enrichment_files) {
  enrich::State& s = enrich::state();
  for (int k = 0; k < 3; k++) (void)enrich::refresh(s, k);
  ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
  pg::call([&] { InitMaterializedSRF(fcinfo, 0); });
  for (int k = 0; k < kEnricherKinds; k++) {
    const enrich::DataFile* f = k < 3 ? &s.files[k] : nullptr;
    uint64_t hits = k == kEnrichUserAgent ? s.ua_cache.hits() : k == kEnrichReferrer ? s.referrer_cache.hits() : 0;
    uint64_t misses = k == kEnrichUserAgent  ? s.ua_cache.misses()
                      : k == kEnrichReferrer ? s.referrer_cache.misses()
                                             : 0;
    size_t entries = k == kEnrichUserAgent ? s.ua_cache.size() : k == kEnrichReferrer ? s.referrer_cache.size() : 0;
    pg::call([&] {
      Datum v[10];
      bool n[10] = {false, false, false, false, false, false, false, false, false, false};
      v[0] = CStringGetTextDatum(enricher_name(k));
      v[1] = CStringGetTextDatum(k < 3 ? enrich::guc_name(k) : "");
      n[1] = !f;
      v[2] = CStringGetTextDatum(f ? f->path.c_str() : "");
      n[2] = !f;
      v[3] = BoolGetDatum(f ? f->loaded : true);
      v[4] = TimestampTzGetDatum(f ? f->loaded_at : 0);
      n[4] = !f || !f->loaded;
      v[5] = TimestampTzGetDatum(f && f->exists ? time_t_to_timestamptz(f->mtime.tv_sec) : 0);
      n[5] = !f || !f->exists;
      v[6] = CStringGetTextDatum(f ? f->details.c_str() : "");
      n[6] = !f || f->details.empty();
      v[7] = CStringGetTextDatum(f ? f->error.c_str() : "");
      n[7] = !f || f->error.empty();
      v[8] = Int64GetDatum(int64(entries));
      v[9] = Float8GetDatum(hits + misses ? double(hits) / double(hits + misses) : 0.0);
      n[8] = n[9] = k != kEnrichUserAgent && k != kEnrichReferrer;
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
    });
  }
  return (Datum)0;
}

// pulse.enrichment_default_inputs(enricher text) -> text[]: the fields an enricher reads
// when its setting names none (NULL for an unknown enricher).
PULSE_SQL_FUNCTION(pulse_enrichment_default_inputs) {
  std::string name = pg::text_arg(fcinfo, 0);
  int kind = enricher_kind(name);
  if (kind < 0) {
    fcinfo->isnull = true;
    return (Datum)0;
  }
  const std::vector<std::string>& in = default_inputs(kind);
  Datum out = 0;
  pg::call([&] {
    Datum* elems = (Datum*)palloc(sizeof(Datum) * in.size());
    for (size_t k = 0; k < in.size(); k++) elems[k] = CStringGetTextDatum(in[k].c_str());
    out = PointerGetDatum(construct_array(elems, int(in.size()), TEXTOID, -1, false, TYPALIGN_INT));
  });
  return out;
}
