package store

import (
	"context"
	"testing"
)

var banditTests = []conformanceTest{
	{"BanditStateRoundTrip", func(t *testing.T, dsn string) {
		db := openStore(t, dsn)
		ctx := context.Background()
		got, err := db.LoadBanditState(ctx, "e")
		if err != nil || got != nil {
			t.Fatalf("LoadBanditState before any save = %q, %v; want nil, nil", got, err)
		}
		for _, s := range []string{`{"arms":[1]}`, `{"arms":[1,2]}`} {
			if err := db.SaveBanditState(ctx, "e", []byte(s)); err != nil {
				t.Fatal(err)
			}
			got, err := db.LoadBanditState(ctx, "e")
			if err != nil || string(got) != s {
				t.Errorf("LoadBanditState = %q, %v; want %q", got, err, s)
			}
		}
	}},
}
