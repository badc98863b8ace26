//go:build !linux

package hugemem

// mapUint64s has no huge pages to offer on this platform.
func mapUint64s(int) ([]uint64, func(), bool) { return nil, nil, false }
