package gateway

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/leanhttp"
)

// The lean HTTP/1.1 path (internal/leanhttp) serves the inference routes
// without net/http: the Gateway is its Handler. Route claims the same
// paths as the ServeMux patterns of Register, and ServeLean runs the same
// serveInfer and servePredict as the net/http handlers, so both answer
// alike. With tracing on, Route claims nothing: traced requests keep the
// server span net/http's handlers start.

var _ leanhttp.Handler = (*Gateway)(nil)

// Lean route kinds.
const (
	leanNone = iota
	leanInfer
	leanPredict
)

// leanRoute matches a POST path against the inference routes:
//
//	/v2/models/{name}/infer
//	/v2/models/{name}/versions/{version}/infer
//	/v2/models/{name}/preview/infer
//	/v1/endpoints/{call}
//
// It returns the route's kind and where its name (the endpoint, or
// predict's {call}) and version sit in path; preview is true for the
// preview route. Every segment must be one ServeMux would match
// unescaped (leanhttp.PathSegment).
func leanRoute[T ~string | ~[]byte](path T) (r leanTarget) {
	var seg [7][2]int // start and end of each segment
	n := 0
	if len(path) == 0 || path[0] != '/' || path[len(path)-1] == '/' {
		return r
	}
	for i := 1; i <= len(path); {
		j := i
		for j < len(path) && path[j] != '/' {
			j++
		}
		if n == len(seg) || !leanhttp.PathSegment(path[i:j]) {
			return r
		}
		seg[n] = [2]int{i, j}
		n++
		i = j + 1
	}
	is := func(k int, lit string) bool {
		s := path[seg[k][0]:seg[k][1]]
		if len(s) != len(lit) {
			return false
		}
		for i := 0; i < len(lit); i++ {
			if s[i] != lit[i] {
				return false
			}
		}
		return true
	}
	if n == 3 && is(0, "v1") && is(1, "endpoints") {
		return leanTarget{kind: leanPredict, name: seg[2]}
	}
	if n < 4 || !is(0, "v2") || !is(1, "models") || !is(n-1, "infer") {
		return r
	}
	switch {
	case n == 4:
		return leanTarget{kind: leanInfer, name: seg[2]}
	case n == 5 && is(3, PreviewVersion):
		return leanTarget{kind: leanInfer, name: seg[2], preview: true}
	case n == 6 && is(3, "versions"):
		return leanTarget{kind: leanInfer, name: seg[2], version: seg[4]}
	}
	return r
}

// leanTarget is a matched route: name and version are [start, end) in the
// path (version empty when not pinned).
type leanTarget struct {
	kind          int
	name, version [2]int
	preview       bool
}

// Route implements leanhttp.Handler: a POST to an inference route, unless
// tracing is on.
func (g *Gateway) Route(path []byte) bool {
	return g.tracer == nil && leanRoute(path).kind != leanNone
}

// ServeLean implements leanhttp.Handler.
func (g *Gateway) ServeLean(w *leanhttp.Response, r *leanhttp.Request) {
	t := leanRoute(r.Path)
	ir := inferRequest{ctx: r.Ctx, name: r.Path[t.name[0]:t.name[1]], version: r.Path[t.version[0]:t.version[1]],
		path: r.Path, rawQuery: r.RawQuery, header: r.Lookup, remote: r.Remote, body: r.Body, contentLength: r.ContentLength}
	if t.preview {
		ir.version = PreviewVersion
	}
	a := answer{lw: w}
	switch t.kind {
	case leanInfer:
		g.serveInfer(a, &ir)
	case leanPredict:
		ir.call, ir.name = ir.name, ""
		g.servePredict(a, &ir)
	default:
		g.failTo(a, &httpError{status: http.StatusNotFound, msg: "404 page not found"})
	}
}
