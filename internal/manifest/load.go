package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/rollout"
	"github.com/sluicehq/sluice/internal/stream"
)

// MaxFileBytes bounds one manifest file.
const MaxFileBytes = 1 << 20

// Parse reads every document of one file's contents. file names it in
// errors and dir resolves relative paths (artifacts) in its documents.
// Every problem of every document is reported, each naming the file, the
// document's field path and its line; nothing is returned then.
func Parse(file, dir string, data []byte) ([]Document, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", file, MaxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []Document
	var errs []error
	for i := 0; ; i++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: ")))
			break // the decoder cannot resume after a syntax error
		}
		if len(root.Content) == 0 || isNull(root.Content[0]) {
			continue // an empty document, e.g. after a trailing ---
		}
		d, err := parseDocument(file, dir, root.Content[0])
		if err != nil {
			errs = append(errs, prefixAll(file, err)...)
			continue
		}
		docs = append(docs, d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return docs, nil
}

// prefixAll prefixes each of err's joined errors with the file name.
func prefixAll(file string, err error) []error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = fmt.Errorf("%s: %w", file, e)
	}
	return out
}

// header is what every document starts with.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// peek reads apiVersion and kind without judging the other fields.
func peek(n *yaml.Node) (h header, kindLine int) {
	if n.Kind != yaml.MappingNode {
		return h, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			continue
		}
		switch k.Value {
		case "apiVersion":
			h.APIVersion = v.Value
		case "kind":
			h.Kind, kindLine = v.Value, k.Line
		}
	}
	return h, kindLine
}

func parseDocument(file, dir string, n *yaml.Node) (Document, error) {
	d := Document{File: file, Dir: dir, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return d, &FieldError{Line: n.Line, Msg: "a document must be a mapping with apiVersion, kind, metadata and spec"}
	}
	h, kindLine := peek(n)
	w := &walker{lines: map[string]int{}}
	var err error
	switch h.Kind {
	case KindModel:
		d.Model = new(Model)
		err = w.decodeInto(n, d.Model)
	case KindEndpoint:
		d.Endpoint = new(Endpoint)
		err = w.decodeInto(n, d.Endpoint)
	case KindRollout:
		d.Rollout = new(rollout.Document)
		err = w.decodeInto(n, d.Rollout)
		if err == nil && d.Rollout.Status != nil {
			err = &FieldError{Path: "status", Line: w.lines["status"], Msg: "is written by the server; remove it from the file"}
		}
	case KindJob:
		d.Job = new(jobs.Document)
		err = w.decodeInto(n, d.Job)
	case KindStream:
		d.Stream = new(stream.Document)
		err = w.decodeInto(n, d.Stream)
	case "":
		return d, &FieldError{Path: "kind", Line: n.Line, Msg: "missing; one of " + strings.Join(Kinds, ", ")}
	default:
		return d, &FieldError{Path: "kind", Line: kindLine, Msg: fmt.Sprintf("unknown kind %q; one of %s", h.Kind, strings.Join(Kinds, ", "))}
	}
	if err != nil {
		return d, err
	}
	d.Kind, d.lines = h.Kind, w.lines
	return d, d.Validate()
}

// isManifest reports whether a directory entry is read by Load.
func isManifest(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return !strings.HasPrefix(filepath.Base(name), ".")
	}
	return false
}

// Load reads files (YAML or JSON) and, recursively, directories' *.yaml and
// *.yml files (in name order; JSON files there are taken for model
// artifacts and skipped), and returns their documents in dependency order
// (Models, then Endpoints, then Rollouts, Jobs and Streams; file order
// within a kind). "-"
// reads stdin, with relative paths resolved against the working
// directory. Two documents of one kind and name are an error.
func Load(stdin io.Reader, paths ...string) ([]Document, error) {
	var all []Document
	var errs []error
	for _, path := range paths {
		docs, err := loadPath(stdin, path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, docs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s: no documents", strings.Join(paths, ", "))
	}
	return order(all)
}

func loadPath(stdin io.Reader, path string) ([]Document, error) {
	if path == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, MaxFileBytes+1))
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		return Parse("<stdin>", ".", data)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if info.IsDir() {
		files = nil
		err := filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() && p != path && strings.HasPrefix(e.Name(), ".") {
				return filepath.SkipDir
			}
			if !e.IsDir() && isManifest(e.Name()) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no .yaml or .yml files", path)
		}
	}
	var all []Document
	var errs []error
	for _, f := range files {
		data, err := readFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		docs, err := Parse(f, filepath.Dir(f), data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, docs...)
	}
	return all, errors.Join(errs...)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileBytes)
	}
	return data, nil
}

// order sorts documents by kind rank, keeping file order within a kind,
// and refuses duplicates. Model documents are keyed by name and artifact
// (several versions of one model may be declared).
func order(docs []Document) ([]Document, error) {
	seen := map[string]*Document{}
	var errs []error
	for i := range docs {
		d := &docs[i]
		key := d.ID()
		if d.Model != nil {
			key += "@" + d.Model.Spec.Artifact + d.Model.Spec.Digest
		}
		if prev, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("%s: %s is also declared at %s", d.Where(), d.ID(), prev.Where()))
			continue
		}
		seen[key] = d
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.SliceStable(docs, func(i, j int) bool { return Rank(docs[i].Kind) < Rank(docs[j].Kind) })
	return docs, nil
}

func itoa(i int) string { return strconv.Itoa(i) }
