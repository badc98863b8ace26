// Package manifest reads and writes Sluice's declarative files:
// Kubernetes-shaped YAML documents (apiVersion sluice.dev/v1, kind,
// metadata, spec) for model versions (kind Model), endpoints (kind
// Endpoint), rollouts (kind Rollout), batch jobs (kind Job) and stream
// pipelines (kind Stream), several to a file separated by "---", and
// directories of such files.
//
// # Why a decoder of its own
//
// A person editing a file needs to know which line is wrong. Converting
// YAML to JSON first (sigs.k8s.io/yaml) loses the positions, and
// encoding/json names neither the line nor, for an unknown field, the
// path. The decoder here walks the YAML node tree (go.yaml.in/yaml/v3)
// beside the Go type it fills, so every problem is reported as
//
//	app.yaml: spec.steps[2].setWeight: must be a percentage 0..100, got 150 (line 14)
//
// Unknown fields, wrong types and bad durations are found by the walk;
// what the types' own Validate methods (rollout.Spec, the registry's
// endpoint spec, traffic.Policy, jobs.Spec, stream.Document) report is traced back to its line by the
// field path in their messages. The walk then hands encoding/json a clean
// value, so the types keep one set of json tags for files and the API.
//
// Hostile input is bounded: a file may be at most MaxFileBytes, and a
// document that expands through YAML aliases to more than maxNodes nodes
// is refused rather than followed ("billion laughs").
//
// The package is pure apart from reading files; the CLI's apply, diff and
// get commands do the talking to the server.
package manifest
