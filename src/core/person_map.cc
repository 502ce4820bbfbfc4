// Identity resolution for the report aggregates (see person_map.h).
#include "core/person_map.h"

namespace pulse {

PersonMap::PersonMap(ActorIds* numbering) : numbering_(numbering) {}

void PersonMap::add(std::string_view id, std::string_view person) {
  if (id == person) return;
  const size_t before = persons_.size();
  const uint32_t n = persons_.intern(person);
  if (numbering_) {
    numbering_->bind(id, n);
  } else {
    if (persons_.size() > before) {
      spans_.push_back(Span{bytes_.size(), uint32_t(person.size())});
      bytes_.append(person);
    }
    ids_.bind(id, n);
  }
  rows_++;
}

void PersonMap::finish() {
  if (!numbering_) return;
  // A person string that is a mapped id too resolves to that id's person: bind() already
  // numbered it, and the person's own number is reached through its other ids only.
  persons_.for_each([&](std::string_view p, uint32_t n) {
    if (numbering_->find(p) == ActorIds::kNone) numbering_->bind(p, n);
  });
  numbering_->reserve_ids(persons_.size());
}

}  // namespace pulse
