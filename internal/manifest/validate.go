package manifest

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/rollout"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/stream"
)

// Validate checks a decoded document with the same rules the server
// applies, returning every problem found as FieldErrors with lines.
func (d *Document) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Line: d.LineOf(path), Msg: fmt.Sprintf(format, args...)})
	}
	var apiVersion string
	var md Metadata
	switch {
	case d.Model != nil:
		apiVersion, md = d.Model.APIVersion, d.Model.Metadata
	case d.Endpoint != nil:
		apiVersion, md = d.Endpoint.APIVersion, d.Endpoint.Metadata
	case d.Rollout != nil:
		apiVersion, md = d.Rollout.APIVersion, Metadata{Name: d.Rollout.Metadata.Name}
	case d.Job != nil:
		apiVersion, md = d.Job.APIVersion, Metadata{Name: d.Job.Metadata.Name}
	case d.Stream != nil:
		apiVersion, md = d.Stream.APIVersion, Metadata{Name: d.Stream.Metadata.Name}
	}
	if apiVersion != APIVersion {
		add("apiVersion", "must be %q, got %q", APIVersion, apiVersion)
	}
	// A stream's name has rules of its own, which its Validate checks.
	if d.Stream == nil {
		if err := store.ValidateName("name", md.Name); err != nil {
			add("metadata.name", "%s", strings.TrimPrefix(err.Error(), "name: "))
		}
	}
	switch {
	case d.Model != nil:
		if md.Version < 0 {
			add("metadata.version", "must be a positive version number")
		}
		d.validateModel(add)
	case d.Endpoint != nil:
		if md.Version != 0 {
			add("metadata.version", "only Model documents have a version")
		}
		errs = append(errs, d.validateEndpoint()...)
	case d.Rollout != nil:
		if err := d.Rollout.Spec.Validate(); err != nil {
			errs = append(errs, d.traced(strings.TrimPrefix(err.Error(), rollout.ErrInvalid.Error()+": "), "")...)
		}
	case d.Job != nil:
		if err := d.Job.Spec.Validate(); err != nil {
			errs = append(errs, d.traced(err.Error(), "")...)
		}
	case d.Stream != nil:
		// apiVersion is checked above, and kind chose the type.
		doc := *d.Stream
		doc.APIVersion, doc.Kind = stream.APIVersion, stream.Kind
		if err := doc.Validate(); err != nil {
			errs = append(errs, d.traced(err.Error(), "")...)
		}
	}
	return errors.Join(errs...)
}

var digestRe = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func (d *Document) validateModel(add func(path, format string, args ...any)) {
	s := &d.Model.Spec
	if s.Artifact == "" && s.Digest == "" {
		add("spec.artifact", "give the model file (relative to this file), or the digest of a version already pushed")
	}
	if s.Digest != "" && !digestRe.MatchString(s.Digest) {
		add("spec.digest", "must be \"sha256:\" and 64 lowercase hex digits, got %q", s.Digest)
	}
	if s.Signature != nil && s.SignatureFile != "" {
		add("spec.signatureFile", "give either signature or signatureFile, not both")
	}
	switch s.Format {
	case "", "xgboost", "lightgbm", "linear", "onnx", "http":
	default:
		add("spec.format", "%q is not one of xgboost, lightgbm, linear, onnx, http", s.Format)
	}
	for k := range s.Labels {
		if indexOf(CardLabels, k) >= 0 && s.ModelCard != nil && *s.ModelCard.fields()[indexOf(CardLabels, k)] != "" {
			add("spec.labels."+k, "is also given in modelCard; give it once")
		}
	}
	for i, a := range s.Aliases {
		p := fmt.Sprintf("spec.aliases[%d]", i)
		if _, err := strconv.Atoi(a); err == nil || a == "latest" {
			add(p, "must be an alias name, not %q", a)
		} else if err := store.ValidateName("alias", a); err != nil {
			add(p, "%s", strings.TrimPrefix(err.Error(), "alias "))
		}
	}
}

func (d *Document) validateEndpoint() []error {
	sp := d.Endpoint.Spec
	if sp.Rolling != nil {
		return []error{&FieldError{Path: "spec.rolling", Line: d.LineOf("spec.rolling"), Msg: "is managed by `sluice endpoint rolling`; remove it from the file"}}
	}
	rs := registry.EndpointSpec{Model: sp.Model, Version: sp.Version, Description: sp.Description, Traffic: sp.Traffic,
		SegmentBy: sp.SegmentBy, Protection: (*registry.Protection)(sp.Protection), Auth: sp.Auth, Approval: sp.Approval}
	if err := rs.Validate(); err != nil {
		return d.traced(strings.TrimPrefix(err.Error(), registry.ErrInvalid.Error()+": "), "spec.")
	}
	return nil
}

// pathRe matches a field path at the start of a validation message.
var pathRe = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_]*(?:\[\d+\]|\.[A-Za-z][A-Za-z0-9_]*)*): (.*)$`)

// traced turns validation messages ("path: problem", one per line) into
// FieldErrors with the line of the path, prefixed by prefix.
func (d *Document) traced(msg, prefix string) []error {
	var out []error
	for _, m := range strings.Split(msg, "\n") {
		if m == "" {
			continue
		}
		if sm := pathRe.FindStringSubmatch(m); sm != nil {
			p := prefix + sm[1]
			out = append(out, &FieldError{Path: p, Line: d.LineOf(p), Msg: sm[2]})
			continue
		}
		out = append(out, &FieldError{Path: strings.TrimSuffix(prefix, "."), Line: d.LineOf(strings.TrimSuffix(prefix, ".")), Msg: m})
	}
	return out
}

// lineOf returns the line of path or of its nearest known parent.
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}
