// File: free_port.h
// FreePort: a 127.0.0.1 TCP port nothing listens on right now, for
// processes that must know their addresses before they start.
//
// Ports come from below Linux's ephemeral range (32768..60999), picked at
// random and checked free by a bind: the kernel hands ephemeral ports to
// every outgoing connection, so a port it picked and released was often
// taken by another test's client before the node bound it ("cannot bind"
// in a parallel ctest). Two tests can still pick the same port; at random
// over ~12,000 ports that is rare.
//
// Thread-safety: thread-safe.
#ifndef HISTORIAN_TESTS_TESTUTIL_FREE_PORT_H_
#define HISTORIAN_TESTS_TESTUTIL_FREE_PORT_H_

namespace historian::testing {

int FreePort();

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_FREE_PORT_H_
