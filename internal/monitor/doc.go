// Package monitor holds what the data plane remembers about the requests it
// served, so that feedback (labels and rewards arriving later) can be joined
// to the prediction and the versions that made it.
//
// Everything here is bounded: the request memory keeps at most a fixed number
// of requests for at most a horizon, and what falls out is counted, so a
// traffic spike costs memory up to the bound and never more.
package monitor
