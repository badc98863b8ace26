package batch

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/internal/inference"
)

// process decodes, scores and encodes one chunk. It runs on a worker.
func (r *run) process(ctx context.Context, c Chunk, f *Frame, lineWord string) (result, error) {
	if err := c.Decode(f); err != nil {
		return result{}, fmt.Errorf("reading input: %w", err)
	}
	s, err := r.predict(ctx, f)
	if err != nil {
		return result{}, err
	}
	if r.opts.Observe != nil {
		nf := len(r.plan.Features)
		for i := range f.Rows {
			if s.idx[i] >= 0 {
				r.opts.Observe(f.X[i*nf:(i+1)*nf], s.value(&r.preds[0], i).number())
			}
		}
	}
	res := result{end: c.End(), rows: f.Rows}
	// About 16 bytes a column is enough for most rows: one allocation.
	res.out = r.enc.rows(make([]byte, 0, f.Rows*16*(len(f.Kept)+len(r.preds))), f, s, r.keep, r.preds)
	res.kinds = make([]Kind, len(f.Kept))
	for k, col := range f.Kept {
		kind := KindNull
		for i, v := range col {
			if s.idx[i] >= 0 {
				kind = unionKind(kind, v.Kind)
			}
		}
		res.kinds[k] = kind
	}
	for i := range f.Rows {
		if s.idx[i] >= 0 {
			continue
		}
		res.rejected++
		res.rejects = strconv.AppendInt(res.rejects, f.Lines[i], 10)
		res.rejects = append(res.rejects, ',')
		if r.spec.IDColumn != "" {
			res.rejects = appendCSVField(res.rejects, f.Kept[0][i].Text())
			res.rejects = append(res.rejects, ',')
		}
		res.rejects = appendCSVField(res.rejects, f.Err[i])
		res.rejects = append(res.rejects, '\n')
	}
	return res, nil
}

// predict scores the frame's decodable rows in one call. When the model
// refuses the batch as bad input, the rows are scored one at a time so
// that only the bad ones are rejected.
func (r *run) predict(ctx context.Context, f *Frame) (*scores, error) {
	nf := len(r.plan.Features)
	s := &scores{idx: make([]int32, f.Rows)}
	x := f.X
	n := 0
	if len(f.Err) > 0 {
		x = make([]float32, 0, len(f.X))
		for i := range f.Rows {
			if f.rejected(i) {
				s.idx[i] = -1
				continue
			}
			x = append(x, f.X[i*nf:(i+1)*nf]...)
			s.idx[i] = int32(n)
			n++
		}
	} else {
		for i := range s.idx {
			s.idx[i] = int32(i)
		}
		n = f.Rows
	}
	if n == 0 {
		return s, nil
	}
	outs, err := r.opts.Model.Predict(ctx, []inference.Tensor{denseInput(r.in, n, x)})
	var ie *inference.InputError
	if errors.As(err, &ie) {
		return r.predictRows(ctx, f, s, x)
	}
	if err != nil {
		return nil, fmt.Errorf("scoring: %w", err)
	}
	if err := r.checkOutputs(outs, n); err != nil {
		return nil, err
	}
	s.outs = outs
	return s, nil
}

// checkOutputs verifies the model answered n rows in the shape the
// prediction columns expect.
func (r *run) checkOutputs(outs []inference.Tensor, n int) error {
	for _, p := range r.preds {
		if p.Tensor >= len(outs) || outs[p.Tensor].Len() != n*p.Width {
			return fmt.Errorf("scoring: the model returned %d outputs with an unexpected shape for %d rows", len(outs), n)
		}
	}
	return nil
}

// predictRows scores rows one at a time, rejecting those the model
// refuses, then gathers the answers into one set of outputs.
func (r *run) predictRows(ctx context.Context, f *Frame, s *scores, x []float32) (*scores, error) {
	nf := len(r.plan.Features)
	var rows [][]inference.Tensor
	k := 0
	for i := range f.Rows {
		if s.idx[i] < 0 {
			continue
		}
		xi := x[int(s.idx[i])*nf : int(s.idx[i]+1)*nf]
		outs, err := r.opts.Model.Predict(ctx, []inference.Tensor{denseInput(r.in, 1, xi)})
		var ie *inference.InputError
		if errors.As(err, &ie) {
			f.rejectRow(i, "model: "+ie.Error())
			s.idx[i] = -1
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("scoring: %w", err)
		}
		if err := r.checkOutputs(outs, 1); err != nil {
			return nil, err
		}
		rows = append(rows, outs)
		s.idx[i] = int32(k)
		k++
	}
	if k == 0 {
		return s, nil
	}
	merged := make([]inference.Tensor, len(rows[0]))
	for t := range merged {
		m := inference.Tensor{Name: rows[0][t].Name, Datatype: rows[0][t].Datatype}
		for _, o := range rows {
			ot := &o[t]
			m.F32 = append(m.F32, ot.F32...)
			m.F64 = append(m.F64, ot.F64...)
			m.I64 = append(m.I64, ot.I64...)
			m.U64 = append(m.U64, ot.U64...)
			m.Bool = append(m.Bool, ot.Bool...)
			m.Bytes = append(m.Bytes, ot.Bytes...)
		}
		merged[t] = m
	}
	s.outs = merged
	return s, nil
}
