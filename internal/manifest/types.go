package manifest

import (
	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/rollout"
	"github.com/sluicehq/sluice/internal/stream"
)

// APIVersion is the apiVersion of every document.
const APIVersion = "sluice.dev/v1"

// Kinds of documents, in the order apply handles them: versions must exist
// before an endpoint serves them, and an endpoint before a rollout changes
// it or a job or stream scores with it.
const (
	KindModel    = "Model"
	KindEndpoint = "Endpoint"
	KindRollout  = "Rollout"
	KindJob      = jobs.Kind
	KindStream   = stream.Kind
)

// Kinds lists the document kinds in dependency order.
var Kinds = []string{KindModel, KindEndpoint, KindRollout, KindJob, KindStream}

// Rank is a kind's place in dependency order (Model 0, Endpoint 1,
// Rollout 2, Job 3, Stream 4), or -1 for an unknown kind.
func Rank(kind string) int {
	for i, k := range Kinds {
		if k == kind {
			return i
		}
	}
	return -1
}

// Metadata names a document.
type Metadata struct {
	// Name is the model, endpoint or rollout name.
	Name string `json:"name"`
	// Version is, for a Model, the version number the server gave it; it
	// is written by `sluice get` and checked, never chosen, by apply.
	Version int `json:"version,omitempty"`
	// Labels are free-form and not sent to the server.
	Labels map[string]string `json:"labels,omitempty"`
}

// Model is one version of a model: kind Model.
type Model struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Metadata   Metadata  `json:"metadata"`
	Spec       ModelSpec `json:"spec"`
}

// ModelSpec describes a model version. Versions are immutable and
// identified by their artifact's sha256: apply pushes a version only when
// no version of the model has the artifact's digest, and otherwise only
// moves aliases.
type ModelSpec struct {
	// Artifact is the model file, relative to the manifest's directory.
	Artifact string `json:"artifact,omitempty"`
	// Digest is the artifact's "sha256:<hex>". `sluice get` writes it in
	// place of a file; with Artifact it must match the file.
	Digest string `json:"digest,omitempty"`
	// Format is xgboost, lightgbm, linear, onnx or http; empty detects it.
	Format string `json:"format,omitempty"`
	// Description says what this version is.
	Description string `json:"description,omitempty"`
	// Signature overrides or completes the signature read from the model.
	Signature *inference.Signature `json:"signature,omitempty"`
	// SignatureFile is a JSON file with the signature, relative to the
	// manifest's directory; an alternative to Signature.
	SignatureFile string `json:"signatureFile,omitempty"`
	// Labels are the version's labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Metrics are offline scores (e.g. auc: 0.94).
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Params are runtime parameters (e.g. threads: "2").
	Params map[string]string `json:"params,omitempty"`
	// ModelCard documents the version; its fields are stored as the
	// labels a rollout's modelCard gate checks.
	ModelCard *ModelCard `json:"modelCard,omitempty"`
	// Aliases are moved to this version (others are left alone).
	Aliases []string `json:"aliases,omitempty"`
}

// ModelCard is the documentation regulated teams keep with a version.
// Each field is stored as a version label named in snake case (owner,
// intended_use, limitations, training_data, evaluation,
// ethical_considerations).
type ModelCard struct {
	Owner                 string `json:"owner,omitempty"`
	IntendedUse           string `json:"intendedUse,omitempty"`
	Limitations           string `json:"limitations,omitempty"`
	TrainingData          string `json:"trainingData,omitempty"`
	Evaluation            string `json:"evaluation,omitempty"`
	EthicalConsiderations string `json:"ethicalConsiderations,omitempty"`
}

// fields are the model card fields, in CardLabels order.
func (c *ModelCard) fields() []*string {
	return []*string{&c.Owner, &c.IntendedUse, &c.Limitations, &c.TrainingData, &c.Evaluation, &c.EthicalConsiderations}
}

// CardLabels are the label names of the model card fields, in field order.
var CardLabels = []string{"owner", "intended_use", "limitations", "training_data", "evaluation", "ethical_considerations"}

// AllLabels is the version's label set: Labels plus the model card's.
func (s *ModelSpec) AllLabels() map[string]string {
	out := map[string]string{}
	for k, v := range s.Labels {
		out[k] = v
	}
	if s.ModelCard != nil {
		for i, f := range s.ModelCard.fields() {
			if *f != "" {
				out[CardLabels[i]] = *f
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// SplitCard moves model card labels from labels into a ModelCard; the
// inverse of AllLabels, used to write versions back as documents.
func SplitCard(labels map[string]string) (map[string]string, *ModelCard) {
	var card ModelCard
	rest := map[string]string{}
	found := false
	fs := card.fields()
	for k, v := range labels {
		i := indexOf(CardLabels, k)
		if i < 0 {
			rest[k] = v
			continue
		}
		*fs[i] = v
		found = true
	}
	if len(rest) == 0 {
		rest = nil
	}
	if !found {
		return rest, nil
	}
	return rest, &card
}

func indexOf(xs []string, x string) int {
	for i, s := range xs {
		if s == x {
			return i
		}
	}
	return -1
}

// Endpoint is an endpoint: kind Endpoint. Its spec is the API's endpoint
// spec (see docs/traffic.md), without the server-managed rolling state.
type Endpoint struct {
	APIVersion string                 `json:"apiVersion"`
	Kind       string                 `json:"kind"`
	Metadata   Metadata               `json:"metadata"`
	Spec       apiclient.EndpointSpec `json:"spec"`
}

// Document is one document of a manifest file.
type Document struct {
	// Kind is Model, Endpoint, Rollout, Job or Stream; exactly the
	// matching field is set.
	Kind     string
	Model    *Model
	Endpoint *Endpoint
	Rollout  *rollout.Document
	Job      *jobs.Document
	Stream   *stream.Document
	// File and Line locate the document; Dir is the file's directory,
	// against which artifact paths are resolved.
	File string
	Line int
	Dir  string
	// lines maps field paths ("spec.steps[2].setWeight") to lines.
	lines map[string]int
}

// Name is the document's metadata.name.
func (d *Document) Name() string {
	switch {
	case d.Model != nil:
		return d.Model.Metadata.Name
	case d.Endpoint != nil:
		return d.Endpoint.Metadata.Name
	case d.Rollout != nil:
		return d.Rollout.Metadata.Name
	case d.Job != nil:
		return d.Job.Metadata.Name
	case d.Stream != nil:
		return d.Stream.Metadata.Name
	}
	return ""
}

// ID is "Kind/name", how apply and diff name a document.
func (d *Document) ID() string { return d.Kind + "/" + d.Name() }

// Where is "file:line" of the document.
func (d *Document) Where() string {
	if d.Line > 0 {
		return d.File + ":" + itoa(d.Line)
	}
	return d.File
}

// LineOf returns the line of the deepest known field on path, 0 when none.
func (d *Document) LineOf(path string) int { return lineOf(d.lines, path) }

// Object is the typed document (*Model, *Endpoint, *rollout.Document,
// *jobs.Document or *stream.Document).
func (d *Document) Object() any {
	switch {
	case d.Model != nil:
		return d.Model
	case d.Endpoint != nil:
		return d.Endpoint
	case d.Rollout != nil:
		return d.Rollout
	case d.Job != nil:
		return d.Job
	case d.Stream != nil:
		return d.Stream
	}
	return nil
}
