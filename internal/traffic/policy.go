package traffic

// Policy is an endpoint's traffic policy as users write it (under
// spec.traffic in an Endpoint file). Exactly one of Split, BlueGreen and
// Bandit decides which version answers; Sticky refines Split, and Shadow and
// Challengers add versions that see requests without answering them.
//
// Decode it strictly (unknown fields refused), then Validate it to report
// every problem; Compile validates it again before building a Plan.
type Policy struct {
	// Split divides answering traffic among versions by weight. The first
	// entry is the stable version and later entries are canaries: a canary
	// rollout is [{version: stable, weight: 100-w}, {version: candidate,
	// weight: w}].
	Split []Split `json:"split,omitempty"`
	// Sticky keeps one key (a user, a device) on one version while the
	// weights of Split change. Only with Split.
	Sticky *Sticky `json:"sticky,omitempty"`
	// Shadow mirrors a sample of requests to versions whose answers are
	// logged and compared but never returned.
	Shadow []Shadow `json:"shadow,omitempty"`
	// BlueGreen sends every request to one active version while another is
	// loaded for preview, and keeps the previous one loaded after a switch.
	BlueGreen *BlueGreen `json:"blueGreen,omitempty"`
	// Bandit lets traffic shares adapt to the rewards each version earns.
	Bandit *Bandit `json:"bandit,omitempty"`
	// Challengers score every request the answering version scores (like a
	// shadow at 100 percent); with feedback the two are compared.
	Challengers []int `json:"challengers,omitempty"`
}

// Sticky names where a request's routing key comes from. Give exactly one
// of Header and Feature. Requests without the key are routed at random.
type Sticky struct {
	// Header is the request header whose value is the key, e.g. "X-User-Id".
	Header string `json:"header,omitempty"`
	// Feature is the input feature whose value is the key, e.g. "user_id".
	Feature string `json:"feature,omitempty"`
}

// Shadow mirrors a share of requests to a version that never answers.
type Shadow struct {
	// Version is the model version the requests are mirrored to.
	Version int `json:"version"`
	// Percent of requests mirrored: more than 0 and at most 100; fractions
	// such as 0.5 are allowed.
	Percent float64 `json:"percent"`
}

// BlueGreen keeps two versions loaded and warm: Active answers every
// request, Preview answers only the endpoint's preview route. Switching is a
// new policy with Active and Preview swapped (see Promote), applied in one
// atomic swap.
type BlueGreen struct {
	// Active answers every request.
	Active int `json:"active"`
	// Preview is loaded and reachable only through the preview route; 0 for
	// none.
	Preview int `json:"preview,omitempty"`
	// Previous is the version that was active before the last switch, kept
	// loaded so that switching back is instant; 0 for none. The control
	// plane sets it when it switches and clears it once KeepPrevious has
	// passed.
	Previous int `json:"previous,omitempty"`
	// KeepPrevious is how long Previous stays loaded after a switch, e.g.
	// "10m"; 0 unloads it at once.
	KeepPrevious Duration `json:"keepPrevious,omitempty"`
}

// Promote returns the policy after switching to the preview: Preview
// becomes Active and the old Active becomes Previous. With no preview it
// returns b unchanged.
func (b BlueGreen) Promote() BlueGreen {
	if b.Preview == 0 {
		return b
	}
	return BlueGreen{Active: b.Preview, Previous: b.Active, KeepPrevious: b.KeepPrevious}
}

// Algorithm names a bandit algorithm.
type Algorithm string

// The bandit algorithms; see docs/traffic.md for the maths.
const (
	// Thompson samples each arm's reward from its posterior and plays the best sample.
	Thompson Algorithm = "thompson"
	// UCB1 plays the arm with the highest upper confidence bound.
	UCB1 Algorithm = "ucb1"
	// EpsilonGreedy plays a uniformly random arm with probability epsilon, else the best mean.
	EpsilonGreedy Algorithm = "epsilon-greedy"
)

// RewardKind says what feedback rewards look like.
type RewardKind string

// The reward kinds.
const (
	// Binary rewards are 1 (success: a click, a correct label) or 0.
	Binary RewardKind = "binary"
	// Continuous rewards are any finite number (revenue, negative error).
	Continuous RewardKind = "continuous"
)

// MaxArms is the most arms a bandit may have.
const MaxArms = 32

// Bandit configures a multi-armed bandit over versions.
type Bandit struct {
	// Algorithm is "thompson", "ucb1" or "epsilon-greedy".
	Algorithm Algorithm `json:"algorithm"`
	// Arms are the competing versions, at least 2 and at most MaxArms.
	Arms []int `json:"arms"`
	// MinShare is the share of traffic every arm gets whatever its rewards:
	// at least 0 and less than 1/len(Arms).
	MinShare float64 `json:"minShare,omitempty"`
	// Epsilon is epsilon-greedy's exploration probability, 0..1; 0 means
	// the default, 0.1. Only for epsilon-greedy.
	Epsilon float64 `json:"epsilon,omitempty"`
	// Reward is "binary" (the default when empty) or "continuous".
	Reward RewardKind `json:"reward,omitempty"`
}

// DefaultEpsilon is epsilon-greedy's exploration probability when Epsilon is 0.
const DefaultEpsilon = 0.1

// MaxWeight is the largest weight a Split may have.
const MaxWeight = 100000

// Versions returns every version the policy needs loaded, each once:
// answering versions (every split entry, weight 0 included, so that a
// finished canary can be rolled back at once; the active version; the
// arms), then the preview, the kept previous version, shadows and
// challengers.
func (p *Policy) Versions() []int {
	var vs []int
	add := func(v int) {
		if v <= 0 {
			return
		}
		for _, w := range vs {
			if w == v {
				return
			}
		}
		vs = append(vs, v)
	}
	for _, s := range p.Split {
		add(s.Version)
	}
	if bg := p.BlueGreen; bg != nil {
		add(bg.Active)
		add(bg.Preview)
		add(bg.Previous)
	}
	if b := p.Bandit; b != nil {
		for _, v := range b.Arms {
			add(v)
		}
	}
	for _, s := range p.Shadow {
		add(s.Version)
	}
	for _, v := range p.Challengers {
		add(v)
	}
	return vs
}

// answering returns the versions that may answer a request under p.
func (p *Policy) answering() []int {
	var vs []int
	for _, s := range p.Split {
		if s.Weight > 0 {
			vs = append(vs, s.Version)
		}
	}
	if p.BlueGreen != nil {
		vs = append(vs, p.BlueGreen.Active)
	}
	if p.Bandit != nil {
		vs = append(vs, p.Bandit.Arms...)
	}
	return vs
}

func (b *Bandit) epsilon() float64 {
	if b.Epsilon == 0 {
		return DefaultEpsilon
	}
	return b.Epsilon
}

func (b *Bandit) reward() RewardKind {
	if b.Reward == "" {
		return Binary
	}
	return b.Reward
}
