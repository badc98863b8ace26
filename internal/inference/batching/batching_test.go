package batching

import (
	"context"
	"errors"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluicehq/sluice/internal/inference"
)

// wrap wraps m and closes the batcher at the end of the test.
func wrap(t testing.TB, m inference.Model, cfg Config) *Model {
	t.Helper()
	b := Wrap(m, cfg).(*Model)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// ownRows sends each row range from many goroutines at once and checks
// that every caller gets exactly what the unwrapped model gives for its
// rows.
func ownRows(t *testing.T, fx fixture, tol float64) {
	c := &counting{Model: fx.model}
	b := wrap(t, c, Config{MaxBatchRows: 16, MaxWait: 2 * time.Millisecond})
	type req struct{ lo, hi int }
	var reqs []req
	for lo := 0; lo < len(fx.rows); {
		n := 1 + lo%3 // 1, 2 or 3 rows: merged tensors mix request sizes
		hi := min(lo+n, len(fx.rows))
		reqs = append(reqs, req{lo, hi})
		lo = hi
	}
	want := make([][]inference.Tensor, len(reqs))
	for i, r := range reqs {
		out, err := fx.model.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[r.lo:r.hi]...)})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = out
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				r := reqs[i]
				got, err := b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[r.lo:r.hi]...)})
				if err != nil {
					t.Errorf("rows %d..%d: %v", r.lo, r.hi, err)
					continue
				}
				if diff := cmp.Diff(want[i], got, cmpopts.EquateApprox(0, tol), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("rows %d..%d (-alone +batched):\n%s", r.lo, r.hi, diff)
				}
			}
		})
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()

	calls := c.rowsPerCall()
	total, biggest := 0, 0
	for _, n := range calls {
		total += n
		biggest = max(biggest, n)
	}
	t.Logf("%d requests, %d runtime calls, largest %d rows", len(reqs), len(calls), biggest)
	if total != len(fx.rows) {
		t.Errorf("runtime scored %d rows, want %d", total, len(fx.rows))
	}
	if len(calls) >= len(reqs) || biggest <= 3 {
		t.Errorf("%d runtime calls for %d requests, largest %d rows: nothing was merged", len(calls), len(reqs), biggest)
	}
	if biggest > 16 {
		t.Errorf("a runtime call had %d rows, more than MaxBatchRows 16", biggest)
	}
}

func TestOwnRowsXGBoost(t *testing.T) { ownRows(t, loadXGBoost(t), 0) }

// The MLP's matrix products may round differently with the batch size.
func TestOwnRowsONNX(t *testing.T) { ownRows(t, loadONNX(t), 1e-6) }

func TestFullGroupRunsAtOnce(t *testing.T) {
	fx := loadXGBoost(t)
	c := &counting{Model: fx.model}
	b := wrap(t, c, Config{MaxBatchRows: 8, MaxWait: 500 * time.Millisecond})
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[i])}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took > 400*time.Millisecond {
		t.Errorf("8 rows with MaxBatchRows 8 took %s: the full group waited for MaxWait", took)
	}
	if got := c.rowsPerCall(); !slices.Equal(got, []int{8}) {
		t.Errorf("runtime calls had rows %v, want [8]", got)
	}
}

func TestMaxWait(t *testing.T) {
	fx := loadXGBoost(t)
	c := &counting{Model: fx.model}
	const wait = 100 * time.Millisecond
	b := wrap(t, c, Config{MaxBatchRows: 64, MaxWait: wait})

	// A lone call waits MaxWait for company, and no longer.
	start := time.Now()
	if _, err := b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[0])}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < wait || took > wait+300*time.Millisecond {
		t.Errorf("lone call took %s, want about MaxWait %s", took, wait)
	}
	// A call arriving within MaxWait of the first joins its group.
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[1])}); err != nil {
			t.Error(err)
		}
	})
	time.Sleep(wait / 4)
	if _, err := b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[2], fx.rows[3])}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got := c.rowsPerCall(); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("runtime calls had rows %v, want [1 3]", got)
	}
}

// MaxWait 0 merges only calls that queue while the runtime is busy.
func TestNoWaitMergesWhileBusy(t *testing.T) {
	fx := loadXGBoost(t)
	g := newGated(fx.model)
	c := &counting{Model: g}
	b := wrap(t, c, Config{MaxBatchRows: 64, Concurrency: 1})
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[0])}) })
	<-g.entered // the first call holds the only slot
	for i := 1; i <= 5; i++ {
		wg.Go(func() { _, _ = b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[i])}) })
	}
	waitFor(t, "5 calls queued", func() bool { return b.pending() == 5 })
	close(g.release)
	wg.Wait()
	if got := c.rowsPerCall(); !slices.Equal(got, []int{1, 5}) {
		t.Errorf("runtime calls had rows %v, want [1 5]", got)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	fx := loadXGBoost(t)
	g := newGated(fx.model)
	c := &counting{Model: g}
	b := wrap(t, c, Config{MaxBatchRows: 64, Concurrency: 1})
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[0])}) })
	<-g.entered

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.Predict(ctx, []inference.Tensor{fx.tensor(fx.rows[1], fx.rows[2])})
		errc <- err
	}()
	var kept []inference.Tensor
	wg.Go(func() {
		var err error
		if kept, err = b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[3])}); err != nil {
			t.Error(err)
		}
	})
	waitFor(t, "2 calls queued", func() bool { return b.pending() == 2 })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled call = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled call did not return while its group waited")
	}
	close(g.release)
	wg.Wait()
	if got := c.rowsPerCall(); !slices.Equal(got, []int{1, 1}) {
		t.Errorf("runtime calls had rows %v, want [1 1]: the cancelled rows were scored", got)
	}
	want, _ := fx.model.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[3])})
	if diff := cmp.Diff(want, kept); diff != "" {
		t.Errorf("surviving call (-want +got):\n%s", diff)
	}
}

func TestCancelInFlight(t *testing.T) {
	fx := loadXGBoost(t)
	g := newGated(fx.model)
	b := wrap(t, g, Config{MaxBatchRows: 2, MaxWait: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.Predict(ctx, []inference.Tensor{fx.tensor(fx.rows[0])})
		errc <- err
	}()
	var kept []inference.Tensor
	var keptErr error
	var wg sync.WaitGroup
	wg.Go(func() { kept, keptErr = b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[1])}) })
	<-g.entered // both rows are in the runtime
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller got %v, want context.Canceled", err)
	}
	close(g.release)
	wg.Wait()
	if keptErr != nil || len(kept) == 0 || kept[0].Shape[0] != 1 {
		t.Errorf("other caller got %v, %v; want its row", kept, keptErr)
	}
	if err := g.ctxs[0].Err(); err != nil {
		t.Errorf("the merged call's context ended (%v) when one caller left", err)
	}
}

func TestBadInputIsolated(t *testing.T) {
	fx := loadLinear(t) // linear models refuse missing values
	c := &counting{Model: fx.model}
	g := newGated(c)
	b := wrap(t, g, Config{MaxBatchRows: 64, Concurrency: 1})
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[0])}) })
	<-g.entered // the first call holds the only slot while the others queue
	bad := map[int]bool{2: true, 5: true}
	results := make([]error, 8)
	outs := make([][]inference.Tensor, 8)
	for i := range 8 {
		row := slices.Clone(fx.rows[10+i])
		if bad[i] {
			row[1] = math.NaN()
		}
		wg.Go(func() { outs[i], results[i] = b.Predict(context.Background(), []inference.Tensor{fx.tensor(row)}) })
	}
	waitFor(t, "8 calls queued", func() bool { return b.pending() == 8 })
	close(g.release)
	wg.Wait()
	for i := range 8 {
		var ie *inference.InputError
		switch {
		case bad[i] && !errors.As(results[i], &ie):
			t.Errorf("call %d (NaN) = %v, want *inference.InputError", i, results[i])
		case !bad[i] && results[i] != nil:
			t.Errorf("call %d (good) failed with a neighbour's error: %v", i, results[i])
		case !bad[i]:
			want, _ := fx.model.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[10+i])})
			if diff := cmp.Diff(want, outs[i]); diff != "" {
				t.Errorf("call %d (-want +got):\n%s", i, diff)
			}
		}
	}
	if got := c.rowsPerCall(); len(got) < 2 || got[1] <= 1 {
		t.Errorf("runtime calls had rows %v; want the good and bad rows merged first", got)
	}
}

func TestQueueFull(t *testing.T) {
	fx := loadXGBoost(t)
	g := newGated(fx.model)
	b := wrap(t, g, Config{MaxBatchRows: 64, MaxQueue: 2, Concurrency: 1})
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[0])}) })
	<-g.entered
	for i := range 2 {
		wg.Go(func() { _, _ = b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[i])}) })
	}
	waitFor(t, "2 calls queued", func() bool { return b.pending() == 2 })
	_, err := b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[3])})
	if !errors.Is(err, inference.ErrBackendUnavailable) || !strings.Contains(err.Error(), "batch queue full") {
		t.Errorf("Predict on a full queue = %v, want ErrBackendUnavailable (batch queue full)", err)
	}
	close(g.release)
	wg.Wait()
}

func TestUnmergeableRunAlone(t *testing.T) {
	fx := loadXGBoost(t)
	c := &counting{Model: fx.model}
	b := wrap(t, c, Config{MaxBatchRows: 4, MaxWait: time.Second})
	one := fx.tensor(fx.rows[0])
	flat := one
	flat.Shape = flat.Shape[1:] // [30]: one row without the batch dimension
	for _, tc := range []struct {
		name string
		in   []inference.Tensor
	}{
		{"single-row-vector", []inference.Tensor{flat}},
		{"too-many-rows", []inference.Tensor{fx.tensor(fx.rows[:5]...)}},
		{"zero-rows", []inference.Tensor{{Name: fx.input, Datatype: inference.FP64, Shape: []int64{0, 30}, F64: []float64{}}}},
		{"two-inputs", []inference.Tensor{one, one}},
		{"bad-shape", []inference.Tensor{{Name: fx.input, Datatype: inference.FP64, Shape: []int64{2, 30}, F64: make([]float64, 30)}}},
		{"other-name", []inference.Tensor{{Name: "other", Datatype: inference.FP64, Shape: []int64{1, 30}, F64: make([]float64, 30)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A queued call would take MaxWait (1s) to come back.
			want, wantErr := fx.model.Predict(context.Background(), tc.in)
			got, err := b.Predict(context.Background(), tc.in)
			if (err == nil) != (wantErr == nil) || !cmp.Equal(want, got, cmpopts.EquateEmpty()) {
				t.Errorf("Predict = %v, %v; want %v, %v", got, err, want, wantErr)
			}
		})
	}
}

// batchStat is a model whose second output is a statistic of the whole
// batch, so outputs are not row-aligned.
type batchStat struct{ inference.Model }

func (m batchStat) Predict(ctx context.Context, in []inference.Tensor) ([]inference.Tensor, error) {
	out, err := m.Model.Predict(ctx, in)
	if err != nil {
		return nil, err
	}
	return append(out, inference.Tensor{Name: "rows", Datatype: inference.INT64, Shape: []int64{}, I64: []int64{in[0].Shape[0]}}), nil
}

func TestUnalignedOutputs(t *testing.T) {
	fx := loadXGBoost(t)
	c := &counting{Model: batchStat{fx.model}}
	g := newGated(c)
	b := wrap(t, g, Config{MaxBatchRows: 64, Concurrency: 1})
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[0])}) })
	<-g.entered
	outs := make([][]inference.Tensor, 3)
	for i := range 3 {
		wg.Go(func() {
			var err error
			if outs[i], err = b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[1+i])}); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "3 calls queued", func() bool { return b.pending() == 3 })
	close(g.release)
	wg.Wait()
	for i, out := range outs {
		if len(out) != 2 || out[1].I64[0] != 1 {
			t.Errorf("call %d got %v, want its own answer with rows=1", i, out)
		}
	}
	if !b.unaligned.Load() {
		t.Errorf("batching still on after unaligned outputs")
	}
	if got := c.rowsPerCall(); !slices.Equal(got, []int{1, 3, 1, 1, 1}) {
		t.Errorf("runtime calls had rows %v, want [1 3 1 1 1]", got)
	}
}

// closer records Close.
type closer struct {
	inference.Model
	closed bool
}

func (c *closer) Close() error { c.closed = true; return nil }

// warmer records Warm.
type warmer struct {
	*closer
	warmed bool
}

func (w *warmer) Warm(context.Context) error { w.warmed = true; return nil }

func TestCloseAndForwarding(t *testing.T) {
	fx := loadXGBoost(t)
	before := runtime.NumGoroutine()
	inner := &warmer{closer: &closer{Model: fx.model}}
	m := Wrap(inner, Config{})
	if diff := cmp.Diff(fx.model.Signature(), m.Signature()); diff != "" {
		t.Errorf("Signature (-inner +wrapped):\n%s", diff)
	}
	if err := m.(inference.Warmer).Warm(context.Background()); err != nil || !inner.warmed {
		t.Errorf("Warm = %v, inner warmed %v", err, inner.warmed)
	}
	if _, err := m.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[0])}); err != nil {
		t.Fatal(err)
	}
	if err := m.(io.Closer).Close(); err != nil || !inner.closed {
		t.Errorf("Close = %v, inner closed %v", err, inner.closed)
	}
	if err := m.(io.Closer).Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	waitFor(t, "batcher goroutine still running after Close", func() bool { return runtime.NumGoroutine() <= before })
	for _, in := range [][]inference.Tensor{{fx.tensor(fx.rows[0])}, {fx.tensor(fx.rows[0]), fx.tensor(fx.rows[1])}} {
		if _, err := m.Predict(context.Background(), in); !errors.Is(err, inference.ErrBackendUnavailable) {
			t.Errorf("Predict after Close = %v, want ErrBackendUnavailable", err)
		}
	}
}

func TestCloseRunsQueuedCalls(t *testing.T) {
	fx := loadXGBoost(t)
	b := Wrap(fx.model, Config{MaxWait: time.Second}).(*Model)
	errc := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, err := b.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[i])})
			errc <- err
		}()
	}
	waitFor(t, "3 calls queued", func() bool { return b.pending() == 3 })
	start := time.Now()
	b.Close()
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Close took %s: it waited for MaxWait", took)
	}
	for range 3 {
		if err := <-errc; err != nil {
			t.Errorf("queued call failed at Close: %v", err)
		}
	}
}

func TestParseParams(t *testing.T) {
	cfg, on, err := ParseParams(map[string]string{"batch.max_rows": "32", "batch.max_wait": "2ms", "batch.max_queue": "100", "batch.concurrency": "8", "threads": "2"})
	if err != nil || !on {
		t.Fatalf("ParseParams = %v, %v", on, err)
	}
	if want := (Config{MaxBatchRows: 32, MaxWait: 2 * time.Millisecond, MaxQueue: 100, Concurrency: 8}); cfg != want {
		t.Errorf("config = %+v, want %+v", cfg, want)
	}
	if _, on, err := ParseParams(map[string]string{"threads": "2"}); on || err != nil {
		t.Errorf("no batch params: on %v, err %v; want off", on, err)
	}
	if _, on, _ := ParseParams(map[string]string{"batch.max_rows": "1"}); on {
		t.Errorf("batch.max_rows 1 turned batching on")
	}
	for params, want := range map[string]string{
		"batch.max_rows=-1":   `batch.max_rows: "-1" is not a whole number`,
		"batch.max_wait=2":    `batch.max_wait: "2" is not a duration`,
		"batch.max_wait=5s":   `batch.max_wait: 5s is outside 0..1s`,
		"batch.max_wait=-1ms": `batch.max_wait: -1ms is outside`,
		"batch.size=8":        `batch.size: unknown parameter`,
	} {
		k, v, _ := strings.Cut(params, "=")
		if _, _, err := ParseParams(map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseParams(%s) = %v, want an error containing %q", params, err, want)
		}
	}
	if !IsParam("batch.max_rows") || IsParam("threads") {
		t.Errorf("IsParam is wrong")
	}
}

// waitFor polls cond until it holds, failing after 5s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

// TestStress mixes request sizes, cancellations and a Close racing with
// callers, under each kind of configuration; run it with -race.
func TestStress(t *testing.T) {
	fx := loadXGBoost(t)
	for _, cfg := range []Config{
		{MaxBatchRows: 8, Concurrency: 1},
		{MaxBatchRows: 8, Concurrency: 3},
		{MaxBatchRows: 5, MaxWait: time.Millisecond, Concurrency: 2},
		{MaxBatchRows: 64, MaxWait: 100 * time.Microsecond, MaxQueue: 16},
	} {
		t.Run("", func(t *testing.T) {
			b := Wrap(fx.model, cfg).(*Model)
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					for i := range 60 {
						lo := (g*61 + i*7) % (len(fx.rows) - 3)
						hi := lo + 1 + i%3
						ctx, cancel := context.WithCancel(context.Background())
						if i%10 == 3 {
							cancel() // some callers give up at once, others on the way
						} else if i%10 == 7 {
							time.AfterFunc(50*time.Microsecond, cancel)
						}
						got, err := b.Predict(ctx, []inference.Tensor{fx.tensor(fx.rows[lo:hi]...)})
						cancel()
						switch {
						case errors.Is(err, context.Canceled), errors.Is(err, errQueueFull), errors.Is(err, errClosed):
							continue
						case err != nil:
							t.Errorf("Predict: %v", err)
							return
						}
						want, _ := fx.model.Predict(context.Background(), []inference.Tensor{fx.tensor(fx.rows[lo:hi]...)})
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("rows %d..%d (-alone +batched):\n%s", lo, hi, diff)
							return
						}
					}
				})
			}
			// Close while callers are still at it: every call returns,
			// answered or refused.
			time.Sleep(5 * time.Millisecond)
			b.Close()
			wg.Wait()
			if n := b.pending(); n != 0 {
				t.Errorf("%d calls left queued after Close", n)
			}
		})
	}
}
