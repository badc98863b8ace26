package hugemem

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

func TestUint64s(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		mapped bool // on Linux: mapped apart, aligned to a huge page
	}{
		{"empty", 0, false},
		{"small", 1000, false},
		{"just under a page", PageSize/8 - 1, false},
		{"one page", PageSize / 8, true},
		{"a page and a bit", PageSize/8 + 3, true},
		{"the default feedback index", 1 << 21, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, free := Uint64s(tt.n)
			defer free()
			if len(table) != tt.n {
				t.Fatalf("len = %d, want %d", len(table), tt.n)
			}
			for i := range table {
				if table[i] != 0 {
					t.Fatalf("table[%d] = %d, want a zeroed table", i, table[i])
				}
				table[i] = uint64(i) * 0x9e3779b97f4a7c15
			}
			for i := range table {
				if table[i] != uint64(i)*0x9e3779b97f4a7c15 {
					t.Fatalf("table[%d] lost its value", i)
				}
			}
			if runtime.GOOS == "linux" && tt.mapped && uintptr(unsafe.Pointer(&table[0]))%PageSize != 0 {
				t.Errorf("table at %p: not aligned to a huge page", &table[0])
			}
		})
	}
}

// TestHugePages checks, where the kernel hands out transparent huge pages
// on request, that a mapped table gets them.
func TestHugePages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("huge pages are mapped on Linux only")
	}
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !strings.Contains(string(mode), "[madvise]") && !strings.Contains(string(mode), "[always]") {
		t.Skipf("transparent huge pages are off here (%q)", mode)
	}
	table, free := Uint64s(4 * PageSize / 8)
	defer free()
	for i := 0; i < len(table); i += 512 {
		table[i] = 1
	}
	start := uintptr(unsafe.Pointer(&table[0]))
	kb := anonHugeKB(t, start)
	if kb == 0 {
		// The kernel may have no free huge page at the moment; that is
		// not this package's failure, but worth seeing.
		t.Skipf("the kernel backed the table with small pages (no free huge pages?)")
	}
	if kb < 4*PageSize/1024 {
		t.Logf("%d KiB of %d on huge pages", kb, 4*PageSize/1024)
	}
}

// anonHugeKB returns AnonHugePages of the mapping that holds addr, from
// /proc/self/smaps.
func anonHugeKB(t *testing.T, addr uintptr) int {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	in := false
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			var lo, hi uintptr
			if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err == nil {
				in = lo <= addr && addr < hi
			}
			continue
		}
		if in && len(f) >= 2 && f[0] == "AnonHugePages:" {
			var kb int
			for _, c := range f[1] {
				kb = kb*10 + int(c-'0')
			}
			return kb
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return 0
}
