// File: etcd_convert.cc
#include "server/cluster/etcd/etcd_convert.h"

namespace historian::cluster {

std::string EtcdPrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

EtcdKeyValue FromProto(const mvccpb::KeyValue& kv) {
  EtcdKeyValue out;
  out.key = kv.key();
  out.value = kv.value();
  out.create_revision = kv.create_revision();
  out.mod_revision = kv.mod_revision();
  out.version = kv.version();
  out.lease = kv.lease();
  return out;
}

EtcdEvent FromProto(const mvccpb::Event& event) {
  EtcdEvent out;
  out.type =
      event.type() == mvccpb::Event::DELETE ? EtcdEvent::Type::kDelete : EtcdEvent::Type::kPut;
  out.kv = FromProto(event.kv());
  return out;
}

void ToProto(const EtcdCompare& compare, etcdserverpb::Compare* out) {
  out->set_result(etcdserverpb::Compare::EQUAL);
  out->set_key(compare.key);
  switch (compare.target) {
    case EtcdCompare::Target::kVersion:
      out->set_target(etcdserverpb::Compare::VERSION);
      out->set_version(compare.number);
      break;
    case EtcdCompare::Target::kCreateRevision:
      out->set_target(etcdserverpb::Compare::CREATE);
      out->set_create_revision(compare.number);
      break;
    case EtcdCompare::Target::kModRevision:
      out->set_target(etcdserverpb::Compare::MOD);
      out->set_mod_revision(compare.number);
      break;
    case EtcdCompare::Target::kValue:
      out->set_target(etcdserverpb::Compare::VALUE);
      out->set_value(compare.value);
      break;
  }
}

void ToProto(const EtcdWrite& write, etcdserverpb::RequestOp* out) {
  if (write.kind == EtcdWrite::Kind::kDelete) {
    out->mutable_request_delete_range()->set_key(write.key);
    return;
  }
  etcdserverpb::PutRequest* put = out->mutable_request_put();
  put->set_key(write.key);
  put->set_value(write.value);
  put->set_lease(write.lease);
}

}  // namespace historian::cluster
