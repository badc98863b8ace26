package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/stream"
)

// StreamStatus reports the pipelines this node runs (the stream Manager).
type StreamStatus interface {
	Status(name string) (stream.Status, bool)
}

func (a *API) registerStreams(mux *http.ServeMux) {
	a.handle(mux, "GET /api/v1/streams", auth.Viewer, a.listStreams)
	a.handle(mux, "POST /api/v1/streams", auth.Deployer, a.createStream)
	a.handle(mux, "GET /api/v1/streams/{name}", auth.Viewer, a.getStream)
	a.handle(mux, "PUT /api/v1/streams/{name}", auth.Deployer, a.updateStream)
	a.handle(mux, "DELETE /api/v1/streams/{name}", auth.Deployer, a.deleteStream)
	a.handle(mux, "POST /api/v1/streams/{name}/pause", auth.Deployer, a.pauseStream)
	a.handle(mux, "POST /api/v1/streams/{name}/resume", auth.Deployer, a.resumeStream)
}

// checkStream validates a stream document and that what it scores with
// exists.
func (a *API) checkStream(r *http.Request, doc *stream.Document) error {
	if doc.APIVersion == "" {
		doc.APIVersion = stream.APIVersion
	}
	if doc.Kind == "" {
		doc.Kind = stream.Kind
	}
	if err := doc.Validate(); err != nil {
		return fmt.Errorf("%w: %v", registry.ErrInvalid, err)
	}
	if e := doc.Spec.Endpoint; e != "" {
		if _, err := a.reg.GetEndpoint(r.Context(), e); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: spec.endpoint: endpoint %q does not exist", registry.ErrInvalid, e)
		} else if err != nil {
			return err
		}
	}
	if doc.Spec.Model != "" {
		m, ref, _ := stream.ParseModelRef(doc.Spec.Model)
		if _, err := a.reg.Store().ResolveVersion(r.Context(), m, ref); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: spec.model: %q does not resolve to a version", registry.ErrInvalid, doc.Spec.Model)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func (a *API) streamView(st store.Stream) (apiclient.StreamView, error) {
	v := apiclient.StreamView{Generation: st.Generation, CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt, CreatedBy: st.CreatedBy}
	if err := json.Unmarshal(st.Spec, &v.Stream); err != nil {
		return v, fmt.Errorf("stream %q: stored document: %w", st.Name, err)
	}
	if a.opts.Streams != nil {
		if s, ok := a.opts.Streams.Status(st.Name); ok {
			v.Status = &s
		}
	}
	return v, nil
}

func (a *API) answerStream(w http.ResponseWriter, r *http.Request, status int, st store.Stream, err error) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	v, err := a.streamView(st)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func (a *API) listStreams(w http.ResponseWriter, r *http.Request) {
	sts, err := a.reg.Store().ListStreams(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiclient.StreamView, 0, len(sts))
	for _, st := range sts {
		v, err := a.streamView(st)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"streams": out})
}

func (a *API) createStream(w http.ResponseWriter, r *http.Request) {
	var doc stream.Document
	if err := decodeJSON(r, w, &doc); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.checkStream(r, &doc); err != nil {
		a.writeError(w, r, err)
		return
	}
	b, _ := json.Marshal(doc)
	st, err := a.reg.Store().CreateStream(r.Context(), store.Stream{Name: doc.Metadata.Name, Spec: b, CreatedBy: actor(r)})
	a.answerStream(w, r, http.StatusCreated, st, err)
}

func (a *API) getStream(w http.ResponseWriter, r *http.Request) {
	st, err := a.reg.Store().GetStream(r.Context(), r.PathValue("name"))
	a.answerStream(w, r, http.StatusOK, st, err)
}

func (a *API) updateStream(w http.ResponseWriter, r *http.Request) {
	var doc stream.Document
	if err := decodeJSON(r, w, &doc); err != nil {
		a.writeError(w, r, err)
		return
	}
	name := r.PathValue("name")
	if doc.Metadata.Name == "" {
		doc.Metadata.Name = name
	}
	if doc.Metadata.Name != name {
		a.writeError(w, r, fmt.Errorf("%w: metadata.name: %q does not match the path's %q", registry.ErrInvalid, doc.Metadata.Name, name))
		return
	}
	if err := a.checkStream(r, &doc); err != nil {
		a.writeError(w, r, err)
		return
	}
	b, _ := json.Marshal(doc)
	st, err := a.reg.Store().UpdateStream(r.Context(), name, "stream.update", func(store.Stream) (json.RawMessage, error) { return b, nil })
	a.answerStream(w, r, http.StatusOK, st, err)
}

func (a *API) deleteStream(w http.ResponseWriter, r *http.Request) {
	if err := a.reg.Store().DeleteStream(r.Context(), r.PathValue("name")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) pauseStream(w http.ResponseWriter, r *http.Request)  { a.setPaused(w, r, true) }
func (a *API) resumeStream(w http.ResponseWriter, r *http.Request) { a.setPaused(w, r, false) }

func (a *API) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	action := "stream.resume"
	if paused {
		action = "stream.pause"
	}
	st, err := a.reg.Store().UpdateStream(r.Context(), r.PathValue("name"), action, func(cur store.Stream) (json.RawMessage, error) {
		var doc stream.Document
		if err := json.Unmarshal(cur.Spec, &doc); err != nil {
			return nil, fmt.Errorf("stream %q: stored document: %w", cur.Name, err)
		}
		doc.Spec.Paused = paused
		return json.Marshal(doc)
	})
	a.answerStream(w, r, http.StatusOK, st, err)
}
