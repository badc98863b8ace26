package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/batch"
)

func TestProgressPrinter(t *testing.T) {
	tests := []struct {
		mode string
		p    batch.Progress
		want string
	}{
		{"lines", batch.Progress{RowsIn: 500000, Rejected: 3, Done: 50, Total: 100, Elapsed: 2 * time.Second}, "batch: 500000 rows (3 rejected), 250.0k rows/s, 50%, eta 2s\n"},
		{"bar", batch.Progress{RowsIn: 2500000, Done: 25, Total: 100, Elapsed: time.Second, Finished: true}, "\r[=======                       ]  25%  2500000 rows  2.50M rows/s  ETA 3s  "},
		{"off", batch.Progress{RowsIn: 1, Finished: true}, ""},
		{"lines", batch.Progress{RowsIn: 10, ResumedRows: 4, Elapsed: time.Second, Finished: true}, "batch: 10 rows (0 rejected), 6 rows/s, 0%, eta ?\n"},
	}
	for _, tt := range tests {
		var sb strings.Builder
		p, err := newProgressPrinter(&sb, tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		p.update(tt.p)
		if sb.String() != tt.want {
			t.Errorf("%s %+v:\n got %q\nwant %q", tt.mode, tt.p, sb.String(), tt.want)
		}
	}
	if _, err := newProgressPrinter(&strings.Builder{}, "fancy"); err == nil || !strings.Contains(err.Error(), "--progress") {
		t.Errorf("bad mode: %v", err)
	}
}
