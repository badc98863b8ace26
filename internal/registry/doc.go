// Package registry is the control plane's model registry and endpoint
// manager: it validates and stores model versions, resolves endpoints to the
// versions they serve, and builds the gateway's routing table.
//
// A push is checked by loading the artifact with its runtime before anything
// is written, so a corrupt file is refused and never becomes a version. The
// artifact is stored by its sha256 (deduplicated) and the version row is
// written in one transaction.
//
// Routing tables are rebuilt from the store whenever something that affects
// serving changes (Sync, called by the API after each write) and when the
// store's revision moves (Run, which polls, so several nodes sharing one
// PostgreSQL converge). A build that fails to load a version keeps serving
// the rest and marks that endpoint not ready; it never tears down a working
// table.
package registry
