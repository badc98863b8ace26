package inference

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Format loads artifacts of one model format.
type Format interface {
	// Name is the format's identifier, as given to --format (e.g. "xgboost").
	Name() string
	// Detect reports whether artifact looks like this format. It is cheap
	// and does not fully parse the artifact.
	Detect(artifact []byte) bool
	// Load parses the artifact and returns a ready Model. A corrupt or
	// unsupported artifact gives an error wrapping ErrInvalidModel that
	// says what is wrong and where.
	Load(ctx context.Context, artifact []byte, opts LoadOptions) (Model, error)
}

// LoadOptions tune how a version is loaded.
type LoadOptions struct {
	// Signature, when set, overrides or completes the signature read from
	// the artifact (for formats that carry no feature names).
	Signature *Signature
	// Threads bounds the goroutines one Predict call may use; 0 means
	// GOMAXPROCS.
	Threads int
	// Params holds format-specific settings.
	Params map[string]string
}

// Errors callers branch on.
var (
	// ErrInvalidModel marks an artifact that cannot be loaded: corrupt,
	// truncated, or using a feature the runtime does not support.
	ErrInvalidModel = errors.New("invalid model")
	// ErrUnknownFormat marks a format name no runtime is registered for.
	ErrUnknownFormat = errors.New("unknown model format")
	// ErrUndetectable marks an artifact whose format could not be detected.
	ErrUndetectable = errors.New("cannot detect model format")
	// ErrInvalidOptions marks load options (parameters, a user-given
	// signature, threads) that do not fit the format or the model.
	ErrInvalidOptions = errors.New("invalid load options")
)

// Formats is a registry of model formats by name.
type Formats struct {
	byName map[string]Format
}

// NewFormats returns a registry holding fs. Registering two formats with
// the same name panics: it is a programming error.
func NewFormats(fs ...Format) *Formats {
	r := &Formats{byName: make(map[string]Format, len(fs))}
	for _, f := range fs {
		if _, dup := r.byName[f.Name()]; dup {
			panic("inference: format registered twice: " + f.Name())
		}
		r.byName[f.Name()] = f
	}
	return r
}

// Names returns the registered format names, sorted.
func (r *Formats) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the format called name.
func (r *Formats) Lookup(name string) (Format, error) {
	f, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownFormat, name, strings.Join(r.Names(), ", "))
	}
	return f, nil
}

// Detect returns the name of the single format that recognises artifact.
func (r *Formats) Detect(artifact []byte) (string, error) {
	var hits []string
	for _, n := range r.Names() {
		if r.byName[n].Detect(artifact) {
			hits = append(hits, n)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return "", fmt.Errorf("%w: no known format matches (known: %s); pass --format", ErrUndetectable, strings.Join(r.Names(), ", "))
	default:
		return "", fmt.Errorf("%w: several formats match (%s); pass --format", ErrUndetectable, strings.Join(hits, ", "))
	}
}

// Load loads artifact with the named format.
func (r *Formats) Load(ctx context.Context, format string, artifact []byte, opts LoadOptions) (Model, error) {
	f, err := r.Lookup(format)
	if err != nil {
		return nil, err
	}
	return f.Load(ctx, artifact, opts)
}
