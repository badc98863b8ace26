// Package traffic decides which model version answers a request, and which
// other versions see it.
//
// Users write a Policy (weighted split, optionally sticky by a key; blue-green;
// or a multi-armed bandit; plus shadows and challengers). The control plane
// validates it, compiles it into an immutable Plan, and hands the Plan to the
// gateway, which swaps it in atomically. Plan.Route is then a pure function of
// the plan and the request's key and random numbers: it takes no lock (except
// inside a bandit's own state), touches no store, and allocates nothing, so
// it can sit on the hot path of every request and be tested by tables.
//
// Why each piece is shaped as it is:
//
//   - Randomness comes in through RouteInput (two uniform words), never from
//     a global source: tests replay exact sequences, and the gateway picks
//     the generator (per-goroutine, cheap).
//   - Sticky routing uses weighted rendezvous hashing with a fixed hash, so
//     the same key lands on the same version on every node and after every
//     restart, and raising a canary's weight only ever moves keys to the
//     canary, never between the versions that stay.
//   - Shadows are sampled with a second random word, independent of the
//     answering choice, so a 10% shadow sees 10% of each version's traffic.
//   - Bandit state is the one mutable thing: it lives behind BanditState,
//     which the control plane snapshots and restores so learning survives
//     restarts. Choose copies O(arms) numbers under a seqlock and writes no
//     shared memory, so it scales with cores; Reward takes a mutex for
//     O(1) work.
//
// docs/traffic.md describes every strategy for users, with the maths.
package traffic
