package monitor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// refRecent is the request memory as a plain map of pointers: the model
// Recent must behave like.
type refRecent struct {
	horizon time.Duration
	max     int
	now     func() time.Time
	byID    map[string]*Request
	order   []string
	head, n int
	dropped uint64
}

func newRefRecent(max int, horizon time.Duration, now func() time.Time) *refRecent {
	return &refRecent{horizon: horizon, max: max, now: now, byID: map[string]*Request{}, order: make([]string, max)}
}

func (r *refRecent) Add(req *Request) {
	r.expire()
	if _, dup := r.byID[req.ID]; dup {
		r.byID[req.ID] = req
		return
	}
	if r.n == r.max {
		delete(r.byID, r.order[r.head])
		r.head = (r.head + 1) % r.max
		r.n--
		r.dropped++
	}
	r.order[(r.head+r.n)%r.max] = req.ID
	r.n++
	r.byID[req.ID] = req
}

func (r *refRecent) AddMirror(id string, p Prediction) bool {
	req := r.byID[id]
	if req == nil {
		return false
	}
	req.Mirrors = append(req.Mirrors, p)
	return true
}

func (r *refRecent) Get(id string) (Request, bool) {
	req := r.byID[id]
	if req == nil || r.now().Sub(req.Time) > r.horizon {
		return Request{}, false
	}
	out := *req
	out.Mirrors = append([]Prediction(nil), req.Mirrors...)
	return out, true
}

func (r *refRecent) expire() {
	now := r.now()
	for r.n > 0 {
		id := r.order[r.head]
		if now.Sub(r.byID[id].Time) <= r.horizon {
			return
		}
		delete(r.byID, id)
		r.head = (r.head + 1) % r.max
		r.n--
	}
}

// blocksInUse returns the log blocks holding memory, the spare included.
func (r *Recent) blocksInUse() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.blocks {
		if b.buf != nil {
			n++
		}
	}
	if r.spare != nil {
		n++
	}
	return n
}

// check verifies that every block counts the records of remembered
// requests in it and that only the current block is kept without any.
func (r *Recent) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	live := make(map[uint32]int)
	for k := 0; k < r.n; k++ {
		i := (r.head + k) % r.max
		s := &r.slots[i]
		if j, ok := r.index.find(s.hash, r.slots); !ok || int(j) != i {
			t.Fatalf("slot %d: index has %d, %v", i, j, ok)
		}
		live[s.blk]++
		m := uint32(0)
		for blk, off := s.mblk, s.moff; blk != noRecord; m++ {
			live[blk]++
			blk, off = mirrorPrev(r.blocks[blk].buf[off:])
		}
		if m != s.nmir {
			t.Fatalf("slot %d: %d mirror records, want %d", i, m, s.nmir)
		}
	}
	if r.index.n != r.n {
		t.Fatalf("index has %d ids, want %d", r.index.n, r.n)
	}
	if err := r.index.verify(r.slots); err != nil {
		t.Fatal(err)
	}
	for blk, b := range r.blocks {
		if b.live != live[uint32(blk)] {
			t.Fatalf("block %d counts %d records, has %d", blk, b.live, live[uint32(blk)])
		}
		if b.buf != nil && b.live == 0 && uint32(blk) != r.cur {
			t.Fatalf("block %d is kept without records", blk)
		}
	}
}

// randPrediction returns a prediction of up to maxValues values.
func randPrediction(rng *rand.Rand, maxValues int) Prediction {
	p := Prediction{Version: rng.IntN(5) - 1, Width: 1 + rng.IntN(3), Latency: time.Duration(rng.Int64N(int64(time.Second)))}
	if rng.IntN(3) == 0 {
		p.Role = []string{"stable", "canary", "shadow", "challenger"}[rng.IntN(4)]
	}
	if rng.IntN(5) == 0 {
		p.Err = strconv.Itoa(rng.Int()) + " failed"
	}
	switch rng.IntN(4) {
	case 0: // nil
	case 1:
		p.Values = []float64{}
	default:
		p.Values = make([]float64, rng.IntN(maxValues+1))
		for k := range p.Values {
			p.Values[k] = rng.NormFloat64()
		}
		if len(p.Values) > 0 && rng.IntN(4) == 0 {
			p.Values[0] = math.NaN()
		}
	}
	return p
}

// clonePrediction returns p with its own values.
func clonePrediction(p Prediction) Prediction {
	if p.Values != nil {
		p.Values = append([]float64{}, p.Values...)
	}
	return p
}

// cloneRequest returns a deep copy of req.
func cloneRequest(req *Request) *Request {
	c := *req
	c.Answer = clonePrediction(req.Answer)
	if req.Mirrors != nil {
		c.Mirrors = make([]Prediction, len(req.Mirrors))
		for k, m := range req.Mirrors {
			c.Mirrors[k] = clonePrediction(m)
		}
	}
	if req.Groups != nil {
		c.Groups = append([]string{}, req.Groups...)
	}
	return &c
}

// sameRequest reports whether two requests hold the same data, NaN
// values and times in the same instant and zone included.
func sameRequest(got, want Request) bool {
	if !got.Time.Equal(want.Time) || got.Time.Location() != want.Time.Location() {
		return false
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	return fmt.Sprintf("%#v", got) == fmt.Sprintf("%#v", want)
}

// oneRunHash gives each "req-N" id its own hash, but all of them the same
// tag and a home at the end of the index: they form one probe run that
// wraps around.
func oneRunHash(id string) uint64 {
	n, err := strconv.ParseUint(id[len("req-"):], 10, 32)
	if err != nil {
		panic(err)
	}
	return hashOf(^n)
}

func TestRecentMatchesReference(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		horizon   time.Duration
		blockSize int
		ids       int // distinct ids drawn from
		maxValues int
		ops       int
		// hash replaces the id hash when set.
		hash func(id string) uint64
	}{
		{"one slot", 1, time.Minute, 64, 3, 4, 2000, nil},
		{"small blocks many records", 50, time.Minute, 256, 120, 40, 20000, nil},
		{"records larger than blocks", 20, time.Minute, 64, 40, 300, 5000, nil},
		{"few ids many duplicates", 30, time.Hour, 512, 25, 10, 20000, nil},
		{"short horizon", 200, 5 * time.Second, 1024, 1000, 8, 20000, nil},
		{"default blocks", 1000, time.Minute, 0, 3000, MaxValues, 10000, nil},
		{"one probe run", 100, time.Minute, 512, 300, 8, 20000, oneRunHash},
	}
	for _, tt := range tests {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", tt.name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 7))
				now := time.Unix(1_700_000_000, 0)
				clock := func() time.Time { return now }
				r := NewRecent(tt.max, tt.horizon)
				r.now = clock
				if tt.blockSize > 0 {
					r.blockSize = tt.blockSize
				}
				if tt.hash != nil {
					r.fixedHash = make(map[string]uint64, tt.ids)
					for k := range tt.ids {
						id := "req-" + strconv.Itoa(k)
						r.fixedHash[id] = tt.hash(id)
					}
				}
				ref := newRefRecent(tt.max, tt.horizon, clock)
				id := func() string { return "req-" + strconv.Itoa(rng.IntN(tt.ids)) }
				for op := 0; op < tt.ops; op++ {
					switch k := rng.IntN(100); {
					case k < 35: // Add, sometimes a repeated id
						req := &Request{ID: id(), Endpoint: fmt.Sprintf("ep%d", rng.IntN(3)), Time: now, Answer: randPrediction(rng, tt.maxValues)}
						switch rng.IntN(20) {
						case 0:
							req.Time = time.Time{}
						case 1:
							req.Time = now.UTC()
						case 2:
							req.Time = now.Add(-time.Duration(rng.Int64N(int64(2 * tt.horizon))))
						}
						if rng.IntN(3) == 0 {
							req.Groups = make([]string, rng.IntN(5))
							for g := range req.Groups {
								req.Groups[g] = strconv.Itoa(rng.IntN(100))
							}
						}
						for m := rng.IntN(4) - 2; m > 0; m-- {
							req.Mirrors = append(req.Mirrors, randPrediction(rng, tt.maxValues))
						}
						r.Add(cloneRequest(req))
						ref.Add(req)
					case k < 65:
						id, p := id(), randPrediction(rng, tt.maxValues)
						got, want := r.AddMirror(id, clonePrediction(p)), ref.AddMirror(id, p)
						if got != want {
							t.Fatalf("op %d: AddMirror(%s) = %v, want %v", op, id, got, want)
						}
					case k < 95:
						id := id()
						got, gotOK := r.Get(id)
						want, wantOK := ref.Get(id)
						if gotOK != wantOK || !sameRequest(got, want) {
							t.Fatalf("op %d: Get(%s) =\n%+v, %v\nwant\n%+v, %v", op, id, got, gotOK, want, wantOK)
						}
						if gotOK && len(got.Answer.Values) > 0 {
							got.Answer.Values[0] = 42 // the copy is the caller's
						}
					case k < 99:
						now = now.Add(time.Duration(rng.Int64N(int64(tt.horizon / 10))))
					default:
						now = now.Add(tt.horizon + time.Second)
					}
					if r.Len() != ref.n || r.Dropped() != ref.dropped {
						t.Fatalf("op %d: Len %d Dropped %d, want %d and %d", op, r.Len(), r.Dropped(), ref.n, ref.dropped)
					}
					if op%97 == 0 {
						r.check(t)
					}
				}
				r.check(t)
			})
		}
	}
}

func TestRecentLargeRecord(t *testing.T) {
	tests := []struct {
		name    string
		answer  int // values in the answer
		mirror  int // values in the mirror
		groups  int
		idBytes int
	}{
		{"answer larger than a block", 1000, 1, 0, 4},
		{"mirror larger than a block", 1, 1000, 0, 4},
		{"groups larger than a block", 1, 1, 2000, 4},
		{"id larger than a block", 1, 1, 0, 10000},
		{"both larger than a block", 1000, 3000, 10, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecent(10, time.Hour)
			r.blockSize = 256
			fill := func(n int) []float64 {
				v := make([]float64, n)
				for k := range v {
					v[k] = float64(k) / 3
				}
				return v
			}
			id := fmt.Sprintf("%0*d", tt.idBytes, 7)
			want := Request{ID: id, Endpoint: "e", Time: time.Unix(100, 5), Answer: Prediction{Version: 1, Values: fill(tt.answer), Width: 1}}
			if tt.groups > 0 {
				want.Groups = make([]string, tt.groups)
				for g := range want.Groups {
					want.Groups[g] = "group-" + strconv.Itoa(g)
				}
			}
			r.now = func() time.Time { return want.Time }
			r.Add(&Request{ID: "small", Time: want.Time})
			r.Add(cloneRequest(&want))
			m := Prediction{Version: 2, Role: "shadow", Values: fill(tt.mirror), Width: 1}
			if !r.AddMirror(id, m) {
				t.Fatal("AddMirror of a remembered id returned false")
			}
			want.Mirrors = []Prediction{m}
			got, ok := r.Get(id)
			if !ok || !sameRequest(got, want) {
				t.Fatalf("Get = %v, %v; want the request back", got.Answer, ok)
			}
			if _, ok := r.Get("small"); !ok {
				t.Error("the small request before the large one is lost")
			}
			r.check(t)
			for k := 0; k < 20; k++ {
				r.Add(&Request{ID: strconv.Itoa(k), Time: want.Time})
			}
			r.check(t)
			if n := r.blocksInUse(); n > 3 {
				t.Errorf("%d blocks in use after the large request was dropped, want at most 3", n)
			}
		})
	}
}

func TestRecentMemoryBounded(t *testing.T) {
	const max = 1000
	tests := []struct {
		name string
		// step adds request k at *now and may move the clock.
		step func(r *Recent, k int, now *time.Time)
		// want is the most blocks in use at the end.
		want int
	}{
		{"count limit", func(r *Recent, k int, now *time.Time) {
			id := strconv.Itoa(k)
			r.Add(&Request{ID: id, Endpoint: "e", Time: *now, Answer: Prediction{Values: make([]float64, 8)}})
			r.AddMirror(id, Prediction{Role: "shadow", Values: make([]float64, 8)})
		}, 0},
		{"horizon", func(r *Recent, k int, now *time.Time) {
			*now = now.Add(time.Second) // 100 requests live at a time
			r.Add(&Request{ID: strconv.Itoa(k), Endpoint: "e", Time: *now, Answer: Prediction{Values: make([]float64, 8)}})
		}, 0},
		{"late mirrors", func(r *Recent, k int, now *time.Time) {
			r.Add(&Request{ID: strconv.Itoa(k), Endpoint: "e", Time: *now, Answer: Prediction{Values: make([]float64, 8)}})
			for j := 1; j <= 3; j++ { // the id 1,000 requests back is gone
				r.AddMirror(strconv.Itoa(k-j*max/3), Prediction{Role: "shadow", Values: make([]float64, 8)})
			}
		}, 0},
		{"mirrors of forgotten ids", func(r *Recent, k int, now *time.Time) {
			r.Add(&Request{ID: strconv.Itoa(k), Endpoint: "e", Time: *now, Answer: Prediction{Values: make([]float64, 8)}})
			for j := 0; j < 5; j++ {
				r.AddMirror(strconv.Itoa(k-max-j), Prediction{Role: "shadow", Values: make([]float64, 8)})
			}
		}, 0},
		{"duplicates", func(r *Recent, k int, now *time.Time) {
			r.Add(&Request{ID: strconv.Itoa(k % 10), Endpoint: "e", Time: *now, Answer: Prediction{Values: make([]float64, 8)}})
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecent(max, 100*time.Second)
			now := time.Unix(1000, 0)
			r.now = func() time.Time { return now }
			var liveBytes int
			for k := 0; k < 10*max; k++ {
				tt.step(r, k, &now)
			}
			r.check(t)
			r.mu.Lock()
			for blk, b := range r.blocks {
				if b.buf != nil && uint32(blk) != r.cur {
					liveBytes += len(b.buf)
				}
			}
			blockSize := r.blockSize
			r.mu.Unlock()
			// The records of max requests fit in about max*200 bytes;
			// the current block and a spare come on top.
			want := tt.want
			if want == 0 {
				want = (max*200+blockSize-1)/blockSize + 2
			}
			if n := r.blocksInUse(); n > want {
				t.Errorf("%d blocks of %d bytes in use (%d bytes in full blocks) after %d requests, want at most %d", n, blockSize, liveBytes, 10*max, want)
			}
		})
	}
}

func TestRecentHashCollision(t *testing.T) {
	r := NewRecent(10, time.Hour)
	r.fixedHash = map[string]uint64{"a": 1, "b": 1, "c": 1, "bb": 2}
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	r.Add(&Request{ID: "a", Time: now, Answer: Prediction{Version: 1}})
	r.Add(&Request{ID: "bb", Time: now, Answer: Prediction{Version: 2}})
	if _, ok := r.Get("b"); ok {
		t.Error("Get of an id that shares a hash with a remembered one succeeded")
	}
	if r.AddMirror("b", Prediction{}) {
		t.Error("AddMirror of an id that shares a hash with a remembered one succeeded")
	}
	r.Add(&Request{ID: "c", Time: now, Answer: Prediction{Version: 3}})
	if _, ok := r.Get("a"); ok {
		t.Error("a request replaced by one of the same hash is still returned")
	}
	if got, ok := r.Get("c"); !ok || got.Answer.Version != 3 {
		t.Errorf("Get(c) = %+v, %v; want version 3", got, ok)
	}
	if got, ok := r.Get("bb"); !ok || got.Answer.Version != 2 {
		t.Errorf("Get(bb) = %+v, %v; want version 2", got, ok)
	}
	if r.Len() != 2 || r.Dropped() != 0 {
		t.Errorf("Len %d Dropped %d, want 2 and 0", r.Len(), r.Dropped())
	}
	r.check(t)
}

func TestRecentGetCopies(t *testing.T) {
	r := NewRecent(10, time.Hour)
	req := &Request{ID: "x", Time: time.Now(), Answer: Prediction{Values: []float64{1, 2}}, Groups: []string{"a"}}
	r.Add(req)
	r.AddMirror("x", Prediction{Values: []float64{3}})
	req.Answer.Values[0], req.Groups[0] = -1, "changed" // the caller's after Add
	got, _ := r.Get("x")
	got.Answer.Values[1], got.Mirrors[0].Values[0], got.Groups[0] = -2, -3, "changed too"
	again, _ := r.Get("x")
	want := Request{ID: "x", Time: again.Time, Answer: Prediction{Values: []float64{1, 2}}, Mirrors: []Prediction{{Values: []float64{3}}}, Groups: []string{"a"}}
	if !reflect.DeepEqual(again, want) {
		t.Errorf("Get after changing what Add was given and Get returned = %+v, want %+v", again, want)
	}
}

// hasPointers reports whether a value of type t holds pointers the
// garbage collector must follow.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Map:
		return true
	default:
		return t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.String ||
			t.Kind() == reflect.Interface || t.Kind() == reflect.Func || t.Kind() == reflect.Chan || t.Kind() == reflect.UnsafePointer
	}
}

func TestRecentStorageHasNoPointers(t *testing.T) {
	r := NewRecent(1, time.Hour)
	for _, typ := range []reflect.Type{
		reflect.TypeOf(r.slots).Elem(),
		reflect.TypeOf(r.index.entries).Elem(),
		reflect.TypeOf(r.blocks[:0:0]).Elem().Field(0).Type.Elem(), // a block's bytes
	} {
		if hasPointers(typ) {
			t.Errorf("%v holds pointers", typ)
		}
	}
}

func TestRecentHeapObjects(t *testing.T) {
	const n = 200_000
	r := NewRecent(n, time.Hour)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	now := time.Now()
	for i := 0; i < n; i++ {
		id := "req-" + strconv.Itoa(i)
		r.Add(&Request{ID: id, Endpoint: "fraud", Time: now, Answer: Prediction{Version: 1, Role: "stable", Values: []float64{0.5}, Width: 1}, Groups: []string{"DE"}})
		r.AddMirror(id, Prediction{Version: 2, Role: "shadow", Values: []float64{0.4}, Width: 1})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapObjects) - int64(before.HeapObjects)
	t.Logf("%d requests: %d more heap objects, %d MB more heap", n, grew, (int64(after.HeapAlloc)-int64(before.HeapAlloc))>>20)
	if grew > n/100 {
		t.Errorf("remembering %d requests added %d heap objects, want at most %d", n, grew, n/100)
	}
	if r.Len() != n {
		t.Errorf("Len = %d, want %d", r.Len(), n)
	}
	runtime.KeepAlive(r)
}

func TestRecentConcurrent(t *testing.T) {
	r := NewRecent(500, time.Hour)
	r.blockSize = 1024
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 2000; k++ {
				id := fmt.Sprintf("%d-%d", w, k)
				r.Add(&Request{ID: id, Time: time.Now(), Answer: Prediction{Values: []float64{float64(k)}}})
				r.AddMirror(id, Prediction{Version: w})
				if got, ok := r.Get(id); ok && (got.Answer.Values[0] != float64(k) || len(got.Mirrors) == 0) {
					t.Errorf("Get(%s) = %+v", id, got)
				}
				r.Len()
				r.Dropped()
			}
		}()
	}
	wg.Wait()
	r.check(t)
	if r.Len() != 500 || r.Dropped() != 4*2000-500 {
		t.Errorf("Len %d Dropped %d, want 500 and %d", r.Len(), r.Dropped(), 4*2000-500)
	}
}

// BenchmarkRecentAdd remembers a request, adds a mirror's prediction and
// gets it back, in a memory of the default size.
func BenchmarkRecentAdd(b *testing.B) {
	const capacity = 1_000_000
	r := NewRecent(capacity, time.Hour)
	ids := make([]string, 2*capacity)
	for k := range ids {
		ids[k] = "c670bb14-" + strconv.Itoa(k)
	}
	values, groups := []float64{0.93}, []string{"DE"}
	req := &Request{Endpoint: "fraud", Answer: Prediction{Version: 3, Role: "stable", Values: values, Width: 1, Latency: time.Millisecond}, Groups: groups}
	mirror := Prediction{Version: 4, Role: "shadow", Values: values, Width: 1, Latency: 2 * time.Millisecond}
	b.ReportAllocs()
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		id := ids[k%len(ids)]
		req.ID, req.Time = id, time.Now()
		r.Add(req)
		r.AddMirror(id, mirror)
		if _, ok := r.Get(id); !ok {
			b.Fatalf("Get(%s) failed", id)
		}
	}
}

// benchIDs are request ids for the benchmarks: twice a full memory's
// worth, so that cycling through them adds ids the memory no longer holds.
var benchIDs = sync.OnceValue(func() []string {
	ids := make([]string, 2*benchCapacity)
	for k := range ids {
		ids[k] = "c670bb14-" + strconv.Itoa(k)
	}
	return ids
})

// benchCapacity is the gateway's default request memory.
const benchCapacity = 1_000_000

// fullRecent returns a memory of benchCapacity requests holding the
// first benchCapacity of benchIDs, and the request it added them with.
func fullRecent() (*Recent, *Request) {
	r := NewRecent(benchCapacity, time.Hour)
	req := &Request{Endpoint: "fraud", Answer: Prediction{Version: 3, Role: "stable", Values: []float64{0.93}, Width: 1, Latency: time.Millisecond}, Groups: []string{"DE"}}
	for _, id := range benchIDs()[:benchCapacity] {
		req.ID, req.Time = id, time.Now()
		r.Add(req)
	}
	return r, req
}

// BenchmarkRecentAddFull remembers requests of ids it does not hold in a
// full memory of the default size, each forgetting the oldest.
func BenchmarkRecentAddFull(b *testing.B) {
	r, req := fullRecent()
	ids := benchIDs()
	b.ReportAllocs()
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		req.ID, req.Time = ids[(benchCapacity+k)%len(ids)], time.Now()
		r.Add(req)
	}
	if r.Len() != benchCapacity {
		b.Fatalf("Len = %d, want %d", r.Len(), benchCapacity)
	}
}

// BenchmarkRecentGetFull gets remembered requests back from a full memory
// of the default size.
func BenchmarkRecentGetFull(b *testing.B) {
	r, _ := fullRecent()
	ids := benchIDs()[:benchCapacity]
	b.ReportAllocs()
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		if _, ok := r.Get(ids[k%len(ids)]); !ok {
			b.Fatalf("Get(%s) failed", ids[k%len(ids)])
		}
	}
}

func TestRecordSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	big := Prediction{Version: math.MinInt, Width: math.MaxInt, Latency: math.MaxInt64, Role: string(make([]byte, 300)), Values: make([]float64, 200)}
	tests := []struct {
		name string
		req  *Request
	}{
		{"empty", &Request{}},
		{"nil and empty slices", &Request{Answer: Prediction{Values: []float64{}}, Groups: []string{}}},
		{"extreme integers and long strings", &Request{ID: string(make([]byte, 20000)), Answer: big, Groups: []string{string(make([]byte, 128)), ""}}},
		{"negative integers", &Request{Answer: Prediction{Version: -1, Width: -64, Latency: -65}}},
	}
	for k := range 200 {
		req := &Request{ID: strconv.Itoa(rng.Int()), Endpoint: "ep", Answer: randPrediction(rng, MaxValues)}
		if k%2 == 0 {
			req.Groups = make([]string, rng.IntN(300))
		}
		tests = append(tests, struct {
			name string
			req  *Request
		}{fmt.Sprintf("random %d", k), req})
	}
	for _, tt := range tests {
		if got, want := requestSize(tt.req), len(appendRequest(nil, tt.req)); got != want {
			t.Errorf("%s: requestSize = %d, the record has %d bytes", tt.name, got, want)
		}
		if got, want := predictionSize(&tt.req.Answer), len(appendPrediction(nil, &tt.req.Answer)); got != want {
			t.Errorf("%s: predictionSize = %d, the record has %d bytes", tt.name, got, want)
		}
	}
	for _, x := range []uint64{0, 1, 127, 128, 1<<14 - 1, 1 << 14, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		if got, want := uvarintSize(x), len(binary.AppendUvarint(nil, x)); got != want {
			t.Errorf("uvarintSize(%d) = %d, want %d", x, got, want)
		}
		if got, want := varintSize(int64(x)), len(binary.AppendVarint(nil, int64(x))); got != want {
			t.Errorf("varintSize(%d) = %d, want %d", int64(x), got, want)
		}
	}
}

func TestRecentHashSeeded(t *testing.T) {
	a, b := NewRecent(10, time.Hour), NewRecent(10, time.Hour)
	same := 0
	for k := range 64 {
		id := "req-" + strconv.Itoa(k)
		if a.hash(id) != a.hash(id) {
			t.Fatalf("hash(%s) changes from call to call", id)
		}
		if a.hash(id) == b.hash(id) {
			same++
		}
	}
	if same > 1 {
		t.Errorf("%d of 64 ids hash alike in two memories; want each memory seeded apart", same)
	}
}

// TestRecentAddAllocations checks that Add keeps nothing of its request,
// so that a caller's request and answer values can live on its stack.
func TestRecentAddAllocations(t *testing.T) {
	r := NewRecent(100, time.Hour)
	groups := []string{"DE"}
	now := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		var values [4]float64
		values[0] = 0.5
		req := Request{ID: "req-1", Endpoint: "fraud", Time: now, Answer: Prediction{Version: 1, Role: "stable", Values: values[:1], Width: 1}, Groups: groups}
		r.Add(&req)
	})
	if allocs != 0 {
		t.Errorf("Add of a request on the stack allocates %v times, want 0", allocs)
	}
	if got, ok := r.Get("req-1"); !ok || len(got.Answer.Values) != 1 || got.Answer.Values[0] != 0.5 {
		t.Errorf("Get = %+v, %v; want the request back", got, ok)
	}
}
