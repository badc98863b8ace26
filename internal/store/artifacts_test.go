package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

var artifactTests = []conformanceTest{
	{"ArtifactChunks", func(t *testing.T, dsn string) {
		db := openStore(t, dsn)
		ctx := context.Background()
		for _, size := range []int{0, 10, ArtifactChunkSize, ArtifactChunkSize + 7} {
			data := bytes.Repeat([]byte{byte(size % 251)}, size)
			for i := range data {
				data[i] = byte(i * 7)
			}
			digest := "d" + string(rune('a'+size%26))
			digest = digest + digest // any string works as a key here
			if err := db.PutArtifact(ctx, digest+string(rune('0'+size%10)), data); err != nil {
				t.Fatal(err)
			}
			if err := db.PutArtifact(ctx, digest+string(rune('0'+size%10)), data); err != nil {
				t.Fatalf("second put: %v", err)
			}
			var got bytes.Buffer
			if err := db.ReadArtifact(ctx, digest+string(rune('0'+size%10)), &got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Errorf("size %d: read %d bytes back, want the same %d", size, got.Len(), len(data))
			}
		}
		if err := db.ReadArtifact(ctx, "missing", new(bytes.Buffer)); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing artifact: %v, want ErrNotFound", err)
		}
	}},
}
