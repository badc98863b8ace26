package monitor

import (
	"sort"
	"sync"
)

// Fairness counts, per endpoint, version and group of a sensitive attribute
// (an input feature or a request header), how many rows were predicted
// positive and, once labels arrive, how many true positives each group
// had: enough for demographic parity, disparate impact and equal
// opportunity. A version keeps at most MaxGroups groups; rows of further
// groups count under OtherGroup, so memory stays bounded.
type Fairness struct {
	mu     sync.Mutex
	series map[versionKey]map[string]*GroupCounts // guarded by mu
}

// MaxGroups bounds the groups counted per version, OtherGroup included.
const MaxGroups = 100

// OtherGroup collects the rows of groups beyond MaxGroups.
const OtherGroup = "(other)"

// GroupCounts are one group's counts. A row is predicted positive when its
// class (Class) is 1.
type GroupCounts struct {
	Group string `json:"group"`
	// Rows predicted, and how many of them positive.
	Rows     int64 `json:"rows"`
	Selected int64 `json:"selected"`
	// Labeled rows, how many had label 1, and how many of those were
	// predicted positive (true positives).
	Labeled       int64 `json:"labeled"`
	Positives     int64 `json:"positives"`
	TruePositives int64 `json:"true_positives"`
}

// NewFairness returns empty counts.
func NewFairness() *Fairness { return &Fairness{series: map[versionKey]map[string]*GroupCounts{}} }

func (f *Fairness) groupLocked(k versionKey, g string) *GroupCounts {
	m := f.series[k]
	if m == nil {
		m = map[string]*GroupCounts{}
		f.series[k] = m
	}
	c := m[g]
	if c == nil {
		if len(m) >= MaxGroups-1 { // the last place is kept for OtherGroup
			g = OtherGroup
			if c = m[g]; c != nil {
				return c
			}
		}
		c = &GroupCounts{Group: g}
		m[g] = c
	}
	return c
}

// Observe counts the rows of an answer: groups[r] is row r's group ("" is
// skipped); a single group stands for every row.
func (f *Fairness) Observe(endpoint string, p Prediction, groups []string) {
	if f == nil || p.Width == 0 || len(groups) == 0 || !classLike(p) {
		return
	}
	rows := len(p.Values) / p.Width
	k := versionKey{endpoint, p.Version}
	f.mu.Lock()
	defer f.mu.Unlock()
	for r := 0; r < rows; r++ {
		g := groups[0]
		if len(groups) > 1 {
			if r >= len(groups) {
				break
			}
			g = groups[r]
		}
		if g == "" {
			continue
		}
		c := f.groupLocked(k, g)
		c.Rows++
		if Class(p.Values[r*p.Width:(r+1)*p.Width]) == 1 {
			c.Selected++
		}
	}
}

// Join counts labels of a remembered request for the version that
// answered and its mirrors, by the groups remembered with it.
func (f *Fairness) Join(req Request, labels []float64) {
	if f == nil || len(req.Groups) == 0 || labels == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joinLocked(req.Endpoint, req.Answer, req.Groups, labels)
	for _, m := range req.Mirrors {
		if m.Err == "" {
			f.joinLocked(req.Endpoint, m, req.Groups, labels)
		}
	}
}

func (f *Fairness) joinLocked(endpoint string, p Prediction, groups []string, labels []float64) {
	if p.Width == 0 || len(p.Values) != len(labels)*p.Width || !classLike(p) || !isClassLabels(labels, p.Width) {
		return
	}
	k := versionKey{endpoint, p.Version}
	for r := range labels {
		g := groups[0]
		if len(groups) > 1 {
			if r >= len(groups) {
				break
			}
			g = groups[r]
		}
		if g == "" {
			continue
		}
		c := f.groupLocked(k, g)
		c.Labeled++
		if labels[r] == 1 {
			c.Positives++
			if Class(p.Values[r*p.Width:(r+1)*p.Width]) == 1 {
				c.TruePositives++
			}
		}
	}
}

// VersionGroups is one version's counts by group.
type VersionGroups struct {
	Endpoint string        `json:"endpoint"`
	Version  int           `json:"version"`
	Groups   []GroupCounts `json:"groups"`
}

// Versions returns the counts of every version of endpoint ("" for all),
// groups sorted by name.
func (f *Fairness) Versions(endpoint string) []VersionGroups {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []VersionGroups
	for k, m := range f.series {
		if endpoint != "" && k.endpoint != endpoint {
			continue
		}
		vg := VersionGroups{Endpoint: k.endpoint, Version: k.version}
		for _, c := range m {
			vg.Groups = append(vg.Groups, *c)
		}
		sort.Slice(vg.Groups, func(i, j int) bool { return vg.Groups[i].Group < vg.Groups[j].Group })
		out = append(out, vg)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Endpoint != out[j].Endpoint {
			return out[i].Endpoint < out[j].Endpoint
		}
		return out[i].Version < out[j].Version
	})
	return out
}
