package traffic

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustCompile(t testing.TB, p Policy) *Plan {
	t.Helper()
	plan, err := compileWithBandit(p)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", p, err)
	}
	return plan
}

// splitProbs returns each split's expected share.
func splitProbs(splits []Split) []float64 {
	var total float64
	for _, s := range splits {
		total += float64(s.Weight)
	}
	probs := make([]float64, len(splits))
	for i, s := range splits {
		probs[i] = float64(s.Weight) / total
	}
	return probs
}

// countBy tallies versions into the order of splits.
func countBy(splits []Split, versions map[int]int) []int {
	out := make([]int, len(splits))
	for i, s := range splits {
		out[i] = versions[s.Version]
	}
	return out
}

var splitCases = [][]Split{
	{{1, 95}, {2, 5}},
	{{1, 50}, {2, 50}},
	{{1, 1}, {2, 1}, {3, 2}},
	{{1, 60}, {2, 25}, {3, 10}, {4, 5}},
	{{1, 0}, {2, 7}},
	{{1, 99999}, {2, 1}, {3, 0}},
}

func TestRouteSplitProportions(t *testing.T) {
	const n = 100000
	for i, splits := range splitCases {
		t.Run(fmt.Sprint(splits), func(t *testing.T) {
			plan := mustCompile(t, Policy{Split: splits})
			r := rand.New(rand.NewPCG(uint64(i), 1))
			got := map[int]int{}
			for range n {
				d := plan.Route(RouteInput{U: r.Uint64(), U2: r.Uint64()}, nil)
				got[d.Version]++
				if want := plan.Role(d.Version); d.Role != want {
					t.Fatalf("version %d routed as %q, want %q", d.Version, d.Role, want)
				}
			}
			checkChiSquare(t, "split", countBy(splits, got), splitProbs(splits))
		})
	}
}

func TestRouteRoles(t *testing.T) {
	plan := mustCompile(t, Policy{Split: []Split{{3, 50}, {4, 50}}, Shadow: []Shadow{{5, 100}}, Challengers: []int{6}})
	seen := map[int]Role{}
	for u := uint64(0); u < 64; u++ {
		d := plan.Route(RouteInput{U: u * (math.MaxUint64 / 64)}, nil)
		seen[d.Version] = d.Role
	}
	if diff := cmp.Diff(map[int]Role{3: RoleStable, 4: RoleCanary}, seen); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	for v, want := range map[int]Role{3: RoleStable, 4: RoleCanary, 5: RoleShadow, 6: RoleChallenger, 7: ""} {
		if got := plan.Role(v); got != want {
			t.Errorf("Role(%d) = %q, want %q", v, got, want)
		}
	}
}

// stickyKeys are the user ids the stickiness tests route.
func stickyKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	return keys
}

// assign routes every key once and returns the version each got.
func assign(t *testing.T, splits []Split, keys []string) []int {
	t.Helper()
	plan := mustCompile(t, Policy{Split: splits, Sticky: &Sticky{Header: "X-User-Id"}})
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = plan.Route(RouteInput{Key: k, U: uint64(i) * golden}, nil).Version
	}
	return out
}

func TestStickySameVersionOnRepeat(t *testing.T) {
	plan := mustCompile(t, Policy{Split: []Split{{1, 50}, {2, 30}, {3, 20}}, Sticky: &Sticky{Feature: "user_id"}})
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range stickyKeys(10000) {
		first := plan.Route(RouteInput{Key: k, U: r.Uint64()}, nil).Version
		for range 3 {
			if got := plan.Route(RouteInput{Key: k, U: r.Uint64(), U2: r.Uint64()}, nil).Version; got != first {
				t.Fatalf("key %q: routed to %d, then %d", k, first, got)
			}
		}
	}
	// A plan compiled again from the same policy (another node, a restart)
	// agrees.
	again := mustCompile(t, Policy{Split: []Split{{1, 50}, {2, 30}, {3, 20}}, Sticky: &Sticky{Feature: "user_id"}})
	for _, k := range stickyKeys(1000) {
		if a, b := plan.Route(RouteInput{Key: k}, nil).Version, again.Route(RouteInput{Key: k}, nil).Version; a != b {
			t.Fatalf("key %q: %d on one plan, %d on an equal one", k, a, b)
		}
	}
}

// TestStickyAssignmentsAreStable pins the hash: if it changes, every sticky
// user of every deployment moves at once on upgrade.
func TestStickyAssignmentsAreStable(t *testing.T) {
	splits := []Split{{1, 50}, {2, 30}, {3, 20}}
	keys := []string{"a", "user-1", "user-2", "user-3", "alice@example.com", "8d3e2a60-4d6e-4f0b-9c57-1f2e3d4c5b6a", "日本語", "user-9", "user-10"}
	want := []int{1, 2, 1, 2, 1, 1, 2, 2, 3}
	got := assign(t, splits, keys)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sticky assignments changed (-want +got):\n%s", diff)
	}
	if got, want := keyHash("user-1"), uint64(0xf84ba2aa754a4bd4); got != want {
		t.Errorf("keyHash(user-1) = %#x, want %#x", got, want)
	}
}

func TestStickyProportions(t *testing.T) {
	keys := stickyKeys(10000)
	for _, splits := range splitCases {
		t.Run(fmt.Sprint(splits), func(t *testing.T) {
			got := map[int]int{}
			for _, v := range assign(t, splits, keys) {
				got[v]++
			}
			checkChiSquare(t, "sticky", countBy(splits, got), splitProbs(splits))
		})
	}
}

// TestStickyMonotone proves rendezvous hashing's promise on 10,000 keys: as
// one version's weight grows while the others keep their weights (or their
// ratios), keys move only to it — the count of keys moving anywhere else is
// exactly 0 — and the share that moves is the share it gained.
func TestStickyMonotone(t *testing.T) {
	keys := stickyKeys(10000)
	tests := []struct {
		name      string
		candidate int
		steps     [][]Split
	}{
		{"canary 5,10,25,50,100 percent", 2, [][]Split{
			{{1, 95}, {2, 5}}, {{1, 90}, {2, 10}}, {{1, 75}, {2, 25}}, {{1, 50}, {2, 50}}, {{1, 0}, {2, 100}},
		}},
		{"third version grows, others fixed", 3, [][]Split{
			{{1, 50}, {2, 50}, {3, 5}}, {{1, 50}, {2, 50}, {3, 10}}, {{1, 50}, {2, 50}, {3, 25}}, {{1, 50}, {2, 50}, {3, 50}}, {{1, 50}, {2, 50}, {3, 100}},
		}},
		{"second canary grows, stable and first canary keep 9:1", 3, [][]Split{
			{{1, 855}, {2, 95}, {3, 50}}, {{1, 810}, {2, 90}, {3, 100}}, {{1, 675}, {2, 75}, {3, 250}}, {{1, 450}, {2, 50}, {3, 500}}, {{1, 0}, {2, 0}, {3, 1000}},
		}},
		{"stable grows back (rollback)", 1, [][]Split{
			{{1, 0}, {2, 60}, {3, 40}}, {{1, 10}, {2, 60}, {3, 40}}, {{1, 100}, {2, 60}, {3, 40}}, {{1, 1000}, {2, 60}, {3, 40}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := assign(t, tt.steps[0], keys)
			for s := 1; s < len(tt.steps); s++ {
				next := assign(t, tt.steps[s], keys)
				moved, wrong := 0, 0
				for i := range keys {
					if prev[i] == next[i] {
						continue
					}
					moved++
					if next[i] != tt.candidate {
						wrong++
					}
				}
				if wrong != 0 {
					t.Errorf("%v -> %v: %d keys moved to a version other than %d, want 0", tt.steps[s-1], tt.steps[s], wrong, tt.candidate)
				}
				// Each key moves with probability (new share - old share),
				// so moved is binomial: check it at the 99.9% level.
				gain := candidateShare(tt.steps[s], tt.candidate) - candidateShare(tt.steps[s-1], tt.candidate)
				n := float64(len(keys))
				if gain < 1 {
					if chi := math.Pow(float64(moved)-n*gain, 2) / (n * gain * (1 - gain)); chi > chiSquare999[1] {
						t.Errorf("%v -> %v: %d keys moved, want about %.0f (chi2 %.2f)", tt.steps[s-1], tt.steps[s], moved, n*gain, chi)
					}
				}
				t.Logf("%v -> %v: %d keys moved (expected %.0f), %d the wrong way", tt.steps[s-1], tt.steps[s], moved, n*gain, wrong)
				prev = next
			}
		})
	}
}

func candidateShare(splits []Split, v int) float64 {
	probs := splitProbs(splits)
	for i, s := range splits {
		if s.Version == v {
			return probs[i]
		}
	}
	return 0
}

func TestStickyWithoutKeyIsRandom(t *testing.T) {
	splits := []Split{{1, 50}, {2, 50}}
	plan := mustCompile(t, Policy{Split: splits, Sticky: &Sticky{Header: "X-User-Id"}})
	r := rand.New(rand.NewPCG(5, 6))
	got := map[int]int{}
	for range 10000 {
		got[plan.Route(RouteInput{U: r.Uint64()}, nil).Version]++
	}
	checkChiSquare(t, "no key", countBy(splits, got), splitProbs(splits))
}

func TestRouteShadows(t *testing.T) {
	const n = 100000
	splits := []Split{{1, 90}, {2, 10}}
	plan := mustCompile(t, Policy{
		Split:       splits,
		Shadow:      []Shadow{{Version: 3, Percent: 10}, {Version: 4, Percent: 50}, {Version: 5, Percent: 100}, {Version: 6, Percent: 0.5}},
		Challengers: []int{7, 8},
	})
	r := rand.New(rand.NewPCG(7, 8))
	mirrored := map[int]int{}
	var byAnswer, byPair [2][2]int // [answered by 2][mirrored to 3], [mirrored to 3][mirrored to 4]
	dst := make([]int, 0, plan.MaxMirrors())
	for range n {
		d := plan.Route(RouteInput{U: r.Uint64(), U2: r.Uint64()}, dst)
		got := map[int]bool{}
		for _, m := range d.Mirrors {
			if m == d.Version {
				t.Fatalf("mirrors %v hold the answering version %d", d.Mirrors, d.Version)
			}
			if got[m] {
				t.Fatalf("mirrors %v hold %d twice", d.Mirrors, m)
			}
			got[m] = true
			mirrored[m]++
		}
		byAnswer[b2i(d.Version == 2)][b2i(got[3])]++
		byPair[b2i(got[3])][b2i(got[4])]++
	}
	for _, s := range []struct {
		version int
		rate    float64
	}{{3, 0.10}, {4, 0.50}, {5, 1}, {6, 0.005}, {7, 1}, {8, 1}} {
		if s.rate == 1 {
			if mirrored[s.version] != n {
				t.Errorf("version %d mirrored %d times, want every one of %d", s.version, mirrored[s.version], n)
			}
			continue
		}
		checkChiSquare(t, fmt.Sprintf("shadow %d at %g", s.version, s.rate),
			[]int{mirrored[s.version], n - mirrored[s.version]}, []float64{s.rate, 1 - s.rate})
	}
	// Who answers and whether a shadow sees the request are independent, and
	// so are two shadows.
	for name, table := range map[string][2][2]int{"answer x shadow": byAnswer, "shadow x shadow": byPair} {
		stat := independence(table)
		t.Logf("%s: chi2 = %.3f (dof 1, 99.9%% critical %.3f), table %v", name, stat, chiSquare999[1], table)
		if stat > chiSquare999[1] {
			t.Errorf("%s: not independent, chi2 = %.3f, table %v", name, stat, table)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRouteMirrorOrderAndReuse(t *testing.T) {
	plan := mustCompile(t, Policy{Split: []Split{{1, 100}}, Shadow: []Shadow{{2, 100}}, Challengers: []int{4, 3}})
	dst := []int{99, 99, 99, 99}
	d := plan.Route(RouteInput{}, dst)
	if diff := cmp.Diff([]int{2, 4, 3}, d.Mirrors); diff != "" {
		t.Errorf("mirrors (-want +got):\n%s", diff)
	}
	if &d.Mirrors[0] != &dst[0] {
		t.Error("Route did not reuse dst")
	}
}

func TestBlueGreenPlan(t *testing.T) {
	plan := mustCompile(t, Policy{BlueGreen: &BlueGreen{Active: 2, Preview: 3, Previous: 1}, Challengers: []int{4}})
	r := rand.New(rand.NewPCG(9, 10))
	for range 1000 {
		d := plan.Route(RouteInput{Key: "k", U: r.Uint64(), U2: r.Uint64()}, nil)
		if d.Version != 2 || d.Role != RoleActive {
			t.Fatalf("routed to %d as %q, want 2 as active", d.Version, d.Role)
		}
	}
	if got := plan.Preview(); got != 3 {
		t.Errorf("Preview() = %d, want 3", got)
	}
	if diff := cmp.Diff([]int{2, 3, 1, 4}, plan.Loaded()); diff != "" {
		t.Errorf("Loaded() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2}, plan.Versions()); diff != "" {
		t.Errorf("Versions() (-want +got):\n%s", diff)
	}
	want := []Share{{2, RoleActive, 1}, {3, RolePreview, 0}, {1, RolePrevious, 0}, {4, RoleChallenger, 1}}
	if diff := cmp.Diff(want, plan.Shares()); diff != "" {
		t.Errorf("Shares() (-want +got):\n%s", diff)
	}
	for v, want := range map[int]Role{2: RoleActive, 3: RolePreview, 1: RolePrevious, 4: RoleChallenger, 0: ""} {
		if got := plan.Role(v); got != want {
			t.Errorf("Role(%d) = %q, want %q", v, got, want)
		}
	}
	if got := mustCompile(t, Policy{Split: []Split{{1, 1}}}).Preview(); got != 0 {
		t.Errorf("Preview() of a split = %d, want 0", got)
	}
}

func TestSplitPlanAccessors(t *testing.T) {
	plan := mustCompile(t, Policy{
		Split:  []Split{{1, 75}, {2, 25}, {5, 0}},
		Sticky: &Sticky{Header: "X-User-Id"},
		Shadow: []Shadow{{3, 12.5}},
	})
	want := []Share{{1, RoleStable, 0.75}, {2, RoleCanary, 0.25}, {5, RoleCanary, 0}, {3, RoleShadow, 0.125}}
	if diff := cmp.Diff(want, plan.Shares()); diff != "" {
		t.Errorf("Shares() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1, 2}, plan.Versions()); diff != "" {
		t.Errorf("Versions() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Split{{1, 75}, {2, 25}, {5, 0}}, plan.Splits()); diff != "" {
		t.Errorf("Splits() (-want +got):\n%s", diff)
	}
	if s, ok := plan.Sticky(); !ok || s.Header != "X-User-Id" {
		t.Errorf("Sticky() = %+v, %v; want X-User-Id, true", s, ok)
	}
	if _, ok := Single(1).Sticky(); ok {
		t.Error("Single(1).Sticky() reports a sticky plan")
	}
	if got := plan.MaxMirrors(); got != 1 {
		t.Errorf("MaxMirrors() = %d, want 1", got)
	}
}

func TestBanditPlan(t *testing.T) {
	cfg := Bandit{Algorithm: Thompson, Arms: []int{1, 2, 3}}
	b, err := NewBandit(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Compile(Policy{Bandit: &cfg, Shadow: []Shadow{{4, 100}}}, b)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Bandit() != b {
		t.Error("Bandit() is not the state Compile was given")
	}
	r := rand.New(rand.NewPCG(11, 12))
	got := map[int]int{}
	for range 3000 {
		d := plan.Route(RouteInput{U: r.Uint64(), U2: r.Uint64()}, nil)
		if d.Role != RoleArm || len(d.Mirrors) != 1 || d.Mirrors[0] != 4 {
			t.Fatalf("decision %+v, want an arm mirrored to 4", d)
		}
		got[d.Version]++
	}
	// A fresh Thompson bandit has uniform posteriors: equal shares.
	checkChiSquare(t, "fresh bandit", []int{got[1], got[2], got[3]}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3})
	shares := plan.Shares()
	if len(shares) != 4 || shares[3] != (Share{4, RoleShadow, 1}) {
		t.Errorf("Shares() = %v, want 3 arms and the shadow", shares)
	}
	if diff := cmp.Diff([]Split{{1, 1}, {2, 1}, {3, 1}}, plan.Splits()); diff != "" {
		t.Errorf("Splits() (-want +got):\n%s", diff)
	}

	// Compile checks the state against the policy.
	if _, err := Compile(Policy{Bandit: &cfg}, nil); err == nil {
		t.Error("Compile of a bandit policy without state succeeded")
	}
	if _, err := Compile(Policy{Split: []Split{{1, 1}}}, b); err == nil {
		t.Error("Compile of a split policy with bandit state succeeded")
	}
	other := Bandit{Algorithm: Thompson, Arms: []int{1, 2, 4}}
	if _, err := Compile(Policy{Bandit: &other}, b); err == nil {
		t.Error("Compile with a state over other arms succeeded")
	}
}

// TestRouteAllocatesNothing holds Route to its promise for every kind of plan.
func TestRouteAllocatesNothing(t *testing.T) {
	thompson := Bandit{Algorithm: Thompson, Arms: []int{1, 2, 3}, MinShare: 0.05}
	gaussian := Bandit{Algorithm: Thompson, Arms: []int{1, 2, 3}, Reward: Continuous}
	ucb := Bandit{Algorithm: UCB1, Arms: []int{1, 2, 3}}
	eps := Bandit{Algorithm: EpsilonGreedy, Arms: []int{1, 2, 3}}
	plans := map[string]Policy{
		"split":      {Split: []Split{{1, 90}, {2, 5}, {3, 5}}},
		"sticky":     {Split: []Split{{1, 90}, {2, 5}, {3, 5}}, Sticky: &Sticky{Header: "X-User-Id"}},
		"shadow":     {Split: []Split{{1, 100}}, Shadow: []Shadow{{2, 10}, {3, 100}}, Challengers: []int{4}},
		"blue-green": {BlueGreen: &BlueGreen{Active: 1, Preview: 2}},
		"thompson":   {Bandit: &thompson},
		"gaussian":   {Bandit: &gaussian},
		"ucb1":       {Bandit: &ucb},
		"epsilon":    {Bandit: &eps},
	}
	for name, p := range plans {
		t.Run(name, func(t *testing.T) {
			plan := mustCompile(t, p)
			if b := plan.Bandit(); b != nil {
				for i := range 30 {
					b.Reward(1+i%3, float64(i%2))
				}
			}
			dst := make([]int, 0, plan.MaxMirrors())
			var u uint64
			allocs := testing.AllocsPerRun(1000, func() {
				u += golden
				d := plan.Route(RouteInput{Key: "user-42", U: u, U2: mix64(u)}, dst)
				if b := plan.Bandit(); b != nil {
					b.Reward(d.Version, 1)
				}
			})
			if allocs != 0 {
				t.Errorf("Route allocates %.1f times per call, want 0", allocs)
			}
		})
	}
}

func BenchmarkRouteSplit(b *testing.B) {
	plan := mustCompile(b, Policy{Split: []Split{{1, 90}, {2, 5}, {3, 5}}})
	benchmarkRoute(b, plan, "")
}

func BenchmarkRouteSticky(b *testing.B) {
	plan := mustCompile(b, Policy{Split: []Split{{1, 90}, {2, 5}, {3, 5}}, Sticky: &Sticky{Header: "X-User-Id"}})
	benchmarkRoute(b, plan, "8d3e2a60-4d6e-4f0b-9c57-1f2e3d4c5b6a")
}

func BenchmarkRouteShadow(b *testing.B) {
	plan := mustCompile(b, Policy{Split: []Split{{1, 95}, {2, 5}}, Shadow: []Shadow{{3, 10}, {4, 100}}, Challengers: []int{5}})
	benchmarkRoute(b, plan, "")
}

func benchmarkRoute(b *testing.B, plan *Plan, key string) {
	b.ReportAllocs()
	dst := make([]int, 0, plan.MaxMirrors())
	var u uint64
	for b.Loop() {
		u += golden
		d := plan.Route(RouteInput{Key: key, U: u, U2: u ^ 0x5555}, dst)
		dst = d.Mirrors
	}
}
