package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/monitor/predlog"
	"github.com/sluicehq/sluice/internal/registry"
)

var errNoLog = errors.New("the prediction log is off")

// logs answers GET /api/v1/endpoints/{name}/logs?since=1h&until=...&version=N&limit=N
// with the endpoint's prediction log records as JSON lines, oldest first.
func (a *API) logs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if a.opts.PredictionLogDir == "" {
		a.writeError(w, r, fmt.Errorf("%w: %w: start the server with a prediction log", registry.ErrInvalid, errNoLog))
		return
	}
	f := predlog.Filter{Endpoint: name, Limit: 1000}
	q := r.URL.Query()
	var err error
	if s := q.Get("since"); s != "" {
		if f.Since, err = parseSince(s); err != nil {
			a.writeError(w, r, fmt.Errorf("%w: since: %v", registry.ErrInvalid, err))
			return
		}
	}
	if s := q.Get("until"); s != "" {
		if f.Until, err = parseSince(s); err != nil {
			a.writeError(w, r, fmt.Errorf("%w: until: %v", registry.ErrInvalid, err))
			return
		}
	}
	for key, dst := range map[string]*int{"version": &f.Version, "limit": &f.Limit} {
		if s := q.Get(key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				a.writeError(w, r, fmt.Errorf("%w: %s: %q is not a non-negative integer", registry.ErrInvalid, key, s))
				return
			}
			*dst = n
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	var line []byte
	rep, err := predlog.Read(r.Context(), a.opts.PredictionLogDir, f, func(rec predlog.Record) error {
		line = predlog.AppendJSON(line[:0], &rec)
		line = append(line, '\n')
		_, err := w.Write(line)
		return err
	})
	if err != nil {
		a.log.Warn("reading the prediction log", "err", err)
	}
	if rep.Skipped > 0 {
		a.log.Warn("prediction log: unreadable lines skipped", "endpoint", name, "skipped", rep.Skipped)
	}
}

// parseSince reads a duration back from now ("1h") or an RFC 3339 time.
func parseSince(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (1h) nor an RFC 3339 time", s)
	}
	return t, nil
}
