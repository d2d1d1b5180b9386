// File: free_port.h
// FreePort: a 127.0.0.1 TCP port nothing listens on right now and no other
// test process on this machine will be handed, for processes that must know
// their addresses before they start.
//
// Ports come from below Linux's ephemeral range (32768..60999), picked at
// random and checked free by a bind: the kernel hands ephemeral ports to
// every outgoing connection, so a port it picked and released was often
// taken by another test's client before the node bound it. Two test
// processes of a parallel ctest could still pick the same port at random
// and the later node failed "cannot bind" (CI, 2026-12-03), so each port
// handed out is also reserved, until this process exits, by a byte-range
// lock on one shared file (/tmp/historian-test-ports.lock, byte = port):
// the kernel drops the locks of a process that ends however it ends.
//
// Thread-safety: thread-safe.
#ifndef HISTORIAN_TESTS_TESTUTIL_FREE_PORT_H_
#define HISTORIAN_TESTS_TESTUTIL_FREE_PORT_H_

namespace historian::testing {

// Returns 0 only when no port could be found (the range is exhausted).
int FreePort();

// Reserves `port` for this process until it exits; false when this process
// or another live test process holds it already. FreePort calls it.
bool ReservePort(int port);

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_FREE_PORT_H_
