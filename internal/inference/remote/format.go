package remote

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
)

// Options configure the format.
type Options struct {
	// Logger receives replica health changes; nil discards them.
	Logger *slog.Logger
}

// Format loads versions served by an external model server. Its zero
// value is ready to use; New sets options.
type Format struct {
	opts Options
}

var _ inference.Format = Format{}

// New returns the format with opts.
func New(opts Options) Format { return Format{opts: opts} }

// Name returns "http".
func (Format) Name() string { return "http" }

// Detect reports whether artifact is a JSON object whose "format" member
// names a version of the sluice.remote document.
func (Format) Detect(artifact []byte) bool { return detect(artifact) }

// Load reads a sluice.remote/v1 document and returns a Model calling the
// servers it names. Errors about the document wrap
// inference.ErrInvalidModel and name the JSON path at fault; errors about
// opts wrap inference.ErrInvalidOptions.
//
// The signature comes from the document, else from the server's model
// metadata (protocol v2 only), which Load fetches from the first replica
// that answers; when no replica answers, Load fails with an error
// wrapping inference.ErrBackendUnavailable. opts.Signature, when given,
// is applied over either, tensor by tensor (typically to name the
// features of a tabular input, which model metadata does not carry); a
// complete opts.Signature (every input with a name and datatype) spares
// the metadata call. opts.Threads is not used; opts.Params must be empty.
//
// The returned Model polls replicas in a goroutine until it is closed:
// close it (it implements io.Closer) when the version is unloaded.
func (f Format) Load(ctx context.Context, artifact []byte, opts inference.LoadOptions) (inference.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("remote: %w: threads is %d: must not be negative", inference.ErrInvalidOptions, opts.Threads)
	}
	if len(opts.Params) != 0 {
		return nil, fmt.Errorf("remote: %w: params.%s: unknown parameter (the http format takes none)", inference.ErrInvalidOptions, sortedKeys(opts.Params)[0])
	}
	doc, err := ParseDocument(artifact)
	if err != nil {
		return nil, fmt.Errorf("remote: %w: %w", inference.ErrInvalidModel, err)
	}
	m, err := newModel(doc, f.opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("remote: %w: %w", inference.ErrInvalidModel, err)
	}
	sig := doc.Signature
	if sig == nil && !complete(opts.Signature) {
		if sig, err = m.fetchSignature(ctx); err != nil {
			_ = m.Close()
			return nil, err
		}
	}
	if sig, err = mergeSignature(sig, opts.Signature); err == nil {
		if err = sig.Validate(); err == nil {
			err = checkFeatures(sig)
		}
	}
	if err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("remote: %w: %w", inference.ErrInvalidOptions, err)
	}
	if m.proto == TFServing && (len(sig.Inputs) != 1 || len(sig.Outputs) != 1) {
		_ = m.Close()
		return nil, fmt.Errorf("remote: %w: protocol %q needs a signature with one input and one output", inference.ErrInvalidOptions, TFServing)
	}
	m.setSignature(sig)
	m.start()
	return m, nil
}

// fetchSignature reads the model metadata from the first replica that
// answers.
func (m *Model) fetchSignature(ctx context.Context) (*inference.Signature, error) {
	var problems []string
	answered := false
	for _, r := range m.replicas {
		sig, got, err := m.metadata(ctx, r)
		if err == nil {
			return sig, nil
		}
		answered = answered || got
		problems = append(problems, err.Error())
	}
	if answered {
		return nil, fmt.Errorf("remote: %w: reading the model's signature: %s", inference.ErrInvalidModel, strings.Join(problems, "; "))
	}
	return nil, fmt.Errorf("remote: %w: the artifact gives no signature and the model server cannot be asked for one (%s): add a signature to the artifact or pass --signature, or start the server before loading", inference.ErrBackendUnavailable, strings.Join(problems, "; "))
}

// metadata asks one replica for the model's metadata. answered reports
// whether the server answered at all.
func (m *Model) metadata(ctx context.Context, r *replica) (sig *inference.Signature, answered bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base, nil)
	if err != nil {
		return nil, false, err
	}
	req.Header = m.getHeader
	resp, err := m.transport.RoundTrip(req)
	if err != nil {
		return nil, false, fmt.Errorf("GET %s: %v", r.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, true, fmt.Errorf("GET %s: %v", r.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, true, fmt.Errorf("GET %s answered %d: %s", r.base, resp.StatusCode, errorMessage(body, resp.StatusCode))
	}
	if sig, err = signatureFromMetadata(body); err != nil {
		return nil, true, fmt.Errorf("GET %s: %v", r.base, err)
	}
	return sig, true, nil
}

// setSignature fixes what Predict checks inputs against.
func (m *Model) setSignature(sig *inference.Signature) {
	m.sig = *sig
	m.sig.Inputs = slices.Clone(sig.Inputs)
	m.sig.Outputs = slices.Clone(sig.Outputs)
	m.specs = inputSpecs(&m.sig)
	if m.proto == TFServing {
		m.tfOut = newTFOutput(m.sig.Outputs[0])
	}
}
