// File: free_port.h
// FreePort: a 127.0.0.1 TCP port nothing listens on right now (the kernel's
// pick, released at once), for processes that must know their addresses
// before they start. Another process may take it meanwhile; tests accept
// that small race.
//
// Thread-safety: thread-safe (no shared state).
#ifndef HISTORIAN_TESTS_TESTUTIL_FREE_PORT_H_
#define HISTORIAN_TESTS_TESTUTIL_FREE_PORT_H_

namespace historian::testing {

int FreePort();

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_FREE_PORT_H_
