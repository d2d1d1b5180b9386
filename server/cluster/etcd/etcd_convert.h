// File: etcd_convert.h
// Conversions between etcd's generated messages and our plain types
// (etcd_types.h); the only place besides the stubs' callers that sees both.
// Pure and thread-safe.
#ifndef HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_CONVERT_H_
#define HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_CONVERT_H_

#include "etcd/kv.pb.h"
#include "etcd/rpc.pb.h"
#include "server/cluster/etcd/etcd_types.h"

namespace historian::cluster {

EtcdKeyValue FromProto(const mvccpb::KeyValue& kv);
EtcdEvent FromProto(const mvccpb::Event& event);
void ToProto(const EtcdCompare& compare, etcdserverpb::Compare* out);
void ToProto(const EtcdWrite& write, etcdserverpb::RequestOp* out);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_CONVERT_H_
