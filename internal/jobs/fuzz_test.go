package jobs

import "testing"

// FuzzParseDocument: any bytes give a document or an error, never a
// panic, and a parsed document's spec validates without panicking.
func FuzzParseDocument(f *testing.F) {
	f.Add([]byte("apiVersion: sluice.dev/v1\nkind: Job\nmetadata: {name: nightly}\nspec: {model: fraud@production, input: /d/in.parquet, output: /d/out, shards: 4, schedule: \"0 2 * * *\"}\n"))
	f.Add([]byte(`{"apiVersion":"sluice.dev/v1","kind":"Job","metadata":{"name":"x"},"spec":{"endpoint":"e","input":"a.csv","output":"o","maxRejectRate":2}}`))
	f.Add([]byte("kind: Job\nspec: [1, 2]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		d, err := ParseDocument(data)
		if err != nil {
			return
		}
		d.Spec.Defaults()
		_ = d.Spec.Validate()
	})
}
