package analysis

import "strconv"

// sentence builds a Reason with one allocation (the final string), so the
// comparisons stay cheap when the controller calls them for many metrics.
type sentence struct{ b []byte }

func (s *sentence) str(x string) *sentence { s.b = append(s.b, x...); return s }

// num appends x with prec significant digits, like fmt's %.<prec>g.
func (s *sentence) num(x float64, prec int) *sentence {
	s.b = strconv.AppendFloat(s.b, x, 'g', prec, 64)
	return s
}

func (s *sentence) int(n int64) *sentence { s.b = strconv.AppendInt(s.b, n, 10); return s }

// level appends the confidence level 1−α as a percentage ("95%").
func (s *sentence) level(alpha float64) *sentence {
	return s.num(100*(1-alpha), 4).str("%")
}

// tol appends the tolerance of c ("0.01" or "10% of the baseline").
func (s *sentence) tol(c Criterion) *sentence {
	if c.Relative {
		return s.num(100*c.Tolerance, 3).str("% of the baseline")
	}
	return s.num(c.Tolerance, 4)
}

// interval appends "[lo, hi]".
func (s *sentence) interval(lo, hi float64, prec int) *sentence {
	return s.str("[").num(lo, prec).str(", ").num(hi, prec).str("]")
}

func (s *sentence) String() string { return string(s.b) }
