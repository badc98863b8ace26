package apiclient

import (
	"encoding/json"
	"time"
)

// The control API's wire types, shared by the server (internal/api) and
// this client so the two cannot drift apart.

// Model summarises a registered model.
type Model struct {
	Name          string         `json:"name"`
	Description   string         `json:"description,omitempty"`
	LatestVersion int            `json:"latest_version"`
	Versions      int            `json:"versions"`
	Aliases       map[string]int `json:"aliases"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
}

// Version is one immutable model version.
type Version struct {
	Model       string             `json:"model"`
	Version     int                `json:"version"`
	Format      string             `json:"format"`
	Digest      string             `json:"digest"`
	Size        int64              `json:"size"`
	Description string             `json:"description,omitempty"`
	Labels      map[string]string  `json:"labels,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	Signature   json.RawMessage    `json:"signature,omitempty"`
	Params      map[string]string  `json:"params,omitempty"`
	Aliases     []string           `json:"aliases"`
	CreatedAt   time.Time          `json:"created_at"`
	CreatedBy   string             `json:"created_by,omitempty"`
}

// PushMetadata accompanies an artifact in a push (the "metadata" part).
type PushMetadata struct {
	// Format is the model format; empty means detect it from the file.
	Format      string             `json:"format,omitempty"`
	Description string             `json:"description,omitempty"`
	Labels      map[string]string  `json:"labels,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	// Signature overrides or completes the one read from the model.
	Signature json.RawMessage   `json:"signature,omitempty"`
	Params    map[string]string `json:"params,omitempty"`
}

// AliasChange is one move of an alias.
type AliasChange struct {
	Model     string    `json:"model"`
	Alias     string    `json:"alias"`
	Version   int       `json:"version"`
	Previous  int       `json:"previous,omitempty"`
	ChangedAt time.Time `json:"changed_at"`
	ChangedBy string    `json:"changed_by,omitempty"`
}

// SetAliasRequest moves an alias.
type SetAliasRequest struct {
	Version int `json:"version"`
}

// EndpointSpec is an endpoint's desired state.
type EndpointSpec struct {
	Model       string `json:"model"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// CreateEndpointRequest creates an endpoint.
type CreateEndpointRequest struct {
	Name string `json:"name"`
	EndpointSpec
}

// UpdateEndpointRequest changes an endpoint; empty fields are left as they are.
type UpdateEndpointRequest struct {
	Version     string  `json:"version,omitempty"`
	Description *string `json:"description,omitempty"`
}

// Endpoint is an endpoint with the version it serves now.
type Endpoint struct {
	Name           string       `json:"name"`
	Spec           EndpointSpec `json:"spec"`
	Revision       int64        `json:"revision"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	ServingVersion int          `json:"serving_version"`
	Error          string       `json:"error,omitempty"`
}

// ErrorBody is the body of every control API error.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a stable machine-readable code and a message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes of the control API.
const (
	CodeInvalid       = "invalid_argument"
	CodeInvalidModel  = "invalid_model"
	CodeNotFound      = "not_found"
	CodeAlreadyExists = "already_exists"
	CodeConflict      = "conflict"
	CodeTooLarge      = "too_large"
	CodeInternal      = "internal"
	CodeUnavailable   = "unavailable"
	CodeUnknownFormat = "unknown_format"
	CodeUndetectable  = "undetectable_format"
)
