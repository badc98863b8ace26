package xgboost

import (
	"fmt"
	"math"
)

// link is how an objective maps base_score, which XGBoost stores in
// response space (a probability, a mean count), to margin space: XGBoost's
// ObjFunction::ProbToMargin.
type link uint8

const (
	linkIdentity link = iota
	linkLogit         // -log(1/p - 1): reg:logistic, binary:logistic
	linkLog           // log(mu): poisson, gamma, tweedie, cox, aft
)

// transform is how an objective turns a row's margins into outputs:
// XGBoost's ObjFunction::PredTransform.
type transform uint8

const (
	outIdentity transform = iota
	outSigmoid
	outExp
	outHinge    // 1 if margin > 0 else 0
	outSoftprob // softmax over the classes
	outSoftmax  // index of the largest margin
)

// objective is what prediction needs of an XGBoost objective.
type objective struct {
	name  string
	link  link
	out   transform
	multi bool // needs num_class >= 2 (multi:*)
}

// lookupObjective returns the objective called name, or an error for one
// this runtime does not know: guessing a link function would silently give
// wrong predictions.
func lookupObjective(name string) (objective, error) {
	o := objective{name: name}
	switch name {
	case "reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:pseudohubererror",
		"reg:absoluteerror", "reg:quantileerror":
	case "binary:logistic", "reg:logistic":
		o.link, o.out = linkLogit, outSigmoid
	case "binary:logitraw":
		// XGBoost's LogisticRaw keeps base_score as a margin: its
		// ProbToMargin is the identity, unlike binary:logistic's.
	case "binary:hinge":
		o.out = outHinge
	case "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft":
		o.link, o.out = linkLog, outExp
	case "multi:softprob":
		o.out, o.multi = outSoftprob, true
	case "multi:softmax":
		o.out, o.multi = outSoftmax, true
	case "rank:pairwise", "rank:ndcg", "rank:map":
	default:
		return o, fmt.Errorf("objective %q is not supported (supported: reg:squarederror, reg:squaredlogerror, "+
			"reg:pseudohubererror, reg:absoluteerror, reg:quantileerror, reg:logistic, reg:gamma, reg:tweedie, "+
			"binary:logistic, binary:logitraw, binary:hinge, count:poisson, survival:cox, survival:aft, "+
			"multi:softprob, multi:softmax, rank:pairwise, rank:ndcg, rank:map)", name)
	}
	return o, nil
}

// margin converts a base_score to margin space in float32, as XGBoost does.
func (o objective) margin(base float32) (float32, error) {
	switch o.link {
	case linkLogit:
		// XGBoost 3.x accepts 0 and 1 (all labels alike), giving an
		// infinite margin; so does this, with the same float32 steps.
		if !(base >= 0 && base <= 1) {
			return 0, fmt.Errorf("base_score %g must be in [0, 1] for %s", base, o.name)
		}
		t := float32(1)/base - 1
		return -float32(math.Log(float64(t))), nil
	case linkLog:
		if !(base >= 0) {
			return 0, fmt.Errorf("base_score %g must not be negative for %s", base, o.name)
		}
		return float32(math.Log(float64(base))), nil
	}
	return base, nil
}

// apply turns the margins of one row into its outputs. m and out may be
// the same slice except for outSoftmax, whose out has one element.
func (o objective) apply(m, out []float32) {
	switch o.out {
	case outIdentity:
		copy(out, m)
	case outSigmoid:
		for j, v := range m {
			out[j] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	case outExp:
		for j, v := range m {
			out[j] = float32(math.Exp(float64(v)))
		}
	case outHinge:
		for j, v := range m {
			if v > 0 {
				out[j] = 1
			} else {
				out[j] = 0
			}
		}
	case outSoftprob:
		softmax(m, out)
	case outSoftmax:
		best := 0
		for j, v := range m {
			if v > m[best] {
				best = j
			}
		}
		out[0] = float32(best)
	}
}

// softmax writes the softmax of m to out, subtracting the largest margin
// first for stability like XGBoost's common::Softmax.
func softmax(m, out []float32) {
	if len(m) == 0 {
		return
	}
	hi := m[0]
	for _, v := range m[1:] {
		hi = max(hi, v)
	}
	var sum float64
	for j, v := range m {
		e := float32(math.Exp(float64(v - hi)))
		out[j] = e
		sum += float64(e)
	}
	d := float32(sum)
	for j := range out {
		out[j] /= d
	}
}
