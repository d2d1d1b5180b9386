// InterestIndex against a model: random subscriptions (names, globs, both)
// come and go while tags (new ids, some re-created under an old name) are
// looked up; after every step each tag's subscribers are exactly those whose
// filter matches its name, once each, as if worked out from scratch.
#include "server/subscriptions/interest_index.h"

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace historian::server {
namespace {

struct FakeSub {
  int id = 0;
  TagFilter filter;
};

TEST(InterestIndexTest, MatchesEveryFilterAfterAnyAddsAndRemoves) {
  const std::vector<std::string> names = {"us.a.1", "us.a.2", "us.b.1", "us.b.2",
                                          "mx.a.1", "mx.b.1", "mx.c.3", "us.c.3"};
  const std::vector<std::string> globs = {"", "", "us.*", "*.1", "*", "mx.?.1", "nothing.*"};
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    InterestIndex<FakeSub> index;
    std::map<int, std::unique_ptr<FakeSub>> subs;  // the model: every live subscription
    std::map<TagId, std::string> tags;             // ids handed out, and their names
    int next_sub = 1;
    TagId next_tag = 1;
    for (int step = 0; step < 400; ++step) {
      const uint32_t op = rng() % 10;
      if (op < 3) {
        auto sub = std::make_unique<FakeSub>();
        sub->id = next_sub++;
        for (const std::string& name : names) {
          if (rng() % 4 == 0) sub->filter.names.insert(name);
        }
        sub->filter.glob = globs[rng() % globs.size()];
        if (!sub->filter.glob.empty() && rng() % 3 == 0) {
          // A forwarded part's keep rule: only some glob matches count.
          sub->filter.glob_keep = [](std::string_view name) { return name.back() != '2'; };
        }
        index.Add(sub.get(), &sub->filter);
        subs.emplace(sub->id, std::move(sub));
      } else if (op < 5 && !subs.empty()) {
        auto it = subs.begin();
        std::advance(it, rng() % subs.size());
        index.Remove(it->second.get());
        subs.erase(it);
      } else if (op < 6 || tags.empty()) {
        // A new tag id: a new name or one re-created under an old name.
        tags[next_tag++] = names[rng() % names.size()];
      }
      // Look up a few tags (new ones get cached now, old ones were).
      for (int look = 0; look < 3 && !tags.empty(); ++look) {
        auto tag = tags.begin();
        std::advance(tag, rng() % tags.size());
        std::vector<int> got;
        for (FakeSub* sub : index.Interested(tag->first, tag->second)) got.push_back(sub->id);
        std::sort(got.begin(), got.end());
        std::vector<int> want;
        for (const auto& [id, sub] : subs) {
          if (sub->filter.Matches(tag->second)) want.push_back(id);
        }
        ASSERT_EQ(got, want) << "step " << step << ", tag " << tag->first << " " << tag->second;
      }
    }
    EXPECT_EQ(index.subscriptions(), subs.size());
  }
}

}  // namespace
}  // namespace historian::server
