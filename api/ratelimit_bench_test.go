package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models/testdb"
)

// BenchmarkAuthFailure compares what a request with an unknown agent
// token costs the API while it is answered 401 (a token lookup in the
// database) and once its client is past AUTH_FAILURE_LIMIT (429 before
// any handler: no database access), in the same run.
//
//	go test ./api/ -run '^$' -bench BenchmarkAuthFailure -benchtime 5000x -count 5
func BenchmarkAuthFailure(b *testing.B) {
	for _, engine := range testdb.Engines(b) {
		b.Run(string(engine), func(b *testing.B) {
			db := testdb.Open(b, engine)
			hdr := map[string]string{"Authorization": "Bearer agt_not-a-token"}
			for _, tc := range []struct {
				name  string
				burst int
				want  int
			}{{"401-token-lookup", 0, http.StatusUnauthorized}, {"429-refused", 1, http.StatusTooManyRequests}} {
				e := api.New(api.Deps{DB: db, Temporal: &fakeTemporal{}, AdminToken: adminToken, TaskQueue: "q",
					AuthFailureBurst: tc.burst, AuthFailureEvery: 24 * time.Hour})
				if tc.burst > 0 {
					do(e, http.MethodGet, "/api/interactions", "", hdr) // the failure that empties the bucket
				}
				b.Run(tc.name, func(b *testing.B) {
					for b.Loop() {
						if rec := do(e, http.MethodGet, "/api/interactions", "", hdr); rec.Code != tc.want {
							b.Fatalf("%d, want %d: %s", rec.Code, tc.want, rec.Body.String())
						}
					}
				})
			}
		})
	}
}
