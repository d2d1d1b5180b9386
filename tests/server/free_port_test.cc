// File: free_port_test.cc
// FreePort's reservation holds across the test processes of a parallel
// ctest: a port one process was handed is never handed to another while the
// first lives, and it is free again once that process has exited.
#include "tests/testutil/free_port.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace historian::testing {
namespace {

// Runs `child` in a forked process and returns its exit code (0..255).
template <typename Fn>
int ExitCodeOfChild(Fn child) {
  const pid_t pid = fork();
  if (pid == 0) _exit(child());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

TEST(FreePortTest, APortHandedToOneProcessIsRefusedToAnotherUntilItExits) {
  const int port = FreePort();
  ASSERT_NE(port, 0);
  EXPECT_FALSE(ReservePort(port)) << "this process holds it already";

  // Another process may not have it, but can take a port nobody holds.
  EXPECT_EQ(ExitCodeOfChild([port] {
              if (ReservePort(port)) return 1;
              return FreePort() != 0 && FreePort() != port ? 0 : 2;
            }),
            0);

  // A port held by a process that has exited is free for the next one.
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  ASSERT_EQ(ExitCodeOfChild([&pipe_fds] {
              const int held = FreePort();
              return write(pipe_fds[1], &held, sizeof(held)) == sizeof(held) ? 0 : 1;
            }),
            0);
  int exited_childs_port = 0;
  ASSERT_EQ(read(pipe_fds[0], &exited_childs_port, sizeof(exited_childs_port)),
            static_cast<ssize_t>(sizeof(exited_childs_port)));
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  ASSERT_NE(exited_childs_port, 0);
  EXPECT_TRUE(ReservePort(exited_childs_port));
}

}  // namespace
}  // namespace historian::testing
