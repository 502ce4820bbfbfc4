// Splitting JSON array payloads into chunks of whole elements (collect_batch).
#include "core/json_split.h"

#include <gtest/gtest.h>

namespace pulse {
namespace {

std::vector<std::string> elements(std::string_view text) {
  std::vector<std::pair<size_t, size_t>> spans;
  EXPECT_TRUE(json_array_elements(text, &spans)) << text;
  std::vector<std::string> out;
  for (auto& s : spans) out.emplace_back(text.substr(s.first, s.second - s.first));
  return out;
}

bool splits(std::string_view text) {
  std::vector<std::pair<size_t, size_t>> spans;
  return json_array_elements(text, &spans);
}

TEST(JsonSplit, TopLevelElementsFollowStringsEscapesAndNesting) {
  EXPECT_EQ(elements(" [ {\"a\": [1, {\"b\": \"],}\"}]} ,\n 2 , \"x\\\"]\" , [[]] , null ]\n"),
            (std::vector<std::string>{"{\"a\": [1, {\"b\": \"],}\"}]}", "2", "\"x\\\"]\"", "[[]]", "null"}));
  EXPECT_EQ(elements("[]"), std::vector<std::string>{});
  EXPECT_EQ(elements("[\"\\\\\"]"), std::vector<std::string>{"\"\\\\\""});
}

TEST(JsonSplit, WhatIsNotOneArrayIsRefused) {
  EXPECT_FALSE(splits("{\"a\": 1}"));
  EXPECT_FALSE(splits("[1, 2"));          // unterminated
  EXPECT_FALSE(splits("[1,, 2]"));        // an empty element
  EXPECT_FALSE(splits("[1, 2,]"));        // a trailing comma
  EXPECT_FALSE(splits("[\"open]"));       // an unclosed string
  EXPECT_FALSE(splits("[1] [2]"));        // two arrays
  EXPECT_FALSE(splits("[{\"a\": 1}}]"));  // unbalanced
  EXPECT_FALSE(splits(""));
}

TEST(JsonSplit, ChunksHoldWholeElementsOfAboutTheGivenSize) {
  std::string text = "[";
  for (int k = 0; k < 100; k++) text += std::string(k ? "," : "") + "{\"n\":" + std::to_string(k) + "}";
  text += "]";
  std::vector<std::pair<size_t, size_t>> spans;
  ASSERT_TRUE(json_array_elements(text, &spans));
  ASSERT_EQ(spans.size(), 100u);
  std::vector<size_t> starts = json_array_chunks(spans, 50);
  ASSERT_GT(starts.size(), 10u);
  EXPECT_EQ(starts[0], 0u);
  std::string all;
  for (size_t c = 0; c < starts.size(); c++) {
    size_t to = c + 1 < starts.size() ? starts[c + 1] : spans.size();
    std::string chunk;
    json_array_text(text, spans, starts[c], to, &chunk);
    EXPECT_LE(chunk.size(), 50u + 20u);
    all += (c ? "," : "") + chunk.substr(1, chunk.size() - 2);
  }
  EXPECT_EQ("[" + all + "]", text);
  EXPECT_EQ(json_array_chunks(spans, size_t(1) << 30), std::vector<size_t>{0});
}

}  // namespace
}  // namespace pulse
