package apiclient

import (
	"encoding/json"
	"time"

	"github.com/sluicehq/sluice/internal/signing"
	"github.com/sluicehq/sluice/internal/traffic"
)

// The control API's wire types, shared by the server (internal/api) and
// this client so the two cannot drift apart.

// Model summarises a registered model.
type Model struct {
	Name          string         `json:"name"`
	Description   string         `json:"description,omitempty"`
	LatestVersion int            `json:"latest_version"`
	Versions      int            `json:"versions"`
	Aliases       map[string]int `json:"aliases"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
}

// Version is one immutable model version.
type Version struct {
	Model       string             `json:"model"`
	Version     int                `json:"version"`
	Format      string             `json:"format"`
	Digest      string             `json:"digest"`
	Size        int64              `json:"size"`
	Description string             `json:"description,omitempty"`
	Labels      map[string]string  `json:"labels,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	Signature   json.RawMessage    `json:"signature,omitempty"`
	Params      map[string]string  `json:"params,omitempty"`
	Aliases     []string           `json:"aliases"`
	CreatedAt   time.Time          `json:"created_at"`
	CreatedBy   string             `json:"created_by,omitempty"`
	// ArtifactSignature is the artifact's ed25519 signature
	// ({"keyId","signature"}); absent when the version is unsigned.
	ArtifactSignature json.RawMessage `json:"artifact_signature,omitempty"`
}

// PushMetadata accompanies an artifact in a push (the "metadata" part).
type PushMetadata struct {
	// Format is the model format; empty means detect it from the file.
	Format      string             `json:"format,omitempty"`
	Description string             `json:"description,omitempty"`
	Labels      map[string]string  `json:"labels,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	// Signature overrides or completes the one read from the model.
	Signature json.RawMessage   `json:"signature,omitempty"`
	Params    map[string]string `json:"params,omitempty"`
	// ArtifactSignature signs the artifact's sha256 and the model name
	// (sluice model push --sign-key).
	ArtifactSignature *signing.Signature `json:"artifact_signature,omitempty"`
	// BaselineCategorical names columns of the baseline CSV holding
	// numeric category codes (compared as categories).
	BaselineCategorical []string `json:"baseline_categorical,omitempty"`
}

// AliasChange is one move of an alias.
type AliasChange struct {
	Model     string    `json:"model"`
	Alias     string    `json:"alias"`
	Version   int       `json:"version"`
	Previous  int       `json:"previous,omitempty"`
	ChangedAt time.Time `json:"changed_at"`
	ChangedBy string    `json:"changed_by,omitempty"`
}

// SetAliasRequest moves an alias.
type SetAliasRequest struct {
	Version int `json:"version"`
}

// EndpointSpec is an endpoint's desired state.
type EndpointSpec struct {
	Model string `json:"model"`
	// Version is a number, an alias or "latest" when one version takes all
	// traffic; empty when Traffic is set.
	Version     string `json:"version,omitempty"`
	Description string `json:"description,omitempty"`
	// Traffic divides traffic among versions (see docs/traffic.md).
	Traffic *traffic.Policy `json:"traffic,omitempty"`
	// SegmentBy splits shadow and challenger comparisons by a header or feature.
	SegmentBy *traffic.Sticky `json:"segmentBy,omitempty"`
	// Protection limits and protects the endpoint.
	Protection *Protection `json:"protection,omitempty"`
	// Rolling is a stepwise shift in progress, finished or halted.
	Rolling *Rolling `json:"rolling,omitempty"`
	// Auth is "public" (default) or "token": inference calls need an API
	// token or a verified client certificate.
	Auth string `json:"auth,omitempty"`
	// Approval "required" makes production changes wait for a second
	// person with the approver role.
	Approval string `json:"approval,omitempty"`
	// Monitoring configures the endpoint's monitors (docs/monitoring.md).
	Monitoring *Monitoring `json:"monitoring,omitempty"`
}

// Monitoring configures an endpoint's monitors.
type Monitoring struct {
	// Sensitive is the header or input feature fairness is measured across.
	Sensitive *traffic.Sticky `json:"sensitive,omitempty"`
}

// Rolling shifts traffic from From to To in Steps equal increments, one
// every Interval, checking the candidate's error rate between steps.
type Rolling struct {
	From             int              `json:"from,omitempty"`
	To               int              `json:"to"`
	Steps            int              `json:"steps"`
	Interval         traffic.Duration `json:"interval"`
	MaxErrorRate     float64          `json:"maxErrorRate,omitempty"`
	Step             int              `json:"step,omitempty"`
	StepStarted      time.Time        `json:"stepStarted,omitempty"`
	BaselineRequests int64            `json:"baselineRequests,omitempty"`
	BaselineErrors   int64            `json:"baselineErrors,omitempty"`
	State            string           `json:"state,omitempty"`
	Reason           string           `json:"reason,omitempty"`
}

// Protection limits an endpoint's load (429 with Retry-After above it),
// bounds each prediction, and can fall back to the stable version.
type Protection struct {
	RateLimit      float64          `json:"rateLimit,omitempty"`
	Burst          int              `json:"burst,omitempty"`
	MaxConcurrency int              `json:"maxConcurrency,omitempty"`
	Timeout        traffic.Duration `json:"timeout,omitempty"`
	Fallback       bool             `json:"fallback,omitempty"`
}

// CreateEndpointRequest creates an endpoint.
type CreateEndpointRequest struct {
	Name string `json:"name"`
	EndpointSpec
}

// UpdateEndpointRequest changes an endpoint; empty fields are left as they
// are. Setting Version gives that version all traffic (clearing a traffic
// policy); setting Traffic replaces the policy.
type UpdateEndpointRequest struct {
	Version     string          `json:"version,omitempty"`
	Description *string         `json:"description,omitempty"`
	Traffic     *traffic.Policy `json:"traffic,omitempty"`
	SegmentBy   *traffic.Sticky `json:"segmentBy,omitempty"`
	// Protection replaces the endpoint's protection; an empty object
	// removes it.
	Protection *Protection `json:"protection,omitempty"`
	// Auth and Approval replace the endpoint's settings when set.
	Auth     *string `json:"auth,omitempty"`
	Approval *string `json:"approval,omitempty"`
	// Monitoring replaces the endpoint's monitoring settings; an empty
	// object removes them.
	Monitoring *Monitoring `json:"monitoring,omitempty"`
}

// Share is one version's part of an endpoint's traffic right now.
type Share struct {
	Version int     `json:"version"`
	Role    string  `json:"role"`
	Share   float64 `json:"share"`
}

// VersionLive is what one version of an endpoint served since the server
// started.
type VersionLive struct {
	Version       int     `json:"version"`
	Role          string  `json:"role,omitempty"`
	Requests      int64   `json:"requests"`
	Errors        int64   `json:"errors"`
	MeanLatencyMS float64 `json:"mean_latency_ms"`
	Loaded        bool    `json:"loaded"`
}

// Endpoint is an endpoint with the version it serves now.
type Endpoint struct {
	Name           string       `json:"name"`
	Spec           EndpointSpec `json:"spec"`
	Revision       int64        `json:"revision"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	ServingVersion int          `json:"serving_version"`
	Error          string       `json:"error,omitempty"`
	// ChangedBy and Deleted are filled in endpoint history.
	ChangedBy string `json:"changed_by,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
	// Shares and Live are filled by GET /api/v1/endpoints/{name}.
	Shares []Share       `json:"shares,omitempty"`
	Live   []VersionLive `json:"live,omitempty"`
}

// Comparison is GET /api/v1/endpoints/{name}/compare: how shadow and
// challenger versions compare with the answering versions.
type Comparison struct {
	Endpoint string `json:"endpoint"`
	// Mirrors compares predictions on the same requests (no labels needed).
	Mirrors []MirrorComparison `json:"mirrors"`
	// Outcomes are per-version results from feedback.
	Outcomes []VersionOutcome `json:"outcomes"`
	// Paired compares a challenger with the answering version on the same
	// labelled requests.
	Paired []PairedOutcome `json:"paired"`
	// MirrorQueue counts copies dropped because the mirroring queue was full.
	MirrorDropped uint64 `json:"mirror_dropped"`
}

// MirrorComparison is one mirror version against one answering version.
type MirrorComparison struct {
	Primary          int      `json:"primary_version"`
	Mirror           int      `json:"mirror_version"`
	Role             string   `json:"role"`
	Segment          string   `json:"segment,omitempty"`
	Requests         int64    `json:"requests"`
	Errors           int64    `json:"errors"`
	Rows             int64    `json:"rows"`
	Agreement        *float64 `json:"agreement,omitempty"`
	MeanAbsDiff      *float64 `json:"mean_abs_diff,omitempty"`
	MaxAbsDiff       float64  `json:"max_abs_diff"`
	MirrorLatencyMS  float64  `json:"mirror_mean_latency_ms"`
	PrimaryLatencyMS float64  `json:"primary_mean_latency_ms"`
}

// VersionOutcome is what feedback says about a version.
type VersionOutcome struct {
	Version    int      `json:"version"`
	Labeled    int64    `json:"labeled"`
	Accuracy   *float64 `json:"accuracy,omitempty"`
	RMSE       *float64 `json:"rmse,omitempty"`
	Rewards    int64    `json:"rewards"`
	MeanReward *float64 `json:"mean_reward,omitempty"`
}

// PairedOutcome compares a challenger with the answering version on the
// same labelled requests; MeanDiff > 0 means the challenger's loss is lower.
type PairedOutcome struct {
	Champion   int     `json:"champion_version"`
	Challenger int     `json:"challenger_version"`
	N          int64   `json:"n"`
	MeanDiff   float64 `json:"mean_loss_diff"`
	Low        float64 `json:"ci95_low"`
	High       float64 `json:"ci95_high"`
	P          float64 `json:"p_value"`
	Better     string  `json:"better"`
}

// ErrorBody is the body of every control API error.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a stable machine-readable code and a message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes of the control API.
const (
	CodeInvalid       = "invalid_argument"
	CodeInvalidModel  = "invalid_model"
	CodeNotFound      = "not_found"
	CodeAlreadyExists = "already_exists"
	CodeConflict      = "conflict"
	CodeTooLarge      = "too_large"
	CodeInternal      = "internal"
	CodeUnavailable   = "unavailable"
	CodeUnknownFormat = "unknown_format"
	CodeUndetectable  = "undetectable_format"
	// CodeUnauthenticated: no credentials, or a token that is unknown,
	// revoked or expired (401).
	CodeUnauthenticated = "unauthenticated"
	// CodeForbidden: the caller's role does not allow the request, or the
	// two-person rule forbids it (403).
	CodeForbidden = "forbidden"
	// CodeRateLimited: too many failed authentications from this client (429).
	CodeRateLimited = "rate_limited"
)

// Results of a declarative apply.
const (
	ResultCreated   = "created"
	ResultUpdated   = "updated"
	ResultUnchanged = "unchanged"
)

// PutEndpointResult answers PUT /api/v1/endpoints/{name}, the declarative
// create-or-replace of an endpoint.
type PutEndpointResult struct {
	Endpoint Endpoint `json:"endpoint"`
	// Result is created, updated or unchanged (with DryRun: what would be).
	Result string `json:"result"`
	// ManagedBy names the rollouts that own the endpoint's traffic
	// (version and traffic policy) when the request's differ from it: the
	// request's were left out.
	ManagedBy []string `json:"managedBy,omitempty"`
	DryRun    bool     `json:"dryRun,omitempty"`
}

// EndpointFacts answers GET /api/v1/endpoints/{name}/facts: what the
// strategy advisor decides on, counted by the answering server since
// Since.
type EndpointFacts struct {
	Endpoint string `json:"endpoint"`
	Model    string `json:"model"`
	// Stable is the version answering most traffic now.
	Stable int `json:"stable"`
	// Versions are the model's version numbers.
	Versions []int  `json:"versions"`
	Approval string `json:"approval,omitempty"`
	Auth     string `json:"auth,omitempty"`
	// Timeout is the endpoint's protection timeout, its latency budget.
	Timeout traffic.Duration `json:"timeout,omitempty"`
	// Since is when counting started; WindowSeconds how long ago.
	Since         time.Time `json:"since"`
	WindowSeconds float64   `json:"window_seconds"`
	// Requests and Errors count every version's predictions.
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// StableRequests, StableErrors and StableP99Seconds are the stable
	// version's.
	StableRequests   int64   `json:"stable_requests"`
	StableErrors     int64   `json:"stable_errors"`
	StableP99Seconds float64 `json:"stable_p99_seconds,omitempty"`
	// Labeled and Rewards count joined feedback; StableAccuracy and
	// StableMeanReward are the stable version's from it.
	Labeled          int64    `json:"labeled"`
	Rewards          int64    `json:"rewards"`
	StableAccuracy   *float64 `json:"stable_accuracy,omitempty"`
	StableMeanReward *float64 `json:"stable_mean_reward,omitempty"`
	// FeedbackDelay is how long after their requests labels and rewards
	// arrived.
	FeedbackDelay Delay `json:"feedback_delay"`
	// ActiveRollouts are the endpoint's rollouts still running.
	ActiveRollouts []string `json:"active_rollouts,omitempty"`
}

// Delay summarises feedback delays.
type Delay struct {
	N           int64   `json:"n"`
	MeanSeconds float64 `json:"mean_seconds"`
	MaxSeconds  float64 `json:"max_seconds"`
}

// Served is GET /api/v1/endpoints/{name}/history?at=TIME: which versions
// served the endpoint at a moment, and who made it so.
type Served struct {
	Endpoint   string       `json:"endpoint"`
	At         time.Time    `json:"at"`
	Revision   int64        `json:"revision"`
	RevisionAt time.Time    `json:"revision_at"`
	RevisionBy string       `json:"revision_by"`
	Spec       EndpointSpec `json:"spec"`
	// Versions are the versions requests went to, with roles and shares.
	Versions []Share `json:"versions"`
	// Ref is where the spec's alias or "latest" pointed at At.
	Ref *RefResolution `json:"ref,omitempty"`
	// ChangedAt and ChangedBy are the last change (endpoint or alias) that
	// decided what served at At.
	ChangedAt time.Time `json:"changed_at"`
	ChangedBy string    `json:"changed_by"`
}

// RefResolution is where a version reference pointed at a moment, and the
// change that made it so.
type RefResolution struct {
	Ref       string    `json:"ref"`
	Version   int       `json:"version"`
	ChangedAt time.Time `json:"changed_at"`
	ChangedBy string    `json:"changed_by"`
}
