// Package artifact stores model artifacts as content-addressed blobs on the
// local filesystem.
//
// A blob is named by the sha256 of its bytes, so the name doubles as an
// integrity check and as the deduplication key: pushing the same model file
// twice, or as two versions, stores it once, and the registry (package
// store) records only the digest. Blobs are never modified, which is what
// lets gateways on other nodes cache them by digest without invalidation.
//
// Writes are crash-safe without a lock or a journal: Put streams into a
// temp file in the store's own directory tree (same filesystem), hashing as
// it writes, fsyncs it, and renames it to sha256/<first two hex>/<digest>.
// rename is atomic, so a reader sees no blob or a whole one; a crash leaves
// only a temp file, which Open removes once it is an hour old. Concurrent
// Puts of the same content need no coordination: each renames an identical
// file into place.
//
// Reads verify: ReadAll, and the reader Open returns once it reaches the
// end, re-hash the bytes and report ErrCorrupt rather than hand a damaged
// model to a runtime. Digests from callers are validated as 64 lowercase hex
// characters before they touch a path, so "../" can never escape the store.
//
// The two-character shard directories keep any one directory small when a
// registry holds many thousands of blobs, the layout git and OCI registries
// use for the same reason.
package artifact
