package lightgbm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// transform is the conversion an objective applies to raw scores
// (LightGBM's ObjectiveFunction::ConvertOutput).
type transform uint8

const (
	identity     transform = iota
	signedSquare           // regression with the sqrt flag: sign(x)*x*x
	sigmoid                // 1/(1+exp(-s*x)) on output 0
	sigmoidEach            // 1/(1+exp(-s*x)) on every output (multiclassova)
	softmax                // softmax over all outputs
	exponential            // exp(x): poisson, gamma, tweedie
	log1pExp               // log(1+exp(x)): cross_entropy_lambda
)

// objective is a parsed objective= line.
type objective struct {
	// name is the objective's LightGBM name, e.g. "binary".
	name string
	// outputs is the number of scores per row the objective works on.
	outputs int
	conv    transform
	// sigmoid is the sigmoid parameter for sigmoid and sigmoidEach.
	sigmoid float64
}

// parseObjective parses the value of an objective= line, following
// LightGBM's ObjectiveFunction::CreateObjectiveFunction(const std::string&).
// An empty value means no objective: raw scores, as for "custom".
func parseObjective(s string) (objective, error) {
	tokens := strings.Fields(s)
	if len(tokens) == 0 {
		return objective{name: "custom", conv: identity}, nil
	}
	o := objective{name: tokens[0], outputs: 1, sigmoid: -1}
	numClass := -1
	sqrt := false
	for _, tok := range tokens[1:] {
		if tok == "sqrt" {
			sqrt = true
			continue
		}
		key, val, ok := strings.Cut(tok, ":")
		if !ok {
			continue // LightGBM ignores tokens it does not know.
		}
		switch key {
		case "sigmoid":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return o, fmt.Errorf("%s: %q is not a number", tok, val)
			}
			o.sigmoid = f
		case "num_class":
			n, err := strconv.Atoi(val)
			if err != nil {
				return o, fmt.Errorf("%s: %q is not an integer", tok, val)
			}
			numClass = n
		}
	}
	needSigmoid := func() error {
		if !(o.sigmoid > 0) || math.IsInf(o.sigmoid, 0) {
			return fmt.Errorf("%s: needs a positive sigmoid:<value> parameter", o.name)
		}
		return nil
	}
	needClasses := func() error {
		if numClass < 1 {
			return fmt.Errorf("%s: needs a num_class:<K> parameter with K >= 1", o.name)
		}
		o.outputs = numClass
		return nil
	}
	switch o.name {
	case "regression", "regression_l1", "quantile", "fair", "mape":
		o.conv = identity
		if sqrt {
			o.conv = signedSquare
		}
	case "huber", "lambdarank", "rank_xendcg", "custom":
		// Huber disables the sqrt transform; ranking objectives and custom
		// objectives have no conversion.
		o.conv = identity
	case "poisson", "gamma", "tweedie":
		o.conv = exponential
	case "binary":
		o.conv = sigmoid
		if err := needSigmoid(); err != nil {
			return o, err
		}
	case "cross_entropy", "xentropy":
		o.conv, o.sigmoid = sigmoid, 1
	case "cross_entropy_lambda", "xentlambda":
		o.conv = log1pExp
	case "multiclass":
		o.conv = softmax
		if err := needClasses(); err != nil {
			return o, err
		}
	case "multiclassova":
		o.conv = sigmoidEach
		if err := needClasses(); err != nil {
			return o, err
		}
		if err := needSigmoid(); err != nil {
			return o, err
		}
	default:
		return o, fmt.Errorf("unknown objective %q (known: binary, cross_entropy, cross_entropy_lambda, custom, fair, gamma, huber, lambdarank, mape, multiclass, multiclassova, poisson, quantile, rank_xendcg, regression, regression_l1, tweedie)", o.name)
	}
	return o, nil
}

// convert applies the objective's transform to one row's scores in place,
// with the same floating-point operations as LightGBM.
func (o *objective) convert(out []float64) {
	switch o.conv {
	case signedSquare:
		// Common::Sign(x) * x * x, with Sign an int in {-1, 0, 1}.
		x, sign := out[0], 0.0
		if x > 0 {
			sign = 1
		} else if x < 0 {
			sign = -1
		}
		out[0] = sign * x * x
	case sigmoid:
		out[0] = 1 / (1 + math.Exp(-o.sigmoid*out[0]))
	case sigmoidEach:
		for i, x := range out {
			out[i] = 1 / (1 + math.Exp(-o.sigmoid*x))
		}
	case softmax:
		// Common::Softmax: subtract the max, exponentiate, normalise.
		wmax := out[0]
		for _, x := range out[1:] {
			if !(x < wmax) { // std::max(x, wmax)
				wmax = x
			}
		}
		wsum := 0.0
		for i, x := range out {
			out[i] = math.Exp(x - wmax)
			wsum += out[i]
		}
		for i := range out {
			out[i] /= wsum
		}
	case exponential:
		out[0] = math.Exp(out[0])
	case log1pExp:
		out[0] = math.Log1p(math.Exp(out[0]))
	}
}
