// Geo-IP lookups in a MaxMind-format database (GeoLite2 / GeoIP2 City, Country, ASN, ISP;
// DB-IP lite; any file the MaxMind writer made) through libmaxminddb, memory-mapped
// (docs/enrichment.md).
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace pulse {

struct GeoInfo {
  std::string country_code, region, city, timezone;  // empty: absent
  bool has_location = false;
  double latitude = 0, longitude = 0;
  bool has_asn = false;
  int64_t asn = 0;
  std::string as_org, isp;  // empty: absent
  bool any() const {
    return !country_code.empty() || !region.empty() || !city.empty() || !timezone.empty() || has_location || has_asn ||
           !as_org.empty() || !isp.empty();
  }
};

// The address of an IPv4 / IPv6 literal (surrounding blanks ignored) in network order; false
// for anything else (host names are never resolved).
bool parse_ip(std::string_view text, bool* v6, unsigned char addr[16]);

// True for addresses that no public database locates: private, loopback, link-local,
// carrier-grade NAT, unique-local, multicast, unspecified, documentation ranges.
bool is_private_ip(bool v6, const unsigned char addr[16]);

class GeoDb {
 public:
  GeoDb();
  ~GeoDb();
  GeoDb(const GeoDb&) = delete;
  GeoDb& operator=(const GeoDb&) = delete;

  // Opens (memory-maps) path. False with *error set on failure.
  bool open(const std::string& path, std::string* error);
  void close();
  bool is_open() const;

  // Looks ip up. False (info untouched) for malformed, private or unknown addresses.
  bool lookup(std::string_view ip, GeoInfo* info) const;
  // The same through a cache of decoded records (keyed by their place in the file: the
  // addresses of a network share one record); null for malformed, private or unknown
  // addresses. The pointer is valid until the next call.
  const GeoInfo* lookup_cached(std::string_view ip);
  // Most records the cache keeps (it is emptied when full); it keeps kAddressesPerRecord times
  // as many addresses, at most kMostAddresses (an address costs about 100 bytes, a record a few
  // hundred, and real traffic has many more addresses than networks).
  void set_cache_capacity(size_t n) { cache_capacity_ = n ? n : 1; }
  static constexpr size_t kAddressesPerRecord = 4, kMostAddresses = size_t(1) << 22;
  // Addresses cached now (tests).
  size_t cached_addresses() const;

  // The database's type as its metadata says ("GeoLite2-City", "DBIP-City-Lite", ...).
  std::string database_type() const;
  // Its build time (seconds since the Unix epoch).
  uint64_t build_epoch() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  size_t cache_capacity_ = 100000;
};

}  // namespace pulse
