#!/usr/bin/python3
"""Writes demo telemetry into a site cluster, each tag to the node that owns
its shard (docs/cluster.md): reads the placement from any node with
Cluster.Placement, computes TagShard(name, num_shards) as the nodes do
(api/core/tag_shard.h: FNV-1a 64 + MurmurHash3 fmix64, mod num_shards) and
sends every tag's samples to its owner with Ingest.WriteBatch.

Usage: cluster_demo_write.py NODE PREFIX TAGS SAMPLES [START_S]
Needs PYTHONPATH=<build>/client/python (the generated stubs)."""
import sys
import time

import grpc
from historian.v1 import cluster_pb2, cluster_pb2_grpc, ingest_pb2, ingest_pb2_grpc

MASK = (1 << 64) - 1


def tag_shard(name, num_shards):
    h = 14695981039346656037
    for c in name.encode():
        h ^= c
        h = (h * 1099511628211) & MASK
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    h ^= h >> 33
    return h % num_shards


def main():
    node, prefix, tags, samples = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    start_s = int(sys.argv[5]) if len(sys.argv) > 5 else int(time.time()) - samples
    # The demo has just run `cluster init`: wait until this node has the
    # placement (a cluster node takes no writes without one).
    deadline = time.time() + 30
    while True:
        placement = cluster_pb2_grpc.ClusterStub(grpc.insecure_channel(node)).Placement(
            cluster_pb2.PlacementRequest(), timeout=10)
        if placement.num_shards or time.time() > deadline:
            break
        time.sleep(0.2)
    per_owner = {}
    for t in range(tags):
        name = f"{prefix}.line{t // 10}.sensor{t % 10}"
        if placement.num_shards:
            owner = placement.members[placement.shard_owner[tag_shard(name, placement.num_shards)]]
            address = owner.address
        else:
            address = node
        # One client id per run (a client id reused for other samples is
        # answered `duplicate`).
        req = ingest_pb2.WriteRequest(client_id=f"cluster-demo-{prefix}-{start_s}",
                                      batch_sequence=t + 1)
        series = req.series.add()
        series.tag = name
        for i in range(samples):
            s = series.samples.add()
            s.timestamp_ns = (start_s + i) * 1_000_000_000
            s.value.double_value = 20.0 + t + (i % 60) / 10.0
        stub = ingest_pb2_grpc.IngestStub(grpc.insecure_channel(address))
        # An owner that has not read the placement yet answers UNAVAILABLE:
        # resend (client_id and batch_sequence make a resend idempotent).
        deadline = time.time() + 30
        while True:
            try:
                ack = stub.WriteBatch(req, timeout=10)
                break
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or time.time() > deadline:
                    raise
                time.sleep(0.2)
        if ack.accepted_count != samples:
            sys.exit(f"{name}: {address} accepted {ack.accepted_count} of {samples}")
        per_owner[address] = per_owner.get(address, 0) + 1
    for address, n in sorted(per_owner.items()):
        print(f"  {n:4d} tags x {samples} samples -> {address}")


if __name__ == "__main__":
    main()
