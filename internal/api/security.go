package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/signing"
	"github.com/sluicehq/sluice/internal/store"
)

// registerSecurity installs the token, audit, approval and settings routes.
func (a *API) registerSecurity(mux *http.ServeMux) {
	a.handle(mux, "GET /api/v1/whoami", auth.Viewer, a.whoami)
	a.handle(mux, "GET /api/v1/tokens", auth.Admin, a.listTokens)
	a.handle(mux, "POST /api/v1/tokens", auth.Admin, a.createToken)
	a.handle(mux, "DELETE /api/v1/tokens/{token}", auth.Admin, a.revokeToken)
	a.handle(mux, "GET /api/v1/audit", auth.Viewer, a.auditLog)
	a.handle(mux, "GET /api/v1/audit/export", auth.Viewer, a.auditExport)
	a.handle(mux, "GET /api/v1/audit/head", auth.Viewer, a.auditHead)
	a.handle(mux, "GET /api/v1/audit/verify", auth.Viewer, a.auditVerify)
	a.handle(mux, "GET /api/v1/approvals", auth.Viewer, a.listApprovals)
	a.handle(mux, "POST /api/v1/approvals", auth.Deployer, a.createApproval)
	a.handle(mux, "GET /api/v1/approvals/{id}", auth.Viewer, a.getApproval)
	a.handle(mux, "POST /api/v1/approvals/{id}/approve", auth.Approver, a.decide(true))
	a.handle(mux, "POST /api/v1/approvals/{id}/reject", auth.Approver, a.decide(false))
	a.handle(mux, "GET /api/v1/settings/{key}", auth.Admin, a.getSetting)
	a.handle(mux, "PUT /api/v1/settings/{key}", auth.Admin, a.putSetting)
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		p = auth.Principal{Name: audit.Actor(r.Context()), Role: auth.Admin, Via: "none"}
	}
	writeJSON(w, http.StatusOK, apiclient.Whoami{Name: p.Name, Role: p.Role.String(), Via: p.Via})
}

func tokenView(t store.Token) apiclient.Token {
	out := apiclient.Token{ID: t.ID, Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy}
	if !t.ExpiresAt.IsZero() {
		out.ExpiresAt = &t.ExpiresAt
	}
	if !t.RevokedAt.IsZero() {
		out.RevokedAt = &t.RevokedAt
	}
	return out
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := a.reg.Store().ListTokens(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiclient.Token, len(ts))
	for i, t := range ts {
		out[i] = tokenView(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	var req apiclient.CreateTokenRequest
	if err := decodeJSON(r, w, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		a.writeError(w, r, fmt.Errorf("%w: role: %v", registry.ErrInvalid, err))
		return
	}
	var expires time.Time
	if req.Expires != "" {
		d, err := time.ParseDuration(req.Expires)
		if err != nil || d <= 0 {
			a.writeError(w, r, fmt.Errorf("%w: expires: %q is not a positive duration like 720h", registry.ErrInvalid, req.Expires))
			return
		}
		expires = time.Now().Add(d)
	}
	tok, hash, id, err := auth.NewToken()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	t, err := a.reg.Store().CreateToken(r.Context(), store.Token{ID: id, Name: req.Name, Role: role.String(), Hash: hash, CreatedBy: actor(r), ExpiresAt: expires})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := tokenView(t)
	out.Token = tok
	writeJSON(w, http.StatusCreated, out)
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := a.reg.Store().RevokeToken(r.Context(), r.PathValue("token"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenView(t))
}

// auditFilter reads object, since, after and limit.
func auditFilter(r *http.Request, defLimit int) (store.AuditFilter, error) {
	q := r.URL.Query()
	f := store.AuditFilter{Object: q.Get("object"), Limit: defLimit}
	if s := q.Get("since"); s != "" {
		t, err := parseSince(s)
		if err != nil {
			return f, fmt.Errorf("%w: since: %v", registry.ErrInvalid, err)
		}
		f.Since = t
	}
	for key, dst := range map[string]*int64{"after": &f.AfterSeq} {
		if s := q.Get(key); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return f, fmt.Errorf("%w: %s: %q is not a non-negative integer", registry.ErrInvalid, key, s)
			}
			*dst = n
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return f, fmt.Errorf("%w: limit: %q is not a non-negative integer", registry.ErrInvalid, s)
		}
		f.Limit = n
	}
	return f, nil
}

func (a *API) auditLog(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r, 1000)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	evs := []audit.Event{}
	if err := a.reg.Store().AuditEvents(r.Context(), f, func(e audit.Event) error {
		evs = append(evs, e)
		return nil
	}); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
}

// auditExport streams every event as JSON lines, oldest first.
func (a *API) auditExport(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r, 0)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	err = a.reg.Store().AuditEvents(r.Context(), f, func(e audit.Event) error { return enc.Encode(e) })
	if err != nil {
		// Headers are out: the client sees a truncated stream, which
		// verification reports; log why.
		a.log.Error("exporting the audit log", "err", err)
	}
}

func (a *API) auditHead(w http.ResponseWriter, r *http.Request) {
	db := a.reg.Store()
	h, err := db.AuditHead(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	signed, err := db.SignedHeads(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := apiclient.AuditHead{Head: h, Signed: []apiclient.SignedHead{}}
	for _, s := range signed {
		out.Signed = append(out.Signed, apiclient.SignedHead{Head: s.Head, SignedAt: s.SignedAt, KeyID: s.KeyID, Signature: s.Signature})
	}
	writeJSON(w, http.StatusOK, out)
}

// auditVerify checks the chain in the store, its recorded head and every
// signed head (their signatures too when the server knows its key).
func (a *API) auditVerify(w http.ResponseWriter, r *http.Request) {
	db := a.reg.Store()
	rep, err := db.VerifyAudit(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if rep.Problem == nil {
		signed, err := db.SignedHeads(r.Context())
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		rep.Problem = a.checkSigned(r, signed)
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *API) checkSigned(r *http.Request, signed []store.SignedHead) *audit.Problem {
	if len(signed) == 0 {
		return nil
	}
	hashes := map[int64]string{}
	want := map[int64]bool{}
	for _, s := range signed {
		want[s.Seq] = true
	}
	_ = a.reg.Store().AuditEvents(r.Context(), store.AuditFilter{}, func(e audit.Event) error {
		if want[e.Seq] {
			hashes[e.Seq] = e.Hash
		}
		return nil
	})
	for _, s := range signed {
		if a.opts.AuditKeys != nil {
			if err := a.opts.AuditKeys.VerifyHead(signing.Signature{KeyID: s.KeyID, Signature: s.Signature}, s.Seq, s.Hash, s.SignedAt); err != nil {
				return &audit.Problem{Seq: s.Seq, Reason: "signed head: " + err.Error()}
			}
		}
		if p := audit.CheckAnchor(hashes, s.Head); p != nil {
			return p
		}
	}
	return nil
}

func approvalView(ap store.Approval) apiclient.Approval {
	out := apiclient.Approval{ID: ap.ID, Object: ap.Object, Summary: ap.Summary, Requester: ap.Requester, Status: ap.Status,
		DecidedBy: ap.DecidedBy, Reason: ap.Reason, CreatedAt: ap.CreatedAt}
	if !ap.DecidedAt.IsZero() {
		out.DecidedAt = &ap.DecidedAt
	}
	return out
}

func (a *API) listApprovals(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	switch status {
	case "", store.ApprovalPending, store.ApprovalApproved, store.ApprovalRejected:
	default:
		a.writeError(w, r, fmt.Errorf("%w: status: %q is not one of pending, approved, rejected", registry.ErrInvalid, status))
		return
	}
	aps, err := a.reg.Store().ListApprovals(r.Context(), status)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiclient.Approval, len(aps))
	for i, ap := range aps {
		out[i] = approvalView(ap)
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": out})
}

func (a *API) createApproval(w http.ResponseWriter, r *http.Request) {
	var req apiclient.CreateApprovalRequest
	if err := decodeJSON(r, w, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	ap, err := a.reg.RequestApproval(r.Context(), req.Object, req.Summary)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, approvalView(ap))
}

func (a *API) getApproval(w http.ResponseWriter, r *http.Request) {
	ap, err := a.reg.Approval(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, approvalView(ap))
}

func (a *API) decide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req apiclient.DecisionRequest
		if r.ContentLength != 0 {
			if err := decodeJSON(r, w, &req); err != nil && !errors.Is(err, io.EOF) {
				a.writeError(w, r, err)
				return
			}
		}
		ap, err := a.reg.DecideApproval(r.Context(), r.PathValue("id"), approve, req.Reason)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, approvalView(ap))
	}
}

func (a *API) getSetting(w http.ResponseWriter, r *http.Request) {
	v, err := a.reg.Store().GetSetting(r.Context(), r.PathValue("key"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(v, '\n'))
}

func (a *API) putSetting(w http.ResponseWriter, r *http.Request) {
	var v json.RawMessage
	if err := decodeJSON(r, w, &v); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.reg.Store().PutSetting(r.Context(), r.PathValue("key"), v); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
