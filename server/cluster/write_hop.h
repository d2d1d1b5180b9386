// File: write_hop.h
// WriteHop: what a forwarded write part says about its route, so the member
// that gets it can tell a sender routing by an older placement from one
// routing by a newer one (docs/cluster.md, "Routing writes", "Two hops at
// most").
//
// A member forwarding a part marks it with the placement revision it routed
// by; a part forwarded by a member that got it forwarded (the second hop)
// is marked as such and is never forwarded again. A part from a member that
// predates these marks carries only the forwarded marker: no revision, so it
// is never forwarded on (one hop, as before).
//
//   WriteHop hop = WriteHop::Of(caller);
//   if (hop.MayForwardOnAt(placement.revision())) { split and forward again }
//   WriteHop::Mark(&call_context, placement.revision(), /*second_hop=*/hop.forwarded);
#ifndef HISTORIAN_SERVER_CLUSTER_WRITE_HOP_H_
#define HISTORIAN_SERVER_CLUSTER_WRITE_HOP_H_

#include <cstdint>
#include <optional>

#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"

namespace historian::cluster {

// Metadata key: the placement revision the forwarding member routed by.
inline constexpr char kRoutedAtRevisionMetadataKey[] = "x-historian-routed-at-revision";
// Metadata key (value "1"): the part was forwarded twice; never again.
inline constexpr char kSecondHopMetadataKey[] = "x-historian-second-hop";

struct WriteHop {
  bool forwarded = false;   // came from another member (the forwarded marker)
  bool second_hop = false;  // forwarded by a member that got it forwarded
  // The sender's placement revision; none from a member that predates it.
  std::optional<int64_t> routed_at_revision;

  // Reads the marks of the request behind `caller`.
  static WriteHop Of(const grpc::ServerContextBase& caller);

  // Adds the marks to a forwarded call (after MemberChannels::PrepareForwardedCall).
  static void Mark(grpc::ClientContext* call, int64_t revision, bool second_hop);

  // True when a forwarded part holding tags this member does not own at
  // `revision` may go on to their owners: it came one hop only, and its
  // sender routed by an older placement than this member holds (so the
  // owners this member names are newer than the sender's). Otherwise the
  // part is refused (ABORTED) and the sender's client retries.
  bool MayForwardOnAt(int64_t revision) const {
    return forwarded && !second_hop && routed_at_revision.has_value() &&
           *routed_at_revision < revision;
  }
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_WRITE_HOP_H_
