package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// jsonlInput reads JSON Lines: one JSON object per line, features by name.
type jsonlInput struct {
	f    File
	plan *Plan
	fr   textFramer
	cols []string
}

func newJSONLInput(f File, size int64, plan *Plan, pos Position, rng Range, chunkRows int) (*jsonlInput, error) {
	in := &jsonlInput{f: f, plan: plan}
	in.fr = textFramer{f: f, rows: chunkRows, end: rng.End, size: size}
	if pos.Offset > 0 {
		in.fr.pos, in.fr.line = pos.Offset, pos.Line
		if _, err := f.Seek(pos.Offset, io.SeekStart); err != nil {
			return nil, err
		}
	} else if err := in.fr.seekRecord(0, 1, rng.Start); err != nil {
		return nil, err
	}
	// The columns are the first object's keys, for `batch cat`.
	if first, err := firstJSONObject(f); err == nil {
		in.cols = first
	}
	if _, err := f.Seek(in.fr.pos, io.SeekStart); err != nil {
		return nil, err
	}
	return in, nil
}

// firstJSONObject returns the keys of the file's first line, in order.
func firstJSONObject(f File) ([]string, error) {
	buf := make([]byte, 1<<20)
	n, err := f.ReadAt(buf, 0)
	if n == 0 {
		return nil, err
	}
	line, _, _ := bytes.Cut(buf[:n], []byte{'\n'})
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("line 1 is not a JSON object")
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys, err
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys, err
		}
	}
	return keys, nil
}

func (in *jsonlInput) Columns() []string { return in.cols }
func (in *jsonlInput) Close() error      { return in.f.Close() }
func (in *jsonlInput) Progress() (int64, int64) {
	return in.fr.pos, in.fr.size
}

func (in *jsonlInput) Next(ctx context.Context) (Chunk, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := in.fr.next()
	if err != nil {
		return nil, err
	}
	return &jsonlChunk{in: in, c: c}, nil
}

type jsonlChunk struct {
	in *jsonlInput
	c  textChunk
}

func (c *jsonlChunk) End() Position { return c.c.end }

func (c *jsonlChunk) Decode(f *Frame) error {
	plan := c.in.plan
	f.reset(len(plan.Features), len(plan.Keep))
	feat := make(map[string]int, len(plan.Features))
	for j, n := range plan.Features {
		feat[n] = j
	}
	kept := make(map[string][]int, len(plan.Keep))
	for k, n := range plan.Keep {
		kept[n] = append(kept[n], k)
	}
	c.c.records(false, func(rec []byte, line int64) {
		x := f.addRow(line)
		row := f.Rows - 1
		seen := 0
		err := scanObject(rec, func(key string, raw json.RawMessage) error {
			if j, ok := feat[key]; ok {
				seen++
				v, why := jsonFeature(raw, plan.AllowMissing, key)
				if why != "" {
					f.reject(why)
				}
				x[j] = v
			}
			for _, k := range kept[key] {
				f.Kept[k][row] = jsonValue(raw)
			}
			return nil
		})
		if err != nil {
			f.reject("malformed JSON: " + err.Error())
			return
		}
		if seen < len(plan.Features) && !plan.AllowMissing {
			for j, n := range plan.Features {
				if x[j] != x[j] { // still NaN: absent
					f.reject("feature " + n + ": missing, and the model does not accept missing values")
					break
				}
			}
		}
	})
	return nil
}

// scanObject calls fn for each member of the JSON object in rec.
func scanObject(rec []byte, fn func(key string, raw json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return fmt.Errorf("the line is not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("member %q: %w", key, err)
		}
		if err := fn(key, raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON value on the line")
	}
	return nil
}

// jsonFeature reads a feature value: a number, a boolean, a numeric string,
// or null (missing).
func jsonFeature(raw json.RawMessage, allowMissing bool, name string) (float32, string) {
	switch {
	case len(raw) == 0:
		return parseFeature("", allowMissing, name)
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, "feature " + name + ": " + err.Error()
		}
		return parseFeature(s, allowMissing, name)
	case string(raw) == "null":
		return parseFeature("", allowMissing, name)
	case raw[0] == '{' || raw[0] == '[':
		return 0, "feature " + name + ": is a JSON " + map[byte]string{'{': "object", '[': "array"}[raw[0]] + ", not a number"
	}
	return parseFeature(string(raw), allowMissing, name)
}

// jsonValue converts a JSON value to a kept value.
func jsonValue(raw json.RawMessage) Value {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return Value{}
	case string(raw) == "true":
		return Value{Kind: KindBool, B: true}
	case string(raw) == "false":
		return Value{Kind: KindBool}
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return Value{Kind: KindString, S: s}
		}
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return Value{Kind: KindInt, I: i}
		}
		if v, err := strconv.ParseFloat(string(raw), 64); err == nil {
			return Value{Kind: KindFloat, F: v}
		}
	}
	return Value{Kind: KindString, S: string(raw)}
}
