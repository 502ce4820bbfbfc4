// Splitting a JSON array payload into bounded chunks (collect_batch decodes and writes a big
// array a chunk at a time, like NDJSON): the top-level elements are found by a structural scan
// that follows strings, escapes and nesting without decoding anything.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pulse {

// The [begin, end) byte spans of the top-level elements of `text`, a JSON array with whitespace
// around it. False when text is not one array of comma-separated elements with balanced
// brackets and closed strings (what is inside an element is not checked: the decoder does).
bool json_array_elements(std::string_view text, std::vector<std::pair<size_t, size_t>>* spans);

// Groups consecutive elements into chunks of about chunk_bytes (at least one element each):
// the index of the first element of every chunk.
std::vector<size_t> json_array_chunks(const std::vector<std::pair<size_t, size_t>>& spans, size_t chunk_bytes);

// The JSON array text of elements [from, to) of text: "[e1,e2,...]".
void json_array_text(std::string_view text, const std::vector<std::pair<size_t, size_t>>& spans, size_t from, size_t to,
                     std::string* out);

}  // namespace pulse
