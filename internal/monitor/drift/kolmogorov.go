package drift

import "math"

// This file computes the survival function of the one-sample two-sided
// Kolmogorov-Smirnov statistic D_n, Pr(D_n > d), which the asymptotic
// two-sample p-value evaluates at n = round(n1*n2/(n1+n2)), as
// scipy.stats.kstwo.sf does. The choice of method for each (n, d) follows
// Simard and L'Ecuyer (2011), "Computing the Two-Sided Kolmogorov-Smirnov
// Distribution", J. Stat. Software 39(11), with the same cut-offs as SciPy
// 1.10 so that both return the same number:
//
//   - n*d <= 1 and n*d >= n-1: Ruben and Gambino's closed forms;
//   - d >= 0.5, or a large n*d^2: twice the one-sided Smirnov tail, exact
//     there because the two one-sided events cannot both happen;
//   - small n: Durbin's matrix method (Marsaglia, Tsang and Wang 2003) or
//     Pomeranz's recursion (1974);
//   - large n: Durbin's matrix for small d, else the Pelz-Good expansion.

const (
	ksScaleExp = 128
	// Powers of two used to keep intermediate results in range; the
	// exponent taken out is kept separately and put back with Ldexp.
	ksBig   = 3.402823669209385e38  // 2^128
	ksSmall = 2.938735877055719e-39 // 2^-128
)

func clip01(p float64) float64 {
	switch {
	case p < 0:
		return 0
	case p > 1:
		return 1
	}
	return p
}

// kolmogorovSF returns Pr(D_n > x) for the two-sided one-sample statistic.
func kolmogorovSF(n int, x float64) float64 {
	if n <= 0 || math.IsNaN(x) {
		return math.NaN()
	}
	if x >= 1 {
		return 0
	}
	if x <= 0 {
		return 1
	}
	fn := float64(n)
	t := fn * x
	if t <= 1 { // Ruben-Gambino: 1/(2n) <= x <= 1/n
		if t <= 0.5 {
			return 1
		}
		var cdf float64
		if n <= 140 {
			cdf = 1
			for i := 1; i <= n; i++ {
				cdf *= float64(i) * (1.0 / fn) * (2*t - 1)
			}
		} else {
			cdf = math.Exp(logFactorialOverPower(n) + fn*math.Log(2*t-1))
		}
		return clip01(1 - cdf)
	}
	if t >= fn-1 { // Ruben-Gambino: x >= 1 - 1/n
		return clip01(2 * math.Pow(1-x, fn))
	}
	if x >= 0.5 {
		return clip01(2 * smirnovSF(n, x))
	}
	nxx := t * x
	if n <= 140 {
		switch {
		case nxx <= 0.754693:
			return clip01(1 - durbinCDF(n, x))
		case nxx <= 4:
			return clip01(1 - pomeranzCDF(n, x))
		}
		return clip01(2 * smirnovSF(n, x))
	}
	switch {
	case nxx >= 370:
		return 0
	case nxx >= 2.2:
		return clip01(2 * smirnovSF(n, x))
	}
	var cdf float64
	if n <= 100000 && fn*math.Pow(x, 1.5) <= 1.4 {
		cdf = durbinCDF(n, x)
	} else {
		cdf = pelzGoodCDF(n, x)
	}
	return clip01(1 - cdf)
}

// stirling holds B_2j/(2j)/(2j-1) for j = 8 down to 1, the coefficients of
// Stirling's series for log n!.
var stirling = [...]float64{
	-2.955065359477124183e-2, 6.4102564102564102564e-3,
	-1.9175269175269175269e-3, 8.4175084175084175084e-4,
	-5.952380952380952381e-4, 7.9365079365079365079e-4,
	-2.7777777777777777778e-3, 8.3333333333333333333e-2,
}

// logFactorialOverPower returns log(n!/n^n) by Stirling's series with the
// n*log(n) terms cancelled analytically.
func logFactorialOverPower(n int) float64 {
	fn := float64(n)
	rn := 1 / fn
	x := rn / fn
	poly := 0.0
	for _, c := range stirling {
		poly = poly*x + c
	}
	return math.Log(fn)/2 - fn + math.Log(2*math.Pi)/2 + rn*poly
}

// smirnovSF returns the one-sided tail Pr(D_n^+ >= e) by the Birnbaum and
// Tingey (1951) sum, evaluated in logarithms so that no term overflows:
//
//	e * sum_{v=0}^{floor(n(1-e))} C(n,v) (e+v/n)^(v-1) (1-e-v/n)^(n-v)
//
// Every term is positive, so the sum has no cancellation.
func smirnovSF(n int, e float64) float64 {
	if n <= 0 || math.IsNaN(e) || e < 0 || e > 1 {
		return math.NaN()
	}
	if e == 0 {
		return 1
	}
	if e == 1 {
		return 0
	}
	fn := float64(n)
	last := int(math.Floor(fn * (1 - e)))
	logC := 0.0 // log C(n, v)
	p := 0.0
	for v := 0; v <= last; v++ {
		evn := e + float64(v)/fn
		omevn := 1 - evn
		if omevn > 0 { // a zero factor (1-e-v/n)^(n-v) ends the sum
			lt := logC + float64(v-1)*math.Log(evn) + float64(n-v)*math.Log(omevn)
			if lt > -745 {
				p += math.Exp(lt)
			}
		}
		logC += math.Log(float64(n-v)) - math.Log(float64(v+1))
	}
	return clip01(p * e)
}

// durbinCDF returns Pr(D_n <= d) by Durbin's matrix method: the k-th
// diagonal entry of (n!/n^n) H^n for an m x m matrix H, m = 2k-1, with
// d = (k-h)/n. Powers are taken by squaring with the scale kept apart.
func durbinCDF(n int, d float64) float64 {
	if d >= 1 {
		return 1
	}
	nd := float64(n) * d
	if nd <= 0.5 {
		return 0
	}
	k := int(math.Ceil(nd))
	h := float64(k) - nd
	m := 2*k - 1

	v := make([]float64, m)
	w := make([]float64, m)
	fac := 1.0
	for j := 1; j <= m; j++ {
		w[j-1] = fac
		fac /= float64(j)
		v[j-1] = (1 - math.Pow(h, float64(j))) * fac
	}
	tt := math.Pow(math.Max(2*h-1, 0), float64(m)) - 2*math.Pow(h, float64(m))
	v[m-1] = (1 + tt) * fac

	H := make([]float64, m*m)
	for c := 1; c < m; c++ {
		for r := c - 1; r < m; r++ {
			H[r*m+c] = w[r-c+1]
		}
	}
	for r := 0; r < m; r++ {
		H[r*m] = v[r]
	}
	for c := 0; c < m; c++ {
		H[(m-1)*m+c] = v[m-1-c]
	}

	pwr := make([]float64, m*m)
	for i := 0; i < m; i++ {
		pwr[i*m+i] = 1
	}
	tmp := make([]float64, m*m)
	expnt, hexpnt := 0, 0
	for nn := n; nn > 0; nn /= 2 {
		if nn%2 == 1 {
			matMul(tmp, pwr, H, m)
			pwr, tmp = tmp, pwr
			expnt += hexpnt
		}
		matMul(tmp, H, H, m)
		H, tmp = tmp, H
		hexpnt *= 2
		if math.Abs(H[(k-1)*m+k-1]) > ksBig {
			for i := range H {
				H[i] /= ksBig
			}
			hexpnt += ksScaleExp
		}
	}
	p := pwr[(k-1)*m+k-1]
	fn := float64(n)
	for i := 1; i <= n; i++ {
		p = float64(i) * p / fn
		if math.Abs(p) < ksSmall {
			p *= ksBig
			expnt -= ksScaleExp
		}
	}
	if expnt != 0 {
		p = math.Ldexp(p, expnt)
	}
	return clip01(p)
}

// matMul sets dst = a*b for m x m row-major matrices.
func matMul(dst, a, b []float64, m int) {
	for i := 0; i < m; i++ {
		row := dst[i*m : (i+1)*m]
		clear(row)
		for l := 0; l < m; l++ {
			ail := a[i*m+l]
			if ail == 0 {
				continue
			}
			bl := b[l*m : (l+1)*m]
			for j := range row {
				row[j] += ail * bl[j]
			}
		}
	}
}

// pomeranzBounds returns the first and last non-zero column of row i of
// Pomeranz's recursion.
func pomeranzBounds(i, n, ll, ceilf, roundf int) (int, int) {
	var j1, j2 int
	if i == 0 {
		j1, j2 = -ll-ceilf-1, ll+ceilf-1
	} else {
		half, odd := (i+1)/2, (i+1)%2
		switch {
		case odd == 0 && half == n+1:
			j1, j2 = n-ll-ceilf-1, n+ll+ceilf-1
		case odd == 0:
			j1, j2 = half-1-ll-roundf-1, half+ll-1+ceilf-1
		default:
			j1, j2 = half-1-ll-1, half+ll+roundf-1
		}
	}
	return max(j1+2, 0), min(j2, n)
}

// pomeranzCDF returns Pr(D_n <= x) by Pomeranz's recursion: 2n+1 rows, each
// the convolution of the previous one with (almost) Poisson probabilities,
// of which only a sliding band is non-zero.
func pomeranzCDF(n int, x float64) float64 {
	fn := float64(n)
	t := fn * x
	ll := int(math.Floor(t))
	f := t - float64(ll)
	g := math.Min(f, 1-f)
	ceilf, roundf := 0, 0
	if f > 0 {
		ceilf = 1
	}
	if f > 0.5 {
		roundf = 1
	}
	npwrs := 2 * (ll + 1)
	gpower := make([]float64, npwrs)      // (g/n)^m/m!
	twogpower := make([]float64, npwrs)   // (2g/n)^m/m!
	onem2gpower := make([]float64, npwrs) // ((1-2g)/n)^m/m!
	gpower[0], twogpower[0], onem2gpower[0] = 1, 1, 1
	gn, twogn, onem2gn := g/fn, 2*g/fn, (1-2*g)/fn
	for m := 1; m < npwrs; m++ {
		fm := float64(m)
		gpower[m] = gpower[m-1] * gn / fm
		twogpower[m] = twogpower[m-1] * twogn / fm
		onem2gpower[m] = onem2gpower[m-1] * onem2gn / fm
	}

	v0 := make([]float64, npwrs)
	v1 := make([]float64, npwrs)
	conv := make([]float64, 2*npwrs)
	v1[0] = 1
	v0s, v1s := 0, 0
	expnt := 0
	j1, j2 := pomeranzBounds(0, n, ll, ceilf, roundf)
	for i := 1; i < 2*n+2; i++ {
		k1 := j1
		v0, v1 = v1, v0
		v0s, v1s = v1s, v0s
		clear(v1)
		j1, j2 = pomeranzBounds(i, n, ll, ceilf, roundf)
		pwrs := onem2gpower
		switch {
		case i == 1 || i == 2*n+1:
			pwrs = gpower
		case i%2 == 1:
			pwrs = twogpower
		}
		ln2 := j2 - k1 + 1
		if ln2 <= 0 {
			continue
		}
		a := clampSlice(v0, k1-v0s, k1-v0s+ln2)
		b := clampSlice(pwrs, 0, ln2)
		c := convolve(conv, a, b)
		start, length := j1-k1, j2-j1+1
		copy(v1[:max(length, 0)], clampSlice(c, start, start+length))
		top := 0.0
		for _, e := range v1 {
			top = math.Max(top, e)
		}
		if top > 0 && top < ksSmall {
			for j := range v1 {
				v1[j] *= ksBig
			}
			expnt -= ksScaleExp
		}
		v1s = v0s + j1 - k1
	}
	ans := v1[n-v1s]
	for m := 1; m <= n; m++ {
		if math.Abs(ans) > ksBig {
			ans *= ksSmall
			expnt += ksScaleExp
		}
		ans *= float64(m)
	}
	if expnt != 0 {
		ans = math.Ldexp(ans, expnt)
	}
	return clip01(ans)
}

// clampSlice returns s[lo:hi] with both bounds clamped into [0, len(s)], like
// a slice of a NumPy array with non-negative bounds.
func clampSlice(s []float64, lo, hi int) []float64 {
	lo = min(max(lo, 0), len(s))
	hi = min(max(hi, lo), len(s))
	return s[lo:hi]
}

// convolve writes the full discrete convolution of a and b into buf and
// returns it (length len(a)+len(b)-1).
func convolve(buf, a, b []float64) []float64 {
	if len(a) == 0 || len(b) == 0 {
		return buf[:0]
	}
	out := buf[:len(a)+len(b)-1]
	clear(out)
	for i, x := range a {
		for j, y := range b {
			out[i+j] += x * y
		}
	}
	return out
}

// pelzGoodCDF returns the Pelz and Good (1976) approximation of
// Pr(D_n <= x): the Li-Chien/Korolyuk expansion in 1/sqrt(n) with each term
// rewritten through Jacobi's theta transformation so it converges for
// small sqrt(n)*x.
func pelzGoodCDF(n int, x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	const (
		pi2 = math.Pi * math.Pi
		pi4 = pi2 * pi2
		pi6 = pi4 * pi2
	)
	sqrt2pi := math.Sqrt(2 * math.Pi)
	z := math.Sqrt(float64(n)) * x
	z2 := z * z
	z3, z4, z6 := z2*z, z2*z2, z2*z2*z2
	qlog := -pi2 / 8 / z2
	if qlog < -708 {
		return 0
	}
	q := math.Exp(qlog)

	k1a, k1b := -z2, pi2/4
	k2a := 6*z6 + 2*z4
	k2b := (2*z4 - 5*z2) * pi2 / 4
	k2c := pi4 * (1 - 2*z2) / 16
	k3d := pi6 * (5 - 30*z2) / 64
	k3c := pi4 * (-60*z2 + 212*z4) / 16
	k3b := pi2 * (135*z4 - 96*z6) / 4
	k3a := -30*z6 - 90*math.Pow(z, 8)

	var K [4]float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	for k := maxk; k > 0; k-- { // Horner in q^(8k) over odd m = 2k-1
		m := float64(2*k - 1)
		m2 := m * m
		m4, m6 := m2*m2, m2*m2*m2
		qp := math.Pow(q, float64(8*k))
		c := [4]float64{
			1,
			k1a + k1b*m2,
			k2a + k2b*m2 + k2c*m4,
			k3a + k3b*m2 + k3c*m4 + k3d*m6,
		}
		for i := range K {
			K[i] = K[i]*qp + c[i]
		}
	}
	div := [4]float64{z, 6 * z4, 72 * math.Pow(z, 7), 6480 * math.Pow(z, 10)}
	for i := range K {
		K[i] = K[i] * q * sqrt2pi / div[i]
	}

	q = math.Exp(-pi2 / 2 / z2)
	sqrt3z := math.Sqrt(3) * z
	var k2extra, k3extra float64
	for k := maxk; k > 0; k-- {
		fk := float64(k)
		k2 := fk * fk
		qk := math.Pow(q, k2)
		kpi := math.Pi * fk
		k2extra += k2 * qk
		k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk
	}
	K[2] += k2extra * pi2 * sqrt2pi / (-36 * z3)
	K[3] += k3extra * pi2 * sqrt2pi / (216 * z6)
	sum := 0.0
	for i := range K {
		sum += K[i] / math.Pow(float64(n), float64(i)/2)
	}
	return sum
}
