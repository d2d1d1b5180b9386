// File: write_stream_metadata.h
// The call metadata of `Ingest.Write` besides the bearer token: the one place
// that names the keys the writer (client/writer.cc) and the node
// (server/ingest_service.cc) exchange. Pure constants.
#ifndef HISTORIAN_API_CORE_WRITE_STREAM_METADATA_H_
#define HISTORIAN_API_CORE_WRITE_STREAM_METADATA_H_

namespace historian {

// Client -> node, value "1": refuse a batch in band (WriteAck.refused) and
// end the stream with its status at the writer's half-close.
inline constexpr char kWriteRefusalsMetadataKey[] = "historian-write-refusals";

// Node -> client, initial metadata of every Write stream: what the node
// takes in one WriteRequest (decimal). A writer cuts a batch over either into
// slices (WriteRequest.slice); a node that does not send them does not know
// slices, and gets whole batches only.
inline constexpr char kMaxSamplesPerBatchMetadataKey[] = "historian-max-samples-per-batch";
inline constexpr char kMaxMessageBytesMetadataKey[] = "historian-max-message-bytes";

}  // namespace historian

#endif  // HISTORIAN_API_CORE_WRITE_STREAM_METADATA_H_
