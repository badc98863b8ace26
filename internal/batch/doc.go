// Package batch scores files: CSV, JSON Lines or Parquet in, CSV, JSON Lines
// or Parquet out, with any inference.Model.
//
// A file far larger than memory streams through a bounded pipeline. One
// goroutine frames the input into chunks (for text, it only finds record
// boundaries; for Parquet, it picks row ranges), N workers decode, score and
// encode chunks in parallel, and one committer appends the encoded chunks to
// the output in input order. Queues between the stages are bounded, so
// memory depends on the chunk size and the number of workers, never on the
// file's size.
//
// Crash safety comes from the committer. After each chunk it flushes and
// fsyncs the output and the rejects file, then atomically replaces a
// checkpoint file beside them that records where the input stands
// (byte offset or row number) and how long each output file was. Resuming
// truncates the outputs to those lengths and continues from the recorded
// input position, so an interrupted run, even one killed with SIGKILL, ends
// with output identical to a run that was never interrupted: every input row
// once, in order. Output is written to OUTPUT.partial (text) or
// OUTPUT.spool (Parquet, whose footer makes a file impossible to append to)
// and published to OUTPUT only when the whole input is scored.
//
// A row that cannot be scored (a value that is not a number, a missing
// feature, a malformed record) is written to the rejects file with its line
// (or, for Parquet, row) number and the reason, and the run goes on; it
// fails when the share of rejected rows passes MaxRejectRate.
//
// Inputs are opened through the FS interface and outputs published
// through the Publisher interface, so object stores can be added beside the
// local file system. Either way the files a run writes as it goes (the data
// file, the rejects file and the checkpoint) are local work files, whose appends,
// fsync and rename make the run crash-safe: next to the output, or in
// Options.WorkDir when the output goes elsewhere. Only a complete file is
// published: LocalFS renames it into place, an object store would upload
// it. Finishing repeats after a crash or a failed publish until the
// checkpoint, removed last, is gone.
package batch
