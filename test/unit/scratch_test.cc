// The scratch buffer pool (src/core/scratch.cc): big buffers come back with their capacity,
// small ones are not kept, the kept total stays bounded.
#include "core/scratch.h"

#include <gtest/gtest.h>

#include "core/batch.h"
#include "core/event.h"

namespace pulse {
namespace {

TEST(Scratch, BigBuffersAreReusedSmallOnesFreed) {
  while (scratch_bytes() > 0) (void)take_scratch();  // start empty
  std::string big;
  big.reserve(size_t(8) << 20);
  size_t cap = big.capacity();
  give_scratch(std::move(big));
  EXPECT_EQ(scratch_bytes(), cap);
  std::string again = take_scratch();
  EXPECT_EQ(again.capacity(), cap);
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(scratch_bytes(), 0u);
  std::string small(100, 'x');
  give_scratch(std::move(small));
  EXPECT_EQ(scratch_bytes(), 0u);
  EXPECT_EQ(take_scratch().capacity(), std::string().capacity());
}

TEST(Scratch, KeptBytesAreBounded) {
  while (scratch_bytes() > 0) (void)take_scratch();
  for (int k = 0; k < 10; k++) {
    std::string s;
    s.reserve(size_t(64) << 20);
    give_scratch(std::move(s));
    EXPECT_LE(scratch_bytes(), kMaxScratchBytes);
  }
  EXPECT_GT(scratch_bytes(), 0u);
  while (scratch_bytes() > 0) (void)take_scratch();
}

TEST(Scratch, BatchesGiveTheirBuffersBack) {
  while (scratch_bytes() > 0) (void)take_scratch();
  {
    EventBatch b;
    b.source.reserve(size_t(4) << 20);
    CopyRows r;
    r.data.reserve(size_t(4) << 20);
    CopyRows moved = std::move(r);  // the moved-from gives back nothing
  }
  EXPECT_GE(scratch_bytes(), size_t(8) << 20);
  EventBatch b2;
  EXPECT_GE(b2.source.capacity(), size_t(4) << 20);
}

}  // namespace
}  // namespace pulse
