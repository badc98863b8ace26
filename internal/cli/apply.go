package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/manifest"
	"github.com/sluicehq/sluice/internal/rollout"
)

// planned is what applying one document does.
type planned struct {
	doc    *manifest.Document
	label  string // how the document is named in output
	result string // created, updated or unchanged
	diff   string // unified diff, live → file
	notes  []string
	// run makes the change and returns a one-line summary.
	run func() (string, error)
}

func newApplyCmd(e *env) *cobra.Command {
	var files []string
	var signKey string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR",
		Short: "Make the server match declarative files of models, endpoints, rollouts, jobs and streams",
		Long: `apply reads Kubernetes-shaped YAML documents (apiVersion sluice.dev/v1, kind Model,
Endpoint, Rollout, Job or Stream) from a file or a directory and makes the server match
them, in dependency order: model versions, then endpoints, then rollouts, jobs and
streams. It is idempotent: a second apply of the same files changes nothing and says
"unchanged".

A Model document is one version: its artifact is pushed only when no version of the
model has the artifact's sha256 already; otherwise only its aliases move. Every
document is checked before anything is written, and a problem is reported with the
field path and its line.

While rollouts exist for an endpoint they own its traffic: apply leaves the endpoint's
version and traffic policy as the rollouts set them and changes the rest.

A Job with a schedule is a definition: apply creates or updates it, and its runs follow
the schedule. A Job without one runs once when apply creates it, and again only when
apply changes its spec (apply and diff say so); an unchanged one is never re-run
(` + "`sluice job run NAME`" + ` does that). A Job's relative input and output paths are
resolved against the file's directory. A Stream is declared whole, paused included.`,
		Example: `  sluice apply -f examples/manifests/canary.yaml
  sluice apply -f deploy/            # every .yaml and .yml file below it
  sluice diff -f deploy/             # what apply would change`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			changes, err := e.plan(files, signKey)
			if err != nil {
				return err
			}
			var out []map[string]string
			for _, c := range changes {
				msg := "unchanged"
				if c.result != apiclient.ResultUnchanged {
					if msg, err = c.run(); err != nil {
						return fmt.Errorf("%s (%s): %w", c.label, c.doc.Where(), err)
					}
				}
				out = append(out, map[string]string{"object": c.label, "result": c.result, "message": msg})
				if e.output == "table" {
					fmt.Fprintf(e.stdout, "%s %s\n", c.label, msg)
					for _, n := range c.notes {
						fmt.Fprintf(e.stdout, "  note: %s\n", n)
					}
				}
			}
			if e.output != "table" {
				return e.emit(out, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "manifest file or directory, - for stdin (repeatable)")
	cmd.Flags().StringVar(&signKey, "sign-key", os.Getenv("SLUICE_SIGN_KEY"), "ed25519 private key to sign pushed artifacts with (env SLUICE_SIGN_KEY)")
	return cmd
}

func newDiffCmd(e *env) *cobra.Command {
	var files []string
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR",
		Short: "Show what apply would change, as a unified diff per object",
		Long: `diff compares each document with the object on the server and prints a unified
diff (--- live, +++ the file) for every object apply would create or change. It writes
nothing. With --exit-code it exits 1 when there are differences, like diff(1).`,
		Example: `  sluice diff -f examples/manifests/`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			changes, err := e.plan(files, "")
			if err != nil {
				return err
			}
			changed := 0
			for _, c := range changes {
				if c.result == apiclient.ResultUnchanged {
					continue
				}
				changed++
				fmt.Fprintf(e.stdout, "%s (%s): %s\n", c.label, c.doc.Where(), c.result)
				for _, n := range c.notes {
					fmt.Fprintf(e.stdout, "# note: %s\n", n)
				}
				fmt.Fprint(e.stdout, c.diff)
			}
			if changed == 0 {
				fmt.Fprintf(e.stdout, "No changes: the server matches %d documents.\n", len(changes))
				return nil
			}
			if exitCode {
				return errDiffers
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "manifest file or directory, - for stdin (repeatable)")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit with status 1 when the server differs from the files")
	return cmd
}

// errDiffers makes `diff --exit-code` exit 1.
var errDiffers = errors.New("the server differs from the files")

// plan reads the documents and works out each one's change, reading the
// server but writing nothing. Every problem is reported before any write.
func (e *env) plan(files []string, signKey string) ([]planned, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("give the manifest files or directories with -f")
	}
	docs, err := manifest.Load(e.stdin, files...)
	if err != nil {
		return nil, err
	}
	c := e.client()
	var changes []planned
	var errs []error
	for i := range docs {
		d := &docs[i]
		var ch planned
		var err error
		switch d.Kind {
		case manifest.KindModel:
			ch, err = e.planModel(c, d, signKey)
		case manifest.KindEndpoint:
			ch, err = e.planEndpoint(c, d)
		case manifest.KindRollout:
			ch, err = e.planRollout(c, d)
		case manifest.KindJob:
			ch, err = e.planJob(c, d)
		case manifest.KindStream:
			ch, err = e.planStream(c, d)
		default:
			err = fmt.Errorf("kind %s: apply does not handle it", d.Kind)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %s", d.ID(), d.Where(), describe(err)))
			continue
		}
		ch.doc = d
		changes = append(changes, ch)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return changes, nil
}

func notFound(err error) bool {
	var ae *apiclient.Error
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// yamlText renders one object for a diff.
func yamlText(obj any) string {
	b, err := manifest.Marshal(obj)
	if err != nil {
		return fmt.Sprintf("# cannot render: %v\n", err)
	}
	return string(b)
}

func (e *env) planModel(c *apiclient.Client, d *manifest.Document, signKey string) (planned, error) {
	m := d.Model
	sp := m.Spec
	var data []byte
	digest := sp.Digest
	if sp.Artifact != "" {
		path := sp.Artifact
		if !filepath.IsAbs(path) {
			path = filepath.Join(d.Dir, path)
		}
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return planned{}, fmt.Errorf("spec.artifact: %w", err)
		}
		sum := sha256.Sum256(data)
		digest = "sha256:" + hex.EncodeToString(sum[:])
		if sp.Digest != "" && sp.Digest != digest {
			return planned{}, fmt.Errorf("spec.digest: %s, but the artifact %s has %s", sp.Digest, sp.Artifact, digest)
		}
	}
	label := fmt.Sprintf("Model/%s (%s)", m.Metadata.Name, short(digest))
	versions, err := c.ListVersions(e.ctx, m.Metadata.Name)
	if err != nil && !notFound(err) {
		return planned{}, err
	}
	var found *apiclient.Version
	for i := range versions {
		if versions[i].Digest == digest {
			found = &versions[i] // the latest one with this artifact
		}
	}
	if found == nil {
		if data == nil {
			return planned{}, fmt.Errorf("spec.digest: no version of %s has %s; give spec.artifact to push it", m.Metadata.Name, digest)
		}
		if m.Metadata.Version != 0 {
			return planned{}, fmt.Errorf("metadata.version: %d, but no version of %s has this artifact (a new one would get the next number)", m.Metadata.Version, m.Metadata.Name)
		}
		md := apiclient.PushMetadata{Format: sp.Format, Description: sp.Description, Labels: sp.AllLabels(), Metrics: sp.Metrics, Params: sp.Params}
		if md.Signature, err = signatureJSON(d); err != nil {
			return planned{}, err
		}
		shown := *m
		shown.Spec.Digest = digest
		ch := planned{label: label, result: apiclient.ResultCreated, diff: manifest.Diff("live", d.File, "", yamlText(&shown))}
		ch.run = func() (string, error) {
			if signKey != "" {
				if md.ArtifactSignature, err = signArtifact(signKey, m.Metadata.Name, data); err != nil {
					return "", err
				}
			}
			v, err := c.PushVersion(e.ctx, m.Metadata.Name, md, bytes.NewReader(data))
			if err != nil {
				return "", err
			}
			for _, a := range sp.Aliases {
				if _, err := c.SetAlias(e.ctx, m.Metadata.Name, a, v.Version); err != nil {
					return "", fmt.Errorf("pushed version %d, but moving alias %s: %w", v.Version, a, err)
				}
			}
			return fmt.Sprintf("created: pushed version %d%s", v.Version, aliasNote(sp.Aliases)), nil
		}
		return ch, nil
	}
	if m.Metadata.Version != 0 && m.Metadata.Version != found.Version {
		return planned{}, fmt.Errorf("metadata.version: %d, but this artifact is version %d", m.Metadata.Version, found.Version)
	}
	if diffs := immutableDiffs(sp, *found); len(diffs) > 0 {
		return planned{}, fmt.Errorf("version %d has this artifact with another %s; versions are immutable: change the file back, or push the change with a new artifact",
			found.Version, strings.Join(diffs, ", "))
	}
	live := versionDocument(*found)
	want := versionDocument(*found)
	var moves []string
	for _, a := range sp.Aliases {
		if !slices.Contains(found.Aliases, a) {
			moves = append(moves, a)
			want.Spec.Aliases = append(want.Spec.Aliases, a)
		}
	}
	sort.Strings(want.Spec.Aliases)
	ch := planned{label: label, result: apiclient.ResultUnchanged}
	if len(moves) > 0 {
		ch.result = apiclient.ResultUpdated
		ch.diff = manifest.Diff("live", d.File, yamlText(live), yamlText(want))
		ch.run = func() (string, error) {
			for _, a := range moves {
				if _, err := c.SetAlias(e.ctx, m.Metadata.Name, a, found.Version); err != nil {
					return "", fmt.Errorf("moving alias %s: %w", a, err)
				}
			}
			return fmt.Sprintf("updated: version %d%s", found.Version, aliasNote(moves)), nil
		}
	}
	return ch, nil
}

func aliasNote(aliases []string) string {
	if len(aliases) == 0 {
		return ""
	}
	return ", alias " + strings.Join(aliases, ", ") + " → it"
}

// signatureJSON reads the document's signature, inline or from its file.
func signatureJSON(d *manifest.Document) (json.RawMessage, error) {
	sp := d.Model.Spec
	switch {
	case sp.Signature != nil:
		return json.Marshal(sp.Signature)
	case sp.SignatureFile != "":
		path := sp.SignatureFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(d.Dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("spec.signatureFile: %w", err)
		}
		if !json.Valid(b) {
			return nil, fmt.Errorf("spec.signatureFile: %s is not valid JSON", sp.SignatureFile)
		}
		return b, nil
	}
	return nil, nil
}

// immutableDiffs names the fields in which the file differs from the
// stored version with the same artifact.
func immutableDiffs(sp manifest.ModelSpec, v apiclient.Version) []string {
	var out []string
	if sp.Format != "" && sp.Format != v.Format {
		out = append(out, fmt.Sprintf("format (%s, the file says %s)", v.Format, sp.Format))
	}
	if sp.Description != v.Description {
		out = append(out, "description")
	}
	if !sameMap(sp.AllLabels(), v.Labels) {
		out = append(out, "labels or model card")
	}
	if !sameMap(sp.Metrics, v.Metrics) {
		out = append(out, "metrics")
	}
	if !sameMap(sp.Params, v.Params) {
		out = append(out, "params")
	}
	return out
}

func sameMap[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		if y, ok := b[k]; !ok || y != x {
			return false
		}
	}
	return true
}

// versionDocument is a stored version as a Model document: identified by
// its digest, which apply matches without a file.
func versionDocument(v apiclient.Version) *manifest.Model {
	labels, card := manifest.SplitCard(v.Labels)
	aliases := slices.Clone(v.Aliases)
	sort.Strings(aliases)
	if len(aliases) == 0 {
		aliases = nil
	}
	return &manifest.Model{APIVersion: manifest.APIVersion, Kind: manifest.KindModel,
		Metadata: manifest.Metadata{Name: v.Model, Version: v.Version},
		Spec: manifest.ModelSpec{Digest: v.Digest, Format: v.Format, Description: v.Description, Labels: labels,
			Metrics: v.Metrics, Params: v.Params, ModelCard: card, Aliases: aliases}}
}

// endpointDocument is an endpoint as an Endpoint document.
func endpointDocument(name string, sp apiclient.EndpointSpec) *manifest.Endpoint {
	sp.Rolling = nil
	return &manifest.Endpoint{APIVersion: manifest.APIVersion, Kind: manifest.KindEndpoint, Metadata: manifest.Metadata{Name: name}, Spec: sp}
}

func (e *env) planEndpoint(c *apiclient.Client, d *manifest.Document) (planned, error) {
	ep := d.Endpoint
	name := ep.Metadata.Name
	label := "Endpoint/" + name
	res, err := c.PutEndpoint(e.ctx, name, ep.Spec, true)
	if err != nil {
		return planned{}, err
	}
	ch := planned{label: label, result: res.Result}
	if len(res.ManagedBy) > 0 {
		ch.notes = append(ch.notes, fmt.Sprintf("version and traffic are managed by rollout %s; the file's are not applied", strings.Join(res.ManagedBy, ", ")))
	}
	if res.Result == apiclient.ResultUnchanged {
		return ch, nil
	}
	liveText := ""
	if res.Result == apiclient.ResultUpdated {
		live, err := c.GetEndpoint(e.ctx, name)
		if err != nil {
			return planned{}, err
		}
		liveText = yamlText(endpointDocument(name, live.Spec))
	}
	ch.diff = manifest.Diff("live", d.File, liveText, yamlText(endpointDocument(name, res.Endpoint.Spec)))
	ch.run = func() (string, error) {
		res, err := c.PutEndpoint(e.ctx, name, ep.Spec, false)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s (revision %d)", res.Result, res.Endpoint.Revision), nil
	}
	return ch, nil
}

// rolloutDocument is a rollout without its status, as a file has it.
func rolloutDocument(doc rollout.Document) *rollout.Document {
	doc.Status = nil
	doc.Metadata.Labels = nil
	doc.APIVersion, doc.Kind = rollout.APIVersion, rollout.Kind
	return &doc
}

// normalSpec is a rollout spec as the server stores it (a JSON round trip).
func normalSpec(sp rollout.Spec) (rollout.Spec, error) {
	b, err := json.Marshal(sp)
	if err != nil {
		return sp, err
	}
	var out rollout.Spec
	return out, json.Unmarshal(b, &out)
}

func (e *env) planRollout(c *apiclient.Client, d *manifest.Document) (planned, error) {
	doc := rolloutDocument(*d.Rollout)
	label := "Rollout/" + doc.Metadata.Name
	want, err := normalSpec(doc.Spec)
	if err != nil {
		return planned{}, err
	}
	doc.Spec = want
	ch := planned{label: label, result: apiclient.ResultCreated}
	liveText := ""
	v, err := c.GetRollout(e.ctx, doc.Metadata.Name)
	switch {
	case notFound(err):
	case err != nil:
		return planned{}, err
	default:
		live, err := normalSpec(v.Rollout.Spec)
		if err != nil {
			return planned{}, err
		}
		if reflect.DeepEqual(live, want) {
			ch.result = apiclient.ResultUnchanged
			return ch, nil
		}
		ch.result = apiclient.ResultUpdated
		liveText = yamlText(rolloutDocument(v.Rollout))
		phase := v.Rollout.Status.Phase
		if phase.Final() {
			ch.notes = append(ch.notes, fmt.Sprintf("the rollout ended %s; the changed spec runs it again", phase))
		} else {
			ch.notes = append(ch.notes, fmt.Sprintf("the rollout is %s; the changed spec starts it over and discards its analysis", phase))
		}
	}
	ch.diff = manifest.Diff("live", d.File, liveText, yamlText(doc))
	ch.run = func() (string, error) {
		res, err := c.ApplyRollout(e.ctx, *doc)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: endpoint %s, candidate %s, %s steps", ch.result, res.Rollout.Spec.Endpoint, res.Rollout.Spec.Candidate, strconv.Itoa(len(res.Rollout.Spec.Steps))), nil
	}
	return ch, nil
}
