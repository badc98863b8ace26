package traffic

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// FieldError is one problem with one field of a Policy.
type FieldError struct {
	// Path names the field from the policy's root, e.g.
	// "traffic.split[1].weight". Callers embedding the policy deeper (an
	// Endpoint's spec) prefix it.
	Path string
	// Msg says what is wrong, e.g. "must be 0..100000, got -5".
	Msg string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// problems collects FieldErrors in the order they are found.
type problems []error

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Validate reports every problem in p, each a *FieldError, joined with
// errors.Join (one per line); nil when p is valid. Walk them with
// errors.As, or with Unwrap() []error for all of them.
func (p *Policy) Validate() error {
	var ps problems
	if p == nil {
		ps.add("traffic", "missing")
		return errors.Join(ps...)
	}
	deciders := 0
	if len(p.Split) > 0 {
		deciders++
	}
	if p.BlueGreen != nil {
		deciders++
	}
	if p.Bandit != nil {
		deciders++
	}
	switch {
	case deciders == 0:
		ps.add("traffic", "give one of split, blueGreen or bandit")
	case deciders > 1:
		ps.add("traffic", "split, blueGreen and bandit are alternatives; give one")
	}
	validateSplits(&ps, "traffic.split", p.Split)
	if s := p.Sticky; s != nil {
		validateSticky(&ps, s, len(p.Split) > 0)
	}
	if bg := p.BlueGreen; bg != nil {
		validateBlueGreen(&ps, bg)
	}
	if b := p.Bandit; b != nil {
		validateBandit(&ps, "traffic.bandit", b)
	}

	answers := p.answering()
	shadows := make([]int, 0, len(p.Shadow))
	for i, s := range p.Shadow {
		path := "traffic.shadow[" + strconv.Itoa(i) + "]"
		switch {
		case s.Version <= 0:
			ps.add(path+".version", "must be positive, got %d", s.Version)
		case contains(answers, s.Version):
			ps.add(path+".version", "%d also answers traffic", s.Version)
		case contains(shadows, s.Version):
			ps.add(path+".version", "%d appears twice", s.Version)
		}
		shadows = append(shadows, s.Version)
		if !(s.Percent > 0 && s.Percent <= 100) {
			ps.add(path+".percent", "must be more than 0 and at most 100, got %g", s.Percent)
		}
	}
	for i, v := range p.Challengers {
		path := "traffic.challengers[" + strconv.Itoa(i) + "]"
		switch {
		case v <= 0:
			ps.add(path, "must be positive, got %d", v)
		case contains(answers, v):
			ps.add(path, "%d also answers traffic", v)
		case contains(shadows, v):
			ps.add(path, "%d is also a shadow", v)
		case contains(p.Challengers[:i], v):
			ps.add(path, "%d appears twice", v)
		}
	}
	return errors.Join(ps...)
}

func validateSplits(ps *problems, path string, splits []Split) {
	total, badWeight := 0, false
	for i, s := range splits {
		at := path + "[" + strconv.Itoa(i) + "]"
		if s.Version <= 0 {
			ps.add(at+".version", "must be positive, got %d", s.Version)
		} else {
			for _, t := range splits[:i] {
				if t.Version == s.Version {
					ps.add(at+".version", "%d appears twice", s.Version)
					break
				}
			}
		}
		if s.Weight < 0 || s.Weight > MaxWeight {
			ps.add(at+".weight", "must be 0..%d, got %d", MaxWeight, s.Weight)
			badWeight = true
		} else {
			total += s.Weight
		}
	}
	if len(splits) > 0 && total == 0 && !badWeight {
		ps.add(path, "at least one weight must be positive")
	}
}

func validateSticky(ps *problems, s *Sticky, withSplit bool) {
	switch {
	case s.Header == "" && s.Feature == "":
		ps.add("traffic.sticky", "give one of header or feature")
	case s.Header != "" && s.Feature != "":
		ps.add("traffic.sticky", "header and feature are alternatives; give one")
	case s.Header != "" && !isToken(s.Header):
		ps.add("traffic.sticky.header", "%q is not a valid header name", s.Header)
	}
	if !withSplit {
		ps.add("traffic.sticky", "applies only to split")
	}
}

func validateBlueGreen(ps *problems, bg *BlueGreen) {
	if bg.Active <= 0 {
		ps.add("traffic.blueGreen.active", "must be positive, got %d", bg.Active)
	}
	switch {
	case bg.Preview < 0:
		ps.add("traffic.blueGreen.preview", "must be positive, or 0 for none; got %d", bg.Preview)
	case bg.Preview > 0 && bg.Preview == bg.Active:
		ps.add("traffic.blueGreen.preview", "%d is also the active version", bg.Preview)
	}
	switch {
	case bg.Previous < 0:
		ps.add("traffic.blueGreen.previous", "must be positive, or 0 for none; got %d", bg.Previous)
	case bg.Previous > 0 && bg.Previous == bg.Active:
		ps.add("traffic.blueGreen.previous", "%d is also the active version", bg.Previous)
	}
	if bg.KeepPrevious < 0 {
		ps.add("traffic.blueGreen.keepPrevious", "must not be negative, got %s", bg.KeepPrevious)
	}
}

func validateBandit(ps *problems, path string, b *Bandit) {
	switch b.Algorithm {
	case Thompson, UCB1, EpsilonGreedy:
	default:
		ps.add(path+".algorithm", "must be thompson, ucb1 or epsilon-greedy; got %q", b.Algorithm)
	}
	switch k := len(b.Arms); {
	case k < 2:
		ps.add(path+".arms", "needs at least 2 arms, got %d", k)
	case k > MaxArms:
		ps.add(path+".arms", "at most %d arms, got %d", MaxArms, k)
	}
	for i, v := range b.Arms {
		at := path + ".arms[" + strconv.Itoa(i) + "]"
		if v <= 0 {
			ps.add(at, "must be positive, got %d", v)
		} else if contains(b.Arms[:i], v) {
			ps.add(at, "%d appears twice", v)
		}
	}
	switch {
	case math.IsNaN(b.MinShare) || b.MinShare < 0:
		ps.add(path+".minShare", "must not be negative, got %g", b.MinShare)
	case len(b.Arms) > 0 && b.MinShare*float64(len(b.Arms)) >= 1:
		ps.add(path+".minShare", "must be < 1/len(arms) = %.4g, got %g", 1/float64(len(b.Arms)), b.MinShare)
	}
	switch {
	case math.IsNaN(b.Epsilon) || b.Epsilon < 0 || b.Epsilon > 1:
		ps.add(path+".epsilon", "must be 0..1, got %g", b.Epsilon)
	case b.Epsilon != 0 && b.Algorithm != EpsilonGreedy:
		ps.add(path+".epsilon", "applies only to epsilon-greedy")
	}
	switch b.Reward {
	case "", Binary, Continuous:
	default:
		ps.add(path+".reward", "must be binary or continuous; got %q", b.Reward)
	}
}

func contains(vs []int, v int) bool {
	for _, w := range vs {
		if w == v {
			return true
		}
	}
	return false
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), the
// syntax of a header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}
