package traffic

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// decodePolicy decodes JSON strictly, as the API does.
func decodePolicy(data []byte) (Policy, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Policy
	err := dec.Decode(&p)
	return p, err
}

func TestValidate(t *testing.T) {
	arms33 := make([]int, 33)
	for i := range arms33 {
		arms33[i] = i + 1
	}
	tests := []struct {
		name   string
		policy Policy
		want   []string
	}{
		{"nothing answers", Policy{}, []string{
			"traffic: give one of split, blueGreen or bandit",
		}},
		{"two deciders", Policy{Split: []Split{{1, 100}}, BlueGreen: &BlueGreen{Active: 1}}, []string{
			"traffic: split, blueGreen and bandit are alternatives; give one",
		}},
		{"three deciders", Policy{Split: []Split{{1, 100}}, BlueGreen: &BlueGreen{Active: 1}, Bandit: &Bandit{Algorithm: Thompson, Arms: []int{1, 2}}}, []string{
			"traffic: split, blueGreen and bandit are alternatives; give one",
		}},
		{"negative weight", Policy{Split: []Split{{1, 100}, {2, -5}}}, []string{
			"traffic.split[1].weight: must be 0..100000, got -5",
		}},
		{"weight too large", Policy{Split: []Split{{1, 100001}}}, []string{
			"traffic.split[0].weight: must be 0..100000, got 100001",
		}},
		{"zero version", Policy{Split: []Split{{0, 100}}}, []string{
			"traffic.split[0].version: must be positive, got 0",
		}},
		{"duplicate version", Policy{Split: []Split{{1, 50}, {2, 25}, {1, 25}}}, []string{
			"traffic.split[2].version: 1 appears twice",
		}},
		{"all weights zero", Policy{Split: []Split{{1, 0}, {2, 0}}}, []string{
			"traffic.split: at least one weight must be positive",
		}},
		{"sticky without a key", Policy{Split: []Split{{1, 100}}, Sticky: &Sticky{}}, []string{
			"traffic.sticky: give one of header or feature",
		}},
		{"sticky with two keys", Policy{Split: []Split{{1, 100}}, Sticky: &Sticky{Header: "X-User-Id", Feature: "user_id"}}, []string{
			"traffic.sticky: header and feature are alternatives; give one",
		}},
		{"sticky bad header", Policy{Split: []Split{{1, 100}}, Sticky: &Sticky{Header: "X User"}}, []string{
			`traffic.sticky.header: "X User" is not a valid header name`,
		}},
		{"sticky without split", Policy{BlueGreen: &BlueGreen{Active: 1}, Sticky: &Sticky{Feature: "user_id"}}, []string{
			"traffic.sticky: applies only to split",
		}},
		{"shadow answers", Policy{Split: []Split{{1, 90}, {2, 10}}, Shadow: []Shadow{{Version: 2, Percent: 100}}}, []string{
			"traffic.shadow[0].version: 2 also answers traffic",
		}},
		{"shadow of a weight-0 split is fine", Policy{Split: []Split{{1, 100}, {2, 0}}, Shadow: []Shadow{{Version: 2, Percent: 100}}}, nil},
		{"shadow of the active version", Policy{BlueGreen: &BlueGreen{Active: 1, Preview: 2}, Shadow: []Shadow{{Version: 1, Percent: 50}}}, []string{
			"traffic.shadow[0].version: 1 also answers traffic",
		}},
		{"shadow of an arm", Policy{Bandit: &Bandit{Algorithm: UCB1, Arms: []int{1, 2}}, Shadow: []Shadow{{Version: 2, Percent: 50}}}, []string{
			"traffic.shadow[0].version: 2 also answers traffic",
		}},
		{"shadow percent", Policy{Split: []Split{{1, 100}}, Shadow: []Shadow{{Version: 2}, {Version: 3, Percent: 150}, {Version: 2, Percent: 5}, {Version: -1, Percent: 5}}}, []string{
			"traffic.shadow[0].percent: must be more than 0 and at most 100, got 0",
			"traffic.shadow[1].percent: must be more than 0 and at most 100, got 150",
			"traffic.shadow[2].version: 2 appears twice",
			"traffic.shadow[3].version: must be positive, got -1",
		}},
		{"blue-green", Policy{BlueGreen: &BlueGreen{Active: 0, Preview: -1, Previous: -2, KeepPrevious: Duration(-time.Second)}}, []string{
			"traffic.blueGreen.active: must be positive, got 0",
			"traffic.blueGreen.preview: must be positive, or 0 for none; got -1",
			"traffic.blueGreen.previous: must be positive, or 0 for none; got -2",
			"traffic.blueGreen.keepPrevious: must not be negative, got -1s",
		}},
		{"blue-green same versions", Policy{BlueGreen: &BlueGreen{Active: 3, Preview: 3, Previous: 3}}, []string{
			"traffic.blueGreen.preview: 3 is also the active version",
			"traffic.blueGreen.previous: 3 is also the active version",
		}},
		{"bandit", Policy{Bandit: &Bandit{Algorithm: "greedy", Arms: []int{1}, MinShare: -0.1, Epsilon: 2, Reward: "ordinal"}}, []string{
			`traffic.bandit.algorithm: must be thompson, ucb1 or epsilon-greedy; got "greedy"`,
			"traffic.bandit.arms: needs at least 2 arms, got 1",
			"traffic.bandit.minShare: must not be negative, got -0.1",
			"traffic.bandit.epsilon: must be 0..1, got 2",
			`traffic.bandit.reward: must be binary or continuous; got "ordinal"`,
		}},
		{"bandit minShare", Policy{Bandit: &Bandit{Algorithm: Thompson, Arms: []int{1, 2, 3}, MinShare: 0.5}}, []string{
			"traffic.bandit.minShare: must be < 1/len(arms) = 0.3333, got 0.5",
		}},
		{"bandit minShare exactly 1/K", Policy{Bandit: &Bandit{Algorithm: Thompson, Arms: []int{1, 2}, MinShare: 0.5}}, []string{
			"traffic.bandit.minShare: must be < 1/len(arms) = 0.5, got 0.5",
		}},
		{"bandit arms", Policy{Bandit: &Bandit{Algorithm: UCB1, Arms: []int{1, 0, 1}, Epsilon: 0.2}}, []string{
			"traffic.bandit.arms[1]: must be positive, got 0",
			"traffic.bandit.arms[2]: 1 appears twice",
			"traffic.bandit.epsilon: applies only to epsilon-greedy",
		}},
		{"bandit too many arms", Policy{Bandit: &Bandit{Algorithm: EpsilonGreedy, Arms: arms33}}, []string{
			"traffic.bandit.arms: at most 32 arms, got 33",
		}},
		{"challengers", Policy{Split: []Split{{1, 100}}, Shadow: []Shadow{{Version: 3, Percent: 10}}, Challengers: []int{1, 3, 0, 4, 4}}, []string{
			"traffic.challengers[0]: 1 also answers traffic",
			"traffic.challengers[1]: 3 is also a shadow",
			"traffic.challengers[2]: must be positive, got 0",
			"traffic.challengers[4]: 4 appears twice",
		}},
		{"every problem at once", Policy{
			Split:  []Split{{1, -5}, {1, 7}},
			Sticky: &Sticky{},
			Shadow: []Shadow{{Version: 1, Percent: 101}},
			Bandit: &Bandit{Algorithm: Thompson, Arms: []int{1, 2}},
		}, []string{
			"traffic: split, blueGreen and bandit are alternatives; give one",
			"traffic.split[0].weight: must be 0..100000, got -5",
			"traffic.split[1].version: 1 appears twice",
			"traffic.sticky: give one of header or feature",
			"traffic.shadow[0].version: 1 also answers traffic",
			"traffic.shadow[0].percent: must be more than 0 and at most 100, got 101",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe *FieldError
					if !errors.As(e, &fe) {
						t.Errorf("problem %q is a %T, want *FieldError", e, e)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	var p *Policy
	if err := p.Validate(); err == nil || err.Error() != "traffic: missing" {
		t.Errorf("(*Policy)(nil).Validate() = %v, want traffic: missing", err)
	}
}

// TestExamplePolicies decodes the documented examples strictly, validates
// them and compiles them.
func TestExamplePolicies(t *testing.T) {
	files, err := filepath.Glob("testdata/policies/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example policies: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := decodePolicy(data)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if _, err := compileWithBandit(p); err != nil {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

// compileWithBandit compiles p, giving it a fresh bandit when it has one.
func compileWithBandit(p Policy) (*Plan, error) {
	var b BanditState
	if p.Bandit != nil {
		var err error
		if b, err = NewBandit(*p.Bandit, nil); err != nil {
			return nil, err
		}
	}
	return Compile(p, b)
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		json, want string
	}{
		{`{"blueGreen": {"active": 1, "keepPrevious": 600}}`, `duration must be a string like "30s", got 600`},
		{`{"blueGreen": {"active": 1, "keepPrevious": "10 minutes"}}`, `duration must be like "30s" or "10m": "10 minutes" is not`},
		{`{"split": [{"version": 1, "weight": 1, "role": "stable"}]}`, `json: unknown field "role"`},
		{`{"canary": {"weight": 5}}`, `json: unknown field "canary"`},
	}
	for _, tt := range tests {
		_, err := decodePolicy([]byte(tt.json))
		if err == nil || err.Error() != tt.want {
			t.Errorf("decoding %s: error %v, want %s", tt.json, err, tt.want)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	var bg BlueGreen
	if err := json.Unmarshal([]byte(`{"active": 1, "keepPrevious": "1h30m"}`), &bg); err != nil {
		t.Fatal(err)
	}
	if got, want := time.Duration(bg.KeepPrevious), 90*time.Minute; got != want {
		t.Errorf("keepPrevious = %v, want %v", got, want)
	}
	out, err := json.Marshal(bg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `{"active":1,"keepPrevious":"1h30m0s"}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	out, _ = json.Marshal(BlueGreen{Active: 2})
	if got, want := string(out), `{"active":2}`; got != want {
		t.Errorf("Marshal without keepPrevious = %s, want %s", got, want)
	}
	var d Duration = 5
	if err := json.Unmarshal([]byte(`null`), &d); err != nil || d != 5 {
		t.Errorf("Unmarshal(null) = %v, %v; want unchanged 5ns and no error", d, err)
	}
}

func TestPolicyVersions(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   []int
	}{
		{"canary", Policy{Split: []Split{{1, 95}, {2, 5}}}, []int{1, 2}},
		{"finished canary keeps stable loaded", Policy{Split: []Split{{1, 0}, {2, 100}}}, []int{1, 2}},
		{"shadow and challengers", Policy{Split: []Split{{1, 100}}, Shadow: []Shadow{{3, 10}}, Challengers: []int{4, 5}}, []int{1, 3, 4, 5}},
		{"blue-green", Policy{BlueGreen: &BlueGreen{Active: 2, Preview: 3, Previous: 1}}, []int{2, 3, 1}},
		{"blue-green preview also shadowed", Policy{BlueGreen: &BlueGreen{Active: 2, Preview: 3}, Shadow: []Shadow{{3, 100}}}, []int{2, 3}},
		{"bandit", Policy{Bandit: &Bandit{Algorithm: Thompson, Arms: []int{3, 1, 2}}, Challengers: []int{9}}, []int{3, 1, 2, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.policy.Versions()); diff != "" {
				t.Errorf("Versions() (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzPolicy decodes arbitrary policies: decoding and validation never
// panic, every valid policy compiles, and its plan routes only to versions
// it loads, never mirroring the answering version.
func FuzzPolicy(f *testing.F) {
	files, _ := filepath.Glob("testdata/policies/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "user-1", uint64(1), uint64(2))
	}
	f.Add([]byte(`{"split":[{"version":1,"weight":0},{"version":2,"weight":100000}],"shadow":[{"version":3,"percent":1e-300}]}`), "", uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, key string, u, u2 uint64) {
		p, err := decodePolicy(data)
		if err != nil || p.Validate() != nil {
			return
		}
		plan, err := compileWithBandit(p)
		if err != nil {
			t.Fatalf("valid policy %s does not compile: %v", data, err)
		}
		loaded := plan.Loaded()
		d := plan.Route(RouteInput{Key: key, U: u, U2: u2}, nil)
		if !contains(plan.Versions(), d.Version) || !contains(loaded, d.Version) {
			t.Fatalf("%s: routed to %d, not among answering %v / loaded %v", data, d.Version, plan.Versions(), loaded)
		}
		for _, m := range d.Mirrors {
			if m == d.Version || !contains(loaded, m) {
				t.Fatalf("%s: mirror %d of %+v", data, m, d)
			}
		}
		if got := plan.Pick(u); !contains(plan.Versions(), got) {
			t.Fatalf("%s: Pick(%d) = %d, not answering", data, u, got)
		}
	})
}

func TestBlueGreenPromote(t *testing.T) {
	bg := BlueGreen{Active: 1, Preview: 2, KeepPrevious: Duration(10 * time.Minute)}
	want := BlueGreen{Active: 2, Previous: 1, KeepPrevious: Duration(10 * time.Minute)}
	if got := bg.Promote(); got != want {
		t.Errorf("Promote() = %+v, want %+v", got, want)
	}
	if got := want.Promote(); got != want {
		t.Errorf("Promote() without preview = %+v, want it unchanged", got)
	}
}
