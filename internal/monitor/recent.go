package monitor

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"time"
)

// Prediction is what one version answered for a request.
type Prediction struct {
	// Version that scored the request.
	Version int
	// Role of the version for this request (stable, canary, shadow, ...).
	Role string
	// Values holds the first output's values, row-major (capped).
	Values []float64
	// Width is the number of values per row (1 for scores, K for K classes).
	Width int
	// Err is set when the version failed.
	Err string
	// Latency of the version's prediction.
	Latency time.Duration
}

// Request is one remembered request: the answer and the mirrored versions'
// predictions.
type Request struct {
	ID       string
	Endpoint string
	Time     time.Time
	// Answer is the prediction returned to the caller.
	Answer Prediction
	// Mirrors are shadow and challenger predictions, added as they finish.
	Mirrors []Prediction
	// Groups holds each row's value of the endpoint's sensitive attribute
	// (one value for every row when it comes from a header), or nil.
	Groups []string
}

// MaxValues caps the output values remembered per prediction.
const MaxValues = 256

// Recent remembers requests by id for a horizon, up to a maximum count;
// the oldest are forgotten first. It is safe for concurrent use.
//
// A gateway remembers up to millions of requests, so what is remembered is
// kept out of the garbage collector's sight: a request is encoded into a
// log of byte blocks, located through a ring of pointer-free slots, and
// found through an index from a hash of its id to its slot, a hash table
// of integers (see slotIndex) sized from the count limit so that it never
// grows, whose one slice the GC does not scan. The live heap thus holds a
// handful of large objects instead of several small ones per request, and
// a GC cycle has nothing of them to mark. Two ids of the same 64-bit hash
// share a slot: the later request replaces the earlier one, and a lookup
// checks the id it finds, so the earlier id is no longer found. Each block
// counts the records in it that still belong to a remembered request and
// is freed when the count drops to zero, so memory follows what is
// remembered: records are written in about the order they are forgotten (a
// mirror's prediction and a repeated id's replacement go when their
// request goes, never later), so a block rarely outlives its records by
// much.
type Recent struct {
	horizon   time.Duration
	max       int
	now       func() time.Time
	seed      maphash.Seed // of the id hash, random per memory
	blockSize int          // capacity of a log block
	// fixedHash replaces the hash of the ids it holds; nil but in tests
	// that need hashes to collide or to share a probe run.
	fixedHash map[string]uint64

	mu      sync.Mutex
	index   slotIndex // hash of an id to its slot; guarded by mu
	slots   []slot    // a ring in arrival order; guarded by mu
	head    int       // index of the oldest slot; guarded by mu
	n       int       // slots in use; guarded by mu
	dropped uint64    // requests forgotten before their horizon; guarded by mu

	blocks     []block  // the log; guarded by mu
	freeBlocks []uint32 // indexes of blocks without a buffer; guarded by mu
	cur        uint32   // block appended to, or noRecord; guarded by mu
	spare      []byte   // a freed block's buffer for the next block; guarded by mu
}

// slot is one remembered request. It holds no pointers.
type slot struct {
	hash uint64 // of the id: its key in Recent.index
	sec  int64  // Time in Unix seconds
	nsec uint32 // Time's nanoseconds, with utcTime when in UTC
	// blk and off locate the request record.
	blk, off uint32
	// mblk and moff locate the newest mirror record; mblk is noRecord
	// when there is none. Each mirror record links the one before it.
	mblk, moff uint32
	nmir       uint32 // mirror records
}

// block is a piece of the log. Records are appended to the current block
// until one does not fit; a record larger than a block gets a block of its
// own.
type block struct {
	buf  []byte // nil when the block is free
	live int    // records in buf that belong to remembered requests
}

const (
	// maxBlockSize is the size of a log block for a large memory.
	maxBlockSize = 1 << 20
	// minBlockSize is the size of a log block for a small memory.
	minBlockSize = 4 << 10
	// noRecord marks a missing block index.
	noRecord = math.MaxUint32
	// utcTime in slot.nsec marks a Time in UTC; other times come back in
	// the local time zone.
	utcTime = 1 << 31
	// mirrorLink is the size of a mirror record's link to the one before.
	mirrorLink = 8
)

// NewRecent returns a memory of at most limit requests kept for horizon.
// A limit below 1 is taken as 1, and one above 2^31-1 as 2^31-1.
func NewRecent(limit int, horizon time.Duration) *Recent {
	limit = min(max(limit, 1), maxRecent)
	r := &Recent{
		horizon:   horizon,
		max:       limit,
		now:       time.Now,
		seed:      maphash.MakeSeed(),
		blockSize: min(maxBlockSize, max(minBlockSize, 256*limit)),
		index:     newSlotIndex(limit),
		slots:     make([]slot, limit),
		cur:       noRecord,
	}
	// The index may lie outside the Go heap; it goes with the memory.
	runtime.AddCleanup(r, func(free func()) { free() }, r.index.free)
	return r
}

// Add remembers a copy of a request. A repeated id replaces the earlier
// request, which keeps its place in the arrival order.
func (r *Recent) Add(req *Request) {
	h, size := r.hash(req.ID), requestSize(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked()
	// In a large memory the index entries of the id and, when the memory
	// is full, of the oldest request, which a new id makes it forget, are
	// most likely cache misses: both are loaded before either is looked
	// at, so that the two waits overlap.
	x := &r.index
	k, e := x.probe(h)
	full := r.n == r.max
	var oldK, oldE uint64
	if full {
		oldK, oldE = x.probe(r.slots[r.head].hash)
	}
	i, dup := x.findFrom(h, k, e, r.slots)
	if dup {
		// The same id, or, with a chance of about 2^-64 per pair,
		// another id of the same hash: either way the new request
		// takes the slot.
		r.releaseLocked(&r.slots[i])
	} else {
		if full {
			r.forgetOldestLocked(oldK, oldE)
			r.dropped++
		}
		j := r.head + r.n
		if j >= r.max {
			j -= r.max
		}
		i = uint32(j)
		r.n++
		x.insert(h, i)
	}
	s := &r.slots[i]
	*s = slot{hash: h, mblk: noRecord}
	s.sec, s.nsec = req.Time.Unix(), uint32(req.Time.Nanosecond())
	if req.Time.Location() == time.UTC {
		s.nsec |= utcTime
	}
	var rec []byte
	s.blk, s.off, rec = r.reserveLocked(size)
	appendRequest(rec, req)
	for k := range req.Mirrors {
		r.addMirrorLocked(s, &req.Mirrors[k])
	}
}

// AddMirror records a mirrored version's prediction for a remembered
// request; it reports false when the request is no longer remembered.
func (r *Recent) AddMirror(id string, p Prediction) bool {
	h := r.hash(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.lookupLocked(id, h)
	if s == nil {
		return false
	}
	r.addMirrorLocked(s, &p)
	return true
}

// Get returns a copy of the remembered request, or false when the id is
// unknown or older than the horizon. The copy shares no memory with the
// Recent. Its Time has no monotonic clock reading and is in UTC when it
// was added in UTC, else in the local time zone.
func (r *Recent) Get(id string) (Request, bool) {
	h := r.hash(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.lookupLocked(id, h)
	if s == nil || r.now().Sub(s.time()) > r.horizon {
		return Request{}, false
	}
	d := decoder{b: r.blocks[s.blk].buf[s.off:]}
	d.bytes() // the id, checked by lookupLocked
	out := Request{ID: id, Endpoint: d.string(), Time: s.time()}
	out.Answer = d.prediction()
	if n := d.uvarint(); n > 0 {
		out.Groups = make([]string, n-1)
		for k := range out.Groups {
			out.Groups[k] = d.string()
		}
	}
	if s.nmir > 0 {
		out.Mirrors = make([]Prediction, s.nmir)
		blk, off := s.mblk, s.moff
		for k := len(out.Mirrors) - 1; k >= 0; k-- {
			b := r.blocks[blk].buf[off:]
			d := decoder{b: b[mirrorLink:]}
			out.Mirrors[k] = d.prediction()
			blk, off = mirrorPrev(b)
		}
	}
	return out, true
}

// Len returns the number of remembered requests.
func (r *Recent) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Dropped returns how many requests were forgotten before their horizon
// because the memory was full.
func (r *Recent) Dropped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// hash returns the hash of an id. It is seeded at random for each
// memory, so that ids cannot be chosen to collide (hash flooding), and
// called directly rather than through a function value, so that the id,
// and with it what a caller's request holds, does not escape to the heap.
func (r *Recent) hash(id string) uint64 {
	if r.fixedHash != nil {
		if h, ok := r.fixedHash[id]; ok {
			return h
		}
	}
	return maphash.String(r.seed, id)
}

// expireLocked forgets requests older than the horizon.
func (r *Recent) expireLocked() {
	now := r.now()
	for r.n > 0 && now.Sub(r.slots[r.head].time()) > r.horizon {
		k, e := r.index.probe(r.slots[r.head].hash)
		r.forgetOldestLocked(k, e)
	}
}

// forgetOldestLocked forgets the request in the oldest slot, whose hash
// has its home at k in the index, where the entry is e.
func (r *Recent) forgetOldestLocked(k, e uint64) {
	s := &r.slots[r.head]
	r.index.removeFrom(s.hash, uint32(r.head), k, e)
	r.releaseLocked(s)
	r.head++
	if r.head == r.max {
		r.head = 0
	}
	r.n--
}

// lookupLocked returns the slot of id, whose hash is h, or nil when id is
// not remembered.
func (r *Recent) lookupLocked(id string, h uint64) *slot {
	i, ok := r.index.find(h, r.slots)
	if !ok {
		return nil
	}
	s := &r.slots[i]
	d := decoder{b: r.blocks[s.blk].buf[s.off:]}
	if string(d.bytes()) != id {
		return nil // another id of the same hash
	}
	return s
}

// addMirrorLocked appends a mirror record to the slot's chain.
func (r *Recent) addMirrorLocked(s *slot, p *Prediction) {
	blk, off, rec := r.reserveLocked(mirrorLink + predictionSize(p))
	rec = binary.LittleEndian.AppendUint32(rec, s.mblk)
	rec = binary.LittleEndian.AppendUint32(rec, s.moff)
	appendPrediction(rec, p)
	s.mblk, s.moff = blk, off
	s.nmir++
}

// releaseLocked lets go of the slot's records.
func (r *Recent) releaseLocked(s *slot) {
	r.unrefLocked(s.blk)
	for blk, off := s.mblk, s.moff; blk != noRecord; {
		b := r.blocks[blk].buf[off:]
		pblk, poff := mirrorPrev(b)
		r.unrefLocked(blk)
		blk, off = pblk, poff
	}
	s.mblk, s.nmir = noRecord, 0
}

// reserveLocked makes room for a record of size bytes in the log and
// returns where it is, and the room as an empty slice of that capacity,
// for the record to be appended to in place.
func (r *Recent) reserveLocked(size int) (blk, off uint32, rec []byte) {
	if r.cur != noRecord {
		c := &r.blocks[r.cur]
		if n := len(c.buf); size <= cap(c.buf)-n {
			c.buf = c.buf[:n+size]
			c.live++
			return r.cur, uint32(n), c.buf[n : n : n+size]
		}
	}
	if size > r.blockSize {
		// A block of its own; the current block stays current.
		blk = r.newBlockLocked(size)
	} else {
		old := r.cur
		blk = r.newBlockLocked(r.blockSize)
		r.cur = blk
		if old != noRecord && r.blocks[old].live == 0 {
			r.freeBlockLocked(old)
		}
	}
	b := &r.blocks[blk]
	b.buf = b.buf[:size]
	b.live++
	return blk, 0, b.buf[:0:size]
}

// newBlockLocked returns the index of an empty block of the given capacity.
func (r *Recent) newBlockLocked(size int) uint32 {
	var buf []byte
	if size == r.blockSize && r.spare != nil {
		buf, r.spare = r.spare, nil
	} else {
		buf = make([]byte, 0, size)
	}
	if k := len(r.freeBlocks); k > 0 {
		blk := r.freeBlocks[k-1]
		r.freeBlocks = r.freeBlocks[:k-1]
		r.blocks[blk] = block{buf: buf}
		return blk
	}
	r.blocks = append(r.blocks, block{buf: buf})
	return uint32(len(r.blocks) - 1)
}

// unrefLocked notes that a record in the block is no longer needed and
// frees the block when none is.
func (r *Recent) unrefLocked(blk uint32) {
	b := &r.blocks[blk]
	b.live--
	if b.live == 0 && blk != r.cur {
		r.freeBlockLocked(blk)
	}
}

// freeBlockLocked frees a block, keeping one buffer of the regular size
// for the next block.
func (r *Recent) freeBlockLocked(blk uint32) {
	b := &r.blocks[blk]
	if r.spare == nil && cap(b.buf) == r.blockSize {
		r.spare = b.buf[:0]
	}
	*b = block{}
	r.freeBlocks = append(r.freeBlocks, blk)
}

// time returns the request's time.
func (s *slot) time() time.Time {
	t := time.Unix(s.sec, int64(s.nsec&^utcTime))
	if s.nsec&utcTime != 0 {
		t = t.UTC()
	}
	return t
}

// mirrorPrev returns the location of the mirror record before the one in b.
func mirrorPrev(b []byte) (blk, off uint32) {
	return binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
}

// A request record is the id, the endpoint, the answer and the groups; a
// mirror record is the link to the previous mirror record and the
// prediction. Strings are a uvarint length and the bytes; a slice that may
// be nil is its length plus one, or 0 for nil. requestSize and
// predictionSize return the exact size of a record, so that it is written
// straight into the room reserveLocked makes for it.

func requestSize(req *Request) int {
	n := stringSize(req.ID) + stringSize(req.Endpoint) + predictionSize(&req.Answer)
	if req.Groups == nil {
		return n + 1
	}
	n += uvarintSize(uint64(len(req.Groups)) + 1)
	for _, g := range req.Groups {
		n += stringSize(g)
	}
	return n
}

func predictionSize(p *Prediction) int {
	n := varintSize(int64(p.Version)) + stringSize(p.Role) + varintSize(int64(p.Width)) +
		stringSize(p.Err) + varintSize(int64(p.Latency))
	if p.Values == nil {
		return n + 1
	}
	return n + uvarintSize(uint64(len(p.Values))+1) + 8*len(p.Values)
}

func stringSize(s string) int { return uvarintSize(uint64(len(s))) + len(s) }

// uvarintSize is the length of binary.AppendUvarint's encoding of x.
func uvarintSize(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// varintSize is the length of binary.AppendVarint's encoding of x.
func varintSize(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintSize(ux)
}

func appendRequest(b []byte, req *Request) []byte {
	b = appendString(b, req.ID)
	b = appendString(b, req.Endpoint)
	b = appendPrediction(b, &req.Answer)
	if req.Groups == nil {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(req.Groups))+1)
	for _, g := range req.Groups {
		b = appendString(b, g)
	}
	return b
}

func appendPrediction(b []byte, p *Prediction) []byte {
	b = binary.AppendVarint(b, int64(p.Version))
	b = appendString(b, p.Role)
	b = binary.AppendVarint(b, int64(p.Width))
	b = appendString(b, p.Err)
	b = binary.AppendVarint(b, int64(p.Latency))
	if p.Values == nil {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Values))+1)
	for _, v := range p.Values {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads a record written by appendRequest or appendPrediction.
type decoder struct{ b []byte }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	d.b = d.b[n:]
	return v
}

// bytes returns a string's bytes, aliasing the log.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) prediction() Prediction {
	var p Prediction
	p.Version = int(d.varint())
	p.Role = d.string()
	p.Width = int(d.varint())
	p.Err = d.string()
	p.Latency = time.Duration(d.varint())
	if n := d.uvarint(); n > 0 {
		p.Values = make([]float64, n-1)
		for k := range p.Values {
			p.Values[k] = math.Float64frombits(binary.LittleEndian.Uint64(d.b[8*k:]))
		}
		d.b = d.b[8*len(p.Values):]
	}
	return p
}
