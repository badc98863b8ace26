package apiclient

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// Whoami is GET /api/v1/whoami: the caller as the server sees it.
type Whoami struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Via  string `json:"via"`
}

// CreateTokenRequest is POST /api/v1/tokens.
type CreateTokenRequest struct {
	// Name is unique; it is the actor the audit log records.
	Name string `json:"name"`
	// Role is viewer, deployer, approver or admin.
	Role string `json:"role"`
	// Expires is how long the token lives ("720h"); empty: forever.
	Expires string `json:"expires,omitempty"`
}

// Token is a token's record. Token (the secret) is set only in the answer
// to its creation.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Token     string     `json:"token,omitempty"`
}

// AuditHead is GET /api/v1/audit/head: the chain's head as the store
// records it and every head the server signed.
type AuditHead struct {
	audit.Head
	Signed []SignedHead `json:"signed"`
}

// SignedHead is a chain head signed with the server's audit key.
type SignedHead struct {
	audit.Head
	SignedAt  int64  `json:"signed_at"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// Approval is an approval request (two-person rule).
type Approval struct {
	ID        string     `json:"id"`
	Object    string     `json:"object"`
	Summary   string     `json:"summary"`
	Requester string     `json:"requester"`
	Status    string     `json:"status"`
	DecidedBy string     `json:"decided_by,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// CreateApprovalRequest is POST /api/v1/approvals.
type CreateApprovalRequest struct {
	Object  string `json:"object"`
	Summary string `json:"summary"`
}

// DecisionRequest is POST /api/v1/approvals/{id}/approve or /reject.
type DecisionRequest struct {
	Reason string `json:"reason"`
}

// Whoami returns the caller as the server sees it.
func (c *Client) Whoami(ctx context.Context) (Whoami, error) {
	var w Whoami
	err := c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, &w)
	return w, err
}

// CreateToken creates a token; the answer holds the secret, shown once.
func (c *Client) CreateToken(ctx context.Context, req CreateTokenRequest) (Token, error) {
	var t Token
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", req, &t)
	return t, err
}

// ListTokens lists token records (never the secrets).
func (c *Client) ListTokens(ctx context.Context) ([]Token, error) {
	var out struct {
		Tokens []Token `json:"tokens"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, &out)
	return out.Tokens, err
}

// RevokeToken revokes a token by name or ID.
func (c *Client) RevokeToken(ctx context.Context, nameOrID string) (Token, error) {
	var t Token
	err := c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+esc(nameOrID), nil, &t)
	return t, err
}

// AuditEvents returns audit events; query may hold object, since
// (duration or RFC 3339), after (a sequence number) and limit.
func (c *Client) AuditEvents(ctx context.Context, query url.Values) ([]audit.Event, error) {
	var out struct {
		Events []audit.Event `json:"events"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/audit?"+query.Encode(), nil, &out)
	return out.Events, err
}

// AuditExport streams the whole audit log as JSON lines, oldest first.
func (c *Client) AuditExport(ctx context.Context) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/audit/export", nil)
	if err != nil {
		return nil, err
	}
	return c.open(req)
}

// AuditHead returns the chain head and the signed heads.
func (c *Client) AuditHead(ctx context.Context) (AuditHead, error) {
	var h AuditHead
	err := c.do(ctx, http.MethodGet, "/api/v1/audit/head", nil, &h)
	return h, err
}

// AuditVerify asks the server to verify the chain in its store.
func (c *Client) AuditVerify(ctx context.Context) (audit.Report, error) {
	var r audit.Report
	err := c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, &r)
	return r, err
}

// CreateApproval asks for approval of a change to object.
func (c *Client) CreateApproval(ctx context.Context, req CreateApprovalRequest) (Approval, error) {
	var a Approval
	err := c.do(ctx, http.MethodPost, "/api/v1/approvals", req, &a)
	return a, err
}

// GetApproval returns one approval request.
func (c *Client) GetApproval(ctx context.Context, id string) (Approval, error) {
	var a Approval
	err := c.do(ctx, http.MethodGet, "/api/v1/approvals/"+esc(id), nil, &a)
	return a, err
}

// ListApprovals lists approval requests; status "" lists all.
func (c *Client) ListApprovals(ctx context.Context, status string) ([]Approval, error) {
	var out struct {
		Approvals []Approval `json:"approvals"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/approvals?status="+url.QueryEscape(status), nil, &out)
	return out.Approvals, err
}

// Decide approves (approve=true) or rejects an approval request.
func (c *Client) Decide(ctx context.Context, id string, approve bool, reason string) (Approval, error) {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	var a Approval
	err := c.do(ctx, http.MethodPost, "/api/v1/approvals/"+esc(id)+"/"+verb, DecisionRequest{Reason: reason}, &a)
	return a, err
}

// PutSetting stores a server setting (admin).
func (c *Client) PutSetting(ctx context.Context, key string, value json.RawMessage) error {
	return c.do(ctx, http.MethodPut, "/api/v1/settings/"+esc(key), value, nil)
}

// GetSetting reads a server setting (admin).
func (c *Client) GetSetting(ctx context.Context, key string) (json.RawMessage, error) {
	var v json.RawMessage
	err := c.do(ctx, http.MethodGet, "/api/v1/settings/"+esc(key), nil, &v)
	return v, err
}
