package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// Version is one immutable, numbered version of a model.
type Version struct {
	// Model is the model name.
	Model string
	// Version is assigned by CreateVersion: 1 for a new model, then latest+1.
	Version int
	// Format names the runtime format (e.g. "xgboost-json").
	Format string
	// Digest is the lowercase hex sha256 of the artifact blob.
	Digest string
	// Size is the artifact size in bytes.
	Size int64
	// Description is free text for people.
	Description string
	// Labels are free key/value tags. Nil when empty.
	Labels map[string]string
	// Metrics are training/evaluation metrics (finite numbers). Nil when empty.
	Metrics map[string]float64
	// Signature is an opaque JSON document describing inputs and outputs,
	// stored and returned verbatim. Nil when absent.
	Signature json.RawMessage
	// Params are runtime parameters (threads etc.). Nil when empty.
	Params map[string]string
	// CreatedAt is when the version was pushed, in UTC. CreateVersion uses
	// the caller's value if set (imports), else the current time.
	CreatedAt time.Time
	// CreatedBy is the actor who pushed the version.
	CreatedBy string
	// ArtifactSignature is the artifact's detached signature as JSON
	// ({"keyId":...,"signature":...}, see package signing), stored and
	// returned verbatim. Nil when the version is unsigned.
	ArtifactSignature json.RawMessage
	// Aliases are the aliases currently pointing here, sorted. Filled on read;
	// ignored by CreateVersion.
	Aliases []string
}

// ModelSummary describes a model and its versions without listing them.
type ModelSummary struct {
	// Name is the model name.
	Name string
	// Description is free text, set with SetModelDescription.
	Description string
	// LatestVersion is the newest version number.
	LatestVersion int
	// Versions is the number of versions.
	Versions int
	// Aliases maps each alias to its version. Nil when there are none.
	Aliases map[string]int
	// CreatedAt is when the first version was pushed.
	CreatedAt time.Time
	// UpdatedAt is when a version was last pushed, an alias last moved or the
	// description last changed.
	UpdatedAt time.Time
}

const versionColumns = `model, version, format, digest, size, description, labels, metrics, signature, params, created_at, created_by, artifact_signature`

// CreateVersion stores v as the model's next version, creating the model if
// it does not exist, and returns it with Version and CreatedAt filled in.
// Numbering happens inside the transaction that inserts the row, under the
// model row's lock, so concurrent pushes get distinct consecutive numbers and
// a failure leaves nothing behind. It bumps the serving revision, because
// "latest" now resolves to the new version.
func (db *DB) CreateVersion(ctx context.Context, v Version) (Version, error) {
	if err := validateVersion(v); err != nil {
		return Version{}, err
	}
	v = normalizeVersion(v)
	labels, metrics, params, err := encodeMaps(v)
	if err != nil {
		return Version{}, fmt.Errorf("model %q: encoding version: %w", v.Model, err)
	}
	nowNS, _ := db.timestamp()
	created := nowNS
	if !v.CreatedAt.IsZero() {
		created = v.CreatedAt.UnixNano()
	}
	v.CreatedAt = fromNanos(created)
	v.Aliases = nil

	err = db.inTx(ctx, func(r runner) error {
		if _, err := r.exec(ctx, `INSERT INTO models (name, description, latest_version, created_at, updated_at)
			VALUES (?, '', 0, ?, ?) ON CONFLICT (name) DO NOTHING`, v.Model, nowNS, nowNS); err != nil {
			return err
		}
		// The UPDATE locks the model row until commit; a concurrent push
		// waits here and then increments the committed value.
		if err := r.queryRow(ctx, `UPDATE models SET latest_version = latest_version + 1, updated_at = ?
			WHERE name = ? RETURNING latest_version`, nowNS, v.Model).Scan(&v.Version); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `INSERT INTO versions (`+versionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			v.Model, v.Version, v.Format, v.Digest, v.Size, v.Description, labels, metrics,
			string(v.Signature), params, created, v.CreatedBy, string(v.ArtifactSignature)); err != nil {
			return err
		}
		if _, err := bumpRevision(ctx, r); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "model.push", Object: fmt.Sprintf("model/%s@%d", v.Model, v.Version), After: versionAudit(v), At: fromNanos(nowNS)})
	})
	if err != nil {
		return Version{}, fmt.Errorf("model %q: creating version: %w", v.Model, err)
	}
	return v, nil
}

// normalizeVersion makes empty maps and signatures nil, as reads return them.
func normalizeVersion(v Version) Version {
	if len(v.Labels) == 0 {
		v.Labels = nil
	}
	if len(v.Metrics) == 0 {
		v.Metrics = nil
	}
	if len(v.Params) == 0 {
		v.Params = nil
	}
	if len(v.Signature) == 0 {
		v.Signature = nil
	}
	if len(v.ArtifactSignature) == 0 {
		v.ArtifactSignature = nil
	}
	return v
}

func encodeMaps(v Version) (labels, metrics, params string, err error) {
	enc := func(m any) string {
		if err != nil {
			return ""
		}
		var b []byte
		b, err = json.Marshal(m)
		return string(b)
	}
	// Marshal of a nil map gives "null"; store "{}" so the column reads as
	// an object from SQL too.
	labels, metrics, params = "{}", "{}", "{}"
	if v.Labels != nil {
		labels = enc(v.Labels)
	}
	if v.Metrics != nil {
		metrics = enc(v.Metrics)
	}
	if v.Params != nil {
		params = enc(v.Params)
	}
	return labels, metrics, params, err
}

type scanner interface{ Scan(dest ...any) error }

func scanVersion(s scanner) (Version, error) {
	var (
		v                                        Version
		labels, metrics, signature, params, asig string
		created                                  int64
	)
	if err := s.Scan(&v.Model, &v.Version, &v.Format, &v.Digest, &v.Size, &v.Description,
		&labels, &metrics, &signature, &params, &created, &v.CreatedBy, &asig); err != nil {
		return Version{}, err
	}
	if asig != "" {
		v.ArtifactSignature = json.RawMessage(asig)
	}
	v.CreatedAt = fromNanos(created)
	if signature != "" {
		v.Signature = json.RawMessage(signature)
	}
	for _, f := range []struct {
		text string
		dst  any
	}{{labels, &v.Labels}, {metrics, &v.Metrics}, {params, &v.Params}} {
		if err := json.Unmarshal([]byte(f.text), f.dst); err != nil {
			return Version{}, fmt.Errorf("model %q version %d: decoding stored JSON: %w", v.Model, v.Version, err)
		}
	}
	return normalizeVersion(v), nil
}

// GetVersion returns one version with its aliases.
func (db *DB) GetVersion(ctx context.Context, model string, version int) (Version, error) {
	if err := ValidateName("model name", model); err != nil {
		return Version{}, err
	}
	if err := validateVersionNumber(version); err != nil {
		return Version{}, err
	}
	r := db.r()
	v, err := scanVersion(r.queryRow(ctx, `SELECT `+versionColumns+` FROM versions WHERE model = ? AND version = ?`, model, version))
	if errors.Is(err, sql.ErrNoRows) {
		if err := db.modelExists(ctx, r, model); err != nil {
			return Version{}, err
		}
		return Version{}, fmt.Errorf("model %q version %d: %w", model, version, ErrNotFound)
	}
	if err != nil {
		return Version{}, fmt.Errorf("model %q version %d: %w", model, version, err)
	}
	aliases, err := db.aliasesByVersion(ctx, r, model)
	if err != nil {
		return Version{}, err
	}
	v.Aliases = aliases[v.Version]
	return v, nil
}

// ListVersions returns every version of a model, oldest first.
func (db *DB) ListVersions(ctx context.Context, model string) ([]Version, error) {
	if err := ValidateName("model name", model); err != nil {
		return nil, err
	}
	r := db.r()
	if err := db.modelExists(ctx, r, model); err != nil {
		return nil, err
	}
	rows, err := r.query(ctx, `SELECT `+versionColumns+` FROM versions WHERE model = ? ORDER BY version`, model)
	if err != nil {
		return nil, fmt.Errorf("model %q: listing versions: %w", model, err)
	}
	defer rows.Close()
	var vs []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("model %q: listing versions: %w", model, err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("model %q: listing versions: %w", model, err)
	}
	aliases, err := db.aliasesByVersion(ctx, r, model)
	if err != nil {
		return nil, err
	}
	for i := range vs {
		vs[i].Aliases = aliases[vs[i].Version]
	}
	return vs, nil
}

// ResolveVersion resolves ref, which is a version number ("3"), an alias
// ("production") or "latest", to a version.
func (db *DB) ResolveVersion(ctx context.Context, model, ref string) (Version, error) {
	if err := ValidateName("model name", model); err != nil {
		return Version{}, err
	}
	r := db.r()
	switch {
	case ref == "latest":
		var latest int
		err := r.queryRow(ctx, `SELECT latest_version FROM models WHERE name = ?`, model).Scan(&latest)
		if errors.Is(err, sql.ErrNoRows) || err == nil && latest == 0 {
			return Version{}, fmt.Errorf("model %q: %w", model, ErrNotFound)
		}
		if err != nil {
			return Version{}, fmt.Errorf("model %q: resolving latest: %w", model, err)
		}
		return db.GetVersion(ctx, model, latest)
	case isDigits(ref):
		n, err := strconv.Atoi(ref)
		if err != nil || n < 1 {
			return Version{}, invalid("version", ref, "must be a positive number")
		}
		return db.GetVersion(ctx, model, n)
	}
	if ValidateName("alias", ref) != nil {
		return Version{}, invalid("version reference", ref, `must be a version number, an alias or "latest"`)
	}
	var n int
	err := r.queryRow(ctx, `SELECT version FROM aliases WHERE model = ? AND alias = ?`, model, ref).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		if err := db.modelExists(ctx, r, model); err != nil {
			return Version{}, err
		}
		return Version{}, fmt.Errorf("model %q alias %q: %w", model, ref, ErrNotFound)
	}
	if err != nil {
		return Version{}, fmt.Errorf("model %q alias %q: %w", model, ref, err)
	}
	return db.GetVersion(ctx, model, n)
}

// ListModels summarises every model, sorted by name.
func (db *DB) ListModels(ctx context.Context) ([]ModelSummary, error) {
	return db.modelSummaries(ctx, "")
}

// GetModel summarises one model.
func (db *DB) GetModel(ctx context.Context, name string) (ModelSummary, error) {
	if err := ValidateName("model name", name); err != nil {
		return ModelSummary{}, err
	}
	ms, err := db.modelSummaries(ctx, name)
	if err != nil {
		return ModelSummary{}, err
	}
	if len(ms) == 0 {
		return ModelSummary{}, fmt.Errorf("model %q: %w", name, ErrNotFound)
	}
	return ms[0], nil
}

// modelSummaries lists one model (name != "") or all of them.
func (db *DB) modelSummaries(ctx context.Context, name string) ([]ModelSummary, error) {
	r := db.r()
	where, args := "", []any{}
	if name != "" {
		where, args = " WHERE m.name = ?", []any{name}
	}
	rows, err := r.query(ctx, `SELECT m.name, m.description, m.latest_version,
		(SELECT COUNT(*) FROM versions v WHERE v.model = m.name), m.created_at, m.updated_at
		FROM models m`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("listing models: %w", err)
	}
	defer rows.Close()
	var ms []ModelSummary
	index := map[string]int{}
	for rows.Next() {
		var m ModelSummary
		var created, updated int64
		if err := rows.Scan(&m.Name, &m.Description, &m.LatestVersion, &m.Versions, &created, &updated); err != nil {
			return nil, fmt.Errorf("listing models: %w", err)
		}
		m.CreatedAt, m.UpdatedAt = fromNanos(created), fromNanos(updated)
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing models: %w", err)
	}
	rows.Close()
	// Sorted in Go, not ORDER BY: PostgreSQL's locale collation and SQLite's
	// byte order disagree on punctuation.
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	for i, m := range ms {
		index[m.Name] = i
	}

	aliasRows, err := r.query(ctx, `SELECT m.name, a.alias, a.version FROM aliases a JOIN models m ON m.name = a.model`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("listing aliases: %w", err)
	}
	defer aliasRows.Close()
	for aliasRows.Next() {
		var model, alias string
		var version int
		if err := aliasRows.Scan(&model, &alias, &version); err != nil {
			return nil, fmt.Errorf("listing aliases: %w", err)
		}
		i, ok := index[model]
		if !ok {
			continue // model created after the first query
		}
		if ms[i].Aliases == nil {
			ms[i].Aliases = map[string]int{}
		}
		ms[i].Aliases[alias] = version
	}
	if err := aliasRows.Err(); err != nil {
		return nil, fmt.Errorf("listing aliases: %w", err)
	}
	return ms, nil
}

// SetModelDescription replaces a model's description.
func (db *DB) SetModelDescription(ctx context.Context, name, description string) error {
	if err := ValidateName("model name", name); err != nil {
		return err
	}
	if err := validateText("description", description); err != nil {
		return err
	}
	err := db.inTx(ctx, func(r runner) error {
		var before string
		err := r.queryRow(ctx, `SELECT description FROM models WHERE name = ?`+r.forUpdate(), name).Scan(&before)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("model %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		ts, _ := db.timestamp()
		if _, err := r.exec(ctx, `UPDATE models SET description = ?, updated_at = ? WHERE name = ?`, description, ts, name); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "model.describe", Object: "model/" + name, At: fromNanos(ts),
			Before: map[string]string{"description": before}, After: map[string]string{"description": description}})
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("model %q: setting description: %w", name, err)
	}
	return err
}

// versionAudit is the state a model.push event records.
func versionAudit(v Version) map[string]any {
	m := map[string]any{"format": v.Format, "digest": "sha256:" + v.Digest, "size": v.Size}
	if v.Description != "" {
		m["description"] = v.Description
	}
	if v.Labels != nil {
		m["labels"] = v.Labels
	}
	if v.Metrics != nil {
		m["metrics"] = v.Metrics
	}
	if v.Params != nil {
		m["params"] = v.Params
	}
	if v.ArtifactSignature != nil {
		m["artifact_signature"] = v.ArtifactSignature
	}
	return m
}

// modelExists returns nil if the model exists, else a wrapped ErrNotFound.
func (db *DB) modelExists(ctx context.Context, r runner, model string) error {
	var one int
	err := r.queryRow(ctx, `SELECT 1 FROM models WHERE name = ?`, model).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("model %q: %w", model, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("model %q: %w", model, err)
	}
	return nil
}
