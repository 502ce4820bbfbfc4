// A bounded least-recently-used cache keyed by strings: the per-backend caches of the user-agent
// and referrer enrichers (few distinct values in real traffic, each costly to parse).
#pragma once
#include "core/no_postgres.h"

#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace pulse {

template <class V>
class LruCache {
 public:
  explicit LruCache(size_t capacity = 10000) : capacity_(capacity ? capacity : 1) {}

  // The cached value of key (now the most recent), or null.
  const V* get(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) {
      misses_++;
      return nullptr;
    }
    hits_++;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  // Stores key -> value, evicting the least recently used entry when full.
  const V* put(std::string_view key, V value) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->second = std::move(value);
      order_.splice(order_.begin(), order_, it->second);
      return &it->second->second;
    }
    while (order_.size() >= capacity_) {
      index_.erase(std::string_view(order_.back().first));
      order_.pop_back();
    }
    order_.emplace_front(std::string(key), std::move(value));
    index_.emplace(std::string_view(order_.front().first), order_.begin());
    return &order_.front().second;
  }

  // A new bound (entries beyond it are evicted at the next put).
  void set_capacity(size_t capacity) { capacity_ = capacity ? capacity : 1; }
  void clear() {
    index_.clear();
    order_.clear();
  }
  size_t size() const { return order_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  using Entry = std::pair<std::string, V>;
  size_t capacity_;
  std::list<Entry> order_;  // most recent first; keys never move (the index points into them)
  std::unordered_map<std::string_view, typename std::list<Entry>::iterator> index_;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace pulse
