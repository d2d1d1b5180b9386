// End-to-end tests of the `historian` CLI against a real `historiand`: one
// node per test suite in a temporary directory on a free port. Needs both
// binaries under $HISTORIAN_BIN_DIR (set by historian_test()).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace historian {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string BinDir() {
  const char* dir = std::getenv("HISTORIAN_BIN_DIR");
  return dir != nullptr ? dir : ".";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class CliE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / absl::StrCat("historian_cli_e2e_", getpid()));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    const std::string historiand = BinDir() + "/server/historiand";
    const std::string port_file = (*dir_ / "port").string();
    server_pid_ = fork();
    if (server_pid_ == 0) {
      const std::string data = "--data_dir=" + (*dir_ / "data").string();
      const std::string pf = "--port_file=" + port_file;
      std::freopen((*dir_ / "historiand.log").c_str(), "w", stdout);
      execl(historiand.c_str(), historiand.c_str(), data.c_str(), "--listen=127.0.0.1:0",
            pf.c_str(), "--sync_writes=false",
            // Small streams, so reads must follow continuation tokens.
            "--max_read_samples=1000", "--twin_map=us.=mx.", static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    for (int i = 0; i < 200 && !fs::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (fs::exists(port_file)) {
      address_ = new std::string(absl::StrCat("127.0.0.1:", std::stoi(ReadFile(port_file))));
    }
  }

  static void TearDownTestSuite() {
    if (server_pid_ > 0) {
      kill(server_pid_, SIGTERM);
      int status;
      waitpid(server_pid_, &status, 0);
    }
    fs::remove_all(*dir_);
    delete dir_;
    delete address_;
  }

  void SetUp() override {
    ASSERT_NE(address_, nullptr) << "historiand did not start; see its log in " << *dir_;
  }

  // Runs `historian --server ADDR args...` (after `prefix`, a command that
  // runs it) and captures everything.
  RunResult Run(const std::vector<std::string>& args, const std::string& server = "",
                const std::string& prefix = "") {
    std::string cmd = prefix + (prefix.empty() ? "" : " ") +
                      ShellQuote(BinDir() + "/client/historian") + " --server " +
                      ShellQuote(server.empty() ? *address_ : server);
    for (const std::string& a : args) cmd += " " + ShellQuote(a);
    const fs::path err = *dir_ / "stderr";
    cmd += " 2>" + ShellQuote(err.string());
    RunResult r;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) r.out.append(buf, n);
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = ReadFile(err);
    return r;
  }

  fs::path Path(const std::string& name) { return *dir_ / name; }

  static fs::path* dir_;
  static std::string* address_;
  static pid_t server_pid_;
};

fs::path* CliE2eTest::dir_ = nullptr;
std::string* CliE2eTest::address_ = nullptr;
pid_t CliE2eTest::server_pid_ = -1;

std::vector<std::string> SortedBody(const std::string& csv) {
  std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  if (!lines.empty()) lines.erase(lines.begin());  // header
  std::sort(lines.begin(), lines.end());
  return lines;
}

TEST_F(CliE2eTest, WriteThenLatest) {
  RunResult w = Run({"write", "e2e.write.temp", "21.5", "--time", "2026-11-23T10:00:00Z"});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_THAT(w.out, HasSubstr("1,0,false"));  // csv ack: accepted 1, rejected 0
  RunResult l = Run({"latest", "e2e.write.temp", "--format", "json"});
  ASSERT_EQ(l.exit_code, 0) << l.err;
  EXPECT_EQ(l.out,
            "{\"tag\":\"e2e.write.temp\",\"time\":\"2026-11-23T10:00:00.000000000Z\",\"time_ns\":"
            "1795428000000000000,\"value\":21.5,\"quality\":0}\n");
}

TEST_F(CliE2eTest, CreateTagAndList) {
  RunResult c = Run({"create-tag", "e2e.tags.pressure", "--type", "double", "--unit", "bar",
                     "--attr", "asset=press2"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  RunResult t = Run({"tags", "e2e.tags.*", "--attr", "asset=press2"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_THAT(t.out, HasSubstr("e2e.tags.pressure,double,bar,"));
  // An int64 literal written to a double tag is converted.
  RunResult w = Run({"write", "e2e.tags.pressure", "3", "--time", "5ns"});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  RunResult q = Run({"query", "e2e.tags.pressure", "--from", "0s", "--to", "10ns"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_EQ(q.out,
            "tag,time,value,quality\ne2e.tags.pressure,1970-01-01T00:00:00.000000005Z,3.0,0\n");
}

TEST_F(CliE2eTest, ImportExportRoundTrip) {
  std::string csv = "tag,time,value,quality\n";
  for (int i = 0; i < 2500; ++i) {
    // "0.0", "0.1", ...: every value reads as a double.
    absl::StrAppend(&csv, "e2e.rt.d,", 1000 + i, ",", absl::StrFormat("%.1f", i * 0.1), ",0\n");
    absl::StrAppend(&csv, "e2e.rt.i,", 1000 + i, ",", i - 1000, ",", i % 3 ? 0 : 192, "\n");
  }
  absl::StrAppend(&csv, "e2e.rt.s,7,\"a \"\"quoted\"\", string\",0\n");
  absl::StrAppend(&csv, "e2e.rt.s,8,\"42\",0\n");
  absl::StrAppend(&csv, "e2e.rt.b,9,true,0\n");
  absl::StrAppend(&csv, "e2e.rt.x,10,1.0,2147483648\n");
  // A new tag is typed by its first value; later integers are converted.
  absl::StrAppend(&csv, "e2e.rt.x,11,2,0\n");
  std::ofstream(Path("in.csv")) << csv;
  RunResult imp = Run({"import-csv", Path("in.csv").string(), "--batch-size", "1000"});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_EQ(imp.out, "accepted,rejected\n5005,0\n");

  RunResult exp =
      Run({"export-csv", "e2e.rt.*", "--from", "0s", "--to", "100000ns", Path("out.csv").string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  // Doubles print in their shortest exact form, so the files differ only in
  // spelling (0.30000000000000004 vs StrCat's 0.3): compare after re-import.
  const std::string out = ReadFile(Path("out.csv"));
  EXPECT_THAT(out, ::testing::StartsWith("tag,time,value,quality\n"));
  EXPECT_EQ(SortedBody(out).size(), 5005u);
  EXPECT_THAT(
      out, HasSubstr("e2e.rt.s,1970-01-01T00:00:00.000000007Z,\"a \"\"quoted\"\", string\",0\n"));
  EXPECT_THAT(out, HasSubstr("e2e.rt.s,1970-01-01T00:00:00.000000008Z,\"42\",0\n"));
  EXPECT_THAT(out, HasSubstr("e2e.rt.x,1970-01-01T00:00:00.000000010Z,1.0,2147483648\n"
                             "e2e.rt.x,1970-01-01T00:00:00.000000011Z,2.0,0\n"));

  // export -> import -> export is the identity.
  std::string renamed = out;
  for (size_t pos; (pos = renamed.find("e2e.rt.")) != std::string::npos;) {
    renamed.replace(pos, 7, "e2e.r2.");
  }
  std::ofstream(Path("in2.csv")) << renamed;
  ASSERT_EQ(Run({"import-csv", Path("in2.csv").string()}).exit_code, 0);
  RunResult exp2 = Run({"export-csv", "e2e.r2.*", "--from", "0s", "--to", "100000ns"});
  ASSERT_EQ(exp2.exit_code, 0) << exp2.err;
  EXPECT_EQ(SortedBody(exp2.out), SortedBody(renamed));

  // --limit beyond the node's per-stream cap (1000 here) still follows tokens.
  RunResult lim = Run({"query", "e2e.rt.d", "--from", "0s", "--to", "100000ns", "--limit", "1500"});
  ASSERT_EQ(lim.exit_code, 0) << lim.err;
  EXPECT_EQ(SortedBody(lim.out).size(), 1500u);
  EXPECT_EQ(lim.err, "historian: query: stopped at --limit 1500; more samples may exist\n");
  RunResult all = Run({"query", "e2e.rt.d", "--from", "0s", "--to", "100000ns", "--limit", "2500"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(SortedBody(all.out).size(), 2500u);
}

// Two imports on one host with the same pid (each here pid 1 of its own pid
// namespace, as in a container) are two clients: the second one's batches
// are stored, not taken for the first's retries and dropped as duplicates.
TEST_F(CliE2eTest, TwoImportsWithTheSamePidAreBothStored) {
  if (std::system("unshare --pid --fork true >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "needs `unshare --pid` (root) to run two imports with one pid";
  }
  std::ofstream(Path("pid_a.csv")) << "tag,time,value\ne2e.pid.a,1,1.5\n";
  std::ofstream(Path("pid_b.csv")) << "tag,time,value\ne2e.pid.b,1,2.5\n";
  RunResult a = Run({"import-csv", Path("pid_a.csv").string()}, "", "unshare --pid --fork");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  RunResult b = Run({"import-csv", Path("pid_b.csv").string()}, "", "unshare --pid --fork");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  RunResult q = Run({"export-csv", "e2e.pid.*", "--from", "0s", "--to", "100ns"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_EQ(SortedBody(q.out),
            (std::vector<std::string>{"e2e.pid.a,1970-01-01T00:00:00.000000001Z,1.5,0",
                                      "e2e.pid.b,1970-01-01T00:00:00.000000001Z,2.5,0"}))
      << q.out;
}

TEST_F(CliE2eTest, ImportReportsRejectedRowsWithLineNumbers) {
  std::ofstream(Path("bad.csv")) << "tag,time,value\n"
                                    "e2e.bad.a,1,1.5\n"
                                    "e2e.bad.a,yesterday,2\n"
                                    "e2e.bad.a,3,\n";
  RunResult r = Run({"import-csv", Path("bad.csv").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("line 3: column time"));
  EXPECT_THAT(r.err, HasSubstr("line 4: column value"));
  EXPECT_THAT(r.err, HasSubstr("historian: import-csv: 2 rows rejected"));
  EXPECT_EQ(r.out, "accepted,rejected\n1,2\n");
}

TEST_F(CliE2eTest, FailsOverToTheNextServer) {
  RunResult w = Run({"write", "e2e.failover", "1"}, "127.0.0.1:1," + *address_);
  ASSERT_EQ(w.exit_code, 0) << w.err;
  RunResult r = Run({"latest", "e2e.failover"}, "127.0.0.1:1," + *address_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("e2e.failover,"));
}

TEST_F(CliE2eTest, ErrorsAreOneLine) {
  RunResult r = Run({"query", "e2e.none", "--from", "bogus"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "historian: query: --from: invalid time 'bogus': bad date, want YYYY-MM-DD "
            "(want RFC 3339 like 2026-11-23T10:00:00Z, or 1700000000s, ms, us, ns since the "
            "epoch)\n");
  RunResult u = Run({"latest", "x"}, "127.0.0.1:1");
  EXPECT_EQ(u.exit_code, 1);
  EXPECT_THAT(u.err, ::testing::StartsWith("historian: latest: UNAVAILABLE"));
  EXPECT_EQ(std::count(u.err.begin(), u.err.end(), '\n'), 1);
}

TEST_F(CliE2eTest, AggregateAnswersOrFailsCleanly) {
  RunResult r = Run({"query", "e2e.rt.d", "--from", "0s", "--to", "100000ns", "--agg", "count,avg",
                     "--step", "1us"});
  if (r.exit_code == 0) {
    EXPECT_THAT(r.out, ::testing::StartsWith("tag,start,count,avg\n"));
  } else {
    EXPECT_THAT(r.err, ::testing::StartsWith("historian: query: "));
  }
}

TEST_F(CliE2eTest, TimeFormatAndZone) {
  ASSERT_EQ(Run({"write", "e2e.tf.a", "1.5", "--time", "2026-11-23T10:00:00Z"}).exit_code, 0);
  const std::vector<std::string> range = {
      "query", "e2e.tf.a", "--from", "2026-11-23T00:00:00Z", "--to", "2026-11-24T00:00:00Z"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = range;
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  };
  RunResult def = with({});
  ASSERT_EQ(def.exit_code, 0) << def.err;
  EXPECT_EQ(def.out, "tag,time,value,quality\ne2e.tf.a,2026-11-23T10:00:00.000000000Z,1.5,0\n");
  EXPECT_EQ(with({"--time_format", "ns"}).out,
            "tag,time,value,quality\ne2e.tf.a,1795428000000000000,1.5,0\n");
  EXPECT_EQ(with({"--time_format", "ms"}).out,
            "tag,time,value,quality\ne2e.tf.a,1795428000000,1.5,0\n");
  RunResult berlin = with({"--tz", "Europe/Berlin"});
  ASSERT_EQ(berlin.exit_code, 0) << berlin.err;
  EXPECT_EQ(berlin.out,
            "tag,time,value,quality\ne2e.tf.a,2026-11-23T11:00:00.000000000+01:00,1.5,0\n");
  RunResult table = with({"--format", "table"});
  EXPECT_THAT(table.out, HasSubstr("e2e.tf.a  2026-11-23T10:00:00.000000000Z  Good"));
  RunResult bad = with({"--tz", "Nowhere/Bogus"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("--tz: unknown time zone 'Nowhere/Bogus'"));
  RunResult badfmt = with({"--time_format", "us"});
  EXPECT_EQ(badfmt.exit_code, 1);
  EXPECT_THAT(badfmt.err, HasSubstr("--time_format: want rfc3339, ns or ms"));
}

TEST_F(CliE2eTest, BareIntegerTimeIsRefused) {
  RunResult r = Run({"query", "e2e.none", "--from", "-5"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--from: invalid time '-5': a number needs a unit"));
  EXPECT_THAT(r.err, HasSubstr("1700000000s"));
  // Epoch times with a unit and fractional durations are accepted.
  ASSERT_EQ(Run({"write", "e2e.epoch", "2", "--time", "1700000000s"}).exit_code, 0);
  RunResult q = Run({"query", "e2e.epoch", "--from", "1699999999000ms", "--to", "now+1.5h",
                     "--time_format", "ns"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_EQ(q.out, "tag,time,value,quality\ne2e.epoch,1700000000000000000,2.0,0\n");
}

// Text numbers are doubles: a new tag fed 180 then 180.5 is a double tag;
// an int64 tag is made explicitly and still takes integer text.
TEST_F(CliE2eTest, TextNumbersAreDoublesUnlessTheTagIsInt64) {
  std::ofstream(Path("nums.csv")) << "tag,time,value\n"
                                     "e2e.num.a,2026-11-23T10:00:00Z,180\n"
                                     "e2e.num.a,2026-11-23T10:00:01Z,180.5\n"
                                     "e2e.num.i,2026-11-23T10:00:00Z,180\n"
                                     "e2e.num.i,2026-11-23T10:00:01Z,9007199254740993\n";
  RunResult c = Run({"create-tag", "e2e.num.i", "--type", "int64"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  RunResult imp = Run({"import-csv", Path("nums.csv").string()});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_EQ(imp.out, "accepted,rejected\n4,0\n");
  RunResult t = Run({"tags", "e2e.num.*"});
  EXPECT_THAT(t.out, HasSubstr("e2e.num.a,double,"));
  EXPECT_THAT(t.out, HasSubstr("e2e.num.i,int64,"));
  RunResult q = Run({"query", "e2e.num.*", "--from", "2026-11-23T10:00:00Z", "--to",
                     "2026-11-23T10:00:02Z", "--time_format", "ns"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_THAT(q.out, HasSubstr("e2e.num.a,1795428000000000000,180.0,0\n"
                               "e2e.num.a,1795428001000000000,180.5,0\n"));
  EXPECT_THAT(q.out, HasSubstr("e2e.num.i,1795428000000000000,180,0\n"
                               "e2e.num.i,1795428001000000000,9007199254740993,0\n"));
  // The same through `write`.
  ASSERT_EQ(Run({"write", "e2e.num.w", "180"}).exit_code, 0);
  RunResult w = Run({"write", "e2e.num.w", "180.5"});
  EXPECT_EQ(w.exit_code, 0) << w.err;
  ASSERT_EQ(Run({"write", "e2e.num.i", "7"}).exit_code, 0);
  RunResult wi = Run({"write", "e2e.num.i", "7.5"});
  EXPECT_EQ(wi.exit_code, 1);
  EXPECT_THAT(wi.err, HasSubstr("value '7.5' is double but the tag's type is int64"));
}

TEST_F(CliE2eTest, UpdateTagAndDeleteTag) {
  ASSERT_EQ(Run({"create-tag", "e2e.upd.a", "--type", "double", "--unit", "bar", "--description",
                 "old", "--attr", "asset=p1", "--attr", "plc=a"})
                .exit_code,
            0);
  RunResult u = Run({"update-tag", "e2e.upd.a", "--unit", "kPa", "--retention", "30d", "--deadband",
                     "0.5", "--attr", "asset=p2", "--remove-attr", "plc", "--format", "json"});
  ASSERT_EQ(u.exit_code, 0) << u.err;
  EXPECT_THAT(u.out, HasSubstr("\"unit\":\"kPa\",\"description\":\"old\""));
  EXPECT_THAT(u.out, HasSubstr("\"retention_ns\":2592000000000000"));
  EXPECT_THAT(u.out, HasSubstr("\"deadband\":0.5"));
  EXPECT_THAT(u.out, HasSubstr("\"attributes\":{\"asset\":\"p2\"}"));
  RunResult t = Run({"tags", "e2e.upd.*", "--format", "json"});
  EXPECT_THAT(t.out, HasSubstr("\"unit\":\"kPa\""));
  RunResult none = Run({"update-tag", "e2e.upd.a"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("nothing to update"));

  RunResult d = Run({"delete-tag", "e2e.upd.a"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(Run({"tags", "e2e.upd.*"}).out, "");
  RunResult again = Run({"delete-tag", "e2e.upd.a"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("NOT_FOUND"));
}

TEST_F(CliE2eTest, LatestReportsUnknownTagsOneByOne) {
  ASSERT_EQ(Run({"write", "e2e.lt.a", "1.5", "--time", "2026-11-23T10:00:00Z"}).exit_code, 0);
  ASSERT_EQ(Run({"write", "e2e.lt.b", "2.5", "--time", "2026-11-23T10:00:00Z"}).exit_code, 0);
  RunResult r = Run({"latest", "e2e.lt.a", "e2e.lt.missing", "e2e.lt.b", "--time_format", "ns"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out,
            "tag,time,value,quality\n"
            "e2e.lt.a,1795428000000000000,1.5,0\n"
            "e2e.lt.b,1795428000000000000,2.5,0\n");
  EXPECT_THAT(r.err, HasSubstr("historian: latest: tag e2e.lt.missing: NOT_FOUND"));
  EXPECT_THAT(r.err, HasSubstr("historian: latest: NOT_FOUND: 1 of 3 tags not found"));
}

TEST_F(CliE2eTest, AggregateCountIsOneColumn) {
  ASSERT_EQ(Run({"write", "e2e.agg.a", "1", "--time", "2026-11-23T10:00:00Z"}).exit_code, 0);
  ASSERT_EQ(Run({"write", "e2e.agg.a", "3", "--time", "2026-11-23T10:00:01Z"}).exit_code, 0);
  RunResult r = Run({"query", "e2e.agg.a", "--from", "2026-11-23T10:00:00Z", "--to",
                     "2026-11-23T11:00:00Z", "--agg", "count,avg", "--step", "1h"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "tag,start,count,avg\ne2e.agg.a,2026-11-23T10:00:00.000000000Z,2,2.0\n");
  RunResult only =
      Run({"query", "e2e.agg.a", "--from", "2026-11-23T10:00:00Z", "--to", "2026-11-23T11:00:00Z",
           "--agg", "count", "--step", "1h", "--format", "json"});
  ASSERT_EQ(only.exit_code, 0) << only.err;
  EXPECT_EQ(only.out,
            "{\"tag\":\"e2e.agg.a\",\"start\":\"2026-11-23T10:00:00.000000000Z\","
            "\"start_ns\":1795428000000000000,\"count\":2}\n");
}

// --agg windows are calendar windows unless --align start: a day step falls
// on midnights of --tz (23 hours on a DST day), the first window is clipped
// to --from, and 1mo / 1w are calendar steps.
TEST_F(CliE2eTest, AggregateWindowsAreCalendarByDefault) {
  for (const char* t : {"2026-03-07T12:00:00-06:00", "2026-03-08T01:00:00-06:00",
                        "2026-03-08T23:30:00-05:00", "2026-03-09T00:30:00-05:00"}) {
    ASSERT_EQ(Run({"write", "e2e.cal", "1", "--time", t}).exit_code, 0);
  }
  RunResult r = Run({"query", "e2e.cal", "--from", "2026-03-07T06:00:00-06:00", "--to",
                     "2026-03-10T00:00:00-05:00", "--agg", "count", "--step", "1d", "--tz",
                     "America/Chicago"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "tag,start,count\n"
            "e2e.cal,2026-03-07T06:00:00.000000000-06:00,1\n"
            "e2e.cal,2026-03-08T00:00:00.000000000-06:00,2\n"
            "e2e.cal,2026-03-09T00:00:00.000000000-05:00,1\n");
  RunResult start = Run({"query", "e2e.cal", "--from", "2026-03-07T06:00:00-06:00", "--to",
                         "2026-03-10T00:00:00-05:00", "--agg", "count", "--step", "1d", "--tz",
                         "America/Chicago", "--align", "start"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  EXPECT_EQ(start.out,
            "tag,start,count\n"
            "e2e.cal,2026-03-07T06:00:00.000000000-06:00,2\n"
            "e2e.cal,2026-03-08T07:00:00.000000000-05:00,2\n"
            "e2e.cal,2026-03-09T07:00:00.000000000-05:00,0\n");
  RunResult months = Run({"query", "e2e.cal", "--from", "2026-02-15T00:00:00Z", "--to",
                          "2026-04-01T00:00:00Z", "--agg", "count", "--step", "1mo"});
  ASSERT_EQ(months.exit_code, 0) << months.err;
  EXPECT_EQ(months.out,
            "tag,start,count\n"
            "e2e.cal,2026-02-15T00:00:00.000000000Z,0\n"
            "e2e.cal,2026-03-01T00:00:00.000000000Z,4\n");
  RunResult weeks = Run({"query", "e2e.cal", "--from", "2026-03-04T00:00:00Z", "--to",
                         "2026-03-17T00:00:00Z", "--agg", "count", "--step", "1w"});
  ASSERT_EQ(weeks.exit_code, 0) << weeks.err;
  EXPECT_EQ(weeks.out,
            "tag,start,count\n"
            "e2e.cal,2026-03-04T00:00:00.000000000Z,2\n"  // Wednesday
            "e2e.cal,2026-03-09T00:00:00.000000000Z,2\n"  // Monday, UTC
            "e2e.cal,2026-03-16T00:00:00.000000000Z,0\n");
  RunResult bad = Run({"query", "e2e.cal", "--agg", "count", "--step", "1mo", "--align", "start"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("--step: months need --align calendar"));
}

TEST_F(CliE2eTest, TagRangeAndStaleAfterFlags) {
  RunResult c = Run({"create-tag", "e2e.rng.a", "--type", "double", "--eng_low", "-20",
                     "--eng_high", "80", "--stale_after", "5m", "--format", "json"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_THAT(c.out,
              HasSubstr("\"eng_low\":-20.0,\"eng_high\":80.0,\"stale_after_ns\":300000000000"));
  RunResult u = Run({"update-tag", "e2e.rng.a", "--eng_low", "none", "--stale_after", "never",
                     "--format", "json"});
  ASSERT_EQ(u.exit_code, 0) << u.err;
  EXPECT_THAT(u.out, HasSubstr("\"eng_low\":null,\"eng_high\":80.0,\"stale_after_ns\":0"));
  RunResult u2 = Run({"update-tag", "e2e.rng.a", "--stale_after", "30s"});
  ASSERT_EQ(u2.exit_code, 0) << u2.err;
  RunResult t = Run({"tags", "e2e.rng.*", "--format", "table"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_THAT(t.out, HasSubstr("RANGE"));
  EXPECT_THAT(t.out, HasSubstr("-..80.0"));
  EXPECT_THAT(t.out, HasSubstr("30.0s"));
  RunResult csv = Run({"tags", "e2e.rng.*", "--format", "csv"});
  EXPECT_THAT(csv.out, HasSubstr(",,80.0,30000000000\n"));
  // Validation: by the CLI for the text, by the node for the range.
  RunResult bad = Run({"update-tag", "e2e.rng.a", "--eng_low", "x"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("--eng_low: want a finite number or none, got 'x'"));
  RunResult inverted = Run({"update-tag", "e2e.rng.a", "--eng_low", "90"});
  EXPECT_NE(inverted.exit_code, 0);
  EXPECT_THAT(inverted.err, HasSubstr("tag.eng_low: 90 must be below tag.eng_high 80"));
  RunResult stale = Run({"create-tag", "e2e.rng.b", "--type", "double", "--stale_after", "soon"});
  EXPECT_EQ(stale.exit_code, 1);
  EXPECT_THAT(stale.err, HasSubstr("--stale_after:"));
}

TEST_F(CliE2eTest, StatsShowsTheTwinMap) {
  RunResult text = Run({"stats"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("twin_map:            us.=mx.\n"));
  // Memory by owner (issue 16).
  EXPECT_THAT(text.out, HasSubstr("memory:              head "));
  EXPECT_THAT(text.out, HasSubstr(", catalog "));
  EXPECT_THAT(text.out, HasSubstr("table_readers"));
  RunResult json = Run({"stats", "--format", "json"});
  EXPECT_THAT(json.out, HasSubstr("\"twin_map\":\"us.=mx.\""));
  EXPECT_THAT(json.out, HasSubstr("\"catalog_bytes\":"));
}

TEST_F(CliE2eTest, StatsAsJson) {
  RunResult r = Run({"stats", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("{\"site\":"));
  EXPECT_THAT(r.out, ::testing::EndsWith("}\n"));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"writes_accepted\":true"));
  EXPECT_THAT(r.out, HasSubstr("\"peers\":[]"));
  EXPECT_THAT(r.out, HasSubstr("\"column_families\":[{\"name\":"));
}

}  // namespace
}  // namespace historian
