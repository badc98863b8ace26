package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CheckpointVersion is the format version of checkpoint files.
const CheckpointVersion = 1

// Checkpoint is the file OUTPUT.checkpoint (or, for a run with a work
// directory, a file in it; see CheckpointPathIn) that a run rewrites after
// every committed chunk. It holds the run's spec, so that `sluice batch
// resume` needs nothing else, and how far the run got.
type Checkpoint struct {
	Version int  `json:"version"`
	Spec    Spec `json:"spec"`
	// Staged is set when the run's work files are in a work directory,
	// beside the checkpoint, rather than next to the output: the rejects
	// file is then written there too, and published with the output.
	Staged bool  `json:"staged,omitempty"`
	State  State `json:"state"`
}

// State is how far a run got: everything before Input has been scored and
// written to the first OutputBytes bytes of the output's data file and the
// first RejectBytes bytes of the rejects file.
type State struct {
	// Input is where the next chunk starts.
	Input Position `json:"input"`
	// Seq is the number of chunks committed.
	Seq int64 `json:"seq"`
	// OutputBytes and RejectBytes are the committed lengths of the data
	// file (OUTPUT.partial or OUTPUT.spool) and the rejects file, as work
	// files (see Checkpoint.Staged).
	OutputBytes int64 `json:"output_bytes"`
	RejectBytes int64 `json:"reject_bytes"`
	// RowsIn counts rows read, RowsOut rows written, Rejected rows
	// written to the rejects file.
	RowsIn   int64 `json:"rows_in"`
	RowsOut  int64 `json:"rows_out"`
	Rejected int64 `json:"rejected"`
	// Columns are the output's columns; a kept column's kind is the union
	// of the kinds of its values so far (Parquet needs it for its schema).
	Columns []OutputColumn `json:"columns"`
	// Preds are the prediction columns.
	Preds []predCol `json:"predictions"`
	// Done is set when the whole input is committed; what remains is
	// publishing the output and the rejects file.
	Done bool `json:"done,omitempty"`
	// ElapsedNs is the scoring time of the run so far, over resumes.
	ElapsedNs int64 `json:"elapsed_ns"`
}

// CheckpointPath is where a run writing output keeps its checkpoint when
// its work files sit next to the output.
func CheckpointPath(output string) string { return output + ".checkpoint" }

// CheckpointPathIn is where a run writing output with work directory
// workDir keeps its checkpoint: CheckpointPath(output) when workDir is
// empty, else workDir/NAME-HASH.checkpoint, NAME the output's file name and
// HASH a digest of the whole output path, so runs into different outputs
// with the same name can share a work directory. The run's other work
// files share the checkpoint's name, with other suffixes.
func CheckpointPathIn(workDir, output string) string {
	if workDir == "" {
		return CheckpointPath(output)
	}
	sum := sha256.Sum256([]byte(output))
	return filepath.Join(workDir, filepath.Base(output)+"-"+hex.EncodeToString(sum[:4])+".checkpoint")
}

// ResumeCommand is the command that resumes the run into output with work
// directory workDir, for messages.
func ResumeCommand(workDir, output string) string {
	if workDir == "" {
		return "sluice batch resume " + output
	}
	return "sluice batch resume --work-dir " + workDir + " " + output
}

// ReadCheckpoint reads a checkpoint file. path may also be the output path
// of the run (its checkpoint is then OUTPUT.checkpoint).
func ReadCheckpoint(path string) (Checkpoint, string, error) {
	if filepath.Ext(path) != ".checkpoint" {
		path = CheckpointPath(path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Checkpoint{}, path, fmt.Errorf("no checkpoint at %s: the run finished, or never started", path)
		}
		return Checkpoint{}, path, err
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return Checkpoint{}, path, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if c.Version != CheckpointVersion {
		return Checkpoint{}, path, fmt.Errorf("checkpoint %s: version %d, this Sluice reads version %d", path, c.Version, CheckpointVersion)
	}
	return c, path, nil
}

// writeCheckpoint replaces the checkpoint atomically: a new file, synced,
// renamed over the old one.
func writeCheckpoint(path string, c *Checkpoint) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
