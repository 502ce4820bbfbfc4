// See geoip.h.
#include "core/geoip.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/actor_ids.h"

namespace pulse {

namespace {

// Address -> record: the parsed address (4 bytes for IPv4, 16 for IPv6, so the families never
// meet) numbered by an ActorIds table (open addressing, the key inline: a hit costs one address
// parse and one probe, with no allocation; a map keyed by the address text was a third of a
// cached lookup), the record of each number beside it. Emptied, table and all, when it would
// grow beyond its bound.
class AddressCache {
 public:
  // The record of key, or false when key is not cached (*record: null = no record).
  bool find(std::string_view key, const GeoInfo** record) const {
    if (!ids_) return false;
    uint32_t id = ids_->find(key);
    if (id == ActorIds::kNone) return false;
    *record = records_[id];
    return true;
  }
  void put(std::string_view key, const GeoInfo* record, size_t bound) {
    if (records_.size() >= bound) clear();
    if (!ids_) ids_ = std::make_unique<ActorIds>();
    uint32_t id = ids_->intern(key);
    if (id == records_.size())
      records_.push_back(record);
    else
      records_[id] = record;
  }
  void clear() {
    ids_.reset();
    std::vector<const GeoInfo*>().swap(records_);
  }
  size_t size() const { return records_.size(); }

 private:
  std::unique_ptr<ActorIds> ids_;
  std::vector<const GeoInfo*> records_;  // by address number
};

}  // namespace

struct GeoDb::Impl {
  MMDB_s db;
  bool open = false;
  std::unordered_map<uint64_t, std::unique_ptr<GeoInfo>> records;  // data offset -> decoded (null: empty)
  AddressCache by_ip;                                              // address -> its record
};

namespace {

// A UTF-8 string at path (a null-terminated list of keys) of entry, or "".
std::string string_at(MMDB_entry_s* entry, const char* const* path) {
  MMDB_entry_data_s d;
  if (MMDB_aget_value(entry, &d, path) != MMDB_SUCCESS || !d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING)
    return std::string();
  return std::string(d.utf8_string, d.data_size);
}

// A number at path as a double; false when absent or not numeric.
bool number_at(MMDB_entry_s* entry, const char* const* path, double* out) {
  MMDB_entry_data_s d;
  if (MMDB_aget_value(entry, &d, path) != MMDB_SUCCESS || !d.has_data) return false;
  switch (d.type) {
    case MMDB_DATA_TYPE_DOUBLE:
      *out = d.double_value;
      return true;
    case MMDB_DATA_TYPE_FLOAT:
      *out = double(d.float_value);
      return true;
    case MMDB_DATA_TYPE_UINT16:
      *out = double(d.uint16);
      return true;
    case MMDB_DATA_TYPE_UINT32:
      *out = double(d.uint32);
      return true;
    case MMDB_DATA_TYPE_INT32:
      *out = double(d.int32);
      return true;
    case MMDB_DATA_TYPE_UINT64:
      *out = double(d.uint64);
      return true;
    default:
      return false;
  }
}

}  // namespace

bool parse_ip(std::string_view text, bool* v6, unsigned char addr[16]) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty() || text.size() > 45) return false;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  std::memset(addr, 0, 16);
  if (inet_pton(AF_INET, buf, addr) == 1) {
    *v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, buf, addr) == 1) {
    *v6 = true;
    return true;
  }
  return false;
}

bool is_private_ip(bool v6, const unsigned char a[16]) {
  if (!v6) {
    return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 169 && a[1] == 254) ||
           (a[0] == 172 && (a[1] & 0xF0) == 16) || (a[0] == 192 && a[1] == 168) ||
           (a[0] == 100 && (a[1] & 0xC0) == 64) || (a[0] == 192 && a[1] == 0 && a[2] == 2) ||
           (a[0] == 198 && a[1] == 51 && a[2] == 100) || (a[0] == 203 && a[1] == 0 && a[2] == 113) || a[0] >= 224;
  }
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(a, kMapped, 12) == 0) {  // ::ffff:a.b.c.d
    unsigned char v4[16] = {a[12], a[13], a[14], a[15]};
    return is_private_ip(false, v4);
  }
  bool zero = true;
  for (int k = 0; k < 15; k++) zero = zero && a[k] == 0;
  if (zero && (a[15] == 0 || a[15] == 1)) return true;                    // :: and ::1
  return (a[0] & 0xFE) == 0xFC ||                                         // fc00::/7 unique local
         (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) ||                       // fe80::/10 link local
         a[0] == 0xFF ||                                                  // multicast
         (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0D && a[3] == 0xB8);  // 2001:db8::/32
}

GeoDb::GeoDb() : impl_(new Impl) {}

GeoDb::~GeoDb() { close(); }

bool GeoDb::open(const std::string& path, std::string* error) {
  close();
  int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &impl_->db);
  if (rc != MMDB_SUCCESS) {
    *error = "cannot open \"" + path.substr(0, 300) + "\": " + MMDB_strerror(rc);
    if (rc == MMDB_IO_ERROR) *error += std::string(" (") + std::strerror(errno) + ")";
    return false;
  }
  impl_->open = true;
  return true;
}

void GeoDb::close() {
  if (impl_->open) MMDB_close(&impl_->db);
  impl_->open = false;
  impl_->by_ip.clear();
  impl_->records.clear();
}

bool GeoDb::is_open() const { return impl_->open; }

size_t GeoDb::cached_addresses() const { return impl_->by_ip.size(); }

std::string GeoDb::database_type() const {
  if (!impl_->open || !impl_->db.metadata.database_type) return std::string();
  return impl_->db.metadata.database_type;
}

uint64_t GeoDb::build_epoch() const { return impl_->open ? impl_->db.metadata.build_epoch : 0; }

namespace {

// The record of ip in db; false for malformed, private or unknown addresses.
bool find_entry(const MMDB_s* db, bool v6, const unsigned char a[16], MMDB_entry_s* entry) {
  if (is_private_ip(v6, a)) return false;
  sockaddr_storage ss;
  std::memset(&ss, 0, sizeof ss);
  if (v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    std::memcpy(&s6->sin6_addr, a, 16);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    std::memcpy(&s4->sin_addr, a, 4);
  }
  int mmdb_error = MMDB_SUCCESS;
  MMDB_lookup_result_s r = MMDB_lookup_sockaddr(db, reinterpret_cast<sockaddr*>(&ss), &mmdb_error);
  if (mmdb_error != MMDB_SUCCESS || !r.found_entry) return false;
  *entry = r.entry;
  return true;
}

// The fields pg_pulse reads from a record (GeoIP2 / GeoLite2 City, Country, ASN, ISP layouts).
GeoInfo decode(MMDB_entry_s* e) {
  static const char* const kCountry[] = {"country", "iso_code", nullptr};
  static const char* const kRegCountry[] = {"registered_country", "iso_code", nullptr};
  static const char* const kRegion[] = {"subdivisions", "0", "names", "en", nullptr};
  static const char* const kCity[] = {"city", "names", "en", nullptr};
  static const char* const kLat[] = {"location", "latitude", nullptr};
  static const char* const kLon[] = {"location", "longitude", nullptr};
  static const char* const kTz[] = {"location", "time_zone", nullptr};
  static const char* const kAsn[] = {"autonomous_system_number", nullptr};
  static const char* const kAsOrg[] = {"autonomous_system_organization", nullptr};
  static const char* const kIsp[] = {"isp", nullptr};
  GeoInfo g;
  g.country_code = string_at(e, kCountry);
  if (g.country_code.empty()) g.country_code = string_at(e, kRegCountry);
  g.region = string_at(e, kRegion);
  g.city = string_at(e, kCity);
  g.timezone = string_at(e, kTz);
  g.has_location = number_at(e, kLat, &g.latitude) && number_at(e, kLon, &g.longitude);
  double asn;
  if (number_at(e, kAsn, &asn)) {
    g.has_asn = true;
    g.asn = int64_t(asn);
  }
  g.as_org = string_at(e, kAsOrg);
  g.isp = string_at(e, kIsp);
  return g;
}

}  // namespace

bool GeoDb::lookup(std::string_view ip, GeoInfo* info) const {
  MMDB_entry_s e;
  bool v6;
  unsigned char a[16];
  if (!impl_->open || !parse_ip(ip, &v6, a) || !find_entry(&impl_->db, v6, a, &e)) return false;
  GeoInfo g = decode(&e);
  if (!g.any()) return false;
  *info = std::move(g);
  return true;
}

// Two bounded maps, emptied when full: address -> record (a tree walk in the file costs a few
// cache misses per level; kAddressesPerRecord times the records' bound) and record -> decoded
// fields.
const GeoInfo* GeoDb::lookup_cached(std::string_view ip) {
  if (!impl_->open) return nullptr;
  bool v6;
  unsigned char a[16];
  if (!parse_ip(ip, &v6, a)) return nullptr;  // malformed: nothing to cache
  const std::string_view key(reinterpret_cast<const char*>(a), v6 ? 16 : 4);
  const GeoInfo* found = nullptr;
  if (impl_->by_ip.find(key, &found)) return found;
  MMDB_entry_s e;
  if (find_entry(&impl_->db, v6, a, &e)) {
    auto it = impl_->records.find(e.offset);
    if (it == impl_->records.end()) {
      if (impl_->records.size() >= cache_capacity_) {
        impl_->records.clear();
        impl_->by_ip.clear();
      }
      GeoInfo g = decode(&e);
      it = impl_->records.emplace(e.offset, g.any() ? std::make_unique<GeoInfo>(std::move(g)) : nullptr).first;
    }
    found = it->second.get();
  }
  impl_->by_ip.put(key, found, std::min(kAddressesPerRecord * cache_capacity_, kMostAddresses));
  return found;
}

}  // namespace pulse
